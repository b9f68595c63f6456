"""The playground's page at ``/`` and the small JSON API its script calls.

``GET /_playground/api/state?user=U&since=N`` answers the user's view of the workspace
(the team channel, their DM with the bot, App Home, the open modal, Slack's refusals), drawn
by :mod:`.render`; with ``since`` it waits up to :data:`LONG_POLL` seconds for a change
first. The ``POST`` routes are what a person does; each goes to :class:`.workspace.Workspace`.
They take JSON only and answer only on loopback host names, so another web site open in
the same browser cannot drive them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from bot.cyclr.sandbox import CyclrSandbox
from bot.playground.mrkdwn import Names
from bot.playground.render import Author, Surface, render_blocks, render_messages, render_modal
from bot.playground.standin import BOT_USER_ID, SlackStandin, dm_channel_id
from bot.playground.workspace import ActionResult, Workspace, WorkspaceError
from bot.slack.subcommands import usage_hint

__all__ = ["LONG_POLL", "USAGE_HINT", "Person", "create_page_app"]

log = logging.getLogger(__name__)

#: Longest a state request waits for a change.
LONG_POLL = 20.0
#: The command's usage hint, as manifest.yml gives it to Slack (a test keeps them equal).
USAGE_HINT = usage_hint()  # the manifest's, from the subcommand table
COMMAND_DESCRIPTION = "Search, install and authorise Cyclr connectors"
MAX_LATENCY = 10.0
_LOOPBACK = ("127.0.0.1", "localhost")
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Person:
    """Someone the page can act as."""

    user_id: str
    name: str
    real_name: str
    role: str  #: "admin", "installer" or "guest", as the switcher shows it
    restricted: bool = False


def create_page_app(
    workspace: Workspace,
    sandbox: CyclrSandbox,
    *,
    people: Sequence[Person],
    team_channel: str,
    health_sweep: Callable[[], object] | None = None,
) -> Flask:
    """The page's Flask app (mounted at ``/`` and ``/_playground/`` beside the bot's)."""
    slack = workspace.slack
    page = Flask(
        "bot.playground",
        template_folder="templates",
        static_folder="static",
        static_url_path="/_playground/static",
    )
    known = {person.user_id: person for person in people}

    def person(value: Any) -> Person:
        found = known.get(value) if isinstance(value, str) else None
        if found is None:
            raise WorkspaceError("no such person")
        return found

    @page.before_request
    def loopback_only() -> tuple[Response, int] | None:
        if (request.host or "").rsplit(":", 1)[0] not in _LOOPBACK:
            return jsonify(ok=False, problem="the playground answers on 127.0.0.1 only"), 403
        if request.method == "POST" and not request.is_json:
            return jsonify(ok=False, problem="send JSON"), 415
        return None

    @page.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @page.errorhandler(WorkspaceError)
    def bad_request(error: WorkspaceError) -> tuple[Response, int]:
        return jsonify(ok=False, problem=str(error)), 400

    @page.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        return jsonify(ok=False, problem=error.name), error.code or 500

    @page.get("/")
    def index() -> str:
        return render_template(
            "playground.html",
            people=people,
            team_channel=team_channel,
            team_channel_name=slack.channel_name(team_channel) or team_channel,
            usage_hint=USAGE_HINT,
            command_description=COMMAND_DESCRIPTION,
            latency=sandbox.api_latency,
        )

    @page.get("/_playground/api/state")
    def state() -> Response:
        user = person(request.args.get("user"))
        try:
            since = int(request.args.get("since") or 0)
        except ValueError:
            raise WorkspaceError("since must be a number") from None
        version = slack.wait_for_change(since, LONG_POLL) if since > 0 else slack.version
        return jsonify(version=version, **_snapshot(slack, sandbox, user, team_channel))

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise WorkspaceError("send a JSON object")
        return data

    def answer(result: ActionResult) -> Response:
        return jsonify(result.as_json())

    def index_of(data: Mapping[str, Any], key: str) -> int:
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise WorkspaceError(f"{key} must be a whole number")
        return value

    def text_of(data: Mapping[str, Any], key: str, limit: int = 4000) -> str:
        value = data.get(key, "")
        if not isinstance(value, str):
            raise WorkspaceError(f"{key} must be text")
        return value[:limit]

    def surface_of(data: Mapping[str, Any]) -> Mapping[str, Any]:
        surface = data.get("surface")
        if not isinstance(surface, dict):
            raise WorkspaceError("surface must be an object")
        return surface

    routes: dict[str, Callable[[Person, dict[str, Any]], Response]] = {
        "message": lambda who, data: answer(
            workspace.type_message(who.user_id, text_of(data, "channel", 40), text_of(data, "text"))
        ),
        "action": lambda who, data: answer(
            workspace.action(
                who.user_id,
                surface_of(data),
                index_of(data, "block"),
                index_of(data, "element"),
                value=data.get("value") if isinstance(data.get("value"), str) else None,
                option=data.get("option"),
                values=data.get("values"),
            )
        ),
        "options": lambda who, data: jsonify(
            ok=True,
            options=workspace.options(
                who.user_id,
                text_of(data, "view_id", 40),
                index_of(data, "block"),
                index_of(data, "element"),
                text_of(data, "query", 200),
                data.get("values"),
            ),
        ),
        "submit": lambda who, data: answer(
            workspace.submit(who.user_id, text_of(data, "view_id", 40), data.get("values"))
        ),
        "close": lambda who, data: answer(workspace.close_modal(who.user_id, text_of(data, "view_id", 40))),
        "home": lambda who, data: answer(workspace.open_home(who.user_id)),
        "shortcut": lambda who, data: answer(workspace.shortcut(who.user_id)),
    }

    @page.post("/_playground/api/<name>")
    def act(name: str) -> Response | tuple[Response, int]:
        route = routes.get(name)
        if route is None:
            return jsonify(ok=False, problem="no such action"), 404
        data = body()
        return route(person(data.get("user")), data)

    @page.post("/_playground/sandbox/latency")
    def latency() -> Response:
        """ "Slow Cyclr down": every sandbox API call waits this long before answering."""
        seconds = body().get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds):
            raise WorkspaceError("seconds must be a number")
        if not 0 <= seconds <= MAX_LATENCY:
            raise WorkspaceError(f"seconds must be between 0 and {MAX_LATENCY:g}")
        sandbox.api_latency = float(seconds)
        slack.report_change()
        return jsonify(ok=True, seconds=sandbox.api_latency)

    @page.post("/_playground/sandbox/cycle-error")
    def cycle_error() -> Response:
        """ "Raise an error on a cycle": a failed transaction on the default account's first
        cycle; Cyclr's webhook brings it to the channels subscribed to that account."""
        account_id = sandbox.default_account_id
        cycles = sandbox.cycles(account_id)
        if not cycles:
            raise WorkspaceError("The default account has no cycle to fail.")
        cycle = cycles[0]
        sandbox.raise_incidents(account_id, str(cycle["Id"]), message="Field 'Email' is required.")
        slack.report_change()
        return jsonify(
            ok=True,
            notice=f"{cycle.get('Name') or 'A cycle'} failed a transaction. A channel subscribed"
            " with /cyclr subscribe (admins) gets the alert.",
        )

    @page.post("/_playground/sandbox/lose-login")
    def lose_login() -> Response:
        """ "Make a connector lose its login": the newest authenticated install stops being so,
        with a health sweep just before and after, so the bot tells it at once."""
        if health_sweep is not None:
            health_sweep()
        for account_id in sandbox.account_ids:
            for installed in reversed(sandbox.installed(account_id)):
                if installed.get("Authenticated"):
                    sandbox.set_authenticated(account_id, int(installed["Id"]), False)
                    if health_sweep is not None:
                        health_sweep()
                    slack.report_change()
                    name = installed.get("Name") or "A connector"
                    return jsonify(
                        ok=True,
                        notice=f"{name} in {account_id} has lost its login: see the DM, the channel"
                        " or /cyclr health.",
                    )
        raise WorkspaceError("No connector is authorised yet: install and authorise one first.")

    return page


