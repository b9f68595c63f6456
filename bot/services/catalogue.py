"""The per-account connector catalogue: an immutable snapshot, and the cache that keeps it fresh.

Every picker searches the catalogue on each keystroke, so the cache must answer from memory
and must not let a crowd of typists turn into a crowd of Cyclr calls:

* a fresh snapshot is returned at once;
* with no snapshot yet, the first caller starts **one** fetch and every caller waits for it
  (a failure is raised to all of them; nobody waits forever);
* with a stale snapshot, callers get it at once while **one** background refresh runs
  (stale-while-revalidate); if that refresh fails, the stale snapshot stays in service, a
  warning is logged, and the next refresh waits ``error_backoff`` seconds.

Fetching is injected (``fetch(account_id) -> connectors``), so this module knows nothing of
HTTP, Slack or threads beyond its own small refresh threads.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Executor, Future

from bot.cache import BoundedCache
from bot.cyclr.models import Connector
from bot.services.search import Match, MatchKind, SearchIndex, compact, version_key

__all__ = ["BEST_MATCH_CUTOFF", "Catalogue", "CatalogueCache", "Fetch"]

log = logging.getLogger(__name__)

#: Fetches one account's catalogue (the Cyclr client's paged ``GET /connectors``).
Fetch = Callable[[str], Sequence[Connector]]

#: The lowest fuzzy score :meth:`Catalogue.best_match` accepts as "what the user meant".
BEST_MATCH_CUTOFF = 80.0
#: The most accounts whose catalogue is kept in memory (least recently used dropped first).
MAX_ACCOUNTS = 500


class Catalogue:
    """An immutable, searchable snapshot of one account's connectors.

    Search keys are computed here, once per fetch, so a query only normalises itself.
    Safe to share between threads.
    """

    __slots__ = ("_by_id", "_by_name", "_connectors", "_index", "fetched_at")

    def __init__(self, connectors: Iterable[Connector], *, fetched_at: float = 0.0) -> None:
        self._connectors = tuple(connectors)
        self.fetched_at = fetched_at  #: the cache clock's reading when the fetch finished
        self._index = SearchIndex(self._connectors)
        self._by_id: dict[int, Connector] = {}
        self._by_name: dict[str, Connector] = {}
        # Preferred first: installable, then the newest version, then the lowest id.
        for connector in sorted(self._connectors, key=_preference):
            self._by_id.setdefault(connector.id, connector)
            self._by_name.setdefault(compact(connector.name), connector)

    def __len__(self) -> int:
        return len(self._connectors)

    def __iter__(self) -> Iterator[Connector]:
        return iter(self._connectors)

    def __repr__(self) -> str:
        return f"<Catalogue of {len(self)} connectors>"

    @property
    def connectors(self) -> tuple[Connector, ...]:
        return self._connectors

    def get(self, connector_id: int | str) -> Connector | None:
        """The connector with this Cyclr id (an int, or its text as Slack sends it back)."""
        try:
            key = int(connector_id)
        except (TypeError, ValueError):
            return None
        return self._by_id.get(key)

    def by_name(self, name: str) -> Connector | None:
        """The connector named exactly ``name``, ignoring case, accents, spaces and punctuation.

        Of several with that name (versions, drafts), the installable newest version wins.
        """
        return self._by_name.get(compact(name[:200])) if isinstance(name, str) else None

    def matches(self, query: str, *, limit: int = 10, installable_only: bool = True) -> list[Match]:
        """Ranked matches with their kind and score (see :mod:`bot.services.search`).

        An empty query gives the default list: popular connectors, then A to Z.
        """
        return self._index.search(query, limit=limit, installable_only=installable_only)

    def search(self, query: str, *, limit: int = 10, installable_only: bool = True) -> list[Connector]:
        """The connectors of :meth:`matches`, best first; drafts excluded unless asked for."""
        return [m.connector for m in self.matches(query, limit=limit, installable_only=installable_only)]

    def best_match(self, query: str, *, installable_only: bool = True) -> Connector | None:
        """The connector the user most likely meant, or None when nothing is close enough.

        Used to preselect ``/cyclr install <words>``; an empty query means nothing.
        """
        if not isinstance(query, str) or not compact(query[:200]):
            return None
        top = self.matches(query, limit=1, installable_only=installable_only)
        if not top or (top[0].kind is MatchKind.FUZZY and top[0].score < BEST_MATCH_CUTOFF):
            return None
        return top[0].connector


def _preference(connector: Connector) -> tuple[bool, tuple[int, ...], int]:
    return (not connector.is_installable, tuple(-v for v in version_key(connector.version)), connector.id)


# ---------------------------------------------------------------------------------------


class _Flight:
    """One fetch in progress; any number of callers may wait for its outcome."""

    __slots__ = ("_done", "catalogue", "error", "generation")

    def __init__(self, generation: int) -> None:
        self._done = threading.Event()
        self.generation = generation  # the slot's generation when the fetch began
        self.catalogue: Catalogue | None = None
        self.error: BaseException | None = None

    def finish(self, catalogue: Catalogue | None, error: BaseException | None) -> None:
        self.catalogue, self.error = catalogue, error
        self._done.set()

    def wait(self, timeout: float | None) -> Catalogue:
        if not self._done.wait(timeout):
            raise TimeoutError(f"the connector catalogue did not load within {timeout:g}s")
        if self.error is not None:
            raise self.error
        assert self.catalogue is not None
        return self.catalogue


class _Slot:
    """The cache's state for one account. Guarded by the cache's lock."""

    __slots__ = ("catalogue", "flight", "generation", "stale_at")

    def __init__(self) -> None:
        self.catalogue: Catalogue | None = None
        self.stale_at = -math.inf  # clock reading after which the snapshot needs a refresh
        self.flight: _Flight | None = None
        self.generation = 0  # bumped by invalidate(): a fetch begun earlier lands already stale


class CatalogueCache:
    """Per-account :class:`Catalogue` snapshots, refreshed every ``ttl`` seconds.

    Args:
        fetch: loads one account's connectors; called with at most one call in flight per
            account. It should time out by itself (the Cyclr client does).
        ttl: seconds a snapshot stays fresh.
        clock: monotonic seconds; injectable for tests.
        executor: runs fetches; by default each fetch gets its own small daemon thread.
        error_backoff: after a failed refresh of a stale snapshot, seconds before the next try.
        max_accounts: the most accounts whose snapshot is kept (least recently used dropped
            first; a dropped account's next :meth:`get` fetches again).
    """

    def __init__(
        self,
        fetch: Fetch,
        *,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        executor: Executor | None = None,
        error_backoff: float = 30.0,
        max_accounts: int = MAX_ACCOUNTS,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._executor = executor
        self._error_backoff = error_backoff
        self._lock = threading.Lock()
        # Guarded by self._lock too: a slot's fields change only under it.
        self._slots: BoundedCache[str, _Slot] = BoundedCache(max_accounts)
        self._fetches = 0
        self._failures = 0

    @property
    def fetches(self) -> int:
        """How many fetches were started (for tests and benchmarks)."""
        return self._fetches

    @property
    def failures(self) -> int:
        """How many fetches failed."""
        return self._failures

    def get(self, account_id: str, *, timeout: float | None = None) -> Catalogue:
        """The account's catalogue, fetching it first if there is none yet.

        Args:
            timeout: when there is no snapshot yet, the longest wait for the first fetch;
                ``TimeoutError`` after it (the fetch goes on, and a later call gets its result).

        Raises:
            Whatever the first fetch raised, when there is no snapshot to fall back on.
        """
        with self._lock:
            slot = self._slots.setdefault(account_id, _Slot)
            current = slot.catalogue
            if current is not None and (slot.flight is not None or self._clock() < slot.stale_at):
                return current
            flight = slot.flight
            started = flight is None
            if flight is None:
                flight = self._begin(slot)
        if started:
            self._launch(account_id, flight)
        if current is not None:
            return current  # stale, but served at once while the refresh runs
        return flight.wait(timeout)

    def peek(self, account_id: str) -> Catalogue | None:
        """The snapshot held for the account, however old, without fetching anything."""
        with self._lock:
            slot = self._slots.get(account_id)
            return slot.catalogue if slot else None

    def prime(self, account_id: str) -> None:
        """Start loading (or refreshing) the account's catalogue in the background if it is
        missing or stale, e.g. when a modal opens, before anyone types. Never blocks."""
        with self._lock:
            slot = self._slots.setdefault(account_id, _Slot)
            if slot.flight is not None or (slot.catalogue is not None and self._clock() < slot.stale_at):
                return
            flight = self._begin(slot)
        self._launch(account_id, flight)

    def invalidate(self, account_id: str) -> None:
        """Mark the account's snapshot stale: the next :meth:`get` serves it and refreshes.

        A fetch already in flight still completes, but its result counts as stale too.
        """
        with self._lock:
            slot = self._slots.get(account_id)
            if slot is not None:
                slot.stale_at = -math.inf
                slot.generation += 1

    # -- internals --------------------------------------------------------------------------

    def _begin(self, slot: _Slot) -> _Flight:
        """Record a new flight (under the lock); the caller launches it outside the lock."""
        slot.flight = _Flight(slot.generation)
        self._fetches += 1
        return slot.flight

    def _launch(self, account_id: str, flight: _Flight) -> None:
        try:
            if self._executor is not None:
                future = self._executor.submit(self._run, account_id, flight)
                future.add_done_callback(lambda f: self._cancelled(account_id, flight, f))
            else:
                threading.Thread(target=self._run, args=(account_id, flight),
                                 name=f"catalogue-fetch-{account_id}", daemon=True).start()
        except Exception as exc:  # e.g. an executor shut down: fail the flight, never hang
            self._land(account_id, flight, None, exc)

    def _cancelled(self, account_id: str, flight: _Flight, future: Future[None]) -> None:
        """An executor may drop queued work (``shutdown(cancel_futures=True)``): fail the flight."""
        if future.cancelled():
            self._land(account_id, flight, None, CancelledError("the catalogue fetch was cancelled"))

    def _run(self, account_id: str, flight: _Flight) -> None:
        catalogue: Catalogue | None = None
        error: BaseException | None = None
        try:
            connectors = self._fetch(account_id)
            catalogue = Catalogue(connectors, fetched_at=self._clock())
        except BaseException as exc:  # handed to the waiters, who re-raise it
            error = exc
        self._land(account_id, flight, catalogue, error)

    def _land(self, account_id: str, flight: _Flight, catalogue: Catalogue | None,
              error: BaseException | None) -> None:
        try:
            self._store(account_id, flight, catalogue, error)
        finally:
            flight.finish(catalogue, error)

    def _store(self, account_id: str, flight: _Flight, catalogue: Catalogue | None,
               error: BaseException | None) -> None:
        now = self._clock()
        stale: Catalogue | None = None
        with self._lock:
            if catalogue is None:
                self._failures += 1
            slot = self._slots.get(account_id)
            if slot is not None:  # None: dropped to make room while the fetch ran; keep nothing
                if slot.flight is flight:
                    slot.flight = None
                if catalogue is not None:
                    slot.catalogue = catalogue
                    slot.stale_at = now + self._ttl if flight.generation == slot.generation else -math.inf
                else:
                    stale = slot.catalogue
                    if stale is not None:
                        slot.stale_at = now + min(self._error_backoff, self._ttl)
        if error is not None and stale is not None:
            log.warning("refreshing the connector catalogue of account %s failed (%s: %s); "
                        "serving the copy from %.0fs ago", account_id, type(error).__name__, error,
                        now - stale.fetched_at)
        elif error is not None:
            log.debug("loading the connector catalogue of account %s failed", account_id, exc_info=error)
