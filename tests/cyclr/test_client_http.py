"""CyclrClient against a scripted HTTP server on loopback: exact protocol behaviour.

Cases the sandbox cannot express (a server that ignores ``page``, broken JSON, odd
headers, a port that opens late) live here; tests/cyclr/test_client_sandbox.py runs the
client against the Cyclr sandbox.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from bot.cyclr import (
    DEFAULT_TIMEOUT,
    CyclrAuthError,
    CyclrBadRequest,
    CyclrClient,
    CyclrConflict,
    CyclrConnectError,
    CyclrError,
    CyclrNotFound,
    CyclrRateLimited,
    CyclrServerError,
    CyclrTimeout,
)
from bot.cyclr import client as client_module
from tests.cyclr.conftest import CLIENT_ID, CLIENT_SECRET, MakeClient
from tests.cyclr.scripted_server import Recorded, Reply, ScriptedServer, free_port

ACCOUNT = "acme-prod"
ACCOUNT_GET = f"/v1.0/accounts/{ACCOUNT}"
CONNECTORS = "/v1.0/connectors"
INSTALL = "/v1.0/connectors/42/install"
ACCOUNT_JSON = {"Id": ACCOUNT, "Name": "Acme"}
INSTALLED_JSON = {"Id": 9001, "Name": "Stripe (Acme)", "Authenticated": False,
                  "Connector": {"Id": 42, "Name": "Stripe", "AuthType": "ApiKey"}}


def connectors(first: int, count: int) -> list[dict[str, Any]]:
    return [{"Id": i, "Name": f"Connector {i}"} for i in range(first, first + count)]


def paged(total: int, *, headers: bool = False) -> Any:
    """A handler that pages ``total`` connectors honestly by page/pageSize."""

    def handle(req: Recorded) -> Reply:
        page, size = int(req.param("page") or 1), int(req.param("pageSize") or 50)
        start = (page - 1) * size
        items = connectors(start + 1, max(0, min(size, total - start)))
        extra = {"Total-Pages": str(-(-total // size)), "Total-Records": str(total)} if headers else {}
        return Reply(json=items, headers=extra)

    return handle


# --------------------------------------------------------------------------- token and headers


def test_token_request_and_call_headers(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", CONNECTORS, Reply(json=connectors(1, 3)))
    assert [c.id for c in client.list_connectors(ACCOUNT, query="str ipe&x")] == [1, 2, 3]

    token_call, listing = server.requests
    assert (token_call.method, token_call.path, token_call.query) == ("POST", "/oauth/token", {})
    assert token_call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_call.form() == {
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET
    }
    assert "authorization" not in token_call.headers
    assert listing.headers["authorization"] == "Bearer token-1"
    assert listing.headers["x-cyclr-account"] == ACCOUNT
    assert listing.headers["user-agent"].startswith("cyclr-for-slack/")
    assert listing.query == {"query": ["str ipe&x"], "page": ["1"], "pageSize": ["100"]}


def test_partner_level_calls_send_no_account_header(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", "/v1.0/accounts", Reply(json=[ACCOUNT_JSON]))
    server.on("POST", f"{ACCOUNT_GET}/signintoken",
              Reply(json={"Token": "one-time", "ExpiresAtUtc": "2030-01-02T03:04:05.1234567Z"}))
    assert [a.id for a in client.list_accounts()] == [ACCOUNT]
    token = client.mint_signin_token(ACCOUNT, "slack-T1-U1")
    assert token.token == "one-time"
    assert (token.expires_at.year, token.expires_at.microsecond) == (2030, 123456)
    assert "one-time" not in repr(token)
    partner_calls = server.requests_to(path="/v1.0/accounts") + server.requests_to(
        path=f"{ACCOUNT_GET}/signintoken"
    )
    assert len(partner_calls) == 2
    for req in partner_calls:
        assert "x-cyclr-account" not in req.headers
    assert server.requests_to("POST", f"{ACCOUNT_GET}/signintoken")[0].json() == {"Username": "slack-T1-U1"}


def test_one_token_for_many_calls_across_threads(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("POST", "/oauth/token",
              Reply(json={"access_token": "shared", "expires_in": 3600}, delay=0.2))
    server.on("GET", ACCOUNT_GET, Reply(json=ACCOUNT_JSON))
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            for _ in range(3):
                client.get_account(ACCOUNT)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert server.count("GET", ACCOUNT_GET) == 24
    assert server.count("POST", "/oauth/token") == 1
    assert client.token_fetches == 1


def test_401_renews_the_token_once_and_repeats_the_call(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", ACCOUNT_GET, Reply(401, json={"Message": "Authorization has been denied"}),
              Reply(json=ACCOUNT_JSON))
    assert client.get_account(ACCOUNT).name == "Acme"
    calls = server.requests_to("GET", ACCOUNT_GET)
    assert [c.headers["authorization"] for c in calls] == ["Bearer token-1", "Bearer token-2"]
    assert client.token_fetches == 2


def test_second_401_is_an_auth_error_not_a_loop(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", ACCOUNT_GET, Reply(401, json={"Message": "Authorization has been denied"}))
    with pytest.raises(CyclrAuthError) as info:
        client.get_account(ACCOUNT)
    assert info.value.status == 401
    assert server.count("GET", ACCOUNT_GET) == 2
    assert server.count("POST", "/oauth/token") == 2


def test_fetch_token_always_asks_cyclr(server: ScriptedServer, client: CyclrClient) -> None:
    client.fetch_token()
    client.fetch_token()
    assert server.count("POST", "/oauth/token") == client.token_fetches == 2
    server.on("GET", ACCOUNT_GET, Reply(json=ACCOUNT_JSON))
    client.get_account(ACCOUNT)
    assert server.requests_to("GET", ACCOUNT_GET)[0].headers["authorization"] == "Bearer token-2"
    assert server.count("POST", "/oauth/token") == 2


def test_refused_credentials_raise_auth_error_without_the_secret(
    server: ScriptedServer, client: CyclrClient
) -> None:
    server.on("POST", "/oauth/token", Reply(400, json={"error": "invalid_client"}))
    with pytest.raises(CyclrAuthError) as info:
        client.list_accounts()
    assert info.value.cyclr_message == "invalid_client"
    assert CLIENT_SECRET not in str(info.value) and CLIENT_SECRET not in repr(info.value)
    assert server.count("POST", "/oauth/token") == 1  # a 400 is not retried
    assert server.count("GET") == 0


def test_token_post_is_retried_on_503(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("POST", "/oauth/token", Reply(503), Reply(json={"access_token": "late", "expires_in": 60}))
    server.on("GET", ACCOUNT_GET, Reply(json=ACCOUNT_JSON))
    client.get_account(ACCOUNT)
    assert server.count("POST", "/oauth/token") == 2
    assert server.requests_to("GET", ACCOUNT_GET)[0].headers["authorization"] == "Bearer late"
    assert client.token_fetches == 1  # one logical fetch; urllib3 did the retry


def test_repr_and_errors_hold_no_secret(server: ScriptedServer, client: CyclrClient) -> None:
    text = repr(client)
    assert CLIENT_SECRET not in text and CLIENT_ID not in text and server.url in text
    server.on("GET", CONNECTORS, Reply(500, json={"Message": "boom"}))
    with pytest.raises(CyclrServerError) as info:
        client.list_connectors(ACCOUNT, query="private-search")
    message = str(info.value)
    assert message == "HTTP 500: boom (GET /v1.0/connectors)"
    for secret in ("?", "private-search", "token-1", CLIENT_SECRET):
        assert secret not in message


# --------------------------------------------------------------------------- status mapping


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(400, CyclrBadRequest), (401, CyclrAuthError), (403, CyclrAuthError), (404, CyclrNotFound),
     (409, CyclrConflict), (429, CyclrRateLimited), (500, CyclrServerError), (502, CyclrServerError),
     (503, CyclrServerError), (504, CyclrServerError), (302, CyclrBadRequest)],
)
def test_status_maps_to_error_class(
    server: ScriptedServer, make_client: MakeClient, status: int, error_class: type[CyclrError]
) -> None:
    client = make_client(server.url, retries=0)
    server.on("GET", ACCOUNT_GET, Reply(status, json={"Message": f"reason {status}"},
                                        headers={"Location": "https://elsewhere.example/"}))
    with pytest.raises(error_class) as info:
        client.get_account(ACCOUNT)
    assert type(info.value) is error_class
    assert (info.value.status, info.value.method, info.value.path) == (status, "GET", ACCOUNT_GET)
    assert info.value.cyclr_message == f"reason {status}"
    assert server.count("GET", "/") == 0  # a redirect is never followed


def test_duplicate_install_name_is_recognised(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("POST", INSTALL, Reply(400, json={"Message": "Account connector name 'Stripe' is in use."}))
    with pytest.raises(CyclrBadRequest) as info:
        client.install_connector(ACCOUNT, 42, name="Stripe")
    assert info.value.is_duplicate_name
    assert info.value.user_message == "Account connector name 'Stripe' is in use."


def test_html_error_page_still_maps_by_status(server: ScriptedServer, make_client: MakeClient) -> None:
    client = make_client(server.url, retries=0)
    server.on("GET", ACCOUNT_GET, Reply(502, body=b"<html>Bad gateway</html>"))
    with pytest.raises(CyclrServerError) as info:
        client.get_account(ACCOUNT)
    assert info.value.cyclr_message is None
    assert info.value.status == 502


def test_unreadable_success_body_is_a_server_error(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", ACCOUNT_GET, Reply(200, body=b'{"Id": "acme-prod", '))
    with pytest.raises(CyclrServerError, match="could not read"):
        client.get_account(ACCOUNT)
    server.on("GET", CONNECTORS, Reply(json={"not": "a list"}))
    with pytest.raises(CyclrServerError, match="not a list"):
        client.list_connectors()


# --------------------------------------------------------------------------- retries


def test_get_is_retried_on_503_until_it_succeeds(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", ACCOUNT_GET, Reply(503), Reply(503), Reply(json=ACCOUNT_JSON))
    assert client.get_account(ACCOUNT).id == ACCOUNT
    assert server.count("GET", ACCOUNT_GET) == 3


def test_exhausted_retries_map_the_last_response(server: ScriptedServer, make_client: MakeClient) -> None:
    client = make_client(server.url, retries=1)
    server.on("GET", ACCOUNT_GET, Reply(503, json={"Message": "maintenance"}))
    with pytest.raises(CyclrServerError) as info:
        client.get_account(ACCOUNT)
    assert info.value.cyclr_message == "maintenance"
    assert server.count("GET", ACCOUNT_GET) == 2


def test_install_is_not_retried_on_503(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("POST", INSTALL, Reply(503), Reply(json=INSTALLED_JSON))
    with pytest.raises(CyclrServerError):
        client.install_connector(ACCOUNT, 42, name="Stripe (Acme)")
    assert server.count("POST", INSTALL) == 1


def test_429_waits_for_retry_after_then_retries(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", ACCOUNT_GET, Reply(429, headers={"Retry-After": "1"}), Reply(json=ACCOUNT_JSON))
    started = time.monotonic()
    assert client.get_account(ACCOUNT).id == ACCOUNT
    assert time.monotonic() - started >= 0.95
    assert server.count("GET", ACCOUNT_GET) == 2


def test_429_with_a_long_retry_after_fails_fast(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", ACCOUNT_GET, Reply(429, json={"Message": "slow down"}, headers={"Retry-After": "120"}))
    started = time.monotonic()
    with pytest.raises(CyclrRateLimited) as info:
        client.get_account(ACCOUNT)
    assert time.monotonic() - started < 1.0
    assert info.value.retry_after == 120.0
    assert server.count("GET", ACCOUNT_GET) == 1


def test_malformed_retry_after_falls_back_to_backoff(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", ACCOUNT_GET, Reply(429, headers={"Retry-After": "soon-ish"}), Reply(json=ACCOUNT_JSON))
    assert client.get_account(ACCOUNT).id == ACCOUNT
    assert server.count("GET", ACCOUNT_GET) == 2


def test_read_timeout_on_get_is_retried_once_then_raised(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    client = make_client(server.url, timeout=(1.0, 0.3))
    server.on("GET", ACCOUNT_GET, Reply(json=ACCOUNT_JSON, delay=1.0))
    started = time.monotonic()
    with pytest.raises(CyclrTimeout) as info:
        client.get_account(ACCOUNT)
    assert time.monotonic() - started < 1.5
    assert str(info.value) == f"Cyclr did not answer in time (GET {ACCOUNT_GET})"
    assert server.count("GET", ACCOUNT_GET) == 2


def test_install_is_not_repeated_after_a_read_timeout(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    client = make_client(server.url, timeout=(1.0, 0.3))
    server.on("POST", INSTALL, Reply(json=INSTALLED_JSON, delay=0.8))
    with pytest.raises(CyclrTimeout):
        client.install_connector(ACCOUNT, 42, name="Stripe (Acme)", auth_value="sk_live_secret")
    time.sleep(0.1)
    assert server.count("POST", INSTALL) == 1


def test_dropped_connection_retries_get_but_not_install(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", ACCOUNT_GET, Reply(drop=True), Reply(json=ACCOUNT_JSON))
    assert client.get_account(ACCOUNT).id == ACCOUNT
    assert server.count("GET", ACCOUNT_GET) == 2

    server.on("POST", INSTALL, Reply(drop=True), Reply(json=INSTALLED_JSON))
    with pytest.raises(CyclrTimeout, match="broke before the answer"):
        client.install_connector(ACCOUNT, 42, name="Stripe (Acme)")
    assert server.count("POST", INSTALL) == 1


def test_closed_port_is_a_connect_error(make_client: MakeClient) -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}", retries=1)
    with pytest.raises(CyclrConnectError) as info:
        client.list_accounts()
    assert info.value.path == "/oauth/token"
    assert CLIENT_SECRET not in str(info.value)
    assert "127.0.0.1" not in str(info.value)


def test_install_post_is_retried_when_the_connection_was_never_made(make_client: MakeClient) -> None:
    """Connect errors are safe to retry even for POST: here Cyclr comes back during the backoff."""
    port = free_port()
    first = ScriptedServer(port).start()
    client = make_client(first.url)
    first.on("GET", ACCOUNT_GET, Reply(json=ACCOUNT_JSON))
    client.get_account(ACCOUNT)  # caches the token
    client._session.close()  # drop the pooled keep-alive connection
    first.stop()

    second = ScriptedServer.__new__(ScriptedServer)
    started = threading.Event()

    def restart() -> None:
        time.sleep(0.2)
        nonlocal second
        second = ScriptedServer(port).start()
        second.on("POST", INSTALL, Reply(json=INSTALLED_JSON))
        started.set()

    threading.Thread(target=restart, daemon=True).start()
    try:
        installed = client.install_connector(ACCOUNT, 42, name="Stripe (Acme)")
        assert started.is_set()
        assert installed.id == 9001
        assert second.count("POST", INSTALL) == 1
    finally:
        started.wait(2)
        second.stop()


# --------------------------------------------------------------------------- paging


@pytest.mark.parametrize(("total", "headers", "requests_made"),
                         [(5, False, 3), (4, False, 3), (4, True, 2), (0, False, 1), (5, True, 3)])
def test_paging(server: ScriptedServer, client: CyclrClient, total: int, headers: bool,
                requests_made: int) -> None:
    server.on("GET", CONNECTORS, paged(total, headers=headers))
    assert [c.id for c in client.iter_connectors(ACCOUNT, page_size=2)] == list(range(1, total + 1))
    assert server.count("GET", CONNECTORS) == requests_made
    pages = [r.param("page") for r in server.requests_to("GET", CONNECTORS)]
    assert pages == [str(p) for p in range(1, requests_made + 1)]


def test_total_pages_header_beats_a_short_page(server: ScriptedServer, client: CyclrClient) -> None:
    """A server that caps pageSize below ours sends short pages; Total-Pages keeps us going."""
    def capped(req: Recorded) -> Reply:
        page = int(req.param("page") or 1)
        return Reply(json=connectors(page * 10 - 9, 10) if page <= 3 else [], headers={"Total-Pages": "3"})

    server.on("GET", CONNECTORS, capped)
    assert len(client.list_connectors(page_size=100)) == 30
    assert server.count("GET", CONNECTORS) == 3


def test_server_ignoring_page_does_not_loop(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", CONNECTORS, Reply(json=connectors(1, 2)))
    assert [c.id for c in client.iter_connectors(page_size=2)] == [1, 2]
    assert server.count("GET", CONNECTORS) == 2


def test_paging_stops_at_the_hard_cap(
    server: ScriptedServer, client: CyclrClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_PAGES", 3)
    server.on("GET", CONNECTORS, lambda req: Reply(json=connectors(int(req.param("page") or 1) * 2, 2)))
    assert len(client.list_connectors(page_size=2)) == 6
    assert server.count("GET", CONNECTORS) == 3


def test_iterator_is_lazy_and_checks_arguments_at_once(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", "/v1.0/account/connectors", paged(3))
    pages = client.iter_account_connectors(ACCOUNT, page_size=1)
    assert server.count() == 0
    assert next(pages).id == 1
    assert server.count("GET", "/v1.0/account/connectors") == 1
    with pytest.raises(ValueError, match="page_size"):
        client.iter_accounts(page_size=0)


# --------------------------------------------------------------------------- operations


def test_install_sends_only_given_fields(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("POST", INSTALL, Reply(json=INSTALLED_JSON))
    installed = client.install_connector(
        ACCOUNT, 42, name="Stripe (Acme)", auth_value="sk_test", properties={"Region": "eu", "Tier": "2"}
    )
    assert (installed.id, installed.name, installed.authenticated) == (9001, "Stripe (Acme)", False)
    assert installed.connector is not None and installed.connector.name == "Stripe"
    call = server.requests_to("POST", INSTALL)[0]
    assert call.headers["x-cyclr-account"] == ACCOUNT
    assert call.headers["content-type"] == "application/json"
    assert call.json() == {
        "Name": "Stripe (Acme)",
        "AuthValue": "sk_test",
        "Properties": [{"Name": "Region", "Value": "eu"}, {"Name": "Tier", "Value": "2"}],
    }
    with pytest.raises(ValueError, match="name"):
        client.install_connector(ACCOUNT, 42, name=" ")


def test_account_connector_calls(server: ScriptedServer, client: CyclrClient) -> None:
    path = "/v1.0/account/connectors/9001"
    server.on("GET", path, Reply(json={**INSTALLED_JSON, "Authenticated": True}))
    server.on("DELETE", path, Reply(200), Reply(404, json={"Message": "not found"}))
    assert client.get_account_connector(ACCOUNT, 9001).authenticated is True
    client.delete_account_connector(ACCOUNT, 9001)
    assert server.count("DELETE", path) == 1
    with pytest.raises(CyclrNotFound):
        client.delete_account_connector(ACCOUNT, 9001)
    client.delete_account_connector(ACCOUNT, 9001, missing_ok=True)
    assert server.count("DELETE", path) == 3
    assert all(r.headers["x-cyclr-account"] == ACCOUNT for r in server.requests_to(path=path))


def test_ids_are_quoted_in_paths(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", "/v1.0/accounts/a%2Fb%20c%3Fd%23e", Reply(json={"Id": "a/b c?d#e", "Name": "Odd"}))
    assert client.get_account("a/b c?d#e").name == "Odd"
    assert server.requests_to("GET")[0].query == {}


@pytest.mark.parametrize("bad", ["", " ", "acme\r\nX-Evil: 1", " acme"])
def test_bad_account_ids_are_refused_before_sending(server: ScriptedServer, client: CyclrClient,
                                                    bad: str) -> None:
    with pytest.raises(ValueError, match="account_id"):
        client.list_account_connectors(bad)
    assert server.count() == 0


def test_get_connector_by_id_or_name(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", "/v1.0/connectors/42", Reply(json={"Id": 42, "Name": "Stripe", "AuthType": "ApiKey"}))
    server.on("GET", "/v1.0/connectors/Access%20CRM", Reply(json=[{"Id": 7, "Name": "Access CRM"}]))
    server.on("GET", "/v1.0/connectors/Nope", Reply(json=[]))
    assert client.get_connector(42).name == "Stripe"
    assert client.get_connector("Access CRM", ACCOUNT).id == 7
    with pytest.raises(CyclrNotFound):
        client.get_connector("Nope")
    assert "x-cyclr-account" not in server.requests_to(path="/v1.0/connectors/42")[0].headers


def test_constructor_validates_settings() -> None:
    with pytest.raises(ValueError, match="Cyclr API URL"):
        CyclrClient(api_url="api.cyclr.com", client_id="a", client_secret="b")
    with pytest.raises(ValueError, match="client secret"):
        CyclrClient(api_url="https://api.cyclr.com", client_id="a", client_secret="")
    with pytest.raises(ValueError, match="timeouts"):
        CyclrClient(api_url="https://api.cyclr.com", client_id="a", client_secret="b", timeout=(0, 1))
    assert DEFAULT_TIMEOUT == (3.05, 10.0)


def test_injected_session_is_used_and_left_open(server: ScriptedServer) -> None:
    session = requests.Session()
    with CyclrClient(api_url=server.url, client_id="a", client_secret="b", session=session) as client:
        server.on("GET", ACCOUNT_GET, Reply(json=ACCOUNT_JSON))
        client.get_account(ACCOUNT)
    assert session.get_adapter(server.url + "/v1.0/x") is session.get_adapter(server.url + "/v1.0/y")
    assert session.get_adapter(server.url + "/oauth/token") is not session.get_adapter(server.url + "/v1.0/x")
    # Still usable: the client does not close a session it did not create.
    assert session.get(server.url + "/nothing", timeout=2).status_code == 404
    session.close()
