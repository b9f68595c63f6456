"""The few queries the services need, over one engine.

Safe for the bot's threads (a connection per call from the engine's pool) and for several
processes sharing PostgreSQL: the submission key is UNIQUE, so of two replicas that record
the same modal submission at once exactly one row is created, and the other gets that row.
SQLite serialises writers itself (WAL, with a busy timeout).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as _pg_insert
from sqlalchemy.dialects.sqlite import insert as _sqlite_insert
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.cyclr.models import AuthKind
from bot.store import schema, tables
from bot.store.clock import Clock, aware, utcnow
from bot.store.records import (
    Binding,
    CycleAction,
    CycleEvent,
    CycleEventState,
    Deploy,
    DeployState,
    InstallRecord,
    InstallState,
    LinkRef,
)
from bot.store.transaction import begin, connect

__all__ = ["REQUEST_TIMEOUT", "WORKER_TIMEOUT", "Store", "StoreUnavailable", "unavailable"]

log = logging.getLogger(__name__)


#: Built once: recording an install is on the submission's ack, and building the statement
#: cost as much as running it.
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


class Store:
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
        self.engine = engine or _make_engine(url, timeout=timeout)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction, committed on leaving (or the one it joins, :mod:`.transaction`)."""
        with begin(self.engine) as conn:
            yield conn

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
                upsert = _pg_insert if conn.dialect.name == "postgresql" else _sqlite_insert
                statement = upsert(tables.heartbeat).values(values)
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[tables.heartbeat.c.name], set_={"beat_at": values["beat_at"]}
                    )
                )
        except SQLAlchemyError as error:
            raise StoreUnavailable(_reason(error)) from error

    def close(self) -> None:
        self.engine.dispose()

    # -- installs (the audit log) --------------------------------------------------------------

    def begin_install(
        self,
        *,
        submission_key: str,
        team_id: str,
        user_id: str,
        channel_id: str | None,
        account_id: str,
        connector_id: int,
        connector_name: str,
        connector_version: str | None,
        auth_kind: AuthKind,
        name: str,
    ) -> tuple[InstallRecord, bool]:
        """Record a pending install before Cyclr is called.

        Returns ``(record, created)``; ``created`` is False when this submission key was
        already recorded (a double submit, a retry or another replica), and the record is
        the existing one.
        """
        now = self._clock()
        values: dict[str, Any] = {
            "submission_key": submission_key,
            "team_id": team_id,
            "user_id": user_id,
            "channel_id": channel_id,
            "account_id": account_id,
            "connector_id": connector_id,
            "connector_name": connector_name[:255],
            "connector_version": connector_version,
            "auth_kind": auth_kind.value,
            "name": name[:255],
            "state": InstallState.PENDING.value,
            "created_at": now,
            "updated_at": now,
        }
        row = self._insert_install(values)
        if row is None:  # the submission key was recorded already
            existing = self.install_by_key(submission_key)
            if existing is None:  # pragma: no cover - the unique row vanished: only by hand
                raise LookupError(f"install {submission_key} was recorded and is gone")
            return existing, False
        return _install(row), True

    def _insert_install(self, values: dict[str, Any]) -> Row[Any] | None:
        """Insert one install row; None when its submission key exists already."""
        with begin(self.engine) as conn:
            return conn.execute(_insert_new(conn, tables.installs, "submission_key").values(values)).first()

    def finish_install(
        self,
        install_id: int,
        state: InstallState,
        *,
        account_connector_id: int | None = None,
        reason: str | None = None,
        only_if_pending: bool = False,
    ) -> InstallRecord | None:
        """Set the outcome; with ``only_if_pending`` a final state is never overwritten.

        Returns the updated record, or None when ``only_if_pending`` found it already final.
        """
        values: dict[str, Any] = {"state": state.value, "updated_at": self._clock()}
        if account_connector_id is not None:
            values["account_connector_id"] = account_connector_id
        if reason is not None:
            values["reason"] = reason[:2000]
        statement = update(tables.installs).where(tables.installs.c.id == install_id)
        if only_if_pending:
            statement = statement.where(tables.installs.c.state == InstallState.PENDING.value)
        with self._writing() as conn:
            changed = conn.execute(statement.values(**values)).rowcount
        if only_if_pending and not changed:
            return None
        return self.get_install(install_id)

    def advance_state(
        self, install_id: int, *, from_state: InstallState, to_state: InstallState
    ) -> InstallRecord | None:
        """Move a row from one state to another; None when it was not in ``from_state``."""
        with self._writing() as conn:
            changed = conn.execute(
                update(tables.installs)
                .where(tables.installs.c.id == install_id, tables.installs.c.state == from_state.value)
                .values(state=to_state.value, updated_at=self._clock())
            ).rowcount
        return self.get_install(install_id) if changed else None

    def mark_attempted(self, install_id: int) -> InstallRecord | None:
        """Record that Cyclr is about to be asked (still PENDING); None when it is final already,
        or was marked so before (another run of its job is asking Cyclr, or asked it): the
        install POST is sent at most once per row.

        Reconciliation looks for the connector by name only for rows marked so: a row never
        attempted cannot have installed anything, whatever the account holds under that name.
        """
        now = self._clock()
        c = tables.installs.c
        with self._writing() as conn:
            changed = conn.execute(
                update(tables.installs)
                .where(c.id == install_id, c.state == InstallState.PENDING.value, c.attempted_at.is_(None))
                .values(attempted_at=now, updated_at=now)
            ).rowcount
        return self.get_install(install_id) if changed else None

    def mark_uninstalled(self, install_id: int, *, by: str) -> InstallRecord | None:
        with self._writing() as conn:
            conn.execute(
                update(tables.installs)
                .where(tables.installs.c.id == install_id)
                .values(state=InstallState.UNINSTALLED.value, uninstalled_by=by, updated_at=self._clock())
            )
        return self.get_install(install_id)

    def set_messages(
        self,
        install_id: int,
        *,
        notify_channel: str | None = None,
        notify_ts: str | None = None,
        dm_channel: str | None = None,
        dm_ts: str | None = None,
    ) -> None:
        """Remember where the install's DM and team notification are, to update them later."""
        values = {
            key: value
            for key, value in {
                "notify_channel": notify_channel,
                "notify_ts": notify_ts,
                "dm_channel": dm_channel,
                "dm_ts": dm_ts,
            }.items()
            if value is not None
        }
        if not values:
            return
        with self._writing() as conn:
            conn.execute(update(tables.installs).where(tables.installs.c.id == install_id).values(**values))

    def get_install(self, install_id: int) -> InstallRecord | None:
        return self._one_install(tables.installs.c.id == install_id)

    def install_by_key(self, submission_key: str) -> InstallRecord | None:
        return self._one_install(tables.installs.c.submission_key == submission_key)

    def install_for_account_connector(
        self, account_id: str, account_connector_id: int
    ) -> InstallRecord | None:
        """The newest install row of an installed connector, if the bot made it."""
        c = tables.installs.c
        with connect(self.engine) as conn:
            row = conn.execute(
                select(tables.installs)
                .where(c.account_id == account_id, c.account_connector_id == account_connector_id)
                .order_by(c.id.desc())
                .limit(1)
            ).first()
        return _install(row) if row else None

    def recent_installs(
        self, team_id: str, *, limit: int = 10, account_ids: Iterable[str] | None = None
    ) -> list[InstallRecord]:
        """The team's newest installs; only those into ``account_ids`` when given."""
        c = tables.installs.c
        query = select(tables.installs).where(c.team_id == team_id)
        if account_ids is not None:
            query = query.where(c.account_id.in_(sorted(account_ids)))
        with connect(self.engine) as conn:
            rows = conn.execute(query.order_by(c.id.desc()).limit(limit)).all()
        return [_install(row) for row in rows]

    def pending_installs(self, *, older_than: timedelta = timedelta(0)) -> list[InstallRecord]:
        """Pending rows last touched before ``now - older_than`` (for reconciliation)."""
        c = tables.installs.c
        cutoff = self._clock() - older_than
        with connect(self.engine) as conn:
            rows = conn.execute(
                select(tables.installs)
                .where(c.state == InstallState.PENDING.value, c.updated_at <= cutoff)
                .order_by(c.id)
            ).all()
        return [_install(row) for row in rows]

    def count_installs(self) -> int:
        with connect(self.engine) as conn:
            return int(conn.execute(select(func.count()).select_from(tables.installs)).scalar_one())

    def _one_install(self, where: Any) -> InstallRecord | None:
        with connect(self.engine) as conn:
            row = conn.execute(select(tables.installs).where(where)).first()
        return _install(row) if row else None

    # -- cycle events (the audit log's activations, pauses and resumes) ------------------------

    def begin_cycle_event(
        self,
        *,
        request_key: str,
        team_id: str,
        user_id: str,
        channel_id: str | None,
        account_id: str,
        cycle_id: str,
        action: CycleAction,
        interval: int | None = None,
        run_once: bool = False,
        cycle_name: str | None = None,
    ) -> tuple[CycleEvent, bool]:
        """Record a pending change of a cycle before its job runs; ``(event, created)``,
        ``created`` False when ``request_key`` was recorded already (a repeated submission)."""
        now = self._clock()
        values: dict[str, Any] = {
            "request_key": request_key[:255],
            "team_id": team_id,
            "user_id": user_id,
            "channel_id": channel_id,
            "account_id": account_id,
            "cycle_id": cycle_id,
            "cycle_name": cycle_name[:255] if cycle_name else None,
            "action": action.value,
            "interval": interval,
            "run_once": run_once,
            "state": CycleEventState.PENDING.value,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with begin(self.engine) as conn:
                row = conn.execute(
                    insert(tables.cycle_events).returning(*tables.cycle_events.c), values
                ).one()
        except IntegrityError:
            existing = self._one_cycle_event(tables.cycle_events.c.request_key == values["request_key"])
            if existing is None:  # pragma: no cover - the unique row vanished: only by hand
                raise LookupError(f"cycle event {request_key} was recorded and is gone") from None
            return existing, False
        return _cycle_event(row), True

    def finish_cycle_event(
        self,
        event_id: int,
        state: CycleEventState,
        *,
        reason: str | None = None,
        cycle_name: str | None = None,
        interval: int | None = None,
    ) -> CycleEvent | None:
        """Record how a cycle change ended (a pending row only: the first outcome stands)."""
        c = tables.cycle_events.c
        values: dict[str, Any] = {"state": state.value, "reason": reason, "updated_at": self._clock()}
        if cycle_name:
            values["cycle_name"] = cycle_name[:255]
        if interval is not None:
            values["interval"] = interval
        with self._writing() as conn:
            conn.execute(
                update(tables.cycle_events)
                .where(c.id == event_id, c.state == CycleEventState.PENDING.value)
                .values(**values)
            )
        return self.get_cycle_event(event_id)

    def set_cycle_event_message(self, event_id: int, *, notify_channel: str, notify_ts: str) -> None:
        with self._writing() as conn:
            conn.execute(
                update(tables.cycle_events)
                .where(tables.cycle_events.c.id == event_id)
                .values(notify_channel=notify_channel, notify_ts=notify_ts)
            )

    def get_cycle_event(self, event_id: int) -> CycleEvent | None:
        return self._one_cycle_event(tables.cycle_events.c.id == event_id)

    def recent_cycle_events(
        self, team_id: str, *, limit: int = 10, account_ids: Iterable[str] | None = None
    ) -> list[CycleEvent]:
        """The team's newest cycle changes; only those in ``account_ids`` when given."""
        c = tables.cycle_events.c
        query = select(tables.cycle_events).where(c.team_id == team_id)
        if account_ids is not None:
            query = query.where(c.account_id.in_(sorted(account_ids)))
        with connect(self.engine) as conn:
            rows = conn.execute(query.order_by(c.id.desc()).limit(limit)).all()
        return [_cycle_event(row) for row in rows]

    def last_intervals(self, account_id: str, cycle_ids: Iterable[str]) -> dict[str, int]:
        """Cycle id → the interval (minutes) it was last started with from Slack, for the
        cycles that ever were (what *Resume* starts them with again)."""
        wanted = sorted(set(cycle_ids))
        if not wanted:
            return {}
        c = tables.cycle_events.c
        query = (
            select(c.cycle_id, c.interval)
            .where(
                c.account_id == account_id,
                c.cycle_id.in_(wanted),
                c.state == CycleEventState.DONE.value,
                c.action.in_((CycleAction.ACTIVATE.value, CycleAction.RESUME.value)),
                c.interval.is_not(None),
            )
            .order_by(c.id)
        )
        with connect(self.engine) as conn:
            return {str(row.cycle_id): int(row.interval) for row in conn.execute(query)}

    def latest_cycle_event(self, account_id: str, cycle_id: str) -> CycleEvent | None:
        """The newest change of one cycle asked for in Slack, if any."""
        c = tables.cycle_events.c
        with connect(self.engine) as conn:
            row = conn.execute(
                select(tables.cycle_events)
                .where(c.account_id == account_id, c.cycle_id == cycle_id)
                .order_by(c.id.desc())
                .limit(1)
            ).first()
        return _cycle_event(row) if row else None

    def _one_cycle_event(self, where: Any) -> CycleEvent | None:
        with connect(self.engine) as conn:
            row = conn.execute(select(tables.cycle_events).where(where)).first()
        return _cycle_event(row) if row else None

    # -- template deploys ----------------------------------------------------------------------

    def begin_deploy(
        self,
        *,
        request_key: str,
        team_id: str,
        user_id: str,
        channel_id: str | None,
        account_id: str,
        template_id: str,
        template_name: str,
    ) -> tuple[Deploy, bool]:
        """Record a pending deploy before anything is sent to Cyclr; ``(deploy, created)``,
        ``created`` False when ``request_key`` was recorded already (a double submit)."""
        now = self._clock()
        values: dict[str, Any] = {
            "request_key": request_key[:255],
            "team_id": team_id,
            "user_id": user_id,
            "channel_id": channel_id,
            "account_id": account_id,
            "template_id": template_id[:255],
            "template_name": (template_name or template_id)[:255],
            "state": DeployState.PENDING.value,
            "created_at": now,
            "updated_at": now,
        }
        with begin(self.engine) as conn:
            row = conn.execute(_insert_new(conn, tables.deploys, "request_key").values(values)).first()
        if row is None:  # the request key was recorded already
            existing = self._one_deploy(tables.deploys.c.request_key == values["request_key"])
            if existing is None:  # pragma: no cover - the unique row vanished: only by hand
                raise LookupError(f"deploy {request_key} was recorded and is gone")
            return existing, False
        return _deploy(row), True

    def get_deploy(self, deploy_id: int) -> Deploy | None:
        return self._one_deploy(tables.deploys.c.id == deploy_id)

    def mark_deploy_attempted(self, deploy_id: int) -> bool:
        """Compare-and-set: True for the one caller that may now send the install to Cyclr."""
        d = tables.deploys.c
        now = self._clock()
        with self._writing() as conn:
            changed = conn.execute(
                update(tables.deploys)
                .where(d.id == deploy_id, d.state == DeployState.PENDING.value, d.attempted_at.is_(None))
                .values(attempted_at=now, updated_at=now)
            ).rowcount
        return bool(changed)

    def finish_deploy(
        self,
        deploy_id: int,
        state: DeployState,
        *,
        reason: str | None = None,
        cycle_id: str | None = None,
        cycle_name: str | None = None,
    ) -> Deploy | None:
        """Record how a deploy ended (a pending row only: the first outcome stands).

        A cycle is claimed by one row only: when another deploy holds ``cycle_id`` already,
        nothing changes (the row stays pending; :meth:`get_deploy` shows it so)."""
        d = tables.deploys.c
        values: dict[str, Any] = {"state": state.value, "reason": reason, "updated_at": self._clock()}
        if cycle_id:
            values["cycle_id"] = cycle_id[:255]
        if cycle_name:
            values["cycle_name"] = cycle_name[:255]
        try:
            with self._writing() as conn:
                conn.execute(
                    update(tables.deploys)
                    .where(d.id == deploy_id, d.state == DeployState.PENDING.value)
                    .values(**values)
                )
        except IntegrityError:
            if not cycle_id:
                raise
            log.info("deploy %s: cycle %s is another deploy's", deploy_id, cycle_id)
        return self.get_deploy(deploy_id)

    def deploys_in_flight(self, account_id: str, template_id: str) -> list[Deploy]:
        """Pending deploys of ``template_id`` into ``account_id`` whose install was sent."""
        d = tables.deploys.c
        with connect(self.engine) as conn:
            rows = conn.execute(
                select(tables.deploys)
                .where(
                    d.account_id == account_id,
                    d.template_id == template_id,
                    d.state == DeployState.PENDING.value,
                    d.attempted_at.is_not(None),
                )
                .order_by(d.id)
            ).all()
        return [_deploy(row) for row in rows]

    def set_deploy_messages(
        self,
        deploy_id: int,
        *,
        dm: tuple[str, str] | None = None,
        notify: tuple[str, str] | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if dm is not None:
            values.update(dm_channel=dm[0], dm_ts=dm[1])
        if notify is not None:
            values.update(notify_channel=notify[0], notify_ts=notify[1])
        if not values:
            return
        with self._writing() as conn:
            conn.execute(update(tables.deploys).where(tables.deploys.c.id == deploy_id).values(**values))

    def claimed_cycles(self, account_id: str) -> set[str]:
        """The cycles of ``account_id`` that deploys already account for."""
        d = tables.deploys.c
        with connect(self.engine) as conn:
            rows = conn.execute(
                select(d.cycle_id).where(d.account_id == account_id, d.cycle_id.is_not(None))
            ).all()
        return {str(row.cycle_id) for row in rows}

    def pending_deploys(self, *, older_than: timedelta) -> list[Deploy]:
        d = tables.deploys.c
        cutoff = self._clock() - older_than
        with connect(self.engine) as conn:
            rows = conn.execute(
                select(tables.deploys)
                .where(d.state == DeployState.PENDING.value, d.created_at < cutoff)
                .order_by(d.id)
                .limit(100)
            ).all()
        return [_deploy(row) for row in rows]

    def deploys_of_cycle(self, account_id: str, cycle_id: str) -> list[Deploy]:
        d = tables.deploys.c
        with connect(self.engine) as conn:
            rows = conn.execute(
                select(tables.deploys)
                .where(d.account_id == account_id, d.cycle_id == cycle_id)
                .order_by(d.id)
            ).all()
        return [_deploy(row) for row in rows]

    def open_deploys(self, account_id: str, *, since: timedelta) -> list[Deploy]:
        """Deploys into ``account_id`` made within ``since`` whose checklist may still change."""
        d = tables.deploys.c
        cutoff = self._clock() - since
        with connect(self.engine) as conn:
            rows = conn.execute(
                select(tables.deploys)
                .where(
                    d.account_id == account_id,
                    d.state == DeployState.DEPLOYED.value,
                    d.created_at >= cutoff,
                )
                .order_by(d.id.desc())
                .limit(50)
            ).all()
        return [_deploy(row) for row in rows]

    def _one_deploy(self, where: Any) -> Deploy | None:
        with connect(self.engine) as conn:
            row = conn.execute(select(tables.deploys).where(where)).first()
        return _deploy(row) if row else None

    # -- channel bindings ----------------------------------------------------------------------

    def bind_channel(self, *, team_id: str, channel_id: str, account_id: str, bound_by: str) -> Binding:
        now = self._clock()
        b = tables.bindings
        with self._writing() as conn:
            changed = conn.execute(
                update(b)
                .where(b.c.team_id == team_id, b.c.channel_id == channel_id)
                .values(account_id=account_id, bound_by=bound_by, bound_at=now)
            ).rowcount
            if not changed:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(b).values(
                                team_id=team_id,
                                channel_id=channel_id,
                                account_id=account_id,
                                bound_by=bound_by,
                                bound_at=now,
                            )
                        )
                except IntegrityError:  # another replica bound it at the same moment: last write wins
                    conn.execute(
                        update(b)
                        .where(b.c.team_id == team_id, b.c.channel_id == channel_id)
                        .values(account_id=account_id, bound_by=bound_by, bound_at=now)
                    )
        return Binding(team_id, channel_id, account_id, bound_by, now)

    def channel_binding(self, *, team_id: str, channel_id: str) -> Binding | None:
        b = tables.bindings
        with connect(self.engine) as conn:
            row = conn.execute(select(b).where(b.c.team_id == team_id, b.c.channel_id == channel_id)).first()
        if row is None:
            return None
        bound_at = aware(row.bound_at)
        assert bound_at is not None
        return Binding(row.team_id, row.channel_id, row.account_id, row.bound_by, bound_at)

    def bindings(self) -> list[Binding]:
        """Every channel binding, oldest first."""
        b = tables.bindings
        with connect(self.engine) as conn:
            rows = conn.execute(select(b).order_by(b.c.bound_at)).all()
        found = []
        for row in rows:
            bound_at = aware(row.bound_at)
            assert bound_at is not None
            found.append(Binding(row.team_id, row.channel_id, row.account_id, row.bound_by, bound_at))
        return found

    # -- authorisation link refs ---------------------------------------------------------------
    #
    # Rows are found by the SHA-256 of a ref (or of a return id); the raw values never reach
    # the database. "Live" means not revoked, not expired and not authenticated.

    def _live(self, now: datetime) -> Any:
        c = tables.links.c
        return and_(c.revoked_at.is_(None), c.authenticated_at.is_(None), c.expires_at > now)

    def create_link(
        self,
        *,
        ref_hash: str,
        team_id: str,
        user_id: str,
        account_id: str,
        account_connector_id: int,
        connector_name: str,
        install_id: int | None,
        ttl: timedelta,
    ) -> LinkRef:
        """A link that expires after ``ttl``; the owner's older live links to the same
        connector are revoked (a new link replaces them)."""
        now = self._clock()
        c = tables.links.c
        values: dict[str, Any] = {
            "ref_hash": ref_hash,
            "team_id": team_id,
            "user_id": user_id,
            "account_id": account_id,
            "account_connector_id": account_connector_id,
            "connector_name": connector_name[:255],
            "install_id": install_id,
            "created_at": now,
            "expires_at": now + ttl,
        }
        with self._writing() as conn:
            conn.execute(
                update(tables.links)
                .where(
                    c.team_id == team_id,
                    c.user_id == user_id,
                    c.account_id == account_id,
                    c.account_connector_id == account_connector_id,
                    self._live(now),
                )
                .values(revoked_at=now, armed_until=None)
            )
            row = conn.execute(insert(tables.links).values(**values).returning(*tables.links.c)).one()
        return _link(row)

    def link_by_hash(self, ref_hash: str) -> LinkRef | None:
        with connect(self.engine) as conn:
            row = conn.execute(select(tables.links).where(tables.links.c.ref_hash == ref_hash)).first()
        return _link(row) if row else None

    def links_by_ids(self, ids: Iterable[int]) -> list[LinkRef]:
        wanted = list(ids)
        if not wanted:
            return []
        with connect(self.engine) as conn:
            rows = conn.execute(
                select(tables.links).where(tables.links.c.id.in_(wanted)).order_by(tables.links.c.id)
            ).all()
        return [_link(row) for row in rows]

    def link_by_return(self, return_hash: str) -> LinkRef | None:
        with connect(self.engine) as conn:
            row = conn.execute(select(tables.links).where(tables.links.c.return_hash == return_hash)).first()
        return _link(row) if row else None

    def arm_link(self, link_id: int, *, team_id: str, user_id: str, until: datetime) -> bool:
        """The link's owner clicked it in Slack: allow one mint until ``until``. False when the
        link is not that user's or not live."""
        c = tables.links.c
        with self._writing() as conn:
            result = conn.execute(
                update(tables.links)
                .where(c.id == link_id, c.team_id == team_id, c.user_id == user_id, self._live(self._clock()))
                .values(armed_until=until)
            )
        return bool(result.rowcount)

    def spend_arm(self, link_id: int, *, return_hash: str) -> bool:
        """Use the link's one armed mint, recording the return id sent with it. False (and
        nothing changed) unless the link is live and armed now; of two at once, one wins."""
        c = tables.links.c
        now = self._clock()
        with self._writing() as conn:
            result = conn.execute(
                update(tables.links)
                .where(c.id == link_id, c.armed_until > now, self._live(now))
                .values(armed_until=None, minted_at=now, return_hash=return_hash)
            )
        return bool(result.rowcount)

    def set_link_message(self, link_id: int, *, dm_channel: str, dm_ts: str) -> None:
        with self._writing() as conn:
            conn.execute(
                update(tables.links)
                .where(tables.links.c.id == link_id)
                .values(dm_channel=dm_channel, dm_ts=dm_ts)
            )

    def revoke_links_for_message(self, dm_channel: str, dm_ts: str) -> int:
        """Revoke every live link shown in one DM message (it is about to show a new one)."""
        c = tables.links.c
        with self._writing() as conn:
            return int(
                conn.execute(
                    update(tables.links)
                    .where(c.dm_channel == dm_channel, c.dm_ts == dm_ts, c.revoked_at.is_(None))
                    .values(revoked_at=self._clock(), armed_until=None)
                ).rowcount
            )

    def revoke_link(self, link_id: int) -> None:
        with self._writing() as conn:
            conn.execute(
                update(tables.links)
                .where(tables.links.c.id == link_id, tables.links.c.revoked_at.is_(None))
                .values(revoked_at=self._clock(), armed_until=None)
            )

    def revoke_links_for_connector(self, account_id: str, account_connector_id: int) -> list[LinkRef]:
        """Revoke the connector's links not yet revoked or authenticated (its wait ran out, or
        it was uninstalled); return them."""
        c = tables.links.c
        now = self._clock()
        which = and_(
            c.account_id == account_id,
            c.account_connector_id == account_connector_id,
            c.revoked_at.is_(None),
            c.authenticated_at.is_(None),
        )
        with self._writing() as conn:
            rows = conn.execute(select(tables.links).where(which)).all()
            if rows:
                conn.execute(
                    update(tables.links)
                    .where(c.id.in_([row.id for row in rows]), c.revoked_at.is_(None))
                    .values(revoked_at=now, armed_until=None)
                )
        return [_link(row) for row in rows]

    def prune_links(self, dead_before: datetime) -> int:
        """Delete links dead (expired, revoked or authenticated) since before ``dead_before``."""
        c = tables.links.c
        with self._writing() as conn:
            return int(
                conn.execute(
                    delete(tables.links).where(
                        or_(
                            c.expires_at < dead_before,
                            c.revoked_at < dead_before,
                            c.authenticated_at < dead_before,
                        )
                    )
                ).rowcount
            )

    def links_for_connector(self, account_id: str, account_connector_id: int) -> list[LinkRef]:
        c = tables.links.c
        with connect(self.engine) as conn:
            rows = conn.execute(
                select(tables.links)
                .where(c.account_id == account_id, c.account_connector_id == account_connector_id)
                .order_by(c.created_at, c.id)
            ).all()
        return [_link(row) for row in rows]

    def mark_links_authenticated(self, account_id: str, account_connector_id: int) -> Sequence[LinkRef]:
        """Stamp every link of the connector as authenticated (none mints again); return those
        newly stamped."""
        c = tables.links.c
        now = self._clock()
        with self._writing() as conn:
            rows = conn.execute(
                select(tables.links).where(
                    c.account_id == account_id,
                    c.account_connector_id == account_connector_id,
                    c.authenticated_at.is_(None),
                )
            ).all()
            conn.execute(
                update(tables.links)
                .where(
                    c.account_id == account_id,
                    c.account_connector_id == account_connector_id,
                    c.authenticated_at.is_(None),
                )
                .values(authenticated_at=now, armed_until=None)
            )
        return [_link(row) for row in rows]


# -- helpers ------------------------------------------------------------------------------------


#: SQLite connections kept per process, and how many more may open at once.
SQLITE_POOL_SIZE = 20
SQLITE_POOL_OVERFLOW = 40


def _insert_new(conn: Connection, table: Table, unique: str) -> Any:
    """``INSERT … ON CONFLICT (unique) DO NOTHING RETURNING *``: no row back when ``unique``
    is taken (a conflict that does not fail a transaction it may share, :mod:`.transaction`)."""
    dialect_insert = _pg_insert if conn.dialect.name == "postgresql" else _sqlite_insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=[unique]).returning(*table.c)


