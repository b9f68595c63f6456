"""bot.cache.BoundedCache, and the per-user maps built on it: bounded, expiring, single-flight."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from bot.cache import BoundedCache
from bot.services.access import UserDirectory
from bot.slack.messenger import SlackMessenger
from bot.slack.sealed import Sealer

THREADS = 20


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_together(target: Any, count: int = THREADS) -> list[BaseException | object]:
    """Start ``count`` threads on ``target`` at once; their results or exceptions, in order."""
    barrier = threading.Barrier(count)
    results: list[BaseException | object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target()
        except BaseException as error:  # handed back to the main thread, which asserts
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    return results


class SlowLoader:
    """A loader that counts its calls and waits long enough for every thread to miss."""

    def __init__(self, value: object = "loaded") -> None:
        self.value = value
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> object:
        with self._lock:
            self.calls += 1
        time.sleep(0.2)
        return self.value


# -- the cache itself ------------------------------------------------------------------------------


def test_the_bound_is_respected_and_the_least_recently_used_goes_first() -> None:
    cache: BoundedCache[str, int] = BoundedCache(3)
    for i, key in enumerate("abc"):
        cache.set(key, i)
    assert cache.get("a") == 0  # "a" is now the most recently used
    cache.set("d", 3)
    assert len(cache) == 3
    assert "b" not in cache and cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == [0, 2, 3]
    for i in range(100):
        cache.get_or_load(f"user-{i}", lambda i=i: i)  # type: ignore[misc]
    assert len(cache) == 3
    assert cache.get("user-99") == 99 and cache.get("user-96") is None


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache: BoundedCache[str, str] = BoundedCache(10, ttl=60.0, clock=clock)
    cache.set("U1", "first")
    clock.now += 59.9
    assert cache.get("U1") == "first"
    clock.now += 0.1
    assert cache.get("U1") is None and "U1" not in cache
    assert cache.get_or_load("U1", lambda: "second") == "second"
    assert cache.get_or_load("U1", lambda: "third") == "second"
    assert cache.loads == 1


def test_without_a_ttl_entries_stay_until_evicted() -> None:
    clock = Clock()
    cache: BoundedCache[str, str] = BoundedCache(2, clock=clock)
    cache.set("a", "x")
    clock.now += 10**9
    assert cache.get("a") == "x"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        BoundedCache(0)
    with pytest.raises(ValueError):
        BoundedCache(1, ttl=-1)


def test_concurrent_misses_of_one_key_run_the_loader_once() -> None:
    cache: BoundedCache[str, object] = BoundedCache(10)
    loader = SlowLoader()
    results = run_together(lambda: cache.get_or_load("U1", loader))
    assert loader.calls == 1 and cache.loads == 1
    assert results == ["loaded"] * THREADS
    assert cache.get("U1") == "loaded"


def test_a_loader_error_reaches_every_waiter_and_is_not_cached() -> None:
    cache: BoundedCache[str, object] = BoundedCache(10)
    boom = RuntimeError("users.info failed")
    arrived = threading.Semaphore(0)
    calls = []

    def loader() -> object:
        calls.append(1)
        for _ in range(THREADS):  # fail only once every thread has asked (a late one would reload)
            assert arrived.acquire(timeout=10)
        time.sleep(0.1)
        raise boom

    def ask() -> object:
        arrived.release()
        return cache.get_or_load("U1", loader)

    results = run_together(ask)
    assert len(calls) == 1
    assert all(result is boom for result in results)
    assert "U1" not in cache
    assert cache.get_or_load("U1", lambda: "recovered") == "recovered"


def test_different_keys_load_independently() -> None:
    cache: BoundedCache[int, int] = BoundedCache(100)
    counter = iter(range(THREADS))
    results = run_together(lambda: cache.get_or_load(next(counter), lambda: 1))
    assert results == [1] * THREADS and cache.loads == THREADS and len(cache) == THREADS


def test_a_key_popped_during_its_load_is_not_stored() -> None:
    cache: BoundedCache[str, str] = BoundedCache(10)

    def load() -> str:
        cache.pop("U1")  # e.g. invalidated while users.info was on its way
        return "old"

    assert cache.get_or_load("U1", load) == "old"
    assert "U1" not in cache


# -- the maps built on it --------------------------------------------------------------------------


class SlowSlack:
    """A stand-in for users.info and conversations.open that counts its calls."""

    def __init__(self) -> None:
        self.users_info_calls = 0
        self.opens = 0
        self._lock = threading.Lock()

    def users_info(self, user_id: str) -> dict[str, Any]:
        with self._lock:
            self.users_info_calls += 1
        time.sleep(0.2)
        return {"id": user_id, "is_admin": False}

    def conversations_open(self, *, users: str) -> dict[str, Any]:
        with self._lock:
            self.opens += 1
        time.sleep(0.2)
        return {"channel": {"id": f"D-{users}"}}


def test_users_info_is_called_once_when_twenty_threads_miss_together() -> None:
    slack = SlowSlack()
    directory = UserDirectory(slack.users_info, lambda group: [], groups=[])
    results = run_together(lambda: directory.facts("U1"))
    assert slack.users_info_calls == 1
    assert not any(isinstance(result, BaseException) for result in results)


def test_the_user_directory_is_bounded() -> None:
    directory = UserDirectory(lambda user_id: {"id": user_id}, lambda group: [], groups=[], max_users=5)
    for i in range(50):
        directory.facts(f"U{i}")
    assert directory.cached_users == 5


def messenger(client: object, **kwargs: Any) -> SlackMessenger:
    services = SimpleNamespace(settings=SimpleNamespace(slack_api_url="https://slack.com/api/"))
    return SlackMessenger(client, services, Sealer(b"k" * 32), **kwargs)  # type: ignore[arg-type]


def test_conversations_open_is_called_once_when_twenty_threads_miss_together() -> None:
    slack = SlowSlack()
    sender = messenger(slack)
    results = run_together(lambda: sender.dm_channel("U1"))
    assert slack.opens == 1
    assert results == ["D-U1"] * THREADS


def test_dm_channel_ids_are_bounded() -> None:
    class Quick:
        def conversations_open(self, *, users: str) -> dict[str, Any]:
            return {"channel": {"id": f"D-{users}"}}

    sender = messenger(Quick(), max_dm_channels=4)
    for i in range(40):
        assert sender.dm_channel(f"U{i}") == f"D-U{i}"
    assert sender.cached_dm_channels == 4
