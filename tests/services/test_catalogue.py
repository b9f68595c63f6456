"""The catalogue cache: TTL, single flight, stale-while-revalidate, failures, invalidation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, Executor, Future, ThreadPoolExecutor
from typing import Any

import pytest

from bot.cyclr.models import Connector
from bot.services.catalogue import Catalogue, CatalogueCache

WAIT = 5.0  # seconds: the longest any test waits for a thread; far above what is needed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Fetcher:
    """A fake ``fetch`` that counts calls and can be held at a gate or made to fail."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def __call__(self, account_id: str) -> Sequence[Connector]:
        with self._lock:
            self.calls.append(account_id)
            generation = len(self.calls)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT), "test gate never opened"
        if self.error is not None:
            raise self.error
        return [Connector(id=generation, name=f"{account_id} connector v{generation}")]

    def hold(self) -> threading.Event:
        self.gate = threading.Event()
        self.entered.clear()
        return self.gate


def _generation(catalogue: Catalogue) -> int:
    return catalogue.connectors[0].id


def _eventually(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fetcher() -> Fetcher:
    return Fetcher()


@pytest.fixture
def cache(fetcher: Fetcher, clock: Clock) -> Iterator[CatalogueCache]:
    yield CatalogueCache(fetcher, ttl=60.0, clock=clock, error_backoff=10.0)
    if fetcher.gate is not None:  # never leave a refresh thread blocked
        fetcher.gate.set()


def _run_threads(count: int, target: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(count)

    def worker() -> None:
        start.wait(WAIT)
        try:
            value = target()
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(value)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + WAIT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a caller hung"
    return results, errors


# -- freshness ------------------------------------------------------------------------------

def test_first_get_fetches_and_later_gets_within_ttl_do_not(cache: CatalogueCache, fetcher: Fetcher,
                                                            clock: Clock) -> None:
    first = cache.get("acct")
    assert isinstance(first, Catalogue)
    assert [c.name for c in first] == ["acct connector v1"]
    clock.advance(59.9)
    assert cache.get("acct") is first
    assert cache.fetches == 1
    assert fetcher.calls == ["acct"]


def test_ttl_expiry_refreshes_in_the_background_and_serves_stale_meanwhile(
        cache: CatalogueCache, fetcher: Fetcher, clock: Clock) -> None:
    first = cache.get("acct")
    clock.advance(60.0)
    gate = fetcher.hold()
    # Stale: answered at once with the old snapshot while the refresh is held at the gate.
    assert cache.get("acct") is first
    assert fetcher.entered.wait(WAIT)
    assert all(cache.get("acct") is first for _ in range(20))
    assert cache.fetches == 2  # one refresh for all of those calls
    gate.set()
    _eventually(lambda: _generation(cache.get("acct")) == 2)
    assert cache.fetches == 2
    fresh = cache.get("acct")
    assert fresh.fetched_at == clock.now


def test_accounts_are_cached_separately(cache: CatalogueCache, fetcher: Fetcher) -> None:
    a, b = cache.get("a"), cache.get("b")
    assert [c.name for c in a] == ["a connector v1"]
    assert [c.name for c in b] == ["b connector v2"]
    assert cache.get("a") is a
    assert sorted(fetcher.calls) == ["a", "b"]


# -- single flight ----------------------------------------------------------------------------

def test_fifty_callers_on_an_empty_cache_share_one_fetch(cache: CatalogueCache, fetcher: Fetcher) -> None:
    gate = fetcher.hold()
    opener = threading.Timer(0.2, gate.set)  # long enough for every caller to queue up
    opener.start()
    results, errors = _run_threads(50, lambda: cache.get("acct"))
    opener.join()
    assert errors == []
    assert len(results) == 50
    assert len({id(r) for r in results}) == 1
    assert fetcher.calls == ["acct"]
    assert cache.fetches == 1


def test_many_callers_on_a_stale_cache_get_stale_data_and_start_one_refresh(
        cache: CatalogueCache, fetcher: Fetcher, clock: Clock) -> None:
    stale = cache.get("acct")
    clock.advance(120)
    gate = fetcher.hold()
    results, errors = _run_threads(30, lambda: cache.get("acct"))
    assert errors == []
    assert all(r is stale for r in results)
    assert cache.fetches == 2
    gate.set()
    _eventually(lambda: _generation(cache.get("acct")) == 2)
    assert len(fetcher.calls) == 2


def test_prime_loads_in_the_background_without_blocking(cache: CatalogueCache, fetcher: Fetcher) -> None:
    gate = fetcher.hold()
    started = time.monotonic()
    cache.prime("acct")
    cache.prime("acct")
    assert time.monotonic() - started < 1.0
    assert cache.peek("acct") is None
    gate.set()
    _eventually(lambda: cache.peek("acct") is not None)
    assert cache.get("acct") is cache.peek("acct")
    cache.prime("acct")  # fresh: nothing to do
    assert cache.fetches == 1


# -- failures ----------------------------------------------------------------------------------

class CyclrDown(Exception):
    pass


def test_a_failed_first_fetch_is_raised_to_every_waiting_caller(cache: CatalogueCache,
                                                                fetcher: Fetcher) -> None:
    gate = fetcher.hold()
    fetcher.error = CyclrDown("503 from Cyclr")
    opener = threading.Timer(0.2, gate.set)
    opener.start()
    results, errors = _run_threads(20, lambda: cache.get("acct"))
    opener.join()
    assert results == []
    assert len(errors) == 20
    assert all(isinstance(e, CyclrDown) for e in errors)
    assert cache.fetches == 1
    assert cache.failures == 1
    assert cache.peek("acct") is None
    # Nothing cached: the next caller tries again, and succeeds once Cyclr is back.
    fetcher.error = None
    assert _generation(cache.get("acct")) == 2


def test_a_failed_refresh_keeps_serving_stale_data_and_backs_off(
        cache: CatalogueCache, fetcher: Fetcher, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    stale = cache.get("acct")
    clock.advance(60)
    fetcher.error = CyclrDown("read timed out")
    with caplog.at_level(logging.WARNING, logger="bot.services.catalogue"):
        assert cache.get("acct") is stale
        _eventually(lambda: len(caplog.records) > 0)  # logged once the failure is recorded
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "acct" in record.getMessage() and "read timed out" in record.getMessage()
    assert cache.failures == 1
    # Within the back-off, no new attempt however many calls.
    clock.advance(9)
    assert cache.get("acct") is stale
    assert cache.fetches == 2
    # After it, one more attempt; now it works.
    fetcher.error = None
    clock.advance(2)
    assert cache.get("acct") is stale
    _eventually(lambda: _generation(cache.get("acct")) == 3)
    assert cache.fetches == 3


def test_a_bad_catalogue_counts_as_a_failed_fetch(clock: Clock) -> None:
    def fetch(account_id: str) -> Sequence[Connector]:
        return [object()]  # type: ignore[list-item]

    cache = CatalogueCache(fetch, clock=clock)
    with pytest.raises(AttributeError):
        cache.get("acct", timeout=WAIT)
    assert cache.failures == 1


def test_get_with_a_timeout_gives_up_waiting_but_the_fetch_goes_on(cache: CatalogueCache,
                                                                   fetcher: Fetcher) -> None:
    gate = fetcher.hold()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        cache.get("acct", timeout=0.05)
    assert time.monotonic() - started < 1.0
    gate.set()
    assert _generation(cache.get("acct", timeout=WAIT)) == 1
    assert cache.fetches == 1


# -- invalidation -----------------------------------------------------------------------------

def test_invalidate_serves_the_old_snapshot_once_and_refreshes(cache: CatalogueCache, fetcher: Fetcher,
                                                               clock: Clock) -> None:
    first = cache.get("acct")
    cache.invalidate("acct")
    cache.invalidate("unknown-account")  # harmless
    assert cache.get("acct") is first
    _eventually(lambda: _generation(cache.get("acct")) == 2)
    assert cache.fetches == 2


def test_a_fetch_begun_before_invalidate_lands_already_stale(cache: CatalogueCache, fetcher: Fetcher,
                                                             clock: Clock) -> None:
    cache.get("acct")
    clock.advance(60)
    gate = fetcher.hold()
    cache.get("acct")  # refresh #2 begins and is held
    assert fetcher.entered.wait(WAIT)
    cache.invalidate("acct")
    gate.set()
    _eventually(lambda: _generation(cache.get("acct")) >= 2)
    # #2 may predate the change behind invalidate(), so it was stored as stale: #3 follows.
    _eventually(lambda: _generation(cache.get("acct")) == 3)
    assert cache.fetches == 3


# -- executors ----------------------------------------------------------------------------------

class InlineExecutor(Executor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_an_injected_executor_runs_the_fetches(fetcher: Fetcher, clock: Clock) -> None:
    cache = CatalogueCache(fetcher, clock=clock, ttl=10, executor=InlineExecutor())
    first = cache.get("acct")
    clock.advance(10)
    assert cache.get("acct") is first  # stale is still what this call gets...
    assert _generation(cache.get("acct")) == 2  # ...but the inline refresh has landed


def test_an_executor_that_refuses_work_fails_the_call_instead_of_hanging(fetcher: Fetcher,
                                                                         clock: Clock) -> None:
    pool = ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    cache = CatalogueCache(fetcher, clock=clock, executor=pool)
    with pytest.raises(RuntimeError):
        cache.get("acct", timeout=WAIT)
    assert fetcher.calls == []
    assert cache.failures == 1


class DroppingExecutor(Executor):
    """Accepts work, then drops it, as ``shutdown(cancel_futures=True)`` does to queued work."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        threading.Timer(0.05, future.cancel).start()
        return future


def test_a_fetch_dropped_by_the_executor_fails_the_waiters(fetcher: Fetcher, clock: Clock) -> None:
    cache = CatalogueCache(fetcher, clock=clock, executor=DroppingExecutor())
    with pytest.raises(CancelledError):
        cache.get("acct", timeout=WAIT)
    assert fetcher.calls == []
    assert cache.failures == 1


# -- bounded ------------------------------------------------------------------------------------

def test_only_the_most_recently_used_accounts_are_kept(fetcher: Fetcher, clock: Clock) -> None:
    cache = CatalogueCache(fetcher, clock=clock, executor=InlineExecutor(), max_accounts=3)
    for i in range(30):
        cache.get(f"acct-{i}")
        cache.get("acct-0")  # used after each: never the least recently used
    assert [cache.peek(f"acct-{i}") is not None for i in (0, 27, 28, 29)] == [True, False, True, True]
    assert cache.peek("acct-1") is None
    calls = len(fetcher.calls)
    cache.get("acct-1")  # dropped, so fetched again
    assert len(fetcher.calls) == calls + 1


def test_an_account_dropped_while_its_fetch_runs_still_answers_its_waiters(fetcher: Fetcher,
                                                                          clock: Clock) -> None:
    gate = fetcher.hold()
    cache = CatalogueCache(fetcher, clock=clock, max_accounts=1)
    results, errors = [], []

    def first() -> None:
        try:
            results.append(cache.get("acct-a", timeout=WAIT))
        except BaseException as exc:
            errors.append(exc)

    waiter = threading.Thread(target=first, daemon=True)
    waiter.start()
    assert fetcher.entered.wait(WAIT)
    cache.prime("acct-b")  # takes the only slot
    gate.set()
    waiter.join(WAIT)
    assert not waiter.is_alive() and errors == []
    assert len(results) == 1 and isinstance(results[0], Catalogue)
    _eventually(lambda: cache.peek("acct-b") is not None)
    assert cache.peek("acct-a") is None
