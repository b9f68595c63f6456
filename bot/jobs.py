"""The bot's own bounded job runner for work done after Slack has been answered.

Bolt runs listeners on a small pool (five threads by default); a listener that waits on
Cyclr there starves the next user's ack. Listeners therefore only ack and hand off here.
The queue is bounded so an overload is refused at once (the user is told "busy") instead of
piling up work that would finish long after anyone cares.

Acks come first: Slack gives each request 3 s, while a job's user is already looking at
"Installing…". A job therefore starts once no Slack request has been answered for a moment
(:class:`Foreground`), or after a short wait at most, so a burst of requests is not slowed
by the work the same burst handed off (on a small machine both share one CPU and one GIL).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

__all__ = ["Foreground", "JobRejected", "JobRunner", "start_threads"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class JobRejected(Exception):
    """The runner is full or shut down; nothing was queued."""


def start_threads(pool: ThreadPoolExecutor, count: int) -> None:
    """Start ``count`` threads of ``pool`` now.

    A pool starts a thread for each task submitted while none is idle, up to its size, and
    each start waits for the new thread to run: under a burst that wait lands in an ack.
    """
    started = threading.Barrier(count + 1)
    for _ in range(count):
        pool.submit(started.wait)
    started.wait()


class Foreground:
    """Counts the Slack requests being answered, so that background work can let them finish.

    "Quiet" means no request has been answered for ``settle`` seconds: the requests of one
    burst reach the app a moment apart, and work that slipped into each gap between them
    would delay the rest.
    """

    def __init__(self, *, settle: float = 0.05, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle = settle
        self._clock = clock
        self._active = 0
        self._idle_since = float("-inf")
        self._quiet = threading.Condition()

    @property
    def active(self) -> int:
        return self._active

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around the handling of one request, up to its ack."""
        with self._quiet:
            self._active += 1
        try:
            yield
        finally:
            with self._quiet:
                self._active -= 1
                if not self._active:
                    self._idle_since = self._clock()
                    self._quiet.notify_all()

    def wait_quiet(self, timeout: float, *, settle: float | None = None) -> bool:
        """Block until it is quiet (for ``settle`` seconds, default :attr:`settle`), or
        ``timeout`` passed; True if quiet."""
        settle = self.settle if settle is None else settle
        deadline = self._clock() + timeout
        with self._quiet:
            while True:
                now = self._clock()
                if not self._active and now - self._idle_since >= settle:
                    return True
                if now >= deadline:
                    return False
                wait = deadline - now if self._active else settle - (now - self._idle_since)
                self._quiet.wait(min(wait, deadline - now))


class JobRunner:
    """A thread pool with a bounded backlog; each job runs in a copy of the caller's context.

    With a ``foreground``, each job first waits for the foreground to be quiet (for
    ``settle`` seconds, default the foreground's own), until ``yield_for`` seconds after it
    was submitted at most.
    """

    def __init__(
        self,
        *,
        workers: int = 8,
        max_pending: int = 500,
        name: str = "cyclr-job",
        foreground: Foreground | None = None,
        yield_for: float = 0.25,
        settle: float | None = None,
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._foreground = foreground
        self._yield_for = yield_for
        self._settle = settle
        self._slots = threading.BoundedSemaphore(max_pending)
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self.workers = workers
        self.max_pending = max_pending
        self.failures = 0
        start_threads(self._executor, workers)

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
        # The wait counts from now: a job that already waited in the queue (under sustained
        # traffic there is never a quiet moment) runs at once, so the runner keeps its pace.
        yield_until = time.monotonic() + self._yield_for

        def run() -> T:
            try:
                if self._foreground is not None:
                    remaining = yield_until - time.monotonic()
                    if remaining > 0:
                        self._foreground.wait_quiet(remaining, settle=self._settle)
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
