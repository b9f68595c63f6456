"""The bounded job runner: refuses overload at once, never drops an error silently."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from bot.jobs import Foreground, JobRejected, JobRunner
from bot.logs import reference_id
from bot.web.server import start_request_threads


def test_backlog_is_bounded_and_refused_at_once() -> None:
    runner = JobRunner(workers=1, max_pending=2)
    release = threading.Event()
    runner.submit("a", release.wait, 5)
    runner.submit("b", release.wait, 5)
    with pytest.raises(JobRejected):
        runner.submit("c", release.wait, 5)
    assert runner.pending == 2
    release.set()
    assert runner.wait_idle(5)
    runner.submit("d", lambda: None)  # a slot is free again
    runner.shutdown()
    with pytest.raises(JobRejected):
        runner.submit("e", lambda: None)


def test_failures_are_logged_with_traceback_and_kept_on_the_future(caplog: pytest.LogCaptureFixture) -> None:
    runner = JobRunner(workers=1)

    def boom() -> None:
        raise ValueError("broken job")

    with caplog.at_level(logging.ERROR, logger="bot.jobs"):
        future = runner.submit("boom", boom)
        with pytest.raises(ValueError):
            future.result(5)
    assert runner.failures == 1
    assert any("job boom failed" in r.getMessage() and r.exc_info for r in caplog.records)
    runner.shutdown()


def test_jobs_run_in_the_callers_context() -> None:
    runner = JobRunner(workers=1)
    token = reference_id.set("E-CTX123")
    try:
        assert runner.submit("ctx", reference_id.get).result(5) == "E-CTX123"
    finally:
        reference_id.reset(token)
    runner.shutdown()


def test_every_worker_is_started_up_front() -> None:
    runner = JobRunner(workers=6, name="upfront")
    names = [t.name for t in threading.enumerate() if t.name.startswith("upfront")]
    assert len(names) == 6
    runner.shutdown()


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_foreground_is_quiet_only_a_settle_time_after_the_last_request() -> None:
    clock = _Clock()
    foreground = Foreground(settle=0.05, clock=clock)
    assert foreground.wait_quiet(0)  # nothing answered yet
    with foreground.answering():
        assert foreground.active == 1
        assert not foreground.wait_quiet(0)
    assert foreground.active == 0
    assert not foreground.wait_quiet(0)  # just finished: the next of a burst may be on its way
    assert foreground.wait_quiet(0, settle=0)  # the urgent lane only waits for the answering
    clock.now += 0.06
    assert foreground.wait_quiet(0)


def test_a_job_waits_for_the_request_being_answered() -> None:
    foreground = Foreground(settle=0.01)
    runner = JobRunner(workers=2, foreground=foreground, yield_for=5.0)
    ran = threading.Event()
    with foreground.answering():
        runner.submit("after-ack", ran.set)
        assert not ran.wait(0.2), "the job ran while a request was being answered"
    assert ran.wait(2)
    runner.shutdown()


def test_a_job_waits_no_longer_than_its_yield() -> None:
    foreground = Foreground()
    runner = JobRunner(workers=1, foreground=foreground, yield_for=0.1)
    with foreground.answering():  # a request that never finishes
        assert runner.submit("patient", lambda: "ran").result(2) == "ran"
    runner.shutdown()


def test_gunicorns_request_threads_start_with_the_worker() -> None:
    """The post_worker_init hook: a gthread worker has all its threads before its first request."""
    pool = ThreadPoolExecutor(max_workers=5, thread_name_prefix="gthread-test")
    start_request_threads(SimpleNamespace(tpool=pool, cfg=SimpleNamespace(threads=5)))
    assert len([t for t in threading.enumerate() if t.name.startswith("gthread-test")]) == 5
    pool.shutdown()


def test_under_endless_traffic_jobs_keep_their_pace() -> None:
    """With never a quiet moment, a job waits ``yield_for`` from its submission, not from when
    a worker takes it: ten 0.2-s waits on one worker take about 0.2 s, not 2 s."""
    foreground = Foreground()
    runner = JobRunner(workers=1, foreground=foreground, yield_for=0.2)
    with foreground.answering():
        started = time.monotonic()
        futures = [runner.submit(f"job{i}", lambda: None) for i in range(10)]
        for future in futures:
            future.result(5)
        elapsed = time.monotonic() - started
    assert 0.15 < elapsed < 1.0, elapsed
    runner.shutdown()