def _reason(error: SQLAlchemyError) -> str:
    """A short, one-line reason from a database error (the driver's words, not the statement)."""
    cause = getattr(error, "orig", None) or error
    words = (str(cause).strip().splitlines() or [""])[0][:120]
    return f"{type(cause).__name__}: {words}" if words else type(cause).__name__


def _make_engine(url: str, *, timeout: float = REQUEST_TIMEOUT) -> Engine:
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


def _install(row: Row[Any]) -> InstallRecord:
    try:
        kind = AuthKind(row.auth_kind)
    except ValueError:
        kind = AuthKind.UNKNOWN
    created_at, updated_at = aware(row.created_at), aware(row.updated_at)
    assert created_at is not None and updated_at is not None
    return InstallRecord(
        id=row.id,
        submission_key=row.submission_key,
        team_id=row.team_id,
        user_id=row.user_id,
        channel_id=row.channel_id,
        account_id=row.account_id,
        connector_id=int(row.connector_id),
        connector_name=row.connector_name,
        connector_version=row.connector_version,
        auth_kind=kind,
        name=row.name,
        state=InstallState(row.state),
        reason=row.reason,
        account_connector_id=int(row.account_connector_id) if row.account_connector_id is not None else None,
        created_at=created_at,
        updated_at=updated_at,
        notify_channel=row.notify_channel,
        notify_ts=row.notify_ts,
        dm_channel=row.dm_channel,
        dm_ts=row.dm_ts,
        uninstalled_by=row.uninstalled_by,
        attempted_at=aware(row.attempted_at),
    )


