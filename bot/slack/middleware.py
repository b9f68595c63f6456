"""The access middleware: one place that decides whether a request may go on, and on which
Cyclr account.

It maps each request (command, button, options load, submission, shortcut) to an
:class:`~bot.services.access.Action` and to the account it names (a button's value, the
install modal's account), asks the pure policy in :mod:`bot.services.access`, and answers a
refusal itself in the form the surface expects, so a refused user always gets a message,
never silence.

Every request gets an :class:`Access` in its context (:data:`ACCESS`): listeners
read the account a request may work on, the accounts the user may pick and the install
modal's verified metadata from it, never from the body. Team and user come from the request
body Slack signed; the modal's channel and account from its sealed metadata
(:mod:`bot.slack.sealed`). Requests that only open the install modal or App Home are checked
when the listener asks, just after the ack, so a first-time user's ``users.info`` never holds
the ack; whatever the modal leads to is checked again before anything happens.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk.errors import SlackApiError

from bot.after_ack import JobRejected
from bot.services.access import (
    ACTION_ROLES,
    UNKNOWN_REQUIREMENT,
    AccountGrant,
    Action,
    Role,
    Standing,
    UserDirectory,
    account_grant,
    permits,
    standing,
)
from bot.services.container import Services
from bot.slack import blocks, subcommands
from bot.slack.blocks.common import message as build_message
from bot.slack.blocks.common import section
from bot.slack.forms import input_value, state_values
from bot.slack.ids import (
    ACCOUNT,
    ACTIVATE_CALLBACK,
    ALERT_DETAILS,
    ALERT_PAUSE,
    API_KEY,
    AUTHORISE,
    CONNECTOR,
    CREDENTIALS_CALLBACK,
    CYCLE_ACTIVATE,
    CYCLE_PAUSE,
    CYCLE_RESUME,
    CYCLES_PAGE,
    DEPLOY_AUTHORISE,
    DEPLOY_CALLBACK,
    DEPLOY_CREDENTIALS,
    HOME_DEPLOY,
    HOME_INSTALL,
    INSTALL_CALLBACK,
    INTERVAL,
    NEW_LINK,
    NO_OPTION,
    OPEN_LINK,
    SEARCH_INSTALL,
    SHORTCUT,
    TEMPLATE,
    TEMPLATE_DEPLOY,
    UNINSTALL,
    USERNAME,
    decode_value,
    slack_id,
)
from bot.slack.messenger import SlackMessenger
from bot.slack.parsing import Command, parse_command
from bot.slack.sealed import ActivateMeta, CredentialsMeta, DeployMeta, ModalMeta
from bot.slack.subcommands import Subcommand

__all__ = ["ACCESS", "Access", "AccessMiddleware", "Refusal", "action_for", "command_for", "who_grants"]

#: The context key of the request's :class:`Access`.
ACCESS = "cyclr_access"

#: What a request whose install form cannot be trusted (old, altered, another user's) hears.
STALE_FORM = "This form is out of date. Close it and run /cyclr install again."
#: The same for the activate modal.
STALE_ACTIVATE = "This form is out of date. Close it and run /cyclr cycles again."
#: The same for the deploy and credentials modals.
STALE_DEPLOY = "This form is out of date. Close it and run /cyclr templates again."

log = logging.getLogger(__name__)

_BUTTONS = {
    SEARCH_INSTALL: Action.INSTALL,
    HOME_INSTALL: Action.INSTALL,
    CONNECTOR: Action.INSTALL,
    ACCOUNT: Action.INSTALL,
    AUTHORISE: Action.AUTH,
    NEW_LINK: Action.AUTH,
    OPEN_LINK: Action.AUTH,  # a click on a page link arms it for one mint
    UNINSTALL: Action.UNINSTALL,
    CYCLES_PAGE: Action.CYCLES,
    CYCLE_ACTIVATE: Action.OPERATE,
    CYCLE_PAUSE: Action.OPERATE,
    CYCLE_RESUME: Action.OPERATE,
    ALERT_PAUSE: Action.OPERATE,
    ALERT_DETAILS: Action.CYCLES,
    TEMPLATE_DEPLOY: Action.INSTALL,  # deploying is an installer's
    HOME_DEPLOY: Action.INSTALL,
    DEPLOY_AUTHORISE: Action.AUTH,
    DEPLOY_CREDENTIALS: Action.AUTH,
}

#: The buttons whose value names an account (``{"a": account_id, ...}``). OPEN_LINK's names a
#: link (``{"l": id}``), which arms only for its owner (LinkService.arm), as a seal would.
_ACCOUNT_BUTTONS = frozenset(
    {
        SEARCH_INSTALL,
        AUTHORISE,
        NEW_LINK,
        UNINSTALL,
        CYCLES_PAGE,
        CYCLE_ACTIVATE,
        CYCLE_PAUSE,
        CYCLE_RESUME,
        ALERT_PAUSE,
        ALERT_DETAILS,
        TEMPLATE_DEPLOY,
        DEPLOY_AUTHORISE,
        DEPLOY_CREDENTIALS,
    }
)


def action_for(body: dict[str, Any]) -> Action | None:
    """What a request other than ``/cyclr`` would do (see :func:`command_for` for that); None
    for requests that change nothing (events, views closed)."""
    kind = body.get("type")
    if kind == "block_actions":
        return _BUTTONS.get(str(_first_action(body).get("action_id")))
    if kind == "block_suggestion":
        return Action.INSTALL
    if kind == "view_submission":
        if _activate_view(body) is not None:
            return Action.OPERATE
        if _view_of(body, DEPLOY_CALLBACK) is not None:
            return Action.INSTALL
        if _view_of(body, CREDENTIALS_CALLBACK) is not None:
            return Action.AUTH
        return Action.INSTALL if _install_view(body) is not None else None
    if kind in ("shortcut", "message_action"):
        return Action.INSTALL if body.get("callback_id") == SHORTCUT else None
    return None


def command_for(body: dict[str, Any]) -> tuple[Command, Subcommand | None, Role | None]:
    """A ``/cyclr`` request's parsed command, its table entry and the least role that may run
    it: None (nobody) when the entry is missing, whatever the parser made of the text."""
    command = parse_command(str(body.get("text") or ""))
    entry = subcommands.lookup(command.subcommand)
    return command, entry, (entry.role_for(command.args) if entry is not None else None)


def _first_action(body: dict[str, Any]) -> dict[str, Any]:
    """The first action of a ``block_actions`` request, or an empty dict."""
    actions = body.get("actions")
    return actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}


def _install_view(body: dict[str, Any]) -> dict[str, Any] | None:
    """The install modal a request comes from (submission, picker, field), else None."""
    view = body.get("view")
    return view if isinstance(view, dict) and view.get("callback_id") == INSTALL_CALLBACK else None


def _activate_view(body: dict[str, Any]) -> dict[str, Any] | None:
    """The activate modal a request comes from, else None."""
    view = body.get("view")
    return view if isinstance(view, dict) and view.get("callback_id") == ACTIVATE_CALLBACK else None


def _view_of(body: dict[str, Any], callback_id: str) -> dict[str, Any] | None:
    """The view with ``callback_id`` a request comes from, else None."""
    view = body.get("view")
    return view if isinstance(view, dict) and view.get("callback_id") == callback_id else None


def _opens_install_modal(body: dict[str, Any]) -> bool:
    """The global shortcut and the Install buttons of App Home and search (`/cyclr install`
    says so in its table entry)."""
    if body.get("type") in ("shortcut", "message_action"):
        return True  # action_for() made it INSTALL: the bot's own shortcut
    return body.get("type") == "block_actions" and _first_action(body).get("action_id") in (
        HOME_INSTALL,
        SEARCH_INSTALL,
        HOME_DEPLOY,  # the deploy modal's openers, checked the same way (DeployActions.open)
        TEMPLATE_DEPLOY,
    )


def _team(body: dict[str, Any]) -> str:
    """The team of the request's user, from the signed body."""
    team, user = body.get("team"), body.get("user")
    if isinstance(team, dict) and slack_id(team.get("id")):
        return slack_id(team.get("id"))
    if isinstance(user, dict) and slack_id(user.get("team_id")):
        return slack_id(user.get("team_id"))
    return slack_id(body.get("team_id"))


