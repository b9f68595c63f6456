"""``/cyclr`` and its subcommands: parse, answer what is instant, hand the rest to a job.

Help, errors and progress are ephemeral to the caller. Anything that needs Cyclr is acked
at once ("Looking…") and answered through the command's ``response_url`` by a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.after_ack import JobRejected
from bot.cyclr.errors import CyclrError
from bot.services.accounts import ACK_WAIT, AccountDirectory
from bot.services.container import Services
from bot.slack import blocks, subcommands
from bot.slack.ids import slack_id
from bot.slack.listeners.background import BUSY, Surface
from bot.slack.listeners.connectors import ConnectorActions
from bot.slack.listeners.errors import user_job
from bot.slack.listeners.install import InstallModal
from bot.slack.messenger import SlackMessenger
from bot.slack.middleware import ACCESS, Access
from bot.slack.parsing import Command, parse_command
from bot.slack.replies import REPLY, Asked
from bot.slack.subcommands import Subcommand

__all__ = ["CommandContext", "register"]

log = logging.getLogger(__name__)

#: What routing calls: a subcommand's handler.
Route = Callable[["CommandContext", Ack, WebClient], None]


@dataclass(frozen=True)
class CommandContext:
    """One ``/cyclr`` invocation."""

    command: Command
    team_id: str
    user_id: str
    channel_id: str | None
    trigger_id: str
    response_url: str | None
    accounts: AccountDirectory = field(repr=False, compare=False)
    #: What the user may do here; checked by the middleware, except for ``/cyclr install``,
    #: whose check runs as its modal opens.
    access: Access = field(repr=False, compare=False)

    @cached_property
    def _binding(self) -> tuple[str, bool]:
        # Read on first use, so help and install ack without a trip to the store.
        return self.accounts.for_channel(team_id=self.team_id, channel_id=self.channel_id)

    @property
    def account_id(self) -> str:
        """The channel's account: its binding, else the default."""
        return self._binding[0]

    @property
    def bound(self) -> bool:
        """Whether the channel is bound to :attr:`account_id`."""
        return self._binding[1]


