"""Bookkeeping for the bad input suite: every case sent, every status seen, every crash logged.

A *case* is one bad request sent over HTTP. The :class:`Ledger` counts them per family,
fails at once on a 5xx (so Hypothesis shrinks that input), and collects the ERROR log
records the bot writes while the cases run: the global error handler and the job wrapper
log every unhandled exception at ERROR, so an empty list means nothing crashed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import requests
from hypothesis import HealthCheck, settings

from tests.e2e.harness import Bot

__all__ = ["SIZES", "Ledger", "Size", "settle"]

F = TypeVar("F", bound=Callable[..., Any])

#: ``CYCLR_BOT_SOAK=1`` (``make soak``) runs the slow variants with this many times the examples.
SOAK = bool(os.environ.get("CYCLR_BOT_SOAK"))
SOAK_FACTOR = 10

_BASE = settings(
    deadline=None,
    derandomize=True,  # the same inputs on every run, so CI is reproducible
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@dataclass(frozen=True)
class Size:
    """How many Hypothesis examples a family runs: the normal run, or the soak run."""

    name: str
    factor: int

    def settings(self, examples: int) -> settings:
        return settings(_BASE, max_examples=examples * self.factor)


#: Parametrize a family test with this: ``normal`` always runs, ``soak`` only under CYCLR_BOT_SOAK.
SIZES = pytest.mark.parametrize(
    "size",
    [
        pytest.param(Size("normal", 1), id="normal"),
        pytest.param(
            Size("soak", SOAK_FACTOR),
            id="soak",
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(not SOAK, reason="soak run: set CYCLR_BOT_SOAK=1 (make soak)"),
            ],
        ),
    ],
)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.records.append(record)

    def snapshot(self) -> list[logging.LogRecord]:
        with self._lock:
            return list(self.records)


@dataclass
class Ledger:
    """Cases per family, statuses seen, and the bot's ERROR log records."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    _collector: _Collector = field(default_factory=_Collector)
    _seen_errors: int = 0

    @contextmanager
    def watching(self) -> Iterator[Ledger]:
        root = logging.getLogger()
        root.addHandler(self._collector)
        try:
            yield self
        finally:
            root.removeHandler(self._collector)

    def record(self, family: str, response: requests.Response, what: str) -> requests.Response:
        """Count one case; a 5xx fails the case at once, with what was sent."""
        self.cases[family] += 1
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{family}: {what[:300]!r} -> {response.status_code}")
        assert response.status_code < 500, (
            f"{family}: {response.status_code} {response.text[:300]!r} for {what[:300]!r}"
        )
        assert "Traceback" not in response.text, response.text[:500]
        return response

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def crashes(self) -> list[str]:
        """ERROR records logged since the last call, each as its message and exception."""
        records = self._collector.snapshot()
        new, self._seen_errors = records[self._seen_errors :], len(records)
        return [_describe(r) for r in new]

    def report(self) -> str:
        families = ", ".join(f"{name} {count}" for name, count in sorted(self.cases.items()))
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        return f"{self.total} cases ({families}); statuses {statuses}"


def _describe(record: logging.LogRecord) -> str:
    text = f"{record.name}: {record.getMessage()}"
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        text += f" [{type(error).__name__}: {error}]"
    return text


def settle(bot: Bot) -> None:
    """Let the work started by the cases finish: jobs, and listeners still running after ack."""
    bot.wait_idle()
    time.sleep(0.1)
    bot.wait_idle()
