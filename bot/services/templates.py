"""The partner's template library as ``/cyclr templates`` and the deploy modal's picker see it.

The library is small (tens to a few hundred templates) and changes rarely, so each process
keeps one copy per account for :data:`TEMPLATES_TTL` seconds. The typeahead answers from that
copy; a cold picker waits at most its bound for Cyclr and otherwise says it is still loading.
Matching is forgiving, as the catalogue's is: the name or a connector's name, in part or with
a typo (``"salesforc slack"``, ``"hubspt"``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.cache import BoundedCache
from bot.cyclr.models import Template
from bot.services.catalogue import MAX_ACCOUNTS
from bot.services.search import MAX_QUERY_LENGTH, normalise

__all__ = ["TEMPLATES_TTL", "TemplateLibrary", "rank_templates"]

#: Seconds a process reuses an account's template list.
TEMPLATES_TTL = 300.0
#: Least rapidfuzz score for a template to count as a match of a query word.
_WORD_CUTOFF = 75


def _words(text: str) -> list[str]:
    return [w for w in normalise(text).split() if w]


def _score(template: Template, words: Sequence[str]) -> float:
    """How well every query word matches the template's name or connectors (0: not at all)."""
    haystack = _words(" ".join((template.name, *template.connector_names)))
    joined = "".join(haystack)
    total = 0.0
    for word in words:
        best = 0.0
        for candidate in haystack:
            if candidate == word:
                best = 100.0
                break
            if candidate.startswith(word):
                best = max(best, 95.0)
            elif len(word) >= 3 and word in candidate:
                best = max(best, 85.0)
            else:
                best = max(best, fuzz.ratio(word, candidate))
        if best < _WORD_CUTOFF and len(word) >= 4 and word in joined:  # "hubspot" vs "hub spot"
            best = 85.0
        if best < _WORD_CUTOFF:
            return 0.0
        total += best
    return total / max(1, len(words))


def rank_templates(templates: Sequence[Template], query: str, *, limit: int = 10) -> list[Template]:
    """The templates matching ``query`` best first; all of them by name for an empty query."""
    words = _words(query[:MAX_QUERY_LENGTH])
    if not words:
        return sorted(templates, key=lambda t: t.name.casefold())[:limit]
    scored = [(score, t) for t in templates if (score := _score(t, words)) > 0]
    scored.sort(key=lambda pair: (-pair[0], len(pair[1].name), pair[1].name.casefold()))
    return [t for _, t in scored[:limit]]


@dataclass(frozen=True, slots=True)
class _Copy:
    templates: tuple[Template, ...]
    fetched: float


class TemplateLibrary:
    """One process's copies of the template list, per account."""

    def __init__(
        self,
        fetch: Callable[[str], Sequence[Template]],
        *,
        ttl: float = TEMPLATES_TTL,
        max_accounts: int = MAX_ACCOUNTS,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._copies: BoundedCache[str, _Copy] = BoundedCache(max_accounts)
        self._inflight: dict[str, Future[tuple[Template, ...]]] = {}
        self._lock = threading.Lock()

    def get(self, account_id: str, *, wait: float | None = None) -> tuple[Template, ...]:
        """The account's templates, fetched when this process has no fresh copy (one fetch
        per account however many callers ask). A stale copy is served while a fresh one is
        fetched in the background. ``wait``: seconds to wait for a first copy, then
        :class:`TimeoutError` (the fetch goes on, for the next caller)."""
        with self._lock:
            copy = self._copies.get(account_id)
            fresh = copy is not None and time.monotonic() - copy.fetched < self._ttl
            future = None if fresh else self._inflight.get(account_id)
            if not fresh and future is None:
                future = self._inflight[account_id] = Future()
                threading.Thread(
                    target=self._refresh, args=(account_id, future), name="templates", daemon=True
                ).start()
        if copy is not None and (fresh or wait is not None):
            return copy.templates  # stale while revalidating, when the caller cannot wait
        assert future is not None
        return future.result(timeout=wait)  # concurrent.futures.TimeoutError is TimeoutError

    def _refresh(self, account_id: str, future: Future[tuple[Template, ...]]) -> None:
        try:
            templates = tuple(t for t in self._fetch(account_id) if t.id)
        except BaseException as error:  # handed to whoever waits
            with self._lock:
                self._inflight.pop(account_id, None)
            future.set_exception(error)
            return
        with self._lock:
            self._copies.set(account_id, _Copy(templates, time.monotonic()))
            self._inflight.pop(account_id, None)
        future.set_result(templates)

    def find(self, account_id: str, template_id: str, *, wait: float | None = None) -> Template | None:
        return next((t for t in self.get(account_id, wait=wait) if t.id == template_id), None)

    def search(
        self, account_id: str, query: str, *, limit: int = 10, wait: float | None = None
    ) -> list[Template]:
        return rank_templates(self.get(account_id, wait=wait), query, limit=limit)

