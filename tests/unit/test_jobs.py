"""The bounded job runner: refuses overload at once, never drops an error silently."""

from __future__ import annotations

import logging
import threading

import pytest

from bot.jobs import JobRejected, JobRunner
from bot.logs import reference_id


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