class CyclrCommand(Surface):
    """Routes a parsed ``/cyclr`` to its subcommand."""

    def __init__(
        self, services: Services, messenger: SlackMessenger, modal: InstallModal, connectors: ConnectorActions
    ) -> None:
        super().__init__(services, messenger)
        self.modal = modal
        self.connectors = connectors
        #: Subcommand name → its handler, from the table; a missing handler stops start-up.
        self.routes: Mapping[str, Route] = MappingProxyType(
            {entry.name: self._handler(entry) for entry in subcommands.TABLE}
        )

    def _handler(self, entry: Subcommand) -> Route:
        handler = getattr(self, entry.handler, None)
        if not callable(handler):
            raise TypeError(f"/cyclr {entry.name}: CyclrCommand has no handler {entry.handler!r}")
        route: Route = handler
        return route

    def handle(self, ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        command = parse_command(str(body.get("text") or ""))
        team_id = slack_id(body.get("team_id"))
        channel_id = slack_id(body.get("channel_id")) or None
        ctx = CommandContext(
            command=command,
            team_id=team_id,
            user_id=slack_id(body.get("user_id")),
            channel_id=channel_id,
            trigger_id=str(body.get("trigger_id") or ""),
            response_url=body.get("response_url"),
            accounts=self.services.accounts,
            access=context[ACCESS],
        )
        route = self.routes.get(command.subcommand)
        if route is None:  # the parser makes anything unknown `help`; this is a last resort
            route = self.help
            unknown = replace(command, subcommand="help", problem="I don't know that command.")
            ctx = replace(ctx, command=unknown)
        route(ctx, ack, client)

    # -- helpers ---------------------------------------------------------------------------------

    def _answer(self, ack: Ack, message: blocks.Message) -> None:
        ack(text=message.text, blocks=message.blocks)

    def _notice(self, ack: Ack, text: str) -> None:
        self._answer(ack, blocks.notice_message(text, sandbox=self.sandbox))

    def _later(self, ctx: CommandContext, ack: Ack, progress: str, name: str, fn: Callable[[], None]) -> None:
        """Ack with a progress line, then run ``fn`` as a job that answers via response_url."""
        try:
            self.services.after_ack.submit(
                name,
                user_job(
                    self.messenger,
                    fn,
                    response_url=ctx.response_url,
                    user_id=ctx.user_id,
                    channel_id=ctx.channel_id,
                ),
            )
        except JobRejected:
            self._notice(ack, BUSY)
            return
        self._notice(ack, progress)

    def _queue(
        self, ctx: CommandContext, ack: Ack, progress: str, command: str, *, every: bool = False
    ) -> None:
        """Queue a ``reply`` job (:mod:`bot.slack.replies`) for a worker, then ack with a progress line."""
        asked = Asked(
            every=every,
            command=command,
            team_id=ctx.team_id,
            user_id=ctx.user_id,
            channel_id=ctx.channel_id,
            account_id=ctx.account_id,
            args=ctx.command.args,
            response_url=ctx.response_url,
        )
        self.services.queue.enqueue(REPLY, asked.to_payload())
        self._notice(ack, progress)

    def _reply(self, ctx: CommandContext, message: blocks.Message) -> None:
        self.messenger.respond(
            ctx.response_url, message, user_id=ctx.user_id, channel_id=ctx.channel_id, replace_original=True
        )

    def _account_name(self, account_id: str) -> str:
        return self.services.accounts.name_of(account_id)

    # -- subcommands -------------------------------------------------------------------------------

    def help(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        problem = ctx.command.problem
        if problem and ctx.command.suggestion:
            problem = f"{problem} Did you mean `{ctx.command.suggestion}`?"
        self._answer(ack, blocks.help_card(problem=problem, sandbox=self.sandbox))

    def search(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        query = ctx.command.args
        if not query:
            self._answer(
                ack,
                blocks.help_card(
                    problem="Tell me what to search for, e.g. `/cyclr search salesforce`.",
                    sandbox=self.sandbox,
                ),
            )
            return
        catalogue = self.services.catalogue.peek(ctx.account_id)
        if catalogue is not None:
            self.services.catalogue.prime(ctx.account_id)  # refresh in the background if stale
            self._answer(ack, self._results(ctx, query, catalogue.search(query, limit=10)))
            return

        def run() -> None:
            catalogue = self.services.catalogue.get(ctx.account_id, timeout=60)
            self._reply(ctx, self._results(ctx, query, catalogue.search(query, limit=10)))

        self._later(
            ctx,
            ack,
            f"Searching the connector catalogue of {self._account_name(ctx.account_id)}…",
            "search",
            run,
        )

    def _results(self, ctx: CommandContext, query: str, matches: list[Any]) -> blocks.Message:
        return blocks.search_results(
            query,
            matches,
            account_id=ctx.account_id,
            account_name=self._account_name(ctx.account_id),
            sandbox=self.sandbox,
        )

    def install(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        ack()
        self.modal.open(
            client,
            ctx.access,  # the channel's account is looked up after the ack
            trigger_id=ctx.trigger_id,
            query=ctx.command.args or None,
            response_url=ctx.response_url,
        )

    def list(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        self._queue(
            ctx, ack, f"Looking up the connectors installed in {self._account_name(ctx.account_id)}…", "list"
        )

    def health(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        self._queue(ctx, ack, f"Checking the health of {self._account_name(ctx.account_id)}…", "health")

    def cycles(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        wanted = ctx.command.args
        where = f"“{wanted}”" if wanted else self._account_name(ctx.account_id)
        # The account named is resolved by the job (it may need Cyclr's list of accounts);
        # whether the user may use it is decided here, from the grant, and carried along.
        self._queue(ctx, ack, f"Looking up the cycles in {where}…", "cycles", every=ctx.access.grant().every)

    def templates(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        words = ctx.command.args
        where = self._account_name(ctx.account_id)
        progress = f"Searching the templates for “{words}”…" if words else f"Listing templates for {where}…"
        self._queue(ctx, ack, progress, "templates")

    def auth(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        if not ctx.command.args:
            self._answer(
                ack,
                blocks.help_card(
                    problem="Which installed connector? e.g. `/cyclr auth Salesforce` (see `/cyclr list`).",
                    sandbox=self.sandbox,
                ),
            )
            return
        self._queue(
            ctx, ack, f"Finding “{ctx.command.args}” in {self._account_name(ctx.account_id)}…", "auth"
        )

    def uninstall(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        if not ctx.command.args:
            self._answer(
                ack,
                blocks.help_card(
                    problem="Which installed connector? e.g. `/cyclr uninstall Salesforce`"
                    " (see `/cyclr list`).",
                    sandbox=self.sandbox,
                ),
            )
            return
        self._queue(
            ctx, ack, f"Finding “{ctx.command.args}” in {self._account_name(ctx.account_id)}…", "uninstall"
        )

    def accounts(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        query = ctx.command.args or None

        directory = self.services.accounts

        def message(wait: float | None) -> blocks.Message:
            if query:
                found = directory.find(query, wait=wait)
            else:
                found = list(directory.all() if wait is None else directory.listed(wait=wait))
            return blocks.accounts_message(
                found, current_account_id=ctx.account_id, query=query, sandbox=self.sandbox
            )

        try:  # what is known now (a stale list is refreshed in the background)
            answer = message(ACK_WAIT)
        except (TimeoutError, CyclrError):  # nothing known yet: a job waits for Cyclr, then answers
            self._later(
                ctx, ack, "Fetching the Cyclr accounts…", "accounts", lambda: self._reply(ctx, message(None))
            )
            return
        self._answer(ack, answer)

    def account(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        wanted = ctx.command.args
        if not wanted:
            account = next((a for a in self.services.accounts.cached() or () if a.id == ctx.account_id), None)
            self._answer(
                ack,
                blocks.channel_account_message(
                    account=account, account_id=ctx.account_id, bound=ctx.bound, sandbox=self.sandbox
                ),
            )
            return
        if not ctx.channel_id:
            self._notice(ack, "Run `/cyclr account <account>` in the channel you want to bind.")
            return

        self._queue(ctx, ack, f"Binding this channel to “{wanted}”…", "bind")

    def subscribe(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        if not ctx.channel_id:
            self._notice(ack, "Run `/cyclr subscribe` in the channel that should get the alerts.")
            return
        self._queue(
            ctx, ack, "Subscribing this channel to cycle alerts…", "subscribe", every=ctx.access.grant().every
        )

    def unsubscribe(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        if not ctx.channel_id:
            self._notice(ack, "Run `/cyclr unsubscribe` in the channel that gets the alerts.")
            return
        self._queue(ctx, ack, "Unsubscribing this channel…", "unsubscribe", every=ctx.access.grant().every)

    def subscriptions(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        self._queue(ctx, ack, "Looking up this channel's alert subscriptions…", "subscriptions")

    def history(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        if ctx.command.problem:
            self._answer(ack, blocks.help_card(problem=ctx.command.message, sandbox=self.sandbox))
            return
        grant = ctx.access.grant()
        records = self.services.store.recent_installs(
            ctx.team_id,
            limit=ctx.command.count or 10,
            account_ids=None if grant.every else grant.accounts,
        )
        changes = self.services.store.recent_cycle_events(
            ctx.team_id,
            limit=blocks.MAX_CYCLE_HISTORY,
            account_ids=None if grant.every else grant.accounts,
        )
        accounts = {r.account_id for r in records} | {e.account_id for e in changes}
        names = {a: self._account_name(a) for a in accounts}
        self._answer(
            ack,
            blocks.history_message(records, account_names=names, cycle_events=changes, sandbox=self.sandbox),
        )


def register(app: App, command: CyclrCommand) -> None:
    @app.command("/cyclr")
    def cyclr(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        command.handle(ack, body, client, context)