def _snapshot(slack: SlackStandin, sandbox: CyclrSandbox, user: Person, team_channel: str) -> dict[str, Any]:
    """What ``user`` sees, as HTML fragments the script swaps in when they change."""
    users = slack.users()
    names = Names(
        users={u["id"]: str(u.get("real_name") or u.get("name") or u["id"]) for u in users},
        channels={team_channel: slack.channel_name(team_channel) or team_channel},
    )
    authors = {
        u["id"]: Author(
            str(u.get("real_name") or u["name"]), str(u.get("real_name") or u["name"])[:1].upper()
        )
        for u in users
    }
    authors["bot"] = Author("Cyclr", "C", bot=True)
    ephemerals = slack.ephemerals(user.user_id)
    dm = dm_channel_id(user.user_id)

    def conversation(channel: str, empty: str) -> str:
        return render_messages(
            slack.messages(channel),
            [e for e in ephemerals if e.get("channel") == channel],
            channel=channel,
            names=names,
            authors=authors,
            empty=empty,
        )

    home = slack.home_view(user.user_id)
    home_html = '<p class="empty">Loading App Home…</p>'
    if home:
        surface = Surface("view", {"view_id": str(home["id"])}, names)
        home_html = f"<div {surface.attributes()}>{render_blocks(home.get('blocks') or [], surface)}</div>"
    stack = slack.open_modal(user.user_id)
    modal = None
    if stack:
        top = stack[-1]
        modal = {
            "view_id": top["id"],
            "hash": top["hash"],
            "html": render_modal(top, names, {}, depth=len(stack)),
        }
    return {
        "channel": conversation(team_channel, "No messages yet. Type /cyclr help below to start."),
        "dm": conversation(dm, "Your direct messages with Cyclr appear here."),
        "home": home_html,
        "home_view": home["id"] if home else None,
        "modal": modal,
        "problems": [{"time": problem.time, "text": problem.describe()} for problem in slack.problems()[-8:]],
        "sandbox": {"api_latency": sandbox.api_latency},
        "bot_user": BOT_USER_ID,
    }
