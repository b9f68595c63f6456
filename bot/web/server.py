"""Serves the Flask app with gunicorn, embedded (no separate config file needed).

Each worker builds its own app after the fork (``preload_app`` stays off): the job runner
and cache threads must start in the process that uses them. One worker with threads is
the default; scale out with more replicas sharing one PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from bot.jobs import start_threads

__all__ = ["GunicornServer", "server_options"]


def server_options(host: str, port: int) -> dict[str, Any]:
    """gunicorn settings; ``WEB_CONCURRENCY`` and ``WEB_THREADS`` override the defaults."""
    return {
        "bind": f"{host}:{port}",
        "workers": int(os.environ.get("WEB_CONCURRENCY", "1")),
        "worker_class": "gthread",
        "threads": int(os.environ.get("WEB_THREADS", "16")),
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "limit_request_line": 8190,
        "preload_app": False,
        "post_worker_init": start_request_threads,
    }


def start_request_threads(worker: Any) -> None:
    """Start a gthread worker's request threads before its first request (see
    :func:`bot.jobs.start_threads`), not one by one inside the first burst."""
    pool = getattr(worker, "tpool", None)
    if pool is not None:
        start_threads(pool, worker.cfg.threads)


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
