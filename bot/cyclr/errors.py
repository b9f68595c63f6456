"""Errors raised by the Cyclr client, by cause.

::

    CyclrError                    base: carries status, Cyclr's Message, method and path
    ├── CyclrTransportError       no HTTP answer
    │   ├── CyclrConnectError     never reached Cyclr: always safe to retry
    │   └── CyclrTimeout          read timeout or dropped connection: the request MAY have
    │                             been applied (an install must be reconciled, not repeated)
    └── CyclrAPIError             Cyclr answered with an error status
        ├── CyclrBadRequest       400: validation and business errors (duplicate name, draft)
        ├── CyclrAuthError        401/403: bad credentials or a token Cyclr no longer accepts
        ├── CyclrNotFound         404: unknown account, connector, account connector or cycle
        ├── CyclrConflict         409: the cycle is running, so Cyclr will not change it
        ├── CyclrRateLimited      429: ``retry_after`` seconds, when Cyclr said
        └── CyclrServerError      5xx

``str(error)`` and :attr:`CyclrError.user_message` never contain a token, a secret or a
query string: only the method, the path (ids are not secret) and Cyclr's own ``Message``.
"""

from __future__ import annotations

import email.utils
import math
import time
from typing import Any

__all__ = [
    "CyclrAPIError",
    "CyclrAuthError",
    "CyclrBadRequest",
    "CyclrConflict",
    "CyclrConnectError",
    "CyclrError",
    "CyclrNotFound",
    "CyclrRateLimited",
    "CyclrServerError",
    "CyclrTimeout",
    "CyclrTransportError",
    "error_from_response",
    "parse_retry_after",
]


class CyclrError(Exception):
    """Base of every error the Cyclr client raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        cyclr_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.cyclr_message = cyclr_message

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method else ""
        status = f"HTTP {self.status}: " if self.status else ""
        return f"{status}{self.message}{where}"

    @property
    def user_message(self) -> str:
        """A sentence fit to show a Slack user: Cyclr's reason when it gave one."""
        return self.cyclr_message or self.message


class CyclrTransportError(CyclrError):
    """No HTTP answer from Cyclr."""


class CyclrConnectError(CyclrTransportError):
    """The connection could not be made; the request never reached Cyclr."""


class CyclrTimeout(CyclrTransportError):
    """The request was sent but no full answer came back; it may have been applied."""


class CyclrAPIError(CyclrError):
    """Cyclr answered with an error status."""


class CyclrBadRequest(CyclrAPIError):
    """400: Cyclr refused the request; :attr:`cyclr_message` says why."""

    @property
    def is_duplicate_name(self) -> bool:
        text = self.cyclr_message or ""
        return text.startswith("Account connector name") and text.rstrip(".").endswith("is in use")


class CyclrAuthError(CyclrAPIError):
    """401/403: the partner credentials or the access token were refused."""


class CyclrNotFound(CyclrAPIError):
    """404: the account, connector or account connector does not exist."""


class CyclrConflict(CyclrAPIError):
    """409: Cyclr refuses to edit a cycle while it is active (cyclr-api.md §9.2).

    Cyclr's own message names no remedy, so :attr:`user_message` says it in plain words.
    """

    @property
    def user_message(self) -> str:
        return "Cyclr will not change this cycle while it is running. Pause it first, then try again."


class CyclrRateLimited(CyclrAPIError):
    """429: too many requests; wait :attr:`retry_after` seconds when given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class CyclrServerError(CyclrAPIError):
    """5xx: Cyclr failed."""


_GENERIC = {
    400: "Cyclr refused the request",
    401: "Cyclr did not accept the bot's credentials",
    403: "Cyclr denied access",
    404: "Cyclr could not find it",
    409: "Cyclr refused to change the cycle while it is active",
    429: "Cyclr is rate limiting the bot",
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; ``None`` if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        parsed = email.utils.parsedate_tz(text)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _cyclr_message(body: Any) -> str | None:
    """Cyclr's reason from an error body: ``{"Message": …}``, ``ModelState`` or an OAuth error."""
    if not isinstance(body, dict):
        return None
    parts: list[str] = []
    message = body.get("Message") or body.get("message")
    if isinstance(message, str) and message.strip():
        parts.append(message.strip())
    model_state = body.get("ModelState")
    if isinstance(model_state, dict):
        for errors in model_state.values():
            if isinstance(errors, list):
                parts.extend(str(e) for e in errors if e)
    if not parts:
        description = body.get("error_description") or body.get("error")
        if isinstance(description, str) and description.strip():
            parts.append(description.strip())
    return " ".join(parts)[:500] if parts else None


def _fallback_message(status: int) -> str:
    if status >= 500:
        return "Cyclr had an internal error"
    if 300 <= status < 400:
        return f"Cyclr answered with a redirect ({status}); check the Cyclr API URL"
    return f"Cyclr answered with status {status}"


def error_from_response(
    status: int,
    body: Any,
    *,
    method: str,
    path: str,
    retry_after: str | None = None,
) -> CyclrAPIError:
    """Map one error response to its class: the only place that knows the status codes."""
    reason = _cyclr_message(body)
    message = reason or _GENERIC.get(status) or _fallback_message(status)
    kwargs: dict[str, Any] = {"status": status, "method": method, "path": path, "cyclr_message": reason}
    if status == 429:
        return CyclrRateLimited(message, retry_after=parse_retry_after(retry_after), **kwargs)
    if status in (401, 403):
        return CyclrAuthError(message, **kwargs)
    if status == 404:
        return CyclrNotFound(message, **kwargs)
    if status == 409:
        return CyclrConflict(message, **kwargs)
    if status >= 500:
        return CyclrServerError(message, **kwargs)
    return CyclrBadRequest(message, **kwargs)
