"""The engine and its bounds: every wait on the database is cut off (``REQUEST_TIMEOUT`` on
a request's path, ``WORKER_TIMEOUT`` in a worker), and an outage is told apart from a bug."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as _pg_insert
from sqlalchemy.dialects.sqlite import insert as _sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = [
    "REQUEST_TIMEOUT",
    "WORKER_TIMEOUT",
    "StoreUnavailable",
    "dialect_insert",
    "insert_new",
    "make_engine",
    "reason",
    "unavailable",
]

#: Seconds any wait on the database may take on a request's path (connecting, a pooled
#: connection, a statement, SQLite's write lock): a hung database is told to the user inside
#: Slack's 3 s instead of holding the ack. Migrations are exempt (:mod:`bot.store.schema`).
REQUEST_TIMEOUT = 2.0
#: The same bound for a worker process, whose jobs nobody waits on inside 3 s.
WORKER_TIMEOUT = 30.0


class StoreUnavailable(Exception):
    """The database did not answer."""


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database did not answer (in time): a lost or refused
    connection, a statement or lock wait cut off by the timeout, an exhausted pool, or an
    SQLite file that is locked, read-only or full."""
    if isinstance(error, StoreUnavailable | PoolTimeout):
        return True
    if not isinstance(error, OperationalError):
        return False
    # SQLite reports its schema errors as OperationalError too: those are bugs, not outages.
    return not str(error.orig).startswith(("no such ", "table ", "duplicate column"))


#: SQLite connections kept per process, and how many more may open at once.
SQLITE_POOL_SIZE = 20
SQLITE_POOL_OVERFLOW = 40


def dialect_insert(conn: Connection) -> Any:
    """The ``insert`` of the connection's database, with ``ON CONFLICT`` (upserts)."""
    return _pg_insert if conn.dialect.name == "postgresql" else _sqlite_insert


def insert_new(conn: Connection, table: Table, unique: str) -> Any:
    """``INSERT … ON CONFLICT (unique) DO NOTHING RETURNING *``: no row back when ``unique``
    is taken (a conflict that does not fail a transaction it may share, :mod:`.transaction`)."""
    return dialect_insert(conn)(table).on_conflict_do_nothing(index_elements=[unique]).returning(*table.c)


def reason(error: SQLAlchemyError) -> str:
    """A short, one-line reason from a database error (the driver's words, not the statement)."""
    cause = getattr(error, "orig", None) or error
    words = (str(cause).strip().splitlines() or [""])[0][:120]
    return f"{type(cause).__name__}: {words}" if words else type(cause).__name__


def make_engine(url: str, *, timeout: float = REQUEST_TIMEOUT) -> Engine:
    """An engine whose every wait is bounded by ``timeout`` seconds."""
    if url.startswith("sqlite"):
        # Connections kept open: request and job threads read at the same moment in a burst,
        # and an SQLite connection is only a file handle, while each one opened past the pool
        # (and closed again after) costs its open and pragmas inside an ack.
        in_memory = ":memory:" in url or url in ("sqlite://", "sqlite:///")
        pool: dict[str, Any] = {}
        if not in_memory:
            pool = {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_OVERFLOW}
            pool["pool_timeout"] = timeout
        busy_ms = int(timeout * 1000)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": timeout}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if not in_memory:
                # Another process may be switching this new file to WAL this moment: the switch
                # needs the file to itself and does not wait for a busy handler. WAL is kept
                # in the file, so this connection is in WAL mode too.
                with contextlib.suppress(sqlite3.OperationalError):
                    cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes, not power loss
            cursor.close()

        return engine
    return create_engine(
        _with_statement_timeout(url, timeout),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=timeout,
    )


def _with_statement_timeout(url: str, timeout: float) -> Any:
    """The PostgreSQL URL with a connect timeout (unless it names one) and the session's
    ``statement_timeout`` added to its ``options`` (kept: e.g. a ``search_path``)."""
    parsed = make_url(url)
    query = dict(parsed.query)
    if "connect_timeout" not in query:
        query["connect_timeout"] = str(max(2, round(timeout)))  # libpq's least is 2 s
    options = query.get("options") or ""
    if isinstance(options, tuple):
        options = " ".join(options)
    if "statement_timeout" not in options:
        options = f"{options} -c statement_timeout={int(timeout * 1000)}".strip()
    query["options"] = options
    return parsed.set(query=query)
