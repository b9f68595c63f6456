"""``/cyclr`` and its subcommands: parse, answer what is instant, hand the rest to a job.

Help, errors and progress are ephemeral to the caller. Anything that needs Cyclr is acked
at once ("Looking…") and answered through the command's ``response_url`` by a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.cyclr.errors import CyclrError
from bot.jobs import JobRejected
from bot.services.accounts import AccountDirectory
from bot.services.container import Services
from bot.slack import blocks
from bot.slack.ids import slack_id
from bot.slack.listeners.background import BUSY, Surface
from bot.slack.listeners.connectors import ConnectorActions
from bot.slack.listeners.errors import user_job
from bot.slack.listeners.install import InstallModal
from bot.slack.messenger import SlackMessenger
from bot.slack.middleware import ACCESS, Access
from bot.slack.parsing import Command, parse_command

__all__ = ["CommandContext", "register"]

log = logging.getLogger(__name__)


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
        self._routes: dict[str, Callable[[CommandContext, Ack, WebClient], None]] = {
            "help": self.help,
            "search": self.search,
            "install": self.install,
            "list": self.list,
            "auth": self.auth,
            "uninstall": self.uninstall,
            "accounts": self.accounts,
            "account": self.account,
            "history": self.history,
        }

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
        route = self._routes.get(command.subcommand, self.help)
        route(ctx, ack, client)

    # -- helpers ---------------------------------------------------------------------------------

    def _answer(self, ack: Ack, message: blocks.Message) -> None:
        ack(text=message.text, blocks=message.blocks)

    def _notice(self, ack: Ack, text: str) -> None:
        self._answer(ack, blocks.notice_message(text, sandbox=self.sandbox))

    def _later(self, ctx: CommandContext, ack: Ack, progress: str, name: str, fn: Callable[[], None]) -> None:
        """Ack with a progress line, then run ``fn`` as a job that answers via response_url."""
        try:
            self.services.jobs.submit(
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
        def run() -> None:
            installed = self.services.cyclr.list_account_connectors(ctx.account_id)
            self._reply(
                ctx,
                blocks.installed_list(
                    installed,
                    account_id=ctx.account_id,
                    account_name=self._account_name(ctx.account_id),
                    sandbox=self.sandbox,
                ),
            )

        self._later(
            ctx,
            ack,
            f"Looking up the connectors installed in {self._account_name(ctx.account_id)}…",
            "list",
            run,
        )

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
        self._later(
            ctx,
            ack,
            f"Finding “{ctx.command.args}” in {self._account_name(ctx.account_id)}…",
            "auth",
            lambda: self.connectors.auth_command(
                ctx.team_id, ctx.user_id, ctx.account_id, ctx.command.args, ctx.response_url, ctx.channel_id
            ),
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
        self._later(
            ctx,
            ack,
            f"Finding “{ctx.command.args}” in {self._account_name(ctx.account_id)}…",
            "uninstall",
            lambda: self.connectors.uninstall_command(
                ctx.account_id, ctx.command.args, ctx.response_url, ctx.user_id, ctx.channel_id
            ),
        )

    def accounts(self, ctx: CommandContext, ack: Ack, client: WebClient) -> None:
        query = ctx.command.args or None

        def message() -> blocks.Message:
            found = self.services.accounts.find(query) if query else list(self.services.accounts.all())
            return blocks.accounts_message(
                found, current_account_id=ctx.account_id, query=query, sandbox=self.sandbox
            )

        if self.services.accounts.cached() is not None:
            self._answer(ack, message())
            return
        self._later(ctx, ack, "Fetching the Cyclr accounts…", "accounts", lambda: self._reply(ctx, message()))

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

        def run() -> None:
            try:
                found = self.services.accounts.find(wanted)
            except CyclrError as error:
                self._reply(
                    ctx,
                    blocks.notice_message(
                        f"Cyclr did not answer: {error.user_message}", sandbox=self.sandbox
                    ),
                )
                return
            if len(found) != 1:
                self._reply(
                    ctx,
                    blocks.accounts_message(
                        found, current_account_id=ctx.account_id, query=wanted, sandbox=self.sandbox
                    ),
                )
                return
            account = found[0]
            assert ctx.channel_id is not None
            self.services.store.bind_channel(
                team_id=ctx.team_id, channel_id=ctx.channel_id, account_id=account.id, bound_by=ctx.user_id
            )
            self._reply(
                ctx,
                blocks.channel_account_message(
                    account=account, account_id=account.id, bound=True, sandbox=self.sandbox
                ),
            )

        self._later(ctx, ack, f"Binding this channel to “{wanted}”…", "bind", run)

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
        names = {r.account_id: self._account_name(r.account_id) for r in records}
        self._answer(ack, blocks.history_message(records, account_names=names, sandbox=self.sandbox))


def register(app: App, command: CyclrCommand) -> None:
    @app.command("/cyclr")
    def cyclr(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        command.handle(ack, body, client, context)
