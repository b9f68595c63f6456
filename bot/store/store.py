"""The few queries the services need, over one engine.

Safe for the bot's threads (a connection per call from the engine's pool) and for several
processes sharing PostgreSQL: the submission key is UNIQUE, so of two replicas that record
the same modal submission at once exactly one row is created, and the other gets that row.

SQLite takes one writer at a time, and a writer that finds the lock taken sleeps in steps
of up to 100 ms before it tries again. Writes therefore queue on a lock of their own
(:class:`bot.store.locks.WriteLock`), handed over at once, within the process and
between the processes (gunicorn workers, the CLI) sharing the database file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
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
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from bot.cyclr.models import AuthKind
from bot.store import tables
from bot.store.locks import KeyedLock, WriteLock, lock_path_for
from bot.store.records import Binding, InstallRecord, InstallState, LinkRef

__all__ = ["Store", "StoreUnavailable"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: The first key of the PostgreSQL advisory locks held while an install's messages are sent
#: (the second is the install's id); "Cy" in ASCII, to stay clear of other applications' locks.
_MESSAGES_LOCK_SPACE = 0x4379

#: Built once: recording an install is on the submission's ack, and building the statement
#: cost as much as running it.
_INSERT_INSTALL = insert(tables.installs).returning(*tables.installs.c)
_INSERT_INSTALLS = insert(tables.installs).returning(*tables.installs.c, sort_by_parameter_order=True)


@dataclass(slots=True)
class _QueuedInsert:
    """An install row waiting for whichever thread next holds the SQLite write lock."""

    values: dict[str, Any]
    row: Row[Any] | None = None  #: the inserted row; None when the key existed already
    error: Exception | None = None
    done: bool = False


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; the store only ever writes UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class StoreUnavailable(Exception):
    """The database did not answer."""


class Store:
    """State store over SQLite or PostgreSQL."""

    def __init__(self, url: str, *, clock: Clock = _utcnow, engine: Engine | None = None) -> None:
        self.url = url
        self._clock = clock
        self.engine = engine or _make_engine(url)
        sqlite = self.engine.dialect.name == "sqlite"
        database = self.engine.url.database
        self._write_lock = WriteLock(lock_path_for(database, "writer-lock")) if sqlite else None
        self._message_locks = KeyedLock(lock_path_for(database, "message-locks")) if sqlite else None
        # PostgreSQL: each held message lock is a session, held while Slack answers; they have
        # a pool of their own, so that syncs in flight never take the queries' connections.
        self._lock_engine = None if sqlite else _make_lock_engine(self.engine)
        self._queue_lock = threading.Lock()
        self._queued: list[_QueuedInsert] = []

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction (committed on leaving); one at a time on SQLite."""
        with self._write_lock or nullcontext(), self.engine.begin() as conn:
            yield conn

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def create_schema(self) -> None:
        """Create missing tables; safe when several processes start at once.

        Two processes can both see a table missing and both CREATE it; the loser gets
        "already exists" (an IntegrityError on PostgreSQL's catalog, an OperationalError on
        SQLite) and simply checks again.
        """
        for attempt in range(3):
            try:
                tables.metadata.create_all(self.engine, checkfirst=True)
                return
            except (IntegrityError, OperationalError, ProgrammingError):
                if attempt == 2:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            raise StoreUnavailable(type(error).__name__) from error

    def close(self) -> None:
        self.engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()
        if self._message_locks is not None:
            self._message_locks.close()
        if self._lock_engine is not None:
            self._lock_engine.dispose()

    def messages_lock(self, install_id: int) -> AbstractContextManager[None]:
        """Held while an install's messages are posted or updated, by whichever process.

        Two processes telling the same install at once (the reconciliation of each gunicorn
        worker or replica at start-up, say) would otherwise both find no message yet and both
        post one; the second holder finds the first one's message and updates it instead.
        SQLite: a lock file beside the database; PostgreSQL: an advisory lock.
        """
        if self._message_locks is not None:
            return self._message_locks.hold(install_id)
        return self._advisory_lock(_MESSAGES_LOCK_SPACE, install_id)

    @contextmanager
    def _advisory_lock(self, space: int, key: int) -> Iterator[None]:
        assert self._lock_engine is not None
        with self._lock_engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:space, :key)"), {"space": space, "key": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:space, :key)"), {"space": space, "key": key})
                conn.commit()

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
        """Insert one install row; None when its submission key exists already.

        On SQLite, whichever thread gets the write lock inserts every row queued by then in
        one transaction (flat combining): a burst of submissions then pays for a transaction,
        and for the waits on the GIL after each call into SQLite, once per batch instead of
        once per row, and the acks waiting on those rows go out sooner.
        """
        mine = _QueuedInsert(values)
        if self._write_lock is None:  # PostgreSQL: every thread writes at once
            self._insert_batch([mine])
        else:
            with self._queue_lock:
                self._queued.append(mine)
            with self._write_lock:
                if not mine.done:
                    with self._queue_lock:
                        batch, self._queued = self._queued, []
                    self._insert_batch(batch)
        if mine.error is not None:
            raise mine.error
        return mine.row

    def _insert_batch(self, batch: list[_QueuedInsert]) -> None:
        """Insert ``batch`` in one transaction, or row by row when one of them is a duplicate."""
        try:
            with self.engine.begin() as conn:
                if len(batch) == 1:
                    rows = [conn.execute(_INSERT_INSTALL, batch[0].values).one()]
                else:
                    rows = list(conn.execute(_INSERT_INSTALLS, [queued.values for queued in batch]))
            for queued, row in zip(batch, rows, strict=True):
                queued.row = row
        except IntegrityError:
            if len(batch) > 1:
                for queued in batch:
                    self._insert_batch([queued])
        except Exception as error:
            for queued in batch:
                queued.error = error
        finally:
            for queued in batch:
                queued.done = True

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
        """Record that Cyclr is about to be asked (still PENDING); None when it is final already.

        Reconciliation looks for the connector by name only for rows marked so: a row never
        attempted cannot have installed anything, whatever the account holds under that name.
        """
        now = self._clock()
        with self._writing() as conn:
            changed = conn.execute(
                update(tables.installs)
                .where(
                    tables.installs.c.id == install_id, tables.installs.c.state == InstallState.PENDING.value
                )
                .values(attempted_at=now, updated_at=now)
            ).rowcount
        return self.get_install(install_id) if changed else None

    def mark_told(self, install_id: int, state: InstallState) -> None:
        """The DM and team notification now show ``state``."""
        with self._writing() as conn:
            conn.execute(
                update(tables.installs)
                .where(tables.installs.c.id == install_id)
                .values(told_state=state.value)
            )

    def installs_not_told(
        self, *, older_than: timedelta, within: timedelta = timedelta(days=1)
    ) -> list[InstallRecord]:
        """Rows whose messages lag behind their state (e.g. the bot stopped in between)."""
        c = tables.installs.c
        now = self._clock()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tables.installs)
                .where(
                    (c.told_state.is_(None)) | (c.told_state != c.state),
                    c.updated_at <= now - older_than,
                    c.updated_at >= now - within,
                )
                .order_by(c.id)
                .limit(200)
            ).all()
        return [_install(row) for row in rows]

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
        with self.engine.connect() as conn:
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
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.id.desc()).limit(limit)).all()
        return [_install(row) for row in rows]

    def pending_installs(self, *, older_than: timedelta = timedelta(0)) -> list[InstallRecord]:
        """Pending rows last touched before ``now - older_than`` (for reconciliation)."""
        c = tables.installs.c
        cutoff = self._clock() - older_than
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tables.installs)
                .where(c.state == InstallState.PENDING.value, c.updated_at <= cutoff)
                .order_by(c.id)
            ).all()
        return [_install(row) for row in rows]

    def count_installs(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tables.installs)).scalar_one())

    def _one_install(self, where: Any) -> InstallRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tables.installs).where(where)).first()
        return _install(row) if row else None

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
        with self.engine.connect() as conn:
            row = conn.execute(select(b).where(b.c.team_id == team_id, b.c.channel_id == channel_id)).first()
        if row is None:
            return None
        bound_at = _aware(row.bound_at)
        assert bound_at is not None
        return Binding(row.team_id, row.channel_id, row.account_id, row.bound_by, bound_at)

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
        with self.engine.connect() as conn:
            row = conn.execute(select(tables.links).where(tables.links.c.ref_hash == ref_hash)).first()
        return _link(row) if row else None

    def link_by_return(self, return_hash: str) -> LinkRef | None:
        with self.engine.connect() as conn:
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
        with self.engine.connect() as conn:
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
#: PostgreSQL sessions holding message locks per process, kept and at most; a sync beyond
#: them waits its turn (up to a minute) for one to end.
LOCK_POOL_SIZE = 8
LOCK_POOL_OVERFLOW = 8


