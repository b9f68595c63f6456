"""The access middleware: one place that decides whether a request may go on.

It maps each request (command, button, options load, submission, shortcut) to an
:class:`~bot.services.access.Action`, asks the pure policy, and answers a refusal itself in
the form the surface expects, so a refused user always gets a message, never silence.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk.errors import SlackApiError

from bot.jobs import JobRejected
from bot.services.access import Action, UserDirectory, decide
from bot.services.container import Services
from bot.slack import blocks
from bot.slack.blocks.common import message as build_message
from bot.slack.blocks.common import section
from bot.slack.ids import (
    ACCOUNT,
    AUTHORISE,
    CONNECTOR,
    HOME_INSTALL,
    INSTALL_CALLBACK,
    NEW_LINK,
    OPEN_LINK,
    SEARCH_INSTALL,
    SHORTCUT,
    UNINSTALL,
)
from bot.slack.messenger import SlackMessenger
from bot.slack.parsing import parse_command

__all__ = ["DEFERRED_CHECK", "AccessMiddleware", "action_for"]

#: The context key of a check the middleware left for after the ack: a callable answering
#: the refusal to show the user, or None when the user may go on.
DEFERRED_CHECK = "deferred_access_check"

log = logging.getLogger(__name__)

_SUBCOMMANDS = {
    "help": Action.HELP,
    "search": Action.SEARCH,
    "install": Action.INSTALL,
    "list": Action.LIST,
    "auth": Action.AUTH,
    "uninstall": Action.UNINSTALL,
    "accounts": Action.ACCOUNTS,
    "history": Action.HISTORY,
}
_BUTTONS = {
    SEARCH_INSTALL: Action.INSTALL,
    HOME_INSTALL: Action.INSTALL,
    CONNECTOR: Action.INSTALL,
    ACCOUNT: Action.INSTALL,
    AUTHORISE: Action.AUTH,
    NEW_LINK: Action.AUTH,
    OPEN_LINK: Action.AUTH,  # a click on a page link arms it for one mint
    UNINSTALL: Action.UNINSTALL,
}


def action_for(body: dict[str, Any]) -> Action | None:
    """What a request would do; None for requests that change nothing (events, views closed)."""
    if body.get("command"):
        command = parse_command(str(body.get("text") or ""))
        if command.subcommand == "account":
            return Action.BIND if command.args else Action.ACCOUNTS
        return _SUBCOMMANDS.get(command.subcommand, Action.HELP)
    kind = body.get("type")
    if kind == "block_actions":
        return _BUTTONS.get(str(_first_action(body).get("action_id")))
    if kind == "block_suggestion":
        return Action.INSTALL
    if kind == "view_submission":
        view = body.get("view") or {}
        return (
            Action.INSTALL if isinstance(view, dict) and view.get("callback_id") == INSTALL_CALLBACK else None
        )
    if kind in ("shortcut", "message_action"):
        return Action.INSTALL if body.get("callback_id") == SHORTCUT else None
    return None


def _first_action(body: dict[str, Any]) -> dict[str, Any]:
    """The first action of a ``block_actions`` request, or an empty dict."""
    actions = body.get("actions")
    return actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}


def _opens_install_modal(body: dict[str, Any]) -> bool:
    """`/cyclr install`, the global shortcut and the Install buttons of App Home and search."""
    if body.get("command"):
        return True
    if body.get("type") in ("shortcut", "message_action"):
        return True  # action_for() made it INSTALL: the bot's own shortcut
    return body.get("type") == "block_actions" and _first_action(body).get("action_id") in (
        HOME_INSTALL,
        SEARCH_INSTALL,
    )


def who_grants(principals: Iterable[str]) -> str:
    """Mentions of the admins, or where to configure them when there are none."""
    mentions = [f"<!subteam^{p}>" if p.startswith("S") else f"<@{p}>" for p in principals]
    if not mentions:
        return "Ask whoever runs this bot to add you to CYCLR_BOT_INSTALLERS or CYCLR_BOT_ADMINS."
    return "Ask " + ", ".join(mentions[:10]) + " for access."


class AccessMiddleware(Middleware):
    """Bolt global middleware enforcing :func:`bot.services.access.decide`.

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
        action = action_for(body)
        if action is None or action is Action.HELP:
            next()
            return resp
        user_id = context.user_id
        if not user_id:
            return BoltResponse(status=400, body="no user in the request")
        result = context.authorize_result
        bot_team = (result.team_id if result is not None else None) or context.team_id
        if action is Action.INSTALL and _opens_install_modal(body):
            # These ack with nothing and open the install modal afterwards; the check runs
            # then (InstallModal.open), so a first-time user's users.info does not hold the ack.
            # Whatever the modal leads to is checked again on submission, before anything happens.
            context[DEFERRED_CHECK] = lambda: self._refusal_message(user_id, bot_team, action)
            next()
            return resp
        refusal = self.refusal(user_id, bot_team, action)
        if refusal is None:
            next()
            return resp
        return self._refuse(body, *refusal)

    def refusal(self, user_id: str, bot_team: str | None, action: Action) -> tuple[str, str] | None:
        """``(reason, who grants access)`` when ``user_id`` may not do ``action``, else None."""
        settings = self.services.settings
        try:
            facts = self.users.facts(user_id)
        except SlackApiError as error:
            log.warning("users.info for %s failed: %s", user_id, error.response.get("error"))
            return "I could not check your Slack profile just now. Please try again.", ""
        decision = decide(
            facts, action, bot_team_id=bot_team, admins=settings.admins, installers=settings.installers
        )
        if decision.allowed:
            return None
        log.info("refused %s to %s: %s", action.value, user_id, decision.reason)
        return decision.reason, who_grants(settings.admins)

    def _refusal_message(self, user_id: str, bot_team: str | None, action: Action) -> blocks.Message | None:
        refusal = self.refusal(user_id, bot_team, action)
        return None if refusal is None else self._message(*refusal)

    def _message(self, reason: str, grants: str) -> blocks.Message:
        text = f"{blocks.escape(reason)} {grants}".strip()
        # who_grants() holds mentions, so only the reason is escaped.
        line = f":no_entry: {text}"
        return build_message(line, [section(line)], sandbox=self.services.sandbox)

    def _refuse(self, body: dict[str, Any], reason: str, grants: str) -> BoltResponse:
        message = self._message(reason, grants)
        kind = body.get("type")
        if body.get("command"):
            return _json({"response_type": "ephemeral", "text": message.text, "blocks": message.blocks})
        if kind == "block_suggestion":
            return _json({"options": blocks.options_placeholder("You may not install connectors")})
        if kind == "view_submission":
            return _json({"response_action": "errors", "errors": {CONNECTOR: reason[:300]}})
        user = body.get("user") or {}
        channel = body.get("channel") or {}
        try:
            self.services.jobs.submit(
                "refusal",
                self.messenger.respond,
                body.get("response_url"),
                message,
                user_id=user.get("id"),
                channel_id=channel.get("id"),
            )
        except JobRejected:
            log.warning("job queue full: refusal not delivered")
        return BoltResponse(status=200, body="")


def _json(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(payload), headers={"content-type": "application/json"})
