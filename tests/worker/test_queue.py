"""The job queue on both backends: keys, claims, leases, fencing, held jobs and the schedule."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.store import Store
from bot.store.queue import JobQueue


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(store: Store, clock: Clock) -> Iterator[JobQueue]:
    yield JobQueue(store.engine, clock=clock)


def test_a_job_is_claimed_once_and_completed(queue: JobQueue) -> None:
    assert queue.enqueue("tell", {"install": 7}, key="tell:7")
    [job] = queue.claim("w1", limit=10, lease=60)
    assert (job.kind, job.key, dict(job.payload), job.attempt) == ("tell", "tell:7", {"install": 7}, 1)
    assert queue.claim("w2", limit=10, lease=60) == []
    assert queue.complete(job, {"ts": "1.2"})
    [row] = queue.find(key="tell:7")
    assert (row["state"], row["outcome"]) == ("done", '{"ts":"1.2"}')


def test_a_queued_key_is_not_queued_twice(queue: JobQueue) -> None:
    assert queue.enqueue("tell", {"install": 7}, key="tell:7")
    assert not queue.enqueue("tell", {"install": 7}, key="tell:7")
    assert len(queue.claim("w1", limit=10, lease=60)) == 1


def test_a_key_asked_for_while_running_runs_once_more_after_and_never_twice_at_once(queue: JobQueue) -> None:
    queue.enqueue("tell", key="tell:7")
    [first] = queue.claim("w1", limit=10, lease=60)
    assert not queue.enqueue("tell", key="tell:7")
    assert queue.claim("w2", limit=10, lease=60) == []  # not while the first runs
    queue.complete(first)
    [again] = queue.claim("w2", limit=10, lease=60)
    assert again.id == first.id and again.attempt == 2
    queue.complete(again)
    assert queue.claim("w1", limit=10, lease=60) == []
    assert queue.enqueue("tell", key="tell:7")  # done: a new job for the key may start


def test_a_dead_workers_job_is_taken_over_when_its_lease_runs_out_and_the_old_one_cannot_settle_it(
    queue: JobQueue, clock: Clock
) -> None:
    queue.enqueue("install", key="install:1")
    [job] = queue.claim("dead", limit=1, lease=30)
    clock.advance(29)
    assert queue.claim("w2", limit=1, lease=30) == []
    clock.advance(2)
    [taken] = queue.claim("w2", limit=1, lease=30)
    assert taken.id == job.id and taken.attempt == 2
    assert not queue.complete(job)  # the first claim is fenced off
    assert queue.complete(taken)


def test_retry_and_later_wait_for_their_delay(queue: JobQueue, clock: Clock) -> None:
    queue.enqueue("watch", key="watch:1")
    [job] = queue.claim("w", limit=1, lease=30)
    queue.retry(job, delay=5, error="boom")
    clock.advance(4)
    assert queue.claim("w", limit=1, lease=30) == []
    clock.advance(1)
    [again] = queue.claim("w", limit=1, lease=30)
    assert again.attempt == 2
    assert queue.find(key="watch:1")[0]["last_error"] == "boom"


def test_a_held_job_is_not_claimed_until_its_holder_is_gone(queue: JobQueue, clock: Clock) -> None:
    held = queue.hold("install", {"install": 3}, key="install:3", owner="intake", lease=120)
    assert held is not None and held.attempt == 1
    assert queue.hold("install", key="install:3", owner="intake", lease=120) is None
    assert queue.claim("w", limit=5, lease=60) == []
    clock.advance(121)
    [taken] = queue.claim("w", limit=5, lease=60)
    assert taken.id == held.id and taken.attempt == 2


def test_claims_are_limited_and_by_kind(queue: JobQueue) -> None:
    for n in range(5):
        queue.enqueue("a", {"n": n})
    queue.enqueue("b")
    assert [j.payload["n"] for j in queue.claim("w", limit=3, lease=60, kinds=["a"])] == [0, 1, 2]
    assert [j.kind for j in queue.claim("w", limit=10, lease=60, kinds=["b"])] == ["b"]


def test_many_claimers_at_once_never_get_the_same_job(store: Store) -> None:
    queue = JobQueue(store.engine)
    for n in range(200):
        queue.enqueue("a", {"n": n})
    got: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        try:
            while True:
                jobs = queue.claim(name, limit=3, lease=60)
                if not jobs:
                    return
                with lock:
                    got.extend(j.id for j in jobs)
        except BaseException as error:  # collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(got) == 200 and len(set(got)) == 200


def test_a_timed_kind_runs_once_per_period_across_processes(store: Store, clock: Clock) -> None:
    first, second = JobQueue(store.engine, clock=clock), JobQueue(store.engine, clock=clock)
    every = {"reconcile": 60.0}
    won = first.due_periods(every) + second.due_periods(every)
    assert won == ["reconcile"]
    clock.advance(30)
    assert first.due_periods(every) + second.due_periods(every) == []
    clock.advance(31)
    assert len(second.due_periods(every) + first.due_periods(every)) == 1


def test_finished_jobs_are_pruned_after_the_keeping_time_and_live_ones_never(
    queue: JobQueue, clock: Clock
) -> None:
    for kind in ("done", "failed", "live"):
        queue.enqueue(kind)
    done, failed, live = queue.claim("w", limit=3, lease=3600)
    assert queue.complete(done) and queue.fail(failed, "boom")
    clock.advance(3 * 86400)
    queue.enqueue("fresh")
    assert queue.prune(older_than=timedelta(days=7)) == 0
    clock.advance(5 * 86400)
    assert queue.prune(older_than=timedelta(days=7)) == 2
    assert sorted(job["kind"] for job in queue.find()) == ["fresh", "live"]
