"""The store: one object over one engine, made of the parts that own each kind of row.

Safe for the bot's threads (a connection per call from the engine's pool) and for several
processes sharing PostgreSQL: the submission key is UNIQUE, so of two replicas that record
the same modal submission at once exactly one row is created, and the other gets that row.
SQLite serialises writers itself (WAL, with a busy timeout).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from bot.store import schema, tables
from bot.store.bindings import ChannelBindings
from bot.store.clock import Clock, utcnow
from bot.store.cycle_events import CycleEventLog
from bot.store.deploys import DeployLog
from bot.store.engine import (
    REQUEST_TIMEOUT,
    WORKER_TIMEOUT,
    StoreUnavailable,
    dialect_insert,
    make_engine,
    reason,
    unavailable,
)
from bot.store.installs import InstallLog
from bot.store.links import LinkRefs
from bot.store.transaction import begin, connect

__all__ = ["REQUEST_TIMEOUT", "WORKER_TIMEOUT", "Store", "StoreUnavailable", "unavailable"]


class Store(InstallLog, CycleEventLog, DeployLog, ChannelBindings, LinkRefs):
    """State store over SQLite or PostgreSQL."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = utcnow,
        engine: Engine | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.url = url
        self._clock = clock
        self.timeout = timeout
        self.engine = engine or make_engine(url, timeout=timeout)

    def transaction(self) -> AbstractContextManager[Connection]:
        """One transaction for every write inside it: this store's and the job queue's on the
        same engine (:mod:`bot.store.transaction`)."""
        return begin(self.engine)

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def create_schema(self) -> None:
        """Bring the schema to this version (:func:`bot.store.schema.upgrade`); safe when
        several processes start at once."""
        schema.upgrade(self.engine)

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the database answers a trivial query."""
        try:
            with connect(self.engine) as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            raise StoreUnavailable(type(error).__name__) from error

    def probe_write(self, name: str = "healthz") -> None:
        """Raise :class:`StoreUnavailable` (with a short reason) unless the database takes a
        write: upserts one row of ``cyclr_heartbeat``. Reads can go on working while writes
        fail (an SQLite file that is full or read-only), so a ping alone says too little."""
        values = {"name": name, "beat_at": self._clock()}
        try:
            with begin(self.engine) as conn:
                statement = dialect_insert(conn)(tables.heartbeat).values(values)
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[tables.heartbeat.c.name], set_={"beat_at": values["beat_at"]}
                    )
                )
        except SQLAlchemyError as error:
            raise StoreUnavailable(reason(error)) from error

    def close(self) -> None:
        self.engine.dispose()
