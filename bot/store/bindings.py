"""Which Cyclr account a channel is bound to (`/cyclr bind`)."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store import tables
from bot.store.clock import aware
from bot.store.records import Binding
from bot.store.rows import Rows
from bot.store.transaction import connect

__all__ = ["ChannelBindings"]


class ChannelBindings(Rows):
    """Which Cyclr account a channel is bound to."""

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
