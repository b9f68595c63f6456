"""Injected failures: errors, rate limits, dropped connections and slow answers, on demand.

A :class:`Fault` is armed with :meth:`FaultPlan.add` and hits the next ``count`` requests
that match its method and path prefix; :meth:`FaultPlan.random` adds seeded random faults
for soak runs. Explicit faults win over random ones. Kinds:

``status``        answer ``status`` with ``{"Message": …}``; the request is not applied
``rate_limit``    answer 429 with ``Retry-After: retry_after``; not applied
``drop_before``   close the connection without an answer; not applied
``drop_after``    apply the request, then close the connection without an answer
``delay_before``  sleep ``delay`` seconds, then handle normally
``delay_after``   apply the request, sleep ``delay`` seconds, then answer normally
"""

from __future__ import annotations

import random as _random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, replace
from typing import Literal, get_args

__all__ = ["FAULT_KINDS", "Fault", "FaultHit", "FaultKind", "FaultPlan"]

FaultKind = Literal["status", "rate_limit", "drop_before", "drop_after", "delay_before", "delay_after"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)


@dataclass(frozen=True, slots=True)
class Fault:
    """One failure to inject; ``count=None`` keeps it armed until :meth:`FaultPlan.clear`."""

    kind: FaultKind
    _: KW_ONLY
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    count: int | None = 1
    method: str | None = None
    path_prefix: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1, or None for a fault that never runs out")
        if self.delay < 0:
            raise ValueError("delay must not be negative")
        if self.kind == "status" and not 400 <= self.status <= 599:
            raise ValueError("a status fault needs an error status (400-599)")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )

    @property
    def answer_status(self) -> int:
        """The status a ``status`` or ``rate_limit`` fault answers with."""
        return 429 if self.kind == "rate_limit" else self.status


@dataclass(frozen=True, slots=True)
class FaultHit:
    """A fault that was applied to a request."""

    kind: FaultKind
    method: str
    path: str


@dataclass(slots=True)
class _Armed:
    fault: Fault
    remaining: int | None


@dataclass(frozen=True, slots=True)
class _RandomFaults:
    rate: float
    kinds: tuple[FaultKind, ...]
    paths: tuple[str, ...] | None
    methods: frozenset[str] | None
    statuses: tuple[int, ...]
    retry_after: float | None
    delay: float


class FaultPlan:
    """The faults armed on one sandbox; safe to change while requests are in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self._random: _RandomFaults | None = None
        self._rng = _random.Random(0)
        self._random_left: int | None = None
        self._hits: list[FaultHit] = []

    def add(self, fault: Fault) -> Fault:
        """Arm ``fault`` behind any already armed; returns it for chaining."""
        with self._lock:
            self._armed.append(_Armed(fault, fault.count))
        return fault

    def random(
        self,
        rate: float = 0.3,
        seed: int = 1,
        kinds: Iterable[FaultKind] = FAULT_KINDS,
        paths: str | Sequence[str] | None = None,
        *,
        methods: Iterable[str] | None = None,
        statuses: Sequence[int] = (500, 502, 503, 504),
        retry_after: float | None = 0.0,
        delay: float = 0.2,
        limit: int | None = None,
    ) -> None:
        """Fail a seeded random share ``rate`` of matching requests, with kinds drawn from ``kinds``.

        ``paths`` are path prefixes (``None``: every path); ``limit`` caps the total number of
        random faults. Replaces any earlier random setting; explicit faults are kept.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        kind_list = tuple(kinds)
        for kind in kind_list:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        if not kind_list:
            raise ValueError("kinds must not be empty")
        prefixes = (paths,) if isinstance(paths, str) else (tuple(paths) if paths is not None else None)
        with self._lock:
            self._random = _RandomFaults(
                rate=rate,
                kinds=kind_list,
                paths=prefixes,
                methods=frozenset(m.upper() for m in methods) if methods is not None else None,
                statuses=tuple(statuses),
                retry_after=retry_after,
                delay=delay,
            )
            self._rng = _random.Random(seed)
            self._random_left = limit

    def clear(self) -> None:
        """Disarm every explicit and random fault (the record of hits is kept)."""
        with self._lock:
            self._armed.clear()
            self._random = None

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request, if any, counting it as used."""
        with self._lock:
            fault = self._take_armed(method, path) or self._take_random(method, path)
            if fault is not None:
                self._hits.append(FaultHit(fault.kind, method, path))
            return fault

    @property
    def hits(self) -> list[FaultHit]:
        """Every fault applied so far, oldest first."""
        with self._lock:
            return list(self._hits)

    @property
    def pending(self) -> list[Fault]:
        """The explicit faults still armed."""
        with self._lock:
            return [armed.fault for armed in self._armed]

    def _take_armed(self, method: str, path: str) -> Fault | None:
        for index, armed in enumerate(self._armed):
            if armed.fault.matches(method, path):
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        del self._armed[index]
                return armed.fault
        return None

    def _take_random(self, method: str, path: str) -> Fault | None:
        spec = self._random
        if spec is None or self._random_left == 0:
            return None
        if spec.methods is not None and method.upper() not in spec.methods:
            return None
        if spec.paths is not None and not any(path.startswith(p) for p in spec.paths):
            return None
        if self._rng.random() >= spec.rate:
            return None
        kind = self._rng.choice(spec.kinds)
        if self._random_left is not None:
            self._random_left -= 1
        fault = Fault(
            kind, retry_after=spec.retry_after, delay=spec.delay if kind.startswith("delay") else 0.0
        )
        if kind == "status":
            fault = replace(fault, status=self._rng.choice(spec.statuses))
        return fault
