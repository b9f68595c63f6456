"""The install audit log: one row per modal submission, from PENDING to its outcome."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Row

from bot.cyclr.models import AuthKind
from bot.store import tables
from bot.store.clock import aware
from bot.store.engine import insert_new
from bot.store.records import InstallRecord, InstallState
from bot.store.rows import Rows
from bot.store.transaction import begin, connect

__all__ = ["InstallLog"]

log = logging.getLogger(__name__)


class InstallLog(Rows):
    """The install audit log."""

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
            return conn.execute(insert_new(conn, tables.installs, "submission_key").values(values)).first()

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
