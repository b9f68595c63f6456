"""The partner token endpoint and bearer checks on /v1.0."""

from __future__ import annotations

import base64

import requests

from bot.cyclr.sandbox import CyclrSandbox, ManualClock
from tests.fixtures.sandbox import MakeSandbox
from tests.sandbox.conftest import TIMEOUT, Http

DENIED = {"Message": "Authorization has been denied for this request."}


def test_client_credentials_grant_issues_a_bearer_token(http: Http) -> None:
    response = http.fetch_token()

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1209599
    assert body["clientId"] == "sandbox-client-id"
    assert len(body["access_token"]) >= 32
    assert body[".issued"].endswith(" GMT") and body[".expires"].endswith(" GMT")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert http.fetch_token().json()["access_token"] != body["access_token"]


def test_wrong_client_secret_is_invalid_client(http: Http) -> None:
    response = http.fetch_token(client_secret="nope")

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}


def test_wrong_grant_type_is_unsupported(http: Http) -> None:
    response = http.fetch_token(grant_type="password")

    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}


def test_credentials_in_the_query_string_are_not_read(cyclr_sandbox: CyclrSandbox) -> None:
    params = {
        "grant_type": "client_credentials",
        "client_id": cyclr_sandbox.client_id,
        "client_secret": cyclr_sandbox.client_secret,
    }
    response = requests.post(f"{cyclr_sandbox.api_url}/oauth/token", params=params, timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}


def test_client_credentials_may_come_as_http_basic(cyclr_sandbox: CyclrSandbox) -> None:
    basic = base64.b64encode(f"{cyclr_sandbox.client_id}:{cyclr_sandbox.client_secret}".encode()).decode()
    response = requests.post(
        f"{cyclr_sandbox.api_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 200
    assert response.json()["access_token"]


def test_v1_calls_need_a_valid_bearer_token(http: Http) -> None:
    missing = http.get("/v1.0/connectors", auth=False)
    unknown = http.get("/v1.0/connectors", token="not-a-token")
    valid = http.get("/v1.0/connectors")

    assert missing.status_code == 401 and missing.json() == DENIED
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert unknown.status_code == 401 and unknown.json() == DENIED
    assert valid.status_code == 200


def test_expire_tokens_invalidates_every_issued_token_but_new_ones_work(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    old = http.token
    assert http.get("/v1.0/accounts", token=old).status_code == 200

    cyclr_sandbox.expire_tokens()
    fresh = http.fetch_token().json()["access_token"]

    assert http.get("/v1.0/accounts", token=old).status_code == 401
    assert http.get("/v1.0/accounts", token=fresh).status_code == 200


def test_tokens_expire_after_token_ttl_on_the_sandbox_clock(make_cyclr_sandbox: MakeSandbox) -> None:
    clock = ManualClock()
    sandbox = make_cyclr_sandbox(clock=clock, token_ttl=60)
    http = Http(sandbox)
    try:
        token = http.fetch_token().json()
        assert token["expires_in"] == 60
        clock.advance(59)
        assert http.get("/v1.0/accounts", token=token["access_token"]).status_code == 200
        clock.advance(1)
        assert http.get("/v1.0/accounts", token=token["access_token"]).status_code == 401
    finally:
        http.close()


def test_custom_client_credentials(make_cyclr_sandbox: MakeSandbox) -> None:
    sandbox = make_cyclr_sandbox(client_id="partner", client_secret="s3cret")
    http = Http(sandbox)
    try:
        assert (sandbox.client_id, sandbox.client_secret) == ("partner", "s3cret")
        assert http.fetch_token().status_code == 200
        default = http.fetch_token(client_id="sandbox-client-id", client_secret="sandbox-client-secret")
        assert default.status_code == 400
    finally:
        http.close()
