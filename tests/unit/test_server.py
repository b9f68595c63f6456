"""gunicorn settings and the worker's start-up hook."""

from __future__ import annotations

import gc
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from bot.web.server import MAX_DEFAULT_WORKERS, default_workers, ready_worker, server_options


def test_a_worker_per_core_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    cores = len(os.sched_getaffinity(0))
    assert default_workers() == min(cores, MAX_DEFAULT_WORKERS)
    options = server_options("127.0.0.1", 8080)
    assert options["workers"] == default_workers()
    assert options["reuse_port"] is (options["workers"] > 1)


def test_web_concurrency_sets_the_workers_and_one_worker_shares_one_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("WEB_THREADS", "8")
    options = server_options("127.0.0.1", 8080)
    assert (options["workers"], options["threads"], options["reuse_port"]) == (3, 8, True)
    # Socket Mode's link pages force one worker: the connection to Slack lives in it.
    single = server_options("127.0.0.1", 8080, workers=1)
    assert (single["workers"], single["reuse_port"]) == (1, False)


def test_the_worker_hook_starts_the_request_threads_and_freezes_the_start_up_heap() -> None:
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gthread-hook-test")
    assert server_options("127.0.0.1", 8080)["post_worker_init"] is ready_worker
    try:
        ready_worker(SimpleNamespace(tpool=pool, cfg=SimpleNamespace(threads=4)))
        assert len([t for t in threading.enumerate() if t.name.startswith("gthread-hook-test")]) == 4
        # Everything alive now is left out of later collections.
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
        pool.shutdown()
