"""The audit log's activations, pauses and resumes of cycles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from bot.store import tables
from bot.store.clock import aware
from bot.store.records import CycleAction, CycleEvent, CycleEventState
from bot.store.rows import Rows
from bot.store.transaction import begin, connect

__all__ = ["CycleEventLog"]


class CycleEventLog(Rows):
    """The audit log's activations, pauses and resumes of cycles.."""

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