def _make_lock_engine(engine: Engine) -> Engine:
    """An engine on ``engine``'s database for the sessions that hold advisory locks."""
    return create_engine(
        engine.url,
        pool_pre_ping=True,
        pool_size=LOCK_POOL_SIZE,
        max_overflow=LOCK_POOL_OVERFLOW,
        pool_timeout=60,
    )


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Connections kept open: the request, job and urgent threads read at the same moment
        # in a burst, and an SQLite connection is only a file handle, while each one opened
        # past the pool (and closed again after) costs its open and pragmas inside an ack.
        in_memory = ":memory:" in url or url in ("sqlite://", "sqlite:///")
        pool = {} if in_memory else {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_OVERFLOW}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes, not power loss
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _install(row: Row[Any]) -> InstallRecord:
    try:
        kind = AuthKind(row.auth_kind)
    except ValueError:
        kind = AuthKind.UNKNOWN
    created_at, updated_at = _aware(row.created_at), _aware(row.updated_at)
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
        attempted_at=_aware(row.attempted_at),
        told_state=row.told_state,
    )


def _link(row: Row[Any]) -> LinkRef:
    created_at, expires_at = _aware(row.created_at), _aware(row.expires_at)
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
        revoked_at=_aware(row.revoked_at),
        dm_channel=row.dm_channel,
        dm_ts=row.dm_ts,
        authenticated_at=_aware(row.authenticated_at),
        armed_until=_aware(row.armed_until),
        minted_at=_aware(row.minted_at),
    )
