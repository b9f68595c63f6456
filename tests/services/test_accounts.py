"""AccountDirectory.listed: stale-while-revalidate on an ack's clock (issue 11, item 4)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bot.cyclr.models import Account
from bot.services.accounts import AccountDirectory


class SlowCyclr:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0
        self.release = threading.Event()

    def __call__(self) -> list[Account]:
        self.calls += 1
        self.release.wait(self.delay)
        return [Account("acme", f"Acme {self.calls}")]


def directory(fetch: Any) -> AccountDirectory:
    return AccountDirectory(fetch, store=None, default_account_id="acme", ttl=300)  # type: ignore[arg-type]


def test_a_stale_list_is_served_at_once_and_refreshed_once_for_many_callers() -> None:
    cyclr = SlowCyclr(delay=5)
    cyclr.release.set()
    accounts = directory(cyclr)
    assert accounts.listed(wait=1)[0].name == "Acme 1"
    cyclr.release.clear()
    accounts._fetched_at -= 1000  # older than the TTL
    took: list[float] = []

    def ask() -> None:
        started = time.monotonic()
        assert accounts.listed(wait=1)[0].name == "Acme 1"  # the stale copy
        took.append(time.monotonic() - started)

    callers = [threading.Thread(target=ask) for _ in range(20)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(5)
    assert len(took) == 20 and max(took) < 0.5
    cyclr.release.set()
    deadline = time.monotonic() + 5
    while accounts.cached()[0].name != "Acme 2" and time.monotonic() < deadline:  # type: ignore[index]
        time.sleep(0.01)
    assert cyclr.calls == 2  # one refresh, whoever asked
    assert accounts.listed(wait=1)[0].name == "Acme 2"


def test_nothing_cached_waits_at_most_the_given_time() -> None:
    cyclr = SlowCyclr(delay=5)
    accounts = directory(cyclr)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        accounts.listed(wait=0.3)
    assert time.monotonic() - started < 1.0
    with pytest.raises(TimeoutError):
        accounts.listed(wait=0.1)
    cyclr.release.set()
    assert accounts.listed(wait=2)[0].name == "Acme 1"
    assert cyclr.calls == 1


def test_a_failed_first_fetch_is_raised_to_the_waiting_caller() -> None:
    def broken() -> list[Account]:
        raise RuntimeError("Cyclr said no")

    with pytest.raises(RuntimeError, match="Cyclr said no"):
        directory(broken).listed(wait=2)
