"""A user clicking through an OAuth link, with nothing but the standard library.

Tests of the bot take the authorisation URL it produced (from a Slack message or a
redirect) and call :func:`click_through`, which opens it, answers the consent page and
reports where the browser was sent, exactly as a person with a browser would.
"""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin

from .pages import CONNECTORAUTH_PATH

__all__ = ["LinkOutcome", "click_through"]

_CONSENT = re.compile(r'name="consent" value="([^"]+)"')


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    """The last answer in the click-through: 302 plus ``location`` on success, 403 for a used link."""

    status: int
    location: str | None = None
    body: str = ""

    @property
    def redirected(self) -> bool:
        return self.status in (301, 302, 303, 307, 308) and self.location is not None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _open(request: urllib.request.Request | str, timeout: float) -> LinkOutcome:
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return LinkOutcome(response.status, response.headers.get("Location"), response.read().decode())
    except urllib.error.HTTPError as exc:
        with exc:
            return LinkOutcome(exc.code, exc.headers.get("Location"), exc.read().decode("utf-8", "replace"))


def click_through(url: str, *, allow: bool = True, timeout: float = 10.0) -> LinkOutcome:
    """Open ``url`` and press *Allow* (or *Deny*) on the consent page it shows."""
    first = _open(url, timeout)
    consent = _CONSENT.search(first.body) if first.status == 200 else None
    if consent is None:
        return first
    form = urlencode({"consent": html.unescape(consent.group(1)), "decision": "allow" if allow else "deny"})
    post = urllib.request.Request(
        urljoin(url, CONNECTORAUTH_PATH),
        data=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    return _open(post, timeout)
