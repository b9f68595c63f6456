"""Commands answered by a job: intake acks with a progress line and queues a ``reply`` job;
a worker does the Cyclr work and answers through the command's ``response_url``.

The access check happened in intake, before the job was queued; the job carries its result
(the account the command works on), never a secret. A reply is not retried: a failure is
told to the user with a reference, who can run the command again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bot.cyclr.errors import CyclrError
from bot.services.container import Services
from bot.slack import blocks
from bot.slack.blocks.common import Message, escape_clip, message, section
from bot.slack.cycles import cycles_page
from bot.slack.listeners.connectors import ConnectorActions
from bot.slack.listeners.errors import user_job
from bot.slack.messenger import SlackMessenger
from bot.slack.middleware import who_grants
from bot.store.alerts import ERRORS, WARNINGS
from bot.store.queue import Job
from bot.worker.registry import Outcome, Registry

__all__ = ["REPLY", "Asked", "CommandReplies"]

log = logging.getLogger(__name__)

REPLY = "reply"


@dataclass(frozen=True)
class Asked:
    """One command, as its reply job needs it."""

    command: str
    team_id: str
    user_id: str
    channel_id: str | None
    account_id: str
    args: str
    response_url: str | None
    #: The user may work on every account from where they asked (an admin, or installers
    #: with ``CYCLR_BOT_INSTALLER_ACCOUNTS=all``); else only on ``account_id``.
    every: bool = False
    #: Which page of a paged answer (``/cyclr cycles``).
    page: int = 0

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Asked:
        channel, response_url = payload.get("channel_id"), payload.get("response_url")
        page = payload.get("page")
        return cls(
            command=str(payload["command"]),
            team_id=str(payload["team_id"]),
            user_id=str(payload["user_id"]),
            channel_id=str(channel) if channel else None,
            account_id=str(payload["account_id"]),
            args=str(payload.get("args") or ""),
            response_url=str(response_url) if response_url else None,
            every=payload.get("every") is True,
            page=page if isinstance(page, int) and not isinstance(page, bool) and page >= 0 else 0,
        )


# -- /cyclr subscribe, unsubscribe, subscriptions --------------------------------------


def parse_subscribe(args: str) -> tuple[str, str]:
    """``[errors|warnings] [account]`` → (level, account words)."""
    words = args.split()
    level = ERRORS
    if words and words[0].lower() in ("errors", "error", "warnings", "warning"):
        level = WARNINGS if words[0].lower().startswith("warning") else ERRORS
        words = words[1:]
    return level, " ".join(words)


def subscriptions_message(services: Services, channel_id: str | None, notice: str | None = None) -> Message:
    subs = services.alerts.ledger.subscriptions(channel_id=channel_id) if channel_id else []
    lines = [notice] if notice else []
    if not subs:
        lines.append("This channel gets no cycle alerts. An admin can run `/cyclr subscribe`.")
    else:
        lines.append("This channel gets cycle alerts from:")
        for sub in subs:
            what = "errors and warnings" if sub.warnings else "errors"
            lines.append(f"• {escape_clip(services.accounts.name_of(sub.account_id), 100)}: {what}")
        mode = "Cyclr's error webhook" if services.alerts.webhook_mode else "polling Cyclr's incidents"
        lines.append(f"_Alerts come from {mode}._")
    text = "\n".join(lines)
    return message(text, [section(text)], sandbox=services.sandbox)


class CommandReplies:
    """The ``reply`` job kind: ``list``, ``health``, ``cycles``, ``auth``, ``uninstall`` and
    binding a channel."""

    def __init__(self, services: Services, messenger: SlackMessenger) -> None:
        self.services = services
        self.messenger = messenger
        self.connectors = ConnectorActions(services, messenger)
        self._handlers: dict[str, Callable[[Asked], None]] = {
            "list": self.list,
            "cycles": self.cycles,
            "auth": self.auth,
            "uninstall": self.uninstall,
            "bind": self.bind,
            "health": self.health,
            "subscribe": self.subscribe,
            "unsubscribe": self.unsubscribe,
            "subscriptions": self.subscriptions,
            "templates": self.templates,
        }

    def register(self, registry: Registry) -> None:
        registry.add(REPLY, self.run, attempts=1)

    def run(self, job: Job) -> Outcome:
        asked = Asked.from_payload(job.payload)
        handler = self._handlers.get(asked.command)
        if handler is None:  # queued by a newer version than this worker's
            log.warning("reply job %s: no handler for %r", job.id, asked.command)
            return {"unknown": asked.command}
        user_job(
            self.messenger,
            lambda: handler(asked),
            response_url=asked.response_url,
            user_id=asked.user_id,
            channel_id=asked.channel_id,
        )()
        return {"command": asked.command}

    def _reply(self, asked: Asked, message: blocks.Message) -> None:
        self.messenger.respond(
            asked.response_url,
            message,
            user_id=asked.user_id,
            channel_id=asked.channel_id,
            replace_original=True,
        )

    @property
    def sandbox(self) -> bool:
        return self.services.sandbox

    def list(self, asked: Asked) -> None:
        installed = self.services.cyclr.list_account_connectors(asked.account_id)
        self._reply(
            asked,
            blocks.installed_list(
                installed,
                account_id=asked.account_id,
                account_name=self.services.accounts.name_of(asked.account_id),
                sandbox=self.sandbox,
            ),
        )

    def health(self, asked: Asked) -> None:
        found = self.services.health.status(asked.account_id)
        self._reply(
            asked,
            blocks.health_message(
                found.connectors,
                found.failing_cycles,
                account_id=asked.account_id,
                account_name=self.services.accounts.name_of(asked.account_id),
                sandbox=self.sandbox,
            ),
        )

    def templates(self, asked: Asked) -> None:
        """The best-matching templates of the library, each with *Deploy*."""
        found = self.services.templates.search(asked.account_id, asked.args, limit=10)
        self._reply(
            asked,
            blocks.templates_list(
                asked.args,
                found,
                account_id=asked.account_id,
                account_name=self.services.accounts.name_of(asked.account_id),
                sandbox=self.sandbox,
            ),
        )

    def cycles(self, asked: Asked) -> None:
        """A page of the account's cycles: the one named in the arguments, if the user may
        work on it from where they asked, else the channel's."""
        account_id = asked.account_id
        if asked.args:
            try:
                found = self.services.accounts.find(asked.args)
            except CyclrError as error:
                text = f"Cyclr did not answer: {error.user_message}"
                self._reply(asked, blocks.notice_message(text, sandbox=self.sandbox))
                return
            if len(found) != 1:
                self._reply(
                    asked,
                    blocks.accounts_message(
                        found, current_account_id=asked.account_id, query=asked.args, sandbox=self.sandbox
                    ),
                )
                return
            account_id = found[0].id
            if account_id != asked.account_id and not asked.every:
                # As the access middleware words a refusal: the reason escaped, then who grants.
                name = blocks.escape(self.services.accounts.name_of(asked.account_id))
                line = f":no_entry: From here you can only work on the Cyclr account {name}. " + who_grants(
                    self.services.settings.admins
                )
                self._reply(asked, message(line, [section(line)], sandbox=self.sandbox))
                return
        self._reply(asked, cycles_page(self.services, account_id, page=asked.page))

    def auth(self, asked: Asked) -> None:
        self.connectors.auth_command(
            asked.team_id, asked.user_id, asked.account_id, asked.args, asked.response_url, asked.channel_id
        )

    def uninstall(self, asked: Asked) -> None:
        self.connectors.uninstall_command(
            asked.account_id, asked.args, asked.response_url, asked.user_id, asked.channel_id
        )

    def bind(self, asked: Asked) -> None:
        """Bind the channel to the one account matching what was typed."""
        try:
            found = self.services.accounts.find(asked.args)
        except CyclrError as error:
            text = f"Cyclr did not answer: {error.user_message}"
            self._reply(asked, blocks.notice_message(text, sandbox=self.sandbox))
            return
        if len(found) != 1 or asked.channel_id is None:
            self._reply(
                asked,
                blocks.accounts_message(
                    found, current_account_id=asked.account_id, query=asked.args, sandbox=self.sandbox
                ),
            )
            return
        account = found[0]
        self.services.store.bind_channel(
            team_id=asked.team_id, channel_id=asked.channel_id, account_id=account.id, bound_by=asked.user_id
        )
        self._reply(
            asked,
            blocks.channel_account_message(
                account=account, account_id=account.id, bound=True, sandbox=self.sandbox
            ),
        )

    # -- alerts ------------------------------------------------------------------------------------

    def _alert_account(self, asked: Asked, words: str) -> str | None:
        """The account named in ``words`` (else the channel's); None when answered already."""
        if not words:
            return asked.account_id
        try:
            found = self.services.accounts.find(words)
        except CyclrError as error:
            text = f"Cyclr did not answer: {error.user_message}"
            self._reply(asked, blocks.notice_message(text, sandbox=self.sandbox))
            return None
        if len(found) != 1:
            self._reply(
                asked,
                blocks.accounts_message(
                    found, current_account_id=asked.account_id, query=words, sandbox=self.sandbox
                ),
            )
            return None
        return found[0].id

    def subscribe(self, asked: Asked) -> None:
        level, words = parse_subscribe(asked.args)
        account_id = self._alert_account(asked, words)
        if account_id is None or asked.channel_id is None:
            return
        self.services.alerts.subscribe(
            team_id=asked.team_id,
            channel_id=asked.channel_id,
            account_id=account_id,
            level=level,
            by=asked.user_id,
        )
        name = blocks.escape(self.services.accounts.name_of(account_id))
        what = "errors and warnings" if level == "warnings" else "errors"
        notice = f":white_check_mark: This channel now gets the cycle {what} of {name}."
        self._reply(asked, subscriptions_message(self.services, asked.channel_id, notice))

    def unsubscribe(self, asked: Asked) -> None:
        account_id = self._alert_account(asked, asked.args.strip())
        if account_id is None or asked.channel_id is None:
            return
        gone = self.services.alerts.unsubscribe(
            team_id=asked.team_id, channel_id=asked.channel_id, account_id=account_id
        )
        name = blocks.escape(self.services.accounts.name_of(account_id))
        notice = (
            f":white_check_mark: This channel no longer gets the cycle alerts of {name}."
            if gone
            else f"This channel was not subscribed to {name}."
        )
        self._reply(asked, subscriptions_message(self.services, asked.channel_id, notice))

    def subscriptions(self, asked: Asked) -> None:
        self._reply(asked, subscriptions_message(self.services, asked.channel_id))
