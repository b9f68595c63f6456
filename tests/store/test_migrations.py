"""Schema migrations: a first-release database upgrades without losing a row; the migrations
make exactly the tables the code describes; concurrent starts upgrade once."""

from __future__ import annotations

import hashlib
import multiprocessing
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, insert, select

from bot.store import Store, schema, tables
from tests.store import first_release_tables as v1

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _first_release_database(url: str) -> None:
    engine = create_engine(url)
    v1.metadata.create_all(engine)
    with engine.begin() as conn:
        for n in range(3):
            conn.execute(
                insert(v1.installs).values(
                    submission_key=f"view-{n}",
                    team_id="T1",
                    user_id="U1",
                    channel_id="C1",
                    account_id="acc",
                    connector_id=100 + n,
                    connector_name=f"Connector {n}",
                    auth_kind="oauth2",
                    name=f"Install {n}",
                    state="installed",
                    account_connector_id=900 + n,
                    created_at=NOW,
                    updated_at=NOW,
                    told_state="installed",
                )
            )
        conn.execute(
            insert(v1.bindings).values(
                team_id="T1", channel_id="C1", account_id="acc", bound_by="U1", bound_at=NOW
            )
        )
        conn.execute(
            insert(v1.links).values(
                ref="first-release-ref",
                team_id="T1",
                user_id="U1",
                account_id="acc",
                account_connector_id=900,
                connector_name="Connector 0",
                install_id=1,
                created_at=NOW,
                expires_at=NOW + timedelta(days=1),
            )
        )
    engine.dispose()


def test_a_first_release_database_upgrades_without_losing_a_row(store_url: str) -> None:
    _first_release_database(store_url)
    store = Store(store_url)
    try:
        assert schema.current(store.engine) is None
        store.create_schema()
        assert schema.current(store.engine) == schema.head()
        assert store.count_installs() == 3
        rows = store.recent_installs("T1", limit=10)
        assert sorted((r.name, r.account_connector_id, r.state.value) for r in rows) == [
            ("Install 0", 900, "installed"),
            ("Install 1", 901, "installed"),
            ("Install 2", 902, "installed"),
        ]
        binding = store.channel_binding(team_id="T1", channel_id="C1")
        assert binding is not None and binding.account_id == "acc"
        # The link in a DM still resolves, by the hash of its ref; the ref itself is gone.
        link = store.link_by_hash(hashlib.sha256(b"first-release-ref").hexdigest())
        assert link is not None and link.account_connector_id == 900
        with store.engine.connect() as conn:
            stored = [tuple(str(v) for v in row) for row in conn.execute(select(tables.links))]
        assert not any("first-release-ref" in value for row in stored for value in row)
        # A second start finds nothing to do.
        store.create_schema()
        assert store.count_installs() == 3
    finally:
        store.close()


def test_the_migrations_make_the_tables_the_code_describes(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.create_schema()
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": schema.VERSION_TABLE})
            diffs = compare_metadata(context, tables.metadata)
        assert diffs == []
    finally:
        store.close()


def _upgrade(url: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = Store(url)
    barrier.wait()
    try:
        out.put(schema.upgrade(store.engine))
    except Exception as error:  # reported to the test, which fails on it
        out.put(f"error: {error!r}")
    finally:
        store.close()


def test_processes_starting_together_upgrade_once(store_url: str) -> None:
    _first_release_database(store_url)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    out = ctx.Queue()
    procs = [ctx.Process(target=_upgrade, args=(store_url, barrier, out)) for _ in range(3)]
    for proc in procs:
        proc.start()
    results = sorted(out.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=30)
    # Exactly one found the first-release schema; the others waited and found it current.
    assert results == sorted(["0001", schema.head(), schema.head()])
    engine = create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.installs)).scalar_one() == 3
    engine.dispose()


def test_another_applications_alembic_version_is_left_alone(store_url: str) -> None:
    """The bot's revision is kept in a table of its own, so it can share a database with an
    application whose Alembic uses the default ``alembic_version``."""
    store = Store(store_url)
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('theirs0001')")
        store.create_schema()
        with store.engine.connect() as conn:
            theirs = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        assert theirs == ["theirs0001"]
        assert schema.current(store.engine) == schema.head()
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        store.close()