def _message_channel(body: dict[str, Any]) -> str | None:
    """The channel of a command or of a message's button (a DM's included), from the signed body."""
    if body.get("command"):
        return slack_id(body.get("channel_id")) or None
    channel, container = body.get("channel"), body.get("container")
    if isinstance(channel, dict) and slack_id(channel.get("id")):
        return slack_id(channel.get("id"))
    if isinstance(container, dict) and slack_id(container.get("channel_id")):
        return slack_id(container.get("channel_id"))
    return None


def who_grants(principals: Iterable[str]) -> str:
    """Mentions of the admins, or where to configure them when there are none."""
    mentions = [f"<!subteam^{p}>" if p.startswith("S") else f"<@{p}>" for p in principals]
    if not mentions:
        return "Ask whoever runs this bot to add you to CYCLR_BOT_INSTALLERS or CYCLR_BOT_ADMINS."
    return "Ask " + ", ".join(mentions[:10]) + " for access."


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request may not go on: ``reason`` in plain words, ``grants`` who can change that
    (mrkdwn mentions; empty when access is not the problem), ``field`` the install modal's
    input the words belong on."""

    reason: str
    grants: str = ""
    field: str = CONNECTOR


class Access:
    """What one request's user may do, and on which accounts; each fact looked up once, on
    first use. Built by :class:`AccessMiddleware` for every request (one without a user may
    do nothing but read the help)."""

    def __init__(
        self, middleware: AccessMiddleware, body: dict[str, Any], *, user_id: str, bot_team: str | None
    ) -> None:
        self._middleware = middleware
        self._services = middleware.services
        self._body = body
        self.user_id = user_id
        self.team_id = _team(body)
        self._bot_team = bot_team
        view = _install_view(body)
        self._view = view
        #: The install modal's metadata when the request comes from one and the bot sealed it
        #: for this user; None otherwise.
        self.modal: ModalMeta | None = (
            ModalMeta.loads(middleware.messenger.sealer, user_id, view.get("private_metadata"))
            if view is not None
            else None
        )
        #: The channel the request comes from: the command's or the message's, or where the
        #: install modal was opened; None for App Home and the global shortcut.
        activate = _activate_view(body)
        self._activate_view = activate
        #: The activate modal's metadata when the request comes from one and the bot sealed it
        #: for this user; None otherwise.
        self.activate: ActivateMeta | None = (
            ActivateMeta.loads(middleware.messenger.sealer, user_id, activate.get("private_metadata"))
            if activate is not None
            else None
        )
        deploy_view = _view_of(body, DEPLOY_CALLBACK)
        self._deploy_view = deploy_view
        #: The deploy modal's metadata when sealed for this user; None otherwise.
        self.deploy: DeployMeta | None = (
            DeployMeta.loads(middleware.messenger.sealer, user_id, deploy_view.get("private_metadata"))
            if deploy_view is not None
            else None
        )
        credentials_view = _view_of(body, CREDENTIALS_CALLBACK)
        self._credentials_view = credentials_view
        #: The credentials modal's metadata when sealed for this user; None otherwise.
        self.credentials: CredentialsMeta | None = (
            CredentialsMeta.loads(
                middleware.messenger.sealer, user_id, credentials_view.get("private_metadata")
            )
            if credentials_view is not None
            else None
        )
        self.channel_id: str | None
        if deploy_view is not None:
            self.channel_id = self.deploy.channel_id if self.deploy is not None else None
        elif credentials_view is not None:
            self.channel_id = None
        elif activate is not None:
            self.channel_id = self.activate.channel_id if self.activate is not None else None
        elif view is None:
            self.channel_id = _message_channel(body)
        else:
            self.channel_id = self.modal.channel_id if self.modal is not None else None
        #: The account the request works on, once :meth:`check` let it through.
        self.account: str | None = None
        self._standing: Standing | Refusal | None = None
        self._channel_account: str | None = None

    # -- facts -------------------------------------------------------------------------------------

    def standing(self) -> Standing | Refusal:
        """The user's role (``users.info``, cached); a refusal when Slack could not say."""
        if self._standing is None and not self.user_id:
            self._standing = Refusal("I could not tell who you are.")
        if self._standing is None:
            settings = self._services.settings
            try:
                facts = self._middleware.users.facts(self.user_id)
            except SlackApiError as error:
                log.warning("users.info for %s failed: %s", self.user_id, error.response.get("error"))
                self._standing = Refusal("I could not check your Slack profile just now. Please try again.")
            else:
                self._standing = standing(
                    facts, bot_team_id=self._bot_team, admins=settings.admins, installers=settings.installers
                )
        return self._standing

    @property
    def role(self) -> Role:
        user = self.standing()
        return user.role if isinstance(user, Standing) else Role.NONE

    @property
    def channel_account(self) -> str:
        """The channel's account: its binding, else the default (also outside channels)."""
        if self._channel_account is None:
            self._channel_account = self._services.accounts.for_channel(
                team_id=self.team_id, channel_id=self.channel_id
            )[0]
        return self._channel_account

    def grant(self) -> AccountGrant:
        """The accounts this user may work on from where the request comes."""
        role = self.role
        if role is Role.NONE:
            return AccountGrant()
        return account_grant(
            role, scope=self._services.settings.installer_accounts, channel_account=self.channel_account
        )

    # -- the check ---------------------------------------------------------------------------------

    def check_role(self, required: Role | None, what: str) -> Refusal | None:
        """Why the user does not have ``required`` to do ``what`` (a name for the log), or
        None. ``None`` (nobody said who may) is refused to everyone, admins included."""
        if required is Role.NONE:
            return None
        if required is None:
            log.warning("refused %s to %s: no role is required for it anywhere", what[:80], self.user_id)
            return Refusal(UNKNOWN_REQUIREMENT)
        user = self.standing()
        if isinstance(user, Refusal):
            return user
        decision = permits(user, required)
        if not decision.allowed:
            log.info("refused %s to %s: %s", what[:80], self.user_id, decision.reason)
            return Refusal(decision.reason, self._grants())
        return None

    def check(self, action: Action) -> Refusal | None:
        """Why the user may not do ``action`` with what the request names, or None (and then
        :attr:`account` is the account it names, if any)."""
        required = ACTION_ROLES.get(action)
        if required is Role.NONE:
            return None
        refusal = self.check_role(required, action.value)
        if refusal is not None:
            return refusal
        if self._view is not None and self.modal is None:
            log.info("refused %s to %s: form metadata not sealed for them", action.value, self.user_id)
            return Refusal(STALE_FORM)
        if self._activate_view is not None and self.activate is None:
            log.info("refused %s to %s: activate form not sealed for them", action.value, self.user_id)
            return Refusal(STALE_ACTIVATE, field=INTERVAL)
        if self._deploy_view is not None and self.deploy is None:
            log.info("refused %s to %s: deploy form not sealed for them", action.value, self.user_id)
            return Refusal(STALE_DEPLOY, field=TEMPLATE)
        if self._credentials_view is not None and self.credentials is None:
            log.info("refused %s to %s: credentials form not sealed for them", action.value, self.user_id)
            return Refusal(STALE_DEPLOY, field=API_KEY)
        named = self._named_account()
        if named is None:
            return None
        account, sealed = named
        return self._check_account(account, sealed=sealed)

    def refused(self, action: Action) -> blocks.Message | None:
        """:meth:`check`'s refusal as the message to show, for checks run after the ack."""
        refusal = self.check(action)
        return None if refusal is None else self._middleware.message(refusal)

    def _grants(self) -> str:
        return who_grants(self._services.settings.admins)

    def _named_account(self) -> tuple[object, bool] | None:
        """``(account, sealed for this user)`` that the request names; None if it names none."""
        if self._activate_view is not None:
            # Sealed for this user, yet checked like a plain value: the grant may have changed.
            return (self.activate.account_id, False) if self.activate is not None else None
        if self._credentials_view is not None:
            # Made from a checklist button sealed for this user, as that button's value was.
            return (self.credentials.account_id, True) if self.credentials is not None else None
        if self._deploy_view is not None:
            if self.deploy is None or self._body.get("type") == "block_suggestion":
                return None  # the pickers' own options (the account picker filters by the grant)
            chosen = input_value(state_values(self._deploy_view), ACCOUNT)
            return (chosen if chosen and chosen != NO_OPTION else None), False
        if self._view is not None:
            if self.modal is None or (
                self._body.get("type") == "block_suggestion" and self._body.get("action_id") == ACCOUNT
            ):
                return None  # the account picker's own options: filtered by the grant instead
            chosen = input_value(state_values(self._view), ACCOUNT)
            return (chosen if chosen and chosen != NO_OPTION else self.modal.account_id), False
        action = _first_action(self._body) if self._body.get("type") == "block_actions" else {}
        if action.get("action_id") not in _ACCOUNT_BUTTONS:
            return None
        raw = action.get("value")
        value = decode_value(raw if isinstance(raw, str) else None)
        if "a" not in value:
            return None
        return value["a"], self._middleware.messenger.sealer.value_sealed_for(self.user_id, value)

    def _check_account(self, account: object, *, sealed: bool) -> Refusal | None:
        accounts = self._services.accounts
        if not isinstance(account, str) or not account:
            return Refusal("That is out of date. Run the /cyclr command again.", field=ACCOUNT)
        # A value the bot sealed for this user was given under this policy when it was made
        # (the DM buttons of an install made in a bound channel).
        if not (sealed or self.grant().allows(account)):
            log.info("refused account %s to %s (not theirs here)", account[:80], self.user_id)
            name = accounts.name_of(self.channel_account)
            return Refusal(
                f"From here you can only work on the Cyclr account {name}.", self._grants(), field=ACCOUNT
            )
        if account != self.channel_account:
            known = accounts.known(account)
            if known is None:
                self._load_accounts()
                return Refusal(
                    "I am still loading the list of Cyclr accounts. Please try again in a moment.",
                    field=ACCOUNT,
                )
            if not known:
                log.info("refused account %s to %s (not a partner account)", account[:80], self.user_id)
                return Refusal("That is not one of the Cyclr accounts this bot works on.", field=ACCOUNT)
        self.account = account
        return None

    def _load_accounts(self) -> None:
        # This process's cache: the list, once loaded, lets the next try through without
        # this request waiting on Cyclr. One background fetch, however many requests ask.
        self._services.accounts.refresh()


