"""The consumer: claims due jobs from the queue and runs them on a pool of threads.

One loop per process polls the queue (``poll`` seconds when there is nothing to do), claims
as many jobs as it has idle threads, and enqueues the timed kinds whose period is due. A job
that raises is retried with backoff, then failed; :class:`~bot.worker.registry.Later`
queues it again without counting a failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from bot.logs import reference_id
from bot.store.queue import Job, JobQueue, process_id
from bot.worker.registry import MAX_BACKOFF, Later, Registry

__all__ = ["Consumer", "run_job"]

log = logging.getLogger(__name__)


class Consumer:
    """Runs the jobs of ``registry`` from ``queue`` until stopped."""

    def __init__(
        self,
        queue: JobQueue,
        registry: Registry,
        *,
        threads: int = 16,
        lease: float = 300.0,
        poll: float = 0.2,
        schedule: Mapping[str, float] | None = None,
        owner: str | None = None,
    ) -> None:
        self.queue = queue
        self.registry = registry
        self.threads = threads
        self.lease = lease
        self.poll = poll
        self.schedule = {kind: every for kind, every in (schedule or {}).items() if every > 0}
        self.owner = owner or process_id()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cyclr-job")
        self._busy = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cyclr-consumer", daemon=True)

    def start(self) -> Consumer:
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look at the queue now (a job was just enqueued in this process)."""
        self._wake.set()

    def stop(self, *, wait: float = 10.0) -> None:
        """Stop claiming; wait up to ``wait`` seconds for running jobs (the rest are taken
        over by another worker when their lease runs out)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=wait)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def run(self, job: Job) -> None:
        """Run one claimed job and settle it in the queue; never raises."""
        run_job(self.queue, self.registry, job)

    def _loop(self) -> None:
        next_schedule = 0.0
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if self.schedule and now >= next_schedule:
                    next_schedule = now + 1.0
                    for kind in self.queue.due_periods(self.schedule):
                        self.queue.enqueue(kind, key=kind)
                idle = self.threads - self._busy
                jobs = self.queue.claim(self.owner, limit=idle, lease=self.lease, kinds=self.registry.names())
            except Exception:
                log.warning("the job queue did not answer; trying again", exc_info=True)
                jobs = []
                self._stop.wait(1.0)
            for job in jobs:
                with self._lock:
                    self._busy += 1
                try:
                    self._pool.submit(self._run_counted, job)
                except RuntimeError:  # shutting down: the lease runs out and another worker takes it
                    with self._lock:
                        self._busy -= 1
            if not jobs or self._busy >= self.threads:
                self._wake.wait(self.poll)
                self._wake.clear()

    def _run_counted(self, job: Job) -> None:
        try:
            self.run(job)
        finally:
            with self._lock:
                self._busy -= 1
            self._wake.set()


def run_job(queue: JobQueue, registry: Registry, job: Job) -> None:
    """Run one claimed (or held) job and settle it in the queue; never raises."""
    kind = registry.get(job.kind)
    token = reference_id.set(f"job-{job.id}")
    try:
        if kind is None:
            queue.fail(job, f"no handler for job kind {job.kind!r} in this version")
            return
        try:
            outcome = kind.run(job)
        except Exception as error:
            if job.attempt >= kind.attempts:
                log.exception("job %s (%s) failed for good (attempt %d)", job.id, job.kind, job.attempt)
                queue.fail(job, _describe(error))
                return
            delay = min(MAX_BACKOFF, kind.backoff * 2 ** (job.attempt - 1))
            log.warning(
                "job %s (%s) failed (attempt %d, %s); trying again in %.0f s",
                job.id,
                job.kind,
                job.attempt,
                _describe(error),
                delay,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            queue.retry(job, delay=delay, error=_describe(error))
            return
        if isinstance(outcome, Later):
            queue.retry(job, delay=outcome.delay)
        else:
            queue.complete(job, outcome)
    except Exception:
        log.exception("job %s (%s) could not be settled; its lease will run out", job.id, job.kind)
    finally:
        reference_id.reset(token)


def _describe(error: Exception) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
