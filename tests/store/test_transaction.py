"""``Store.transaction()``: a request's row and its jobs commit together or not at all, on
both databases, and a repeated key inside it does not spoil the rest of it."""

from __future__ import annotations

import contextvars
import threading

import pytest

from bot.store import Store
from bot.store.queue import JobQueue
from tests.store.test_store import _begin


class Boom(Exception):
    pass


def test_a_row_and_its_jobs_commit_together(store: Store) -> None:
    queue = JobQueue(store.engine)
    with store.transaction():
        record, created = _begin(store, "V-together")
        queue.enqueue("install", {"install": record.id}, key=f"install:{record.id}")
        queue.enqueue("tell-install", {"install": record.id}, key=f"tell-install:{record.id}")
    assert created and store.install_by_key("V-together") is not None
    assert [job["key"] for job in queue.find(kind="install")] == [f"install:{record.id}"]
    assert len(queue.find(kind="tell-install")) == 1


def test_a_failure_after_the_row_leaves_neither_row_nor_job(store: Store) -> None:
    queue = JobQueue(store.engine)
    with pytest.raises(Boom), store.transaction():
        record, _ = _begin(store, "V-undone")
        queue.enqueue("install", {"install": record.id}, key=f"install:{record.id}")
        raise Boom  # e.g. the process's store timeout while queueing the next job
    assert store.install_by_key("V-undone") is None
    assert store.count_installs() == 0
    assert queue.find(kind="install") == []


def test_a_repeated_key_inside_a_transaction_leaves_it_usable(store: Store) -> None:
    """A double submit meets its first row inside the transaction: no error that would
    abort the transaction (PostgreSQL refuses every later statement after one)."""
    first, _ = _begin(store, "V-again")
    queue = JobQueue(store.engine)
    with store.transaction():
        again, created = _begin(store, "V-again", name="Other")
        deploy, deploy_created = store.begin_deploy(
            request_key="view:V-again",
            team_id="T1",
            user_id="U1",
            channel_id="C1",
            account_id="acme",
            template_id="t1",
            template_name="A template",
        )
        repeat, repeat_created = store.begin_deploy(
            request_key="view:V-again",
            team_id="T1",
            user_id="U1",
            channel_id="C1",
            account_id="acme",
            template_id="t1",
            template_name="A template",
        )
        queue.enqueue("deploy", {"deploy": deploy.id}, key=f"deploy:{deploy.id}")
    assert not created and again.id == first.id
    assert deploy_created and not repeat_created and repeat.id == deploy.id
    assert len(queue.find(kind="deploy")) == 1


def test_writes_outside_a_transaction_commit_one_by_one(store: Store) -> None:
    queue = JobQueue(store.engine)
    record, _ = _begin(store, "V-alone")
    with pytest.raises(Boom):
        queue.enqueue("install", {"install": record.id}, key=f"install:{record.id}")
        raise Boom
    assert store.install_by_key("V-alone") is not None and len(queue.find(kind="install")) == 1


def test_a_context_copied_into_another_thread_does_not_join_the_transaction(store: Store) -> None:
    """The after-ack pool runs each task in a copy of the request's context: a write there is
    its own transaction, kept when the request's is rolled back."""
    outcome: list[bool] = []

    def elsewhere() -> None:
        outcome.append(_begin(store, "V-elsewhere")[1])

    with pytest.raises(Boom), store.transaction():
        # Before this transaction writes: on SQLite its first write takes the file's lock.
        thread = threading.Thread(target=contextvars.copy_context().run, args=(elsewhere,))
        thread.start()
        thread.join(timeout=30)
        _begin(store, "V-here")
        raise Boom
    assert outcome == [True]
    assert store.install_by_key("V-elsewhere") is not None
    assert store.install_by_key("V-here") is None
