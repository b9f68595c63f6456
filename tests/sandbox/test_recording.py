"""Request recording, counts, routing edges and the server's lifecycle."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot.cyclr.sandbox import CyclrSandbox
from tests.sandbox.conftest import TIMEOUT, Http


def test_every_request_is_recorded_with_what_was_sent(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.install("Stripe", {"Name": "Rec", "AuthValue": "k1"})

    token_call, install = cyclr_sandbox.requests

    assert (token_call.method, token_call.path, token_call.status) == ("POST", "/oauth/token", 200)
    assert token_call.form["grant_type"] == "client_credentials"
    assert install.method == "POST" and install.path.endswith("/install")
    assert install.json == {"Name": "Rec", "AuthValue": "k1"}
    assert install.headers["X-Cyclr-Account"] == "acme-prod"
    assert install.header("x-cyclr-account") == "acme-prod"
    assert install.header("authorization") == f"Bearer {http.token}"
    assert install.status == 200 and install.fault is None
    assert install.host == "127.0.0.1"
    assert token_call.time <= install.time


def test_query_is_recorded_apart_from_the_decoded_path(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.get("/v1.0/connectors/Access%20CRM", params={"page": "2", "pageSize": "5"})

    recorded = cyclr_sandbox.requests[-1]

    assert recorded.path == "/v1.0/connectors/Access CRM"
    assert recorded.query == {"page": "2", "pageSize": "5"}
    assert recorded.json is None


def test_count_filters_and_clear(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.get("/v1.0/accounts")
    http.get("/v1.0/accounts/initech")
    http.post("/v1.0/accounts/initech/signintoken", json={"Username": "u"})

    assert cyclr_sandbox.count() == 4
    assert cyclr_sandbox.count(method="get") == 2
    assert cyclr_sandbox.count(path="/v1.0/accounts") == 1
    assert cyclr_sandbox.count(path_prefix="/v1.0/accounts") == 3
    assert cyclr_sandbox.count("POST", path_prefix="/v1.0/accounts/initech") == 1
    assert cyclr_sandbox.count(path="/oauth/token") == 1

    cyclr_sandbox.clear_requests()

    assert cyclr_sandbox.count() == 0 and cyclr_sandbox.requests == []


def test_unknown_routes_and_wrong_methods(http: Http) -> None:
    unknown = http.get("/v1.0/nothing/here")
    root = http.get("/", auth=False)
    wrong_method = http.call("PATCH", "/v1.0/accounts")
    trailing_slash = http.get("/V1.0/Accounts/")

    assert unknown.status_code == 404
    assert unknown.json() == {"Message": "No HTTP resource was found that matches the request URI"}
    assert root.status_code == 404
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"Message": "The requested resource does not support http method 'PATCH'."}
    assert trailing_slash.status_code == 200
    assert unknown.headers["X-Content-Type-Options"] == "nosniff"
    assert unknown.headers["Content-Type"] == "application/json; charset=utf-8"


def test_chunked_request_bodies_are_read(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    path = f"/v1.0/connectors/{cyclr_sandbox.connector_by_name('Webhook')['Id']}/install"

    response = http.post(
        path,
        account="acme-prod",
        data=iter([b'{"Name": ', b'"Chunked"}']),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 200 and response.json()["Name"] == "Chunked"
    assert cyclr_sandbox.requests[-1].header("Transfer-Encoding") == "chunked"


def test_lifecycle_start_stop_and_context_manager() -> None:
    sandbox = CyclrSandbox()
    with pytest.raises(RuntimeError):
        _ = sandbox.api_url
    with sandbox as running:
        url = running.api_url
        assert running.running and url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/v1.0/accounts", timeout=TIMEOUT).status_code == 401
        with pytest.raises(RuntimeError):
            running.start()
    assert not sandbox.running
    sandbox.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v1.0/accounts", timeout=TIMEOUT)


def test_stop_ends_idle_keep_alive_connections_and_wakes_sleepers(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    url = cyclr_sandbox.api_url
    assert http.get("/v1.0/accounts").status_code == 200  # leaves a pooled keep-alive connection
    cyclr_sandbox.install_latency = 30
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(http.install, "Webhook")
        time.sleep(0.3)  # the install reaches the server and sleeps there
        started = time.perf_counter()
        cyclr_sandbox.stop()
        # The sleeping install is cut off: before its answer (ConnectionError) or, when the
        # stop lands while the answer is being written, in the middle of it.
        with contextlib.suppress(requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            slow.result(timeout=5)
    assert time.perf_counter() - started < 3

    with pytest.raises(requests.ConnectionError):
        http.session.get(f"{url}/v1.0/accounts", timeout=TIMEOUT)


def test_module_runs_standalone_and_prints_how_to_connect() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cyclr.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(6)]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    settings = dict(line.strip().split("=", 1) for line in lines if "=" in line)
    assert settings["CYCLR_CLIENT_ID"] == "sandbox-client-id"
    assert settings["CYCLR_ACCOUNT_ID"] == "acme-prod"
    assert settings["CYCLR_SERVICE_URL"].startswith("http://localhost:")
    assert settings["CYCLR_API_URL"].startswith("http://127.0.0.1:")
