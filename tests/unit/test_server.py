"""gunicorn settings and the worker's start-up hook."""

from __future__ import annotations

import gc
from types import SimpleNamespace

import pytest

from bot.config import ConfigError, Settings
from bot.web.server import default_workers, ready_worker, server_options

_ENV = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s"}


def test_one_web_worker_by_default() -> None:
    assert default_workers() == 1
    settings = Settings.from_env(_ENV, mode="http", sandbox=True)
    assert (settings.web_workers, settings.web_threads) == (None, 16)
    options = server_options("127.0.0.1", 8080, workers=settings.web_workers, threads=settings.web_threads)
    assert (options["workers"], options["threads"]) == (default_workers(), 16)
    assert options["reuse_port"] is (options["workers"] > 1)


def test_web_concurrency_sets_the_workers_and_one_worker_shares_one_socket() -> None:
    env = _ENV | {"WEB_CONCURRENCY": "3", "WEB_THREADS": "8"}
    settings = Settings.from_env(env, mode="http", sandbox=True)
    options = server_options("127.0.0.1", 8080, workers=settings.web_workers, threads=settings.web_threads)
    assert (options["workers"], options["threads"], options["reuse_port"]) == (3, 8, True)
    # Socket Mode's link pages force one worker: the connection to Slack lives in it.
    single = server_options("127.0.0.1", 8080, workers=1)
    assert (single["workers"], single["reuse_port"]) == (1, False)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("WEB_CONCURRENCY", "abc", "WEB_CONCURRENCY must be a whole number, got 'abc'"),
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be between 1 and 64, got 0"),
        ("WEB_THREADS", "2.5", "WEB_THREADS must be a whole number, got '2.5'"),
    ],
)
def test_bad_server_settings_are_configuration_problems(name: str, value: str, problem: str) -> None:
    """gunicorn would raise a bare ValueError on them at import; the settings name them."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(_ENV | {name: value}, mode="http", sandbox=True)
    assert raised.value.problems == [problem]


def test_the_worker_hook_freezes_the_start_up_heap() -> None:
    assert server_options("127.0.0.1", 8080)["post_worker_init"] is ready_worker
    try:
        ready_worker(SimpleNamespace(cfg=SimpleNamespace(threads=4)))
        # Everything alive now is left out of later collections.
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
