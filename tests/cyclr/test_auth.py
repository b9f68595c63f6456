"""TokenManager: caching, expiry margin, one fetch at a time, renewal after a 401."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bot.cyclr.auth import DEFAULT_LIFETIME, TokenManager, client_credentials_form, parse_token_response
from bot.cyclr.errors import CyclrAPIError, CyclrAuthError, CyclrBadRequest
from bot.logs import redact


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTokenEndpoint:
    def __init__(self, expires_in: Any = 3600, delay: float = 0.0) -> None:
        self.calls = 0
        self.expires_in = expires_in
        self.delay = delay

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return {"access_token": f"t{self.calls}", "token_type": "bearer", "expires_in": self.expires_in}


def test_token_is_cached_until_a_minute_before_expiry() -> None:
    clock, endpoint = FakeClock(), FakeTokenEndpoint(expires_in=1209599)
    tokens = TokenManager(endpoint, clock=clock)
    assert tokens.token() == "t1"
    clock.now += 1209599 - 61
    assert tokens.token() == "t1"
    clock.now += 1
    assert tokens.token() == "t2"
    assert endpoint.calls == tokens.fetches == 2


def test_short_lived_token_uses_a_ten_percent_margin() -> None:
    clock, endpoint = FakeClock(), FakeTokenEndpoint(expires_in=30)
    tokens = TokenManager(endpoint, clock=clock)
    tokens.token()
    clock.now += 26.9
    assert tokens.token() == "t1"
    clock.now += 0.2  # 27.1 s: inside the 3 s margin
    assert tokens.token() == "t2"


@pytest.mark.parametrize("expires_in", [None, "soon", -5, 0, float("inf")])
def test_unusable_expires_in_falls_back_to_default_lifetime(expires_in: Any) -> None:
    token = parse_token_response({"access_token": "x", "expires_in": expires_in}, now=0.0)
    assert token.renew_at == pytest.approx(DEFAULT_LIFETIME - 30.0)


@pytest.mark.parametrize("body", [None, [], {}, {"access_token": ""}, {"access_token": 12}])
def test_answer_without_access_token_is_an_api_error(body: Any) -> None:
    with pytest.raises(CyclrAPIError, match="no access_token"):
        parse_token_response(body, now=0.0)


def test_threads_share_one_fetch() -> None:
    endpoint = FakeTokenEndpoint(delay=0.2)
    tokens = TokenManager(endpoint)
    seen: list[str] = []
    barrier = threading.Barrier(12)

    def worker() -> None:
        barrier.wait()
        seen.append(tokens.token())

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert endpoint.calls == 1
    assert seen == ["t1"] * 12


def test_invalidate_forgets_only_the_rejected_token() -> None:
    endpoint = FakeTokenEndpoint()
    tokens = TokenManager(endpoint)
    first = tokens.token()
    tokens.invalidate(first)
    second = tokens.token()
    assert second == "t2"
    tokens.invalidate(first)  # a late 401 for the old token must not throw away the new one
    assert tokens.token() == "t2"
    assert endpoint.calls == 2


def test_authorize_sets_bearer_header() -> None:
    tokens = TokenManager(FakeTokenEndpoint())
    headers: dict[str, str] = {}
    assert tokens.authorize(headers) == "t1"
    assert headers == {"Authorization": "Bearer t1"}


def test_bad_request_from_token_endpoint_is_an_auth_error() -> None:
    def refuse() -> Any:
        raise CyclrBadRequest("invalid_client", status=400, method="POST", path="/oauth/token",
                              cyclr_message="invalid_client")

    tokens = TokenManager(refuse)
    with pytest.raises(CyclrAuthError) as info:
        tokens.token()
    assert info.value.status == 400
    assert info.value.path == "/oauth/token"


def test_form_and_repr_keep_secrets_out_of_sight() -> None:
    assert client_credentials_form("id", "sec") == {
        "grant_type": "client_credentials", "client_id": "id", "client_secret": "sec"
    }
    tokens = TokenManager(FakeTokenEndpoint())
    tokens.token()
    assert "t1" not in repr(tokens)
    assert "t1" not in repr(tokens._token)


def test_a_fetched_token_is_masked_in_the_log() -> None:
    """Not only after ``Bearer``: a token quoted anywhere (an error text, a JSON dump) is masked."""
    tokens = TokenManager(lambda: {"access_token": "access-token-0123456789", "expires_in": 3600})
    tokens.token()
    assert redact('{"access_token": "access-token-0123456789"} and access-token-0123456789') == (
        '{"access_token": "[redacted]"} and [redacted]'
    )
