"""What alerts from running cycles remember: subscriptions, each account's cursors and webhook
secret, one thread (parent message) per cycle and channel, and every incident seen.

The same transaction is never posted twice: an incident is a row unique per thread and
``TransactionId``, inserted with ``ON CONFLICT DO NOTHING``, whether it came from the webhook
or from polling, in whichever process.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.engine import Engine, Row

from bot.store import tables
from bot.store.clock import Clock, aware, utcnow
from bot.store.engine import dialect_insert

__all__ = [
    "AlertAccount",
    "AlertEvent",
    "AlertLedger",
    "AlertThread",
    "Subscription",
    "secret_hash",
]


ERRORS = "errors"
WARNINGS = "warnings"


def secret_hash(secret: str) -> str:
    """SHA-256 (hex) of a webhook secret: the secret itself is never stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Subscription:
    team_id: str
    channel_id: str
    account_id: str
    level: str  #: errors, or warnings (errors too)
    subscribed_by: str
    subscribed_at: datetime

    @property
    def warnings(self) -> bool:
        return self.level == WARNINGS


@dataclass(frozen=True, slots=True)
class AlertAccount:
    account_id: str
    error_cursor: str | None
    warning_cursor: str | None
    since: datetime
    secret_hash: str | None
    webhook_saved: bool
    previous_enabled: bool | None
    previous_url: str | None = None
    previous_warnings: bool | None = None


@dataclass(frozen=True, slots=True)
class AlertThread:
    id: int
    channel_id: str
    account_id: str
    cycle_id: str
    cycle_name: str | None
    parent_ts: str | None
    told_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    id: int
    thread_id: int
    transaction_id: str
    level: str
    step_name: str | None
    message: str
    detail: str  #: already redacted
    auth_failure: bool
    occurred_at: datetime
    posted: bool


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    """What a parent message shows: the exact count, first and last seen, the latest error."""

    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    latest: AlertEvent | None
    warnings: int = 0  #: how many of ``count`` are warnings

    @property
    def errors(self) -> int:
        return self.count - self.warnings


