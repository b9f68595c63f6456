"""Serves the Flask app with gunicorn, embedded (no separate config file needed).

Each web worker builds its own app after the fork (``preload_app`` stays off): its cache
and after-ack threads must start in the process that uses them.

The web workers only take requests (intake); the work after the ack runs in a worker
process (``cyclr-bot worker``) beside them. The default is one web worker with
:data:`DEFAULT_THREADS` threads (``WEB_CONCURRENCY`` asks for more). With more than one,
each listens on a socket of its own (``SO_REUSEPORT``) and the kernel spreads new
connections over them. Scale beyond one machine with replicas sharing one PostgreSQL.

gunicorn's own log lines (a worker timeout, a malformed request line quoted back) go through
the bot's log handler, so they are redacted and formatted like every other line
(:class:`GunicornLogger`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

__all__ = [
    "DEFAULT_THREADS",
    "GunicornLogger",
    "GunicornServer",
    "default_workers",
    "freeze_startup_heap",
    "ready_worker",
    "server_options",
]

DEFAULT_THREADS = 16


def default_workers() -> int:
    """One web worker: intake only acks; the work after the ack has its own process."""
    return 1


def server_options(
    host: str, port: int, *, workers: int | None = None, threads: int = DEFAULT_THREADS
) -> dict[str, Any]:
    """gunicorn settings: ``workers`` processes (None: one) of ``threads`` threads
    (the settings ``WEB_CONCURRENCY`` and ``WEB_THREADS``)."""
    workers = workers or default_workers()
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "reuse_port": workers > 1,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "logger_class": GunicornLogger,
        "limit_request_line": 8190,
        "preload_app": False,
        "post_worker_init": ready_worker,
    }


class GunicornLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, writing through the root logger's handler (the one with the
    redaction filter, set up by :func:`bot.logs.configure_logging`) instead of a stream
    handler of its own."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True


def ready_worker(worker: Any) -> None:
    """gunicorn's ``post_worker_init``: the app is loaded; get ready for the first burst."""
    freeze_startup_heap()


def freeze_startup_heap() -> None:
    """Leave the objects made at start-up (modules, clients, the app: some 80,000) out of
    every later garbage collection.

    They live as long as the process, yet a full collection walks all of them with the GIL
    held: 45-70 ms measured in a worker, which landed inside a burst of acks. Collect once
    now so no garbage is frozen with them (``gc.freeze``; objects made later, such as the
    catalogue, which is replaced on refresh, are collected as usual).
    """
    gc.collect()
    gc.freeze()


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn running ``load_app()`` in each worker."""

    def __init__(self, load_app: Callable[[], Any], options: dict[str, Any]) -> None:
        self._load_app = load_app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load_app()
