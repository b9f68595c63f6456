"""The ``tell-login-lost`` job: a lost login is told to the person who installed the
connector (a DM with a fresh way to authorise it) and to the account's channel."""

from __future__ import annotations

import logging

from bot.cyclr.models import AuthKind
from bot.services.container import Services
from bot.services.notifier import TELL_LOGIN_LOST
from bot.slack import blocks
from bot.slack.messenger import SlackMessenger
from bot.store.queue import Job
from bot.worker.registry import Outcome, Registry

__all__ = ["HealthJobs"]

log = logging.getLogger(__name__)


class HealthJobs:
    def __init__(self, services: Services, messenger: SlackMessenger) -> None:
        self.services = services
        self.messenger = messenger

    def register(self, registry: Registry) -> None:
        # One attempt: a failure hands the telling back to the next sweep (never two DMs).
        registry.add(TELL_LOGIN_LOST, self.tell_login_lost, attempts=1)

    def channel_for(self, account_id: str) -> str | None:
        """The account's channel: the first one bound to it, else the team channel."""
        bound = [b.channel_id for b in self.services.store.bindings() if b.account_id == account_id]
        return bound[0] if bound else self.services.settings.notify_channel

    def tell_login_lost(self, job: Job) -> Outcome:
        account_id = str(job.payload["account"])
        account_connector_id = int(job.payload["connector"])
        try:
            return self._tell(account_id, account_connector_id, str(job.payload.get("name") or ""))
        except Exception:
            self.services.health.ledger.release_telling(account_id, account_connector_id)
            raise

    def _tell(self, account_id: str, account_connector_id: int, name: str) -> Outcome:
        current = self.services.cyclr.get_account_connector(account_id, account_connector_id)
        if current.authenticated:
            return {"told": False, "why": "authenticated again"}
        sandbox = self.services.sandbox
        account_name = self.services.accounts.name_of(account_id)
        record = self.services.store.install_for_account_connector(account_id, account_connector_id)
        installer = record.user_id if record is not None else None
        if installer:
            oauth = current.auth_kind is AuthKind.OAUTH
            value = self.messenger.link_value(installer, account_id, account_connector_id) if oauth else None
            self.messenger.dm(
                installer,
                blocks.login_lost_dm(
                    connector_name=current.name or name,
                    account_name=account_name,
                    oauth=oauth,
                    button_value=value,
                    sandbox=sandbox,
                ),
            )
        channel = self.channel_for(account_id)
        if channel:
            line = blocks.login_lost_line(
                connector_name=current.name or name,
                account_name=account_name,
                installer=installer,
                sandbox=sandbox,
            )
            self.messenger.client.chat_postMessage(channel=channel, text=line.text, blocks=line.blocks)
        return {"told": True, "dm": installer is not None, "channel": channel}
