"""What the connector health sweep remembers: each installed connector's last seen state,
since when its login is lost, and when that was last told."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Engine

from bot.store import tables
from bot.store.clock import Clock, utcnow

__all__ = ["HealthLedger", "SeenConnector"]


@dataclass(frozen=True, slots=True)
class SeenConnector:
    account_connector_id: int
    connector_name: str
    authenticated: bool
    #: Installed by the bot for an OAuth sign-in that never happened before its wait ended:
    #: a lost login too, though never seen authenticated.
    abandoned: bool = False


class HealthLedger:
    """Rows of ``cyclr_connector_health`` over the store's engine."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self._clock = clock

    def record(self, account_id: str, seen: Iterable[SeenConnector]) -> list[SeenConnector]:
        """Keep what one listing of the account showed; returns its connectors whose login is
        lost: unauthenticated now, and authenticated at some earlier look (or abandoned)."""
        h = tables.connector_health
        now = self._clock()
        seen = list(seen)
        with self.engine.begin() as conn:
            before = {
                int(row.account_connector_id): row
                for row in conn.execute(select(h).where(h.c.account_id == account_id)).all()
            }
            conn.execute(
                delete(h).where(
                    h.c.account_id == account_id,
                    h.c.account_connector_id.not_in([item.account_connector_id for item in seen]),
                )
            )
            lost: list[SeenConnector] = []
            for item in seen:
                old = before.get(item.account_connector_id)
                if item.authenticated:
                    lost_at = None
                elif item.abandoned or (old is not None and (old.authenticated or old.lost_at is not None)):
                    lost_at = (old.lost_at if old is not None else None) or now
                    lost.append(item)
                else:
                    lost_at = None  # never seen authenticated: not a lost login
                values = {
                    "connector_name": item.connector_name,
                    "authenticated": item.authenticated,
                    "changed_at": now,
                    "lost_at": lost_at,
                }
                if old is not None and (old.connector_name, bool(old.authenticated), old.lost_at is None) == (
                    item.connector_name,
                    item.authenticated,
                    lost_at is None,
                ):
                    continue  # nothing changed: no write
                if old is None:
                    conn.execute(
                        h.insert().values(
                            account_id=account_id, account_connector_id=item.account_connector_id, **values
                        )
                    )
                else:
                    conn.execute(
                        update(h)
                        .where(
                            h.c.account_id == account_id,
                            h.c.account_connector_id == item.account_connector_id,
                        )
                        .values(values)
                    )
        return lost

    def claim_telling(self, account_id: str, account_connector_id: int, *, every: timedelta) -> bool:
        """True for exactly one caller when the connector's lost login was not told within
        ``every``; it is then marked told (a compare-and-set, safe across processes)."""
        h = tables.connector_health
        now = self._clock()
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(h)
                .where(
                    h.c.account_id == account_id,
                    h.c.account_connector_id == account_connector_id,
                    h.c.lost_at.is_not(None),
                    or_(h.c.told_at.is_(None), h.c.told_at < now - every),
                )
                .values(told_at=now)
            ).rowcount
        return bool(claimed)

    def release_telling(self, account_id: str, account_connector_id: int) -> None:
        """Telling failed: the next sweep tells again."""
        h = tables.connector_health
        with self.engine.begin() as conn:
            conn.execute(
                update(h)
                .where(h.c.account_id == account_id, h.c.account_connector_id == account_connector_id)
                .values(told_at=None)
            )
