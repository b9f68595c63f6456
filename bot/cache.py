"""A small bounded cache: least-recently-used eviction, an optional time to live, thread
safety and single-flight loading.

The bot keeps a few maps keyed by something outsiders choose (a Slack user, a usergroup, a
Cyclr account): DM channel ids, ``users.info`` answers, catalogue snapshots. A plain dict
there only ever grows; :class:`BoundedCache` holds at most ``maxsize`` entries and drops the
least recently used one to make room.

:meth:`BoundedCache.get_or_load` is single-flight: when many threads miss the same key at
once the loader runs once, in the first of them, and every waiter gets its result. A loader
that raises hands its exception to every waiter, and nothing is cached.

(``cachetools`` has the LRU and TTL parts but neither the locking nor the single flight; those
would still be ours, so a new dependency would buy about thirty lines.)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar, cast

__all__ = ["BoundedCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

class _Flight(Generic[V]):
    """One load in progress; its waiters block on ``done``."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: V | None = None
        self.error: BaseException | None = None


class BoundedCache(Generic[K, V]):
    """At most ``maxsize`` entries, least recently used dropped first; each entry lives
    ``ttl`` seconds from when it was stored (None: until it is evicted).

    Args:
        maxsize: the most entries held (at least 1).
        ttl: seconds an entry stays usable; None for no expiry.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        maxsize: int,
        *,
        ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        if ttl is not None and ttl < 0:
            raise ValueError("ttl must not be negative")
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # key -> (expires at, value)
        self._flights: dict[K, _Flight[V]] = {}
        #: How many times a loader was called (for tests and benchmarks).
        self.loads = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: K) -> bool:
        with self._lock:
            return self._live(key, self._clock()) is not None

    def get(self, key: K) -> V | None:
        """The live value for ``key``, or None; a hit counts as a use."""
        with self._lock:
            entry = self._live(key, self._clock())
            return None if entry is None else entry[1]

    def set(self, key: K, value: V) -> None:
        """Store ``value`` (the most recently used entry now), evicting the oldest if full."""
        with self._lock:
            self._put(key, value)

    def setdefault(self, key: K, factory: Callable[[], V]) -> V:
        """The live value for ``key``; else ``factory()`` stored and returned. ``factory``
        runs under the cache's lock: it must be quick and must not use the cache."""
        with self._lock:
            entry = self._live(key, self._clock())
            if entry is not None:
                return entry[1]
            value = factory()
            self._put(key, value)
            return value

    def pop(self, key: K) -> V | None:
        """Remove ``key``; its value, or None. A load of it in flight is not stored."""
        with self._lock:
            self._flights.pop(key, None)
            entry = self._entries.pop(key, None)
            return None if entry is None else entry[1]

    def clear(self) -> None:
        with self._lock:
            self._flights.clear()
            self._entries.clear()

    def get_or_load(self, key: K, loader: Callable[[], V]) -> V:
        """The live value for ``key``; on a miss, ``loader()``'s result, stored.

        Concurrent misses of one key share a single call of ``loader``; if it raises, every
        one of them raises that exception and nothing is stored.
        """
        with self._lock:
            entry = self._live(key, self._clock())
            if entry is not None:
                return entry[1]
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
                self.loads += 1
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return cast(V, flight.value)
        try:
            loaded = loader()
        except BaseException as error:
            flight.error = error
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.done.set()
            raise
        flight.value = loaded
        with self._lock:
            if self._flights.get(key) is flight:  # not popped or cleared meanwhile
                del self._flights[key]
                self._put(key, loaded)
        flight.done.set()
        return loaded

    # -- internals (under the lock) ---------------------------------------------------------------

    def _live(self, key: K, now: float) -> tuple[float, V] | None:
        """The key's unexpired entry (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry[0]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _put(self, key: K, value: V) -> None:
        expires = float("inf") if self.ttl is None else self._clock() + self.ttl
        self._entries[key] = (expires, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
