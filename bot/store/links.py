"""Authorisation link refs: stored hashed, armed by their owner's click, pruned when dead."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Row

from bot.store import tables
from bot.store.clock import aware
from bot.store.records import LinkRef
from bot.store.rows import Rows
from bot.store.transaction import connect

__all__ = ["LinkRefs"]


class LinkRefs(Rows):
    """Authorisation link refs."""

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
