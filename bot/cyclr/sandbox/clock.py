"""Time as the sandbox sees it: wall-clock seconds, replaceable so expiry tests need no sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Clock", "ManualClock", "system_clock"]

Clock = Callable[[], float]
"""Returns the current time as POSIX seconds (like :func:`time.time`)."""

system_clock: Clock = time.time


class ManualClock:
    """A clock that moves only when told: pass it as ``CyclrSandbox(clock=...)``."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` and return the new time."""
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        with self._lock:
            self._now = now
