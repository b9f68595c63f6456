"""The schema's version: Alembic migrations, applied under a lock by whichever process starts first.

The lock is the database's own: PostgreSQL's transaction-scoped advisory lock, SQLite's
write lock (``BEGIN IMMEDIATE``). A process that waited finds the schema current and does
nothing. A first-release database (tables, no version table) is stamped with
revision 0001 first, so its rows are upgraded, never recreated. The version lives in
``cyclr_alembic_version``, not Alembic's default table, so the bot can share a database with
another application that uses Alembic.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

__all__ = ["VERSION_TABLE", "current", "head", "upgrade"]

#: Where the schema's revision is kept.
VERSION_TABLE = "cyclr_alembic_version"

_MIGRATIONS = Path(__file__).with_name("migrations")
#: The first key of PostgreSQL's advisory lock: "Cy" in ASCII, clear of other applications'.
_LOCK_SPACE = 0x4379
_LOCK_KEY = 1
#: SQLite's wait for another process's migration (the store's own busy timeout is short).
_MIGRATION_BUSY_MS = 60_000


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision; None for an empty database (or a first-release one, unstamped)."""
    with engine.connect() as conn:
        return _context(conn).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the schema to :func:`head`; returns the revision the database was at before.

    Exempt from the store's timeouts: a migration (or the wait for another process's) may
    take as long as it takes.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql(f"PRAGMA busy_timeout={_MIGRATION_BUSY_MS}")
            try:
                before = _upgrade_locked(conn, "BEGIN IMMEDIATE")
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy or 0)}")
            return before
        return _upgrade_locked(conn, None)


def _upgrade_locked(conn: Connection, begin: str | None) -> str:
    if begin is not None:
        conn.exec_driver_sql(begin)
    else:
        conn.begin()
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        lock = text("SELECT pg_advisory_xact_lock(:space, :key)")
        conn.execute(lock, {"space": _LOCK_SPACE, "key": _LOCK_KEY})
    before = _context(conn).get_current_revision()
    if before is None and inspect(conn).has_table("cyclr_installs"):
        before = _unversioned(conn)
        command.stamp(_config(conn), before)
    command.upgrade(_config(conn), "head")
    conn.commit()
    return before or "none"


def _context(conn: Connection) -> MigrationContext:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})


def _unversioned(conn: Connection) -> str:
    """The revision of a database made before migrations: the first release's, or the
    development schema after it whose link refs were already hashed."""
    columns = {column["name"] for column in inspect(conn).get_columns("cyclr_link_refs")}
    return "0002" if "ref_hash" in columns else "0001"
