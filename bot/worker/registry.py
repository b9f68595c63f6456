"""Job kinds: a name, the function that does one job of that kind, and how often it may fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bot.store.queue import Job

__all__ = ["JobFn", "Kind", "Later", "Registry"]


@dataclass(frozen=True, slots=True)
class Later:
    """A job's answer "not yet": run it again after ``delay`` seconds (not a failure)."""

    delay: float


Outcome = Mapping[str, Any] | Later | None
JobFn = Callable[[Job], Outcome]


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    run: JobFn
    #: Tries before the job is given up on; each failure waits ``backoff * 2**(n-1)`` seconds
    #: (at most :data:`MAX_BACKOFF`) before the next.
    attempts: int = 6
    backoff: float = 2.0


MAX_BACKOFF = 300.0


class Registry:
    """The kinds one process can run."""

    def __init__(self) -> None:
        self._kinds: dict[str, Kind] = {}

    def add(self, name: str, run: JobFn, *, attempts: int = 6, backoff: float = 2.0) -> None:
        if name in self._kinds:
            raise ValueError(f"job kind {name!r} is registered twice")
        self._kinds[name] = Kind(name, run, attempts=attempts, backoff=backoff)

    def job(self, name: str, *, attempts: int = 6, backoff: float = 2.0) -> Callable[[JobFn], JobFn]:
        """Decorator form of :meth:`add`."""

        def register(run: JobFn) -> JobFn:
            self.add(name, run, attempts=attempts, backoff=backoff)
            return run

        return register

    def get(self, name: str) -> Kind | None:
        return self._kinds.get(name)

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __iter__(self) -> Iterator[Kind]:
        return iter(self._kinds.values())

    def __contains__(self, name: object) -> bool:
        return name in self._kinds