def _cycle_event(row: Row[Any]) -> CycleEvent:
    created_at, updated_at = aware(row.created_at), aware(row.updated_at)
    assert created_at is not None and updated_at is not None
    return CycleEvent(
        id=int(row.id),
        request_key=row.request_key,
        team_id=row.team_id,
        user_id=row.user_id,
        channel_id=row.channel_id,
        account_id=row.account_id,
        cycle_id=row.cycle_id,
        cycle_name=row.cycle_name,
        action=CycleAction(row.action),
        interval=int(row.interval) if row.interval is not None else None,
        run_once=bool(row.run_once),
        state=CycleEventState(row.state),
        reason=row.reason,
        created_at=created_at,
        updated_at=updated_at,
        notify_channel=row.notify_channel,
        notify_ts=row.notify_ts,
    )


def _deploy(row: Row[Any]) -> Deploy:
    created_at, updated_at = aware(row.created_at), aware(row.updated_at)
    assert created_at is not None and updated_at is not None
    return Deploy(
        id=int(row.id),
        request_key=row.request_key,
        team_id=row.team_id,
        user_id=row.user_id,
        channel_id=row.channel_id,
        account_id=row.account_id,
        template_id=row.template_id,
        template_name=row.template_name,
        state=DeployState(row.state),
        reason=row.reason,
        cycle_id=row.cycle_id,
        cycle_name=row.cycle_name,
        attempted_at=aware(row.attempted_at),
        created_at=created_at,
        updated_at=updated_at,
        dm_channel=row.dm_channel,
        dm_ts=row.dm_ts,
        notify_channel=row.notify_channel,
        notify_ts=row.notify_ts,
    )


def _link(row: Row[Any]) -> LinkRef:
    created_at, expires_at = aware(row.created_at), aware(row.expires_at)
    assert created_at is not None and expires_at is not None
    return LinkRef(
        id=int(row.id),
        team_id=row.team_id,
        user_id=row.user_id,
        account_id=row.account_id,
        account_connector_id=int(row.account_connector_id),
        connector_name=row.connector_name,
        install_id=row.install_id,
        created_at=created_at,
        expires_at=expires_at,
        revoked_at=aware(row.revoked_at),
        dm_channel=row.dm_channel,
        dm_ts=row.dm_ts,
        authenticated_at=aware(row.authenticated_at),
        armed_until=aware(row.armed_until),
        minted_at=aware(row.minted_at),
    )
