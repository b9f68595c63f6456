"""Alerts from running cycles: subscriptions, intake of incidents (polled or from Cyclr's
transaction error webhook), and the account's webhook setting.

An incident is recorded once per subscribed channel and transaction (:class:`AlertLedger`),
with its detail already redacted, and the channel's ``tell-alerts`` job is queued; that job
(:mod:`bot.slack.alerts`) posts or updates the messages, at most once per
:data:`ALERT_GAP` seconds per channel, so a flood becomes a count and one summary reply.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import Settings
from bot.cyclr import CyclrClient
from bot.cyclr.models import Incident, IncidentLevel, WebhookSettings
from bot.logs import register_secret
from bot.services.redaction import redact_detail
from bot.store.alerts import ERRORS, WARNINGS, AlertLedger
from bot.store.queue import JobQueue

__all__ = ["ALERT_GAP", "ALERT_WEBHOOK", "TELL_ALERTS", "WEBHOOK_PATH", "AlertService", "PollReport"]

log = logging.getLogger(__name__)

TELL_ALERTS = "tell-alerts"
#: One call of Cyclr's error webhook, acknowledged at once and handled by a worker.
ALERT_WEBHOOK = "alert-webhook"
#: Seconds between two posts of alerts in a channel: what arrives in between is rolled up
#: into the next one.
ALERT_GAP = 30.0
#: Incidents read per account and level in one poll (the rest wait for the next).
POLL_LIMIT = 500
WEBHOOK_PATH = "/cyclr/webhook/"


@dataclass(frozen=True, slots=True)
class PollReport:
    accounts: int
    failed: int
    new: int


class AlertService:
    def __init__(self, cyclr: CyclrClient, ledger: AlertLedger, queue: JobQueue, settings: Settings) -> None:
        self.cyclr = cyclr
        self.ledger = ledger
        self.queue = queue
        self.settings = settings

    @property
    def webhook_mode(self) -> bool:
        return bool(self.settings.public_url)

    # -- subscriptions ---------------------------------------------------------------------------

    def subscribe(self, *, team_id: str, channel_id: str, account_id: str, level: str, by: str) -> bool:
        """Subscribe the channel; in webhook mode point the account's webhook at the bot."""
        created = self.ledger.subscribe(
            team_id=team_id, channel_id=channel_id, account_id=account_id, level=level, by=by
        )
        if self.webhook_mode:
            try:
                self.ensure_webhook(account_id)
            except Exception:
                if created:  # Cyclr would not take the URL: no subscription that hears nothing
                    self.unsubscribe(team_id=team_id, channel_id=channel_id, account_id=account_id)
                raise
        return created

    def unsubscribe(self, *, team_id: str, channel_id: str, account_id: str) -> bool:
        gone = self.ledger.unsubscribe(team_id=team_id, channel_id=channel_id, account_id=account_id)
        remaining = self.ledger.subscriptions(account_id=account_id)
        if not remaining:
            account = self.ledger.forget_account(account_id)
            if account is not None and account.webhook_saved:
                self.cyclr.set_webhook_settings(
                    account_id,
                    WebhookSettings(
                        bool(account.previous_enabled), account.previous_url, bool(account.previous_warnings)
                    ),
                )
        elif self.webhook_mode:
            self.ensure_webhook(account_id)  # warnings may no longer be wanted
        return gone

    def ensure_webhook(self, account_id: str) -> None:
        """A fresh secret URL for the account (the old one stops working), warnings included
        when a channel wants them; the setting it replaces is kept for the last unsubscribe."""
        base = (self.settings.public_url or "").rstrip("/")
        current = self.cyclr.get_webhook_settings(account_id)
        secret = secrets.token_urlsafe(32)
        register_secret(secret)
        account = self.ledger.account(account_id)
        ours = account is not None and account.webhook_saved
        self.ledger.save_webhook(
            account_id,
            secret=secret,
            previous_enabled=current.enabled,
            previous_url=None if ours else current.url,
            previous_warnings=current.include_warnings,
        )
        warnings = any(s.warnings for s in self.ledger.subscriptions(account_id=account_id))
        self.cyclr.set_webhook_settings(
            account_id, WebhookSettings(True, f"{base}{WEBHOOK_PATH}{secret}", warnings)
        )

    # -- intake ----------------------------------------------------------------------------------

    def poll(self) -> PollReport:
        """One look at each subscribed account's incidents after its cursor."""
        accounts = self.ledger.subscribed_accounts()
        failed = new = 0
        for account_id in accounts:
            try:
                new += self.poll_account(account_id)
            except Exception as error:  # one account's trouble must not stop the others
                log.warning("alerts: polling account %s failed (%s)", account_id, type(error).__name__)
                failed += 1
        return PollReport(len(accounts), failed, new)

    def poll_account(self, account_id: str) -> int:
        account = self.ledger.account(account_id)
        if account is None:
            return 0
        levels = [ERRORS]
        if any(s.warnings for s in self.ledger.subscriptions(account_id=account_id)):
            levels.append(WARNINGS)
        new = 0
        for level in levels:
            cursor = account.warning_cursor if level == WARNINGS else account.error_cursor
            after: datetime | str = cursor or account.since
            wanted = IncidentLevel.WARNING if level == WARNINGS else IncidentLevel.ERROR
            found = self.cyclr.list_incidents(account_id, wanted, after=after, limit=POLL_LIMIT)
            new += self.ingest(account_id, found)
            last = next((i.cursor for i in reversed(found) if i.cursor), None)
            if last:
                self.ledger.set_cursor(account_id, level, last)
        return new

    def ingest(self, account_id: str, incidents: Iterable[Incident]) -> int:
        """Record incidents for every channel subscribed to the account; queue the telling.
        Returns how many (channel, transaction) pairs were new."""
        subscriptions = self.ledger.subscriptions(account_id=account_id)
        if not subscriptions:
            return 0
        new = 0
        channels: set[str] = set()
        for incident in incidents:
            if not incident.cycle_id:
                continue
            warning = incident.level is IncidentLevel.WARNING
            transaction = incident.transaction_id or incident.id
            if not transaction:
                continue  # nothing to recognise it by: it could be posted twice
            detail = redact_detail(incident.full_message)
            for sub in subscriptions:
                if warning and not sub.warnings:
                    continue
                thread = self.ledger.thread(
                    sub.channel_id, account_id, incident.cycle_id, incident.cycle_name
                )
                added = self.ledger.add_event(
                    thread.id,
                    transaction_id=transaction,
                    level="warning" if warning else "error",
                    step_name=incident.step_name,
                    message=redact_detail(incident.short_message) or "(no message)",
                    detail=detail,
                    auth_failure=incident.is_auth_failure,
                    occurred_at=incident.occurred_at or datetime.now(UTC),
                )
                if added:
                    new += 1
                    channels.add(sub.channel_id)
        for channel in sorted(channels):
            self.queue.enqueue(TELL_ALERTS, {"channel": channel}, key=f"{TELL_ALERTS}:{channel}")
        return new

    def account_for_secret(self, secret: str) -> str | None:
        return self.ledger.account_for_secret(secret)
