"""Work a Slack request leaves for just after its ack, in the process that took the request.

Only what must stay in this process goes here: ``views.open`` (its trigger lives 3 s) and
``views.update`` of a modal, the lookups that warm this process's caches, and held install
jobs (the credentials a user typed live only in this process's memory; the job's row in the
queue lets a worker settle it if this process dies). Everything else after the ack is a job
in the queue (:mod:`bot.store.queue`). The pool is bounded: when it is full the caller is
refused at once and tells the user "busy", instead of piling up work nobody waits for.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["AfterAck", "JobRejected"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class JobRejected(Exception):
    """The pool is full or shut down; nothing was queued."""


class AfterAck:
    """A bounded thread pool; each task runs in a copy of the caller's context (its log reference)."""

    def __init__(self, *, threads: int = 16, max_pending: int = 500, name: str = "after-ack") -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(max_pending)
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self.threads = threads
        self.max_pending = max_pending
        self.failures = 0

    @property
    def pending(self) -> int:
        """Tasks queued or running."""
        return self._pending

    def submit(self, name: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run ``fn`` soon; raise :class:`JobRejected` when the pool is full.

        An exception in the task is logged with its traceback (through the redacting handler)
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
                log.exception("%s failed", name)
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
        """Block until nothing is pending (tests and graceful shutdown); True if idle."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._pending == 0

    def __repr__(self) -> str:
        return f"AfterAck(threads={self.threads}, pending={self._pending}/{self.max_pending})"