class AlertLedger:
    def __init__(self, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self._clock = clock

    # -- subscriptions ---------------------------------------------------------------------------

    def subscribe(self, *, team_id: str, channel_id: str, account_id: str, level: str, by: str) -> bool:
        """Subscribe (or change the level of) a channel to an account; True if it is new."""
        s = tables.alert_subscriptions
        now = self._clock()
        with self.engine.begin() as conn:
            found = conn.execute(
                select(s.c.level).where(
                    s.c.team_id == team_id, s.c.channel_id == channel_id, s.c.account_id == account_id
                )
            ).first()
            if found is not None:
                conn.execute(
                    update(s)
                    .where(s.c.team_id == team_id, s.c.channel_id == channel_id, s.c.account_id == account_id)
                    .values(level=level, subscribed_by=by, subscribed_at=now)
                )
            else:
                conn.execute(
                    s.insert().values(
                        team_id=team_id,
                        channel_id=channel_id,
                        account_id=account_id,
                        level=level,
                        subscribed_by=by,
                        subscribed_at=now,
                    )
                )
            a = tables.alert_accounts
            account = dialect_insert(conn)(a).values(account_id=account_id, since=now)
            conn.execute(account.on_conflict_do_nothing())
        return found is None

    def unsubscribe(self, *, team_id: str, channel_id: str, account_id: str) -> bool:
        """True if the channel was subscribed to the account."""
        s = tables.alert_subscriptions
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(s).where(
                    s.c.team_id == team_id, s.c.channel_id == channel_id, s.c.account_id == account_id
                )
            ).rowcount
        return bool(gone)

    def subscriptions(
        self, *, channel_id: str | None = None, account_id: str | None = None
    ) -> list[Subscription]:
        s = tables.alert_subscriptions
        query = select(s).order_by(s.c.subscribed_at, s.c.account_id)
        if channel_id is not None:
            query = query.where(s.c.channel_id == channel_id)
        if account_id is not None:
            query = query.where(s.c.account_id == account_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Subscription(
                r.team_id,
                r.channel_id,
                r.account_id,
                r.level,
                r.subscribed_by,
                aware(r.subscribed_at) or self._clock(),
            )
            for r in rows
        ]

    def subscribed_accounts(self) -> list[str]:
        s = tables.alert_subscriptions
        with self.engine.connect() as conn:
            return [
                str(r[0]) for r in conn.execute(select(s.c.account_id).distinct().order_by(s.c.account_id))
            ]

    # -- accounts --------------------------------------------------------------------------------

    def account(self, account_id: str) -> AlertAccount | None:
        a = tables.alert_accounts
        with self.engine.connect() as conn:
            row = conn.execute(select(a).where(a.c.account_id == account_id)).first()
        return None if row is None else _account(row)

    def set_cursor(self, account_id: str, level: str, cursor: str) -> None:
        a = tables.alert_accounts
        column = "warning_cursor" if level == WARNINGS else "error_cursor"
        with self.engine.begin() as conn:
            conn.execute(update(a).where(a.c.account_id == account_id).values({column: cursor}))

    def save_webhook(
        self,
        account_id: str,
        *,
        secret: str,
        previous_enabled: bool,
        previous_url: str | None,
        previous_warnings: bool,
    ) -> None:
        """Remember the account's secret (hashed) and the setting it replaces (kept once)."""
        a = tables.alert_accounts
        with self.engine.begin() as conn:
            row = conn.execute(select(a.c.webhook_saved).where(a.c.account_id == account_id)).first()
            values: dict[str, Any] = {"secret_hash": secret_hash(secret)}
            if row is not None and not row.webhook_saved:
                values |= {
                    "webhook_saved": True,
                    "previous_enabled": previous_enabled,
                    "previous_url": previous_url,
                    "previous_warnings": previous_warnings,
                }
            conn.execute(update(a).where(a.c.account_id == account_id).values(values))

    def forget_account(self, account_id: str) -> AlertAccount | None:
        """The last subscription went: drop the account's row, returning what it was."""
        a = tables.alert_accounts
        with self.engine.begin() as conn:
            row = conn.execute(select(a).where(a.c.account_id == account_id)).first()
            conn.execute(delete(a).where(a.c.account_id == account_id))
        return None if row is None else _account(row)

    def account_for_secret(self, secret: str) -> str | None:
        """The account whose webhook secret this is (compared in constant time), else None."""
        wanted = secret_hash(secret)
        a = tables.alert_accounts
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(a.c.account_id, a.c.secret_hash).where(a.c.secret_hash.is_not(None))
            ).all()
        found: str | None = None
        for row in rows:
            if hmac.compare_digest(str(row.secret_hash), wanted):
                found = str(row.account_id)
        return found

    # -- threads and events ----------------------------------------------------------------------

    def thread(self, channel_id: str, account_id: str, cycle_id: str, cycle_name: str | None) -> AlertThread:
        t = tables.alert_threads
        where = (t.c.channel_id == channel_id, t.c.account_id == account_id, t.c.cycle_id == cycle_id)
        with self.engine.begin() as conn:
            conn.execute(
                dialect_insert(conn)(t)
                .values(
                    channel_id=channel_id, account_id=account_id, cycle_id=cycle_id, cycle_name=cycle_name
                )
                .on_conflict_do_nothing()
            )
            if cycle_name:
                conn.execute(update(t).where(*where).values(cycle_name=cycle_name))
            row = conn.execute(select(t).where(*where)).one()
        return _thread(row)

    def get_thread(self, thread_id: int) -> AlertThread | None:
        t = tables.alert_threads
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == thread_id)).first()
        return None if row is None else _thread(row)

    def add_event(
        self,
        thread_id: int,
        *,
        transaction_id: str,
        level: str,
        step_name: str | None,
        message: str,
        detail: str,
        auth_failure: bool,
        occurred_at: datetime | None,
    ) -> bool:
        """Record an incident of a thread; False when its transaction was seen already."""
        e = tables.alert_events
        with self.engine.begin() as conn:
            added = conn.execute(
                dialect_insert(conn)(e)
                .values(
                    thread_id=thread_id,
                    transaction_id=transaction_id[:255],
                    level=level,
                    step_name=(step_name or None) and step_name[:255],
                    message=message,
                    detail=detail,
                    auth_failure=auth_failure,
                    occurred_at=occurred_at or self._clock(),
                )
                .on_conflict_do_nothing()
                .returning(e.c.id)  # rowcount is not reliable for DO NOTHING on every driver
            ).first()
        return added is not None

    def unposted(self, thread_id: int) -> list[AlertEvent]:
        e = tables.alert_events
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(e)
                .where(e.c.thread_id == thread_id, e.c.posted.is_(False))
                .order_by(e.c.occurred_at, e.c.id)
            ).all()
        return [_event(r) for r in rows]

    def threads_with_unposted(self, channel_id: str) -> list[AlertThread]:
        t, e = tables.alert_threads, tables.alert_events
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t)
                .where(
                    t.c.channel_id == channel_id,
                    t.c.id.in_(select(e.c.thread_id).where(e.c.posted.is_(False))),
                )
                .order_by(t.c.told_at.is_not(None), t.c.told_at, t.c.id)  # the longest waiting first
            ).all()
        return [_thread(r) for r in rows]

    def mark_posted(self, event_ids: list[int]) -> None:
        if not event_ids:
            return
        e = tables.alert_events
        with self.engine.begin() as conn:
            conn.execute(update(e).where(e.c.id.in_(event_ids)).values(posted=True))

    def set_parent(self, thread_id: int, parent_ts: str) -> None:
        t = tables.alert_threads
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == thread_id).values(parent_ts=parent_ts))

    def set_told(self, thread_id: int) -> None:
        t = tables.alert_threads
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == thread_id).values(told_at=self._clock()))

    def last_told(self, channel_id: str) -> datetime | None:
        """When the channel was last posted alerts to."""
        t = tables.alert_threads
        with self.engine.connect() as conn:
            found = conn.execute(select(func.max(t.c.told_at)).where(t.c.channel_id == channel_id)).scalar()
        return aware(found)

    def summary(self, thread_id: int) -> ThreadSummary:
        e = tables.alert_events
        with self.engine.connect() as conn:
            count, warnings, first, last = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((e.c.level == "warning", 1), else_=0)), 0),
                    func.min(e.c.occurred_at),
                    func.max(e.c.occurred_at),
                ).where(e.c.thread_id == thread_id)
            ).one()
            latest = conn.execute(
                select(e)
                .where(e.c.thread_id == thread_id)
                .order_by(e.c.occurred_at.desc(), e.c.id.desc())
                .limit(1)
            ).first()
        return ThreadSummary(
            int(count), aware(first), aware(last), None if latest is None else _event(latest), int(warnings)
        )

    def event(self, event_id: int) -> AlertEvent | None:
        e = tables.alert_events
        with self.engine.connect() as conn:
            row = conn.execute(select(e).where(e.c.id == event_id)).first()
        return None if row is None else _event(row)


def _account(row: Row[Any]) -> AlertAccount:
    return AlertAccount(
        account_id=row.account_id,
        error_cursor=row.error_cursor,
        warning_cursor=row.warning_cursor,
        since=aware(row.since) or utcnow(),
        secret_hash=row.secret_hash,
        webhook_saved=bool(row.webhook_saved),
        previous_enabled=row.previous_enabled,
        previous_url=row.previous_url,
        previous_warnings=row.previous_warnings,
    )


def _thread(row: Row[Any]) -> AlertThread:
    return AlertThread(
        id=int(row.id),
        channel_id=row.channel_id,
        account_id=row.account_id,
        cycle_id=row.cycle_id,
        cycle_name=row.cycle_name,
        parent_ts=row.parent_ts,
        told_at=aware(row.told_at),
    )


def _event(row: Row[Any]) -> AlertEvent:
    return AlertEvent(
        id=int(row.id),
        thread_id=int(row.thread_id),
        transaction_id=row.transaction_id,
        level=row.level,
        step_name=row.step_name,
        message=row.message,
        detail=row.detail,
        auth_failure=bool(row.auth_failure),
        occurred_at=aware(row.occurred_at) or utcnow(),
        posted=bool(row.posted),
    )
