"""Template deploys: one row per deploy modal, from PENDING to its cycle."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from bot.store import tables
from bot.store.clock import aware
from bot.store.engine import insert_new
from bot.store.records import Deploy, DeployState
from bot.store.rows import Rows
from bot.store.transaction import begin, connect

__all__ = ["DeployLog"]

log = logging.getLogger(__name__)


class DeployLog(Rows):
    """Template deploys."""

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
            row = conn.execute(insert_new(conn, tables.deploys, "request_key").values(values)).first()
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

    def touch_deploy(self, deploy_id: int) -> None:
        """A pending deploy's install got no clear answer: its reconciliation grace starts now."""
        d = tables.deploys.c
        with self._writing() as conn:
            conn.execute(
                update(tables.deploys)
                .where(d.id == deploy_id, d.state == DeployState.PENDING.value)
                .values(updated_at=self._clock())
            )

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
