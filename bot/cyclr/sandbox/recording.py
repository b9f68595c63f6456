"""Every request the sandbox receives, kept so tests can assert on what a client really sent."""

from __future__ import annotations

import json as _json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["RecordedRequest", "RequestLog", "canonical_header"]


def canonical_header(name: str) -> str:
    """``x-cyclr-account`` → ``X-Cyclr-Account``: one spelling, so dict lookups are predictable."""
    return "-".join(part.capitalize() for part in name.split("-"))


@dataclass(frozen=True, slots=True, eq=False)
class RecordedRequest:
    """One request as received, with the status it produced.

    ``path`` is percent-decoded and has no query string. ``headers`` keys are canonical
    (``X-Cyclr-Account``, ``Content-Type``); :meth:`header` looks up any spelling.
    ``status`` is what the sandbox answered, or would have answered for a ``drop_after``
    fault; it is ``0`` when the request was dropped before it was handled.
    ``fault`` names the injected fault kind, if any.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int
    time: float
    fault: str | None = None
    host: str = ""

    @property
    def json(self) -> Any:
        """The body parsed as JSON; ``None`` when empty or not JSON."""
        if not self.body.strip():
            return None
        try:
            return _json.loads(self.body)
        except ValueError:
            return None

    @property
    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (first value of each name)."""
        out: dict[str, str] = {}
        for key, value in parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True):
            out.setdefault(key, value)
        return out

    def header(self, name: str) -> str | None:
        """A request header by any spelling of its name."""
        return self.headers.get(canonical_header(name))


class RequestLog:
    """A thread-safe, append-only list of :class:`RecordedRequest`."""

    def __init__(self) -> None:
        self._items: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def count(
        self, method: str | None = None, path: str | None = None, path_prefix: str | None = None
    ) -> int:
        """How many recorded requests match every filter given (method is case-insensitive)."""
        wanted = method.upper() if method else None
        with self._lock:
            return sum(
                1
                for r in self._items
                if (wanted is None or r.method == wanted)
                and (path is None or r.path == path)
                and (path_prefix is None or r.path.startswith(path_prefix))
            )
