"""The state store on SQLite and (when CI provides it) the real PostgreSQL."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text as sql
from sqlalchemy.exc import OperationalError

from bot.cyclr.models import AuthKind
from bot.store import InstallState, Store, unavailable


def _begin(store: Store, key: str, **overrides: Any) -> Any:
    values: dict[str, Any] = dict(
        submission_key=key,
        team_id="T1",
        user_id="U1",
        channel_id="C1",
        account_id="acme",
        connector_id=7,
        connector_name="Salesforce",
        connector_version="v3",
        auth_kind=AuthKind.OAUTH,
        name="Salesforce",
    )
    values.update(overrides)
    return store.begin_install(**values)


def test_install_round_trip(store: Store) -> None:
    record, created = _begin(store, "V1")
    assert created and record.state is InstallState.PENDING
    assert record.created_at.tzinfo is not None
    done = store.finish_install(record.id, InstallState.INSTALLED, account_connector_id=99)
    assert done is not None and done.state is InstallState.INSTALLED and done.account_connector_id == 99
    assert store.install_for_account_connector("acme", 99) == done
    store.set_messages(record.id, notify_channel="C9", notify_ts="1.2", dm_channel="D1", dm_ts="3.4")
    again = store.get_install(record.id)
    assert again is not None and (again.notify_ts, again.dm_ts) == ("1.2", "3.4")


def test_same_submission_key_gives_the_existing_row(store: Store) -> None:
    first, created = _begin(store, "V-dup")
    second, created_again = _begin(store, "V-dup", name="Other")
    assert created and not created_again
    assert second.id == first.id and second.name == "Salesforce"
    assert store.count_installs() == 1


def test_concurrent_threads_record_one_row(store: Store) -> None:
    """Double submits racing each other and other submissions (on SQLite they can share one
    batched INSERT): one row per key, and every caller gets the row of its own key."""
    results: list[tuple[str, str, bool]] = []
    barrier = threading.Barrier(16)

    def submit(key: str) -> None:
        barrier.wait()
        record, created = _begin(store, key)
        results.append((key, record.submission_key, created))

    keys = ["V-race"] * 8 + [f"V-other-{n}" for n in range(8)]
    threads = [threading.Thread(target=submit, args=(key,)) for key in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and all(key == got for key, got, _ in results)
    assert sorted(created for key, _, created in results if key == "V-race") == [False] * 7 + [True]
    assert all(created for key, _, created in results if key != "V-race")
    assert store.count_installs() == 9


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_works_too(url: str) -> None:
    store = Store(url)
    store.create_schema()
    record, created = _begin(store, "V-mem")
    assert created and store.get_install(record.id) == record
    store.close()


def test_final_state_is_not_overwritten_when_only_if_pending(store: Store) -> None:
    record, _ = _begin(store, "V2")
    assert store.finish_install(record.id, InstallState.FAILED, reason="no", only_if_pending=True) is not None
    assert store.finish_install(record.id, InstallState.INSTALLED, only_if_pending=True) is None
    current = store.get_install(record.id)
    assert current is not None and current.state is InstallState.FAILED and current.reason == "no"


def test_pending_rows_by_age(tmp_path: Any) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store = Store(f"sqlite:///{tmp_path / 'age.db'}", clock=lambda: now[0])
    store.create_schema()
    old, _ = _begin(store, "old")
    now[0] += timedelta(minutes=5)
    _begin(store, "new")
    assert [r.submission_key for r in store.pending_installs(older_than=timedelta(minutes=1))] == ["old"]
    assert len(store.pending_installs()) == 2
    assert old.id == store.pending_installs()[0].id


def test_recent_installs_newest_first_per_team(store: Store) -> None:
    for i in range(5):
        _begin(store, f"k{i}", name=f"n{i}")
    _begin(store, "other", team_id="T2")
    names = [r.name for r in store.recent_installs("T1", limit=3)]
    assert names == ["n4", "n3", "n2"]


def test_channel_binding_is_replaced(store: Store) -> None:
    assert store.channel_binding(team_id="T1", channel_id="C1") is None
    store.bind_channel(team_id="T1", channel_id="C1", account_id="acme", bound_by="U1")
    store.bind_channel(team_id="T1", channel_id="C1", account_id="globex", bound_by="U2")
    binding = store.channel_binding(team_id="T1", channel_id="C1")
    assert binding is not None and (binding.account_id, binding.bound_by) == ("globex", "U2")


def _link(
    store: Store, ref_hash: str, *, user_id: str = "U1", ac: int = 5, ttl: timedelta = timedelta(hours=1)
) -> Any:
    return store.create_link(
        ref_hash=ref_hash,
        team_id="T1",
        user_id=user_id,
        account_id="acme",
        account_connector_id=ac,
        connector_name="Salesforce",
        install_id=None,
        ttl=ttl,
    )


def test_links_expire_revoke_and_authenticate(store: Store) -> None:
    link = _link(store, "a" * 64, ttl=timedelta(hours=24))
    assert link.expires_at - link.created_at == timedelta(hours=24)
    assert store.link_by_hash("a" * 64) == link
    assert store.link_by_hash("nope") is None and store.link_by_return("a" * 64) is None
    store.revoke_link(link.id)
    revoked = store.link_by_hash("a" * 64)
    assert revoked is not None and revoked.revoked_at is not None
    stamped = store.mark_links_authenticated("acme", 5)
    assert [s.id for s in stamped] == [link.id]
    assert store.mark_links_authenticated("acme", 5) == []


def test_a_link_mints_once_per_arming_by_its_owner(store: Store) -> None:
    link = _link(store, "b" * 64)
    soon = datetime.now(UTC) + timedelta(minutes=3)
    assert not store.spend_arm(link.id, return_hash="r" * 64)  # never armed
    assert not store.arm_link(link.id, team_id="T1", user_id="U2", until=soon)  # not the owner
    assert not store.arm_link(link.id, team_id="T2", user_id="U1", until=soon)  # another team's U1
    assert store.arm_link(link.id, team_id="T1", user_id="U1", until=soon)
    assert store.spend_arm(link.id, return_hash="r" * 64)
    assert not store.spend_arm(link.id, return_hash="s" * 64)  # one mint per arming
    spent = store.link_by_return("r" * 64)
    assert spent is not None and spent.id == link.id and spent.minted_at is not None
    assert store.arm_link(link.id, team_id="T1", user_id="U1", until=datetime.now(UTC) - timedelta(seconds=1))
    assert not store.spend_arm(link.id, return_hash="s" * 64)  # the arming ran out
    store.mark_links_authenticated("acme", 5)
    assert not store.arm_link(link.id, team_id="T1", user_id="U1", until=soon)  # dead


def test_a_new_link_replaces_the_owners_older_ones(store: Store) -> None:
    def revoked(ref_hash: str) -> bool:
        link = store.link_by_hash(ref_hash)
        assert link is not None
        return link.revoked_at is not None

    _link(store, "c" * 64)
    other_user = _link(store, "d" * 64, user_id="U2")
    _link(store, "e" * 64, ac=6)  # another connector
    newest = _link(store, "f" * 64)
    assert revoked("c" * 64) and not revoked("d" * 64) and not revoked("e" * 64) and not revoked("f" * 64)
    # The connector's wait ran out, or it was uninstalled: its links still live are revoked.
    assert {link.id for link in store.revoke_links_for_connector("acme", 5)} == {other_user.id, newest.id}
    assert revoked("d" * 64) and revoked("f" * 64) and not revoked("e" * 64)


def test_prune_deletes_only_links_dead_for_a_while(store: Store) -> None:
    now = datetime.now(UTC)
    long_expired = _link(store, "1" * 64, ttl=timedelta(days=-2))
    just_expired = _link(store, "2" * 64, ac=6, ttl=timedelta(seconds=-1))
    live = _link(store, "3" * 64, ac=7)
    revoked = _link(store, "4" * 64, ac=8)
    store.revoke_link(revoked.id)
    assert store.prune_links(now - timedelta(days=1)) == 1
    assert store.link_by_hash("1" * 64) is None
    assert {store.link_by_hash(h).id for h in ("2" * 64, "3" * 64, "4" * 64)} == {  # type: ignore[union-attr]
        just_expired.id,
        live.id,
        revoked.id,
    }
    assert store.prune_links(now + timedelta(seconds=5)) == 2  # the expired and the revoked one
    assert store.link_by_hash("3" * 64) is not None and long_expired.id != live.id


def test_ping_reports_an_unreachable_database() -> None:
    from bot.store import StoreUnavailable

    store = Store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(StoreUnavailable):
        store.ping()


def _submit_in_process(url: str, key: str, barrier: Any, out: Any) -> None:
    store = Store(url)
    barrier.wait()
    _, created = _begin(store, key)
    out.put(created)
    store.close()


def test_two_processes_recording_the_same_view_create_one_row(store_url: str, store: Store) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_submit_in_process, args=(store_url, "V-proc", barrier, out)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert sorted([out.get(timeout=5), out.get(timeout=5)]) == [False, True]
    assert store.count_installs() == 1


def _create_schema(url: str, barrier: Any, out: Any) -> None:
    store = Store(url)
    barrier.wait()
    try:
        store.create_schema()
        out.put("ok")
    except Exception as error:  # reported to the parent, which fails the test
        out.put(repr(error))
    store.close()


def test_processes_starting_together_all_create_the_schema(store_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_create_schema, args=(store_url, barrier, out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [out.get(timeout=5) for _ in procs] == ["ok"] * 4


def test_unavailable_tells_an_outage_from_a_schema_error(tmp_path: Path) -> None:
    """Store errors an ack answers with "try again in a minute" (bot.slack.listeners.errors)."""
    path = tmp_path / "u.db"
    store = Store(f"sqlite:///{path}", timeout=0.2)
    store.create_schema()
    with pytest.raises(OperationalError) as missing, store.engine.connect() as conn:
        conn.execute(sql("SELECT * FROM no_such_table"))
    assert not unavailable(missing.value)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError) as locked:
            store.bind_channel(team_id="T1", channel_id="C1", account_id="a", bound_by="U1")
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()
    assert unavailable(locked.value)
    assert not unavailable(ValueError("no"))
