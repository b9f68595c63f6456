"""The bot's own bounded job runner for work done after Slack has been answered.

Bolt runs listeners on a small pool (five threads by default); a listener that waits on
Cyclr there starves the next user's ack. Listeners therefore only ack and hand off here.
The queue is bounded so an overload is refused at once (the user is told "busy") instead of
piling up work that would finish long after anyone cares.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["JobRejected", "JobRunner"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class JobRejected(Exception):
    """The runner is full or shut down; nothing was queued."""


class JobRunner:
    """A thread pool with a bounded backlog; each job runs in a copy of the caller's context."""

    def __init__(self, *, workers: int = 8, max_pending: int = 500, name: str = "cyclr-job") -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(max_pending)
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self.workers = workers
        self.max_pending = max_pending
        self.failures = 0

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return self._pending

    def submit(self, name: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn``; raise :class:`JobRejected` when the backlog is full.

        An exception in the job is logged with its traceback (through the redacting handler)
        and left on the returned future; it is never silently dropped.
        """
        if self._closed or not self._slots.acquire(blocking=False):
            raise JobRejected(name)
        context = contextvars.copy_context()
        with self._lock:
            self._pending += 1

        def run() -> T:
            try:
                return context.run(fn, *args, **kwargs)
            except Exception:
                self.failures += 1
                log.exception("job %s failed", name)
                raise
            finally:
                with self._lock:
                    self._pending -= 1
                self._slots.release()

        try:
            return self._executor.submit(run)
        except RuntimeError as error:  # shut down between the check and the submit
            with self._lock:
                self._pending -= 1
            self._slots.release()
            raise JobRejected(name) from error

    def shutdown(self, *, wait: bool = True) -> None:
        self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=not wait)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no job is pending (tests and graceful shutdown); True if idle."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._pending == 0

    def __repr__(self) -> str:
        return f"JobRunner(workers={self.workers}, pending={self._pending}/{self.max_pending})"