class AccessMiddleware(Middleware):
    """Bolt global middleware enforcing :mod:`bot.services.access`.

    A :class:`~slack_bolt.middleware.Middleware` rather than a function, so Bolt calls it
    without inspecting its arguments on every request.
    """

    def __init__(self, services: Services, messenger: SlackMessenger, users: UserDirectory) -> None:
        self.services = services
        self.messenger = messenger
        self.users = users

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        body, context = req.body, req.context
        user_id = slack_id(context.user_id)
        result = context.authorize_result
        bot_team = (result.team_id if result is not None else None) or context.team_id
        access = context[ACCESS] = Access(self, body, user_id=user_id, bot_team=bot_team)
        if body.get("command"):
            return self._command(body, access, resp, next)
        action = action_for(body)
        if action is None or action is Action.HELP:
            next()
            return resp
        if not user_id:
            return BoltResponse(status=400, body="no user in the request")
        if action is Action.INSTALL and _opens_install_modal(body):
            # These ack with nothing and open the install modal afterwards; the listener runs
            # the check then (InstallModal.open), so a first-time user's users.info does not
            # hold the ack. Whatever the modal leads to is checked again on submission.
            next()
            return resp
        refusal = context[ACCESS].check(action)
        if refusal is None:
            next()
            return resp
        return self._refuse(body, refusal)

    def _command(
        self, body: dict[str, Any], access: Access, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        """``/cyclr``: the role its table entry needs; a name with no entry is refused."""
        command, entry, required = command_for(body)
        if required is not Role.NONE and not access.user_id:
            return BoltResponse(status=400, body="no user in the request")
        if entry is not None and entry.checked_by_handler:
            # `/cyclr install` acks with nothing and opens the install modal afterwards; the
            # listener runs the check then (InstallModal.open), so a first-time user's
            # users.info does not hold the ack. Whatever the modal leads to is checked again.
            next()
            return resp
        refusal = access.check_role(required, command.subcommand)
        if refusal is None:
            next()
            return resp
        return self._refuse(body, refusal)

    def message(self, refusal: Refusal) -> blocks.Message:
        text = f"{blocks.escape(refusal.reason)} {refusal.grants}".strip()
        # who_grants() holds mentions, so only the reason is escaped.
        line = f":no_entry: {text}"
        return build_message(line, [section(line)], sandbox=self.services.sandbox)

    def _refuse(self, body: dict[str, Any], refusal: Refusal) -> BoltResponse:
        message = self.message(refusal)
        kind = body.get("type")
        if body.get("command"):
            return _json({"response_type": "ephemeral", "text": message.text, "blocks": message.blocks})
        if kind == "block_suggestion":
            return _json({"options": blocks.options_placeholder(refusal.reason)})
        if kind == "view_submission":
            text = refusal.reason + (" Ask a bot admin for access." if refusal.grants else "")
            inputs = _input_blocks(body)
            field = refusal.field if refusal.field in inputs else CONNECTOR
            if field not in inputs:  # the activate, deploy and credentials modals
                field = next(
                    (f for f in (INTERVAL, TEMPLATE, ACCOUNT, API_KEY, USERNAME) if f in inputs), field
                )
            return _json({"response_action": "errors", "errors": {field: text[:300]}})
        user = body.get("user") or {}
        try:
            self.services.after_ack.submit(
                "refusal",
                self.messenger.respond,
                body.get("response_url"),
                message,
                user_id=user.get("id"),
                channel_id=_message_channel(body),
            )
        except JobRejected:
            log.warning("after-ack pool full: refusal not delivered")
        return BoltResponse(status=200, body="")


def _input_blocks(body: dict[str, Any]) -> set[str]:
    """The block ids of the submitted view's blocks."""
    view = (
        _install_view(body)
        or _activate_view(body)
        or _view_of(body, DEPLOY_CALLBACK)
        or _view_of(body, CREDENTIALS_CALLBACK)
        or {}
    )
    found = view.get("blocks")
    if not isinstance(found, list):
        return set()
    return {str(b.get("block_id")) for b in found if isinstance(b, dict)}


def _json(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(payload), headers={"content-type": "application/json"})
