"""CyclrClient against the Cyclr sandbox over real loopback HTTP: the whole API surface,
token life, paging, error statuses and injected faults."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.cyclr import (
    AuthKind,
    CyclrAuthError,
    CyclrBadRequest,
    CyclrClient,
    CyclrNotFound,
    CyclrRateLimited,
    CyclrServerError,
    CyclrTimeout,
    build_oauth_url,
)
from bot.cyclr.sandbox import CyclrSandbox, Fault, FaultKind
from tests.cyclr.conftest import MakeClient

CONNECTORS = "/v1.0/connectors"
INSTALLED = "/v1.0/account/connectors"


@pytest.fixture
def sb(cyclr_sandbox: CyclrSandbox) -> CyclrSandbox:
    return cyclr_sandbox


@pytest.fixture
def client(sb: CyclrSandbox, make_client: MakeClient) -> CyclrClient:
    return make_client(sb.api_url, client_id=sb.client_id, client_secret=sb.client_secret)


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def connector_id(sb: CyclrSandbox, name: str) -> int:
    return int(sb.connector_by_name(name)["Id"])


# --------------------------------------------------------------------------- catalogue and paging


@pytest.mark.parametrize("headers", [True, False])
def test_whole_catalogue_pages_with_and_without_headers(
    sb: CyclrSandbox, client: CyclrClient, headers: bool
) -> None:
    sb.page_headers = headers
    catalogue = client.list_connectors(sb.default_account_id, page_size=100)
    ids = [c.id for c in catalogue]
    assert len(ids) >= 1000
    assert len(set(ids)) == len(ids)
    pages = math.ceil(len(ids) / 100)
    extra = 0 if headers or len(ids) % 100 else 1  # without headers a full last page needs one more look
    assert sb.count("GET", path=CONNECTORS) == pages + extra
    assert sb.count("POST", path="/oauth/token") == 1


def test_known_connectors_and_search(sb: CyclrSandbox, client: CyclrClient) -> None:
    found = client.list_connectors(sb.default_account_id, query="Stripe")
    assert "Stripe" in [c.name for c in found]
    kinds = {name: client.get_connector(connector_id(sb, name), sb.default_account_id).auth_kind
             for name in ("Stripe", "Jira", "Salesforce", "Webhook")}
    assert kinds == {"Stripe": AuthKind.API_KEY, "Jira": AuthKind.BASIC, "Salesforce": AuthKind.OAUTH,
                     "Webhook": AuthKind.NONE}
    search = [r for r in sb.requests if r.path == CONNECTORS]
    assert search[0].query["query"] == "Stripe"
    assert search[0].header("X-Cyclr-Account") == sb.default_account_id


def test_accounts(sb: CyclrSandbox, client: CyclrClient) -> None:
    assert [a.id for a in client.list_accounts()] == sb.account_ids
    assert client.get_account(sb.default_account_id).id == sb.default_account_id
    with pytest.raises(CyclrNotFound):
        client.get_account("no-such-account")


# --------------------------------------------------------------------------- installs


def test_install_list_get_delete_round_trip(sb: CyclrSandbox, client: CyclrClient) -> None:
    account = sb.default_account_id
    installed = client.install_connector(account, connector_id(sb, "Stripe"), name="Stripe (round trip)",
                                         auth_value="sk_test_123")
    assert installed.connector is not None and installed.connector.name == "Stripe"
    listed = client.list_account_connectors(account)
    assert installed.id in [a.id for a in listed]
    assert client.get_account_connector(account, installed.id).name == "Stripe (round trip)"
    client.delete_account_connector(account, installed.id)
    with pytest.raises(CyclrNotFound):
        client.get_account_connector(account, installed.id)
    assert installed.id not in [int(a["Id"]) for a in sb.installed(account)]


def test_install_errors_as_cyclr_words_them(sb: CyclrSandbox, client: CyclrClient) -> None:
    account = sb.default_account_id
    client.install_connector(account, connector_id(sb, "Webhook"), name="Hooks")
    with pytest.raises(CyclrBadRequest) as dup:
        client.install_connector(account, connector_id(sb, "Webhook"), name="Hooks")
    assert dup.value.is_duplicate_name
    assert dup.value.cyclr_message == "Account connector name 'Hooks' is in use."

    draft = next(c for c in client.iter_connectors(account) if not c.is_installable)
    with pytest.raises(CyclrBadRequest, match="is a draft and cannot be installed"):
        client.install_connector(account, draft.id, name="Draft attempt")
    with pytest.raises(CyclrNotFound):
        client.install_connector(account, 99_999_999, name="Ghost")


def test_sign_in_link_authenticates_the_connector(sb: CyclrSandbox, client: CyclrClient) -> None:
    account = sb.default_account_id
    installed = client.install_connector(account, connector_id(sb, "Salesforce"), name="SF")
    assert installed.needs_oauth
    signin = client.mint_signin_token(account, "slack-T1-U1")
    target = "https://bot.example.com/authorised/ref-1?team=T1&x=a+b"
    url = build_oauth_url(sb.service_url, account_connector_id=installed.id, token=signin.token,
                          target_origin=target)
    assert parse_qs(urlsplit(url).query)["targetOrigin"] == [target]
    outcome = sb.click_through(url)
    assert outcome.redirected and outcome.location == target
    assert client.get_account_connector(account, installed.id).authenticated
    assert sb.click_through(url).status == 403  # single use
    mint = [r for r in sb.requests if r.path.endswith("/signintoken")]
    assert len(mint) == 1 and mint[0].header("X-Cyclr-Account") is None


# --------------------------------------------------------------------------- token life


def test_expired_token_is_renewed_once(sb: CyclrSandbox, client: CyclrClient) -> None:
    account = sb.default_account_id
    client.list_account_connectors(account)
    sb.expire_tokens()
    sb.clear_requests()
    client.list_account_connectors(account)
    assert [(r.method, r.path, r.status) for r in sb.requests] == [
        ("GET", INSTALLED, 401), ("POST", "/oauth/token", 200), ("GET", INSTALLED, 200)
    ]
    assert client.token_fetches == 2


def test_threads_share_one_token(sb: CyclrSandbox, client: CyclrClient) -> None:
    barrier = threading.Barrier(10)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            client.list_account_connectors(sb.default_account_id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sb.count("POST", path="/oauth/token") == 1
    assert sb.count("GET", path=INSTALLED) == 10


def test_wrong_secret_is_an_auth_error_without_the_secret(sb: CyclrSandbox, make_client: MakeClient) -> None:
    client = make_client(sb.api_url, client_id=sb.client_id, client_secret="wrong-secret-value")
    with pytest.raises(CyclrAuthError) as info:
        client.list_accounts()
    assert "wrong-secret-value" not in str(info.value)
    assert sb.count("GET") == 0


# --------------------------------------------------------------------------- faults


def test_503_on_a_get_is_retried(sb: CyclrSandbox, client: CyclrClient) -> None:
    sb.faults.add(Fault("status", status=503, count=1, method="GET", path_prefix=INSTALLED))
    client.list_account_connectors(sb.default_account_id)
    assert [r.status for r in sb.requests if r.path == INSTALLED] == [503, 200]


def test_500_is_not_retried(sb: CyclrSandbox, client: CyclrClient) -> None:
    sb.faults.add(Fault("status", status=500, count=1, method="GET", path_prefix=INSTALLED))
    with pytest.raises(CyclrServerError):
        client.list_account_connectors(sb.default_account_id)
    assert sb.count("GET", path=INSTALLED) == 1


def test_rate_limit_honours_retry_after(sb: CyclrSandbox, client: CyclrClient) -> None:
    sb.faults.add(Fault("rate_limit", retry_after=1, count=1, method="GET", path_prefix=INSTALLED))
    started = time.monotonic()
    client.list_account_connectors(sb.default_account_id)
    assert time.monotonic() - started >= 0.95
    assert [r.status for r in sb.requests if r.path == INSTALLED] == [429, 200]


def test_rate_limit_on_install_is_not_retried(sb: CyclrSandbox, client: CyclrClient) -> None:
    sb.faults.add(Fault("rate_limit", retry_after=1, count=1, method="POST", path_prefix=CONNECTORS))
    with pytest.raises(CyclrRateLimited) as info:
        client.install_connector(sb.default_account_id, connector_id(sb, "Webhook"), name="Hooks")
    assert info.value.retry_after == 1.0
    assert sb.count("POST", path_prefix=CONNECTORS) == 1
    assert sb.installed() == []


def test_slow_get_is_a_timeout(sb: CyclrSandbox, make_client: MakeClient) -> None:
    client = make_client(sb.api_url, client_id=sb.client_id, client_secret=sb.client_secret,
                         timeout=(1.0, 0.3))
    client.list_accounts()  # token first, so only the listing is slow
    sb.faults.add(Fault("delay_before", delay=0.6, count=None, method="GET", path_prefix=INSTALLED))
    started = time.monotonic()
    with pytest.raises(CyclrTimeout):
        client.list_account_connectors(sb.default_account_id)
    assert time.monotonic() - started < 1.0
    # The sandbox records a request when it has handled it, after the delay.
    assert wait_for(lambda: sb.count("GET", path=INSTALLED) >= 2)
    assert sb.count("GET", path=INSTALLED) == 2  # one retry of an idempotent read


@pytest.mark.parametrize("kind", ["delay_after", "drop_after"])
def test_install_is_sent_once_when_the_answer_is_lost(
    sb: CyclrSandbox, make_client: MakeClient, kind: str
) -> None:
    client = make_client(sb.api_url, client_id=sb.client_id, client_secret=sb.client_secret,
                         timeout=(1.0, 0.3))
    delay = 1.0 if kind == "delay_after" else 0.0
    sb.faults.add(Fault(cast(FaultKind, kind), delay=delay, count=1, method="POST", path_prefix=CONNECTORS))
    with pytest.raises(CyclrTimeout):
        client.install_connector(sb.default_account_id, connector_id(sb, "Jira"), name="Jira (ambiguous)",
                                 auth_value="dXNlcjpwYXNz")
    assert wait_for(lambda: sb.count("POST", path_prefix=CONNECTORS) >= 1)
    time.sleep(0.1)
    assert sb.count("POST", path_prefix=CONNECTORS) == 1
    # It did happen: the caller reconciles by name instead of installing again.
    assert [a.name for a in client.list_account_connectors(sb.default_account_id)] == ["Jira (ambiguous)"]


def test_dropped_get_is_retried(sb: CyclrSandbox, client: CyclrClient) -> None:
    sb.faults.add(Fault("drop_before", count=1, method="GET", path_prefix="/v1.0/accounts"))
    assert len(client.list_accounts()) == len(sb.account_ids)
    assert sb.count("GET", path="/v1.0/accounts") == 2
