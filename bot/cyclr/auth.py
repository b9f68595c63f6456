"""The partner access token: fetched with client credentials, cached, shared by all threads.

This module is the only place that writes the ``Authorization`` header. It does no HTTP
itself: :class:`TokenManager` is given a ``fetch`` callable (the client's ``_request`` to
``POST /oauth/token``) so that the token call gets the same timeouts, retries and error
mapping as every other call.

Threads share one token. A fetch happens under a lock, so when the token runs out while
twenty threads are busy, exactly one of them asks Cyclr and the others wait for its answer
instead of each asking (no "token storm").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from bot.cyclr.errors import CyclrAPIError, CyclrAuthError, CyclrBadRequest
from bot.logs import register_secret

__all__ = [
    "AccessToken",
    "TokenManager",
    "client_credentials_form",
    "parse_token_response",
]

log = logging.getLogger(__name__)

#: Renew this many seconds before ``expires_in`` runs out (at most; see :func:`_margin`).
EXPIRY_MARGIN = 60.0
#: Lifetime assumed when Cyclr's answer has no usable ``expires_in``.
DEFAULT_LIFETIME = 300.0

TOKEN_PATH = "/oauth/token"


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token, the monotonic time after which it is not used any more, and the one
    at which Cyclr stops accepting it."""

    value: str = field(repr=False)
    renew_at: float
    expires_at: float

    def fresh(self, now: float) -> bool:
        return now < self.renew_at


def client_credentials_form(client_id: str, client_secret: str) -> dict[str, str]:
    """The form body of the token request (credentials go in the body, never in the URL)."""
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}


def _margin(lifetime: float) -> float:
    """60 s, or 10 % of a short lifetime, so a 30 s token is still used for 27 s."""
    return min(EXPIRY_MARGIN, lifetime * 0.1)


def parse_token_response(body: Any, *, now: float) -> AccessToken:
    """Read ``access_token`` and ``expires_in`` from Cyclr's token answer.

    Raises:
        CyclrAPIError: the answer has no access token.
    """
    value = body.get("access_token") if isinstance(body, Mapping) else None
    if not isinstance(value, str) or not value:
        raise CyclrAPIError(
            "Cyclr's token answer has no access_token", status=200, method="POST", path=TOKEN_PATH
        )
    try:
        lifetime = float(body.get("expires_in", DEFAULT_LIFETIME))
    except (TypeError, ValueError):
        lifetime = DEFAULT_LIFETIME
    if not lifetime > 0 or lifetime == float("inf"):
        lifetime = DEFAULT_LIFETIME
    return AccessToken(value=value, renew_at=now + lifetime - _margin(lifetime), expires_at=now + lifetime)


class TokenManager:
    """Caches the client-credentials token and puts it on requests.

    Args:
        fetch: Does ``POST /oauth/token`` and returns the decoded JSON answer.
        clock: A monotonic clock (injectable for tests).
    """

    def __init__(self, fetch: Callable[[], Any], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._fetches = 0

    def __repr__(self) -> str:
        return f"TokenManager(fetches={self._fetches}, cached={self._token is not None})"

    @property
    def fetches(self) -> int:
        """How many token requests this manager has sent (for tests and benchmarks)."""
        return self._fetches

    def token(self) -> str:
        """A token that is valid for a while yet; fetches one if needed (one thread at a time)."""
        current = self._token
        if current is not None and current.fresh(self._clock()):
            return current.value
        with self._lock:
            # Another thread may have fetched while this one waited for the lock.
            current = self._token
            if current is not None and current.fresh(self._clock()):
                return current.value
            return self._fetch_locked()

    def refresh(self) -> None:
        """Fetch a new token now, whatever is cached (``cyclr-bot check`` proves the credentials)."""
        with self._lock:
            self._fetch_locked()

    def _fetch_locked(self) -> str:
        self._fetches += 1
        try:
            body = self._fetch()
        except CyclrBadRequest as exc:
            # OWIN answers bad client credentials with 400 invalid_client.
            raise CyclrAuthError(
                exc.message,
                status=exc.status,
                method=exc.method,
                path=exc.path,
                cyclr_message=exc.cyclr_message,
            ) from None
        now = self._clock()
        fresh = parse_token_response(body, now=now)
        # Masked until Cyclr stops accepting it, and a margin more for a request still in flight.
        register_secret(fresh.value, ttl=fresh.expires_at - now + EXPIRY_MARGIN)
        self._token = fresh
        log.debug("fetched a Cyclr access token (fetch %d)", self._fetches)
        return fresh.value

    def invalidate(self, rejected: str) -> None:
        """Forget ``rejected`` (a token Cyclr answered 401 to) unless it was already replaced."""
        with self._lock:
            if self._token is not None and self._token.value == rejected:
                self._token = None

    def authorize(self, headers: MutableMapping[str, str]) -> str:
        """Set ``Authorization: Bearer …`` on ``headers``; returns the token used."""
        value = self.token()
        headers["Authorization"] = f"Bearer {value}"
        return value
