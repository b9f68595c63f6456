"""The Slack side of the playground: what a person does, sent to the bot as Slack sends it.

:class:`Workspace` stands where Slack's client and servers stand. The page calls it (a
command typed, a button pressed, a modal submitted…); it builds the request Slack would
send (:mod:`.payloads`), signs it with the app's signing secret, posts it to the bot's
``/slack/events`` and applies the answer to the stand-in's state the way Slack does: a
command's ack body becomes an ephemeral message, a submission's ``response_action``
updates, pushes or closes the modal, an options load fills the typeahead. Whatever Slack
would refuse is recorded as a :class:`~.standin.Problem` and shown on the page.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from bot.playground import payloads
from bot.playground.blockkit import validate_message, validate_options_response
from bot.playground.render import block_id_of
from bot.playground.standin import TEAM_ID, SlackStandin, ViewRefused, dm_channel_id

__all__ = ["ActionResult", "Workspace", "WorkspaceError"]

log = logging.getLogger(__name__)

#: Slack gives up on an answer after 3 seconds; a slower one is shown as a problem.
SLACK_TIMEOUT = 3.0
#: How long the playground itself waits (a slow machine must not lose the answer).
HTTP_TIMEOUT = 15.0
COMMAND = "/cyclr"


class WorkspaceError(ValueError):
    """A request from the page that does not name something the workspace has."""


@dataclass(frozen=True)
class ActionResult:
    """What the page shows after an action: ``errors`` on a modal's inputs, or a problem."""

    ok: bool = True
    errors: Mapping[str, str] | None = None
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": dict(self.errors or {}), "problem": self.problem}


class Workspace:
    """Sends people's actions to the bot at ``events_url`` and applies Slack's side of them."""

    def __init__(self, slack: SlackStandin, events_url: str, signing_secret: str) -> None:
        self.slack = slack
        self.events_url = events_url
        self._secret = signing_secret
        self._http = requests.Session()

    def close(self) -> None:
        self._http.close()

    # -- sending -----------------------------------------------------------------------------

    def _send(self, what: str, request: payloads.Request) -> requests.Response | None:
        """Post a signed request; a failure or a slow answer becomes a problem. None: no answer."""
        body, headers = request
        started = time.monotonic()
        try:
            response = self._http.post(self.events_url, data=body, headers=headers, timeout=HTTP_TIMEOUT)
        except requests.RequestException as error:
            self.slack.report_problem(what, f"the bot did not answer ({type(error).__name__})", refused=False)
            return None
        took = time.monotonic() - started
        if took > SLACK_TIMEOUT:
            self.slack.report_problem(
                what,
                f"the bot answered after {took:.1f} s; Slack gives up after 3 s (operation_timeout)",
                refused=False,
            )
        if response.status_code != 200:
            self.slack.report_problem(what, f"the bot answered HTTP {response.status_code}", refused=False)
        return response

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.slack.user(user_id)
        if user is None or user.get("is_bot"):
            raise WorkspaceError(f"no such person: {user_id!r}")
        return user

    def _channel_name(self, channel_id: str) -> str:
        if channel_id.startswith("D"):
            return "directmessage"
        name = self.slack.channel_name(channel_id)
        if name is None:
            raise WorkspaceError(f"no such channel: {channel_id!r}")
        return name

    def _check_channel(self, user_id: str, channel_id: str) -> None:
        if channel_id.startswith("D") and channel_id != dm_channel_id(user_id):
            raise WorkspaceError("that is someone else's direct message")
        self._channel_name(channel_id)

    # -- the composer ----------------------------------------------------------------------------

    def type_message(self, user_id: str, channel_id: str, text: str) -> ActionResult:
        """What the composer sends: a ``/cyclr`` command, another command, or a message."""
        self._user(user_id)
        self._check_channel(user_id, channel_id)
        text = text.strip()
        if not text:
            return ActionResult(ok=False, problem="Type a message or /cyclr help.")
        if not text.startswith("/"):
            self.slack.post_user_message(channel_id, user_id, _slack_escape(text))  # as Slack stores it
            return ActionResult()
        word, _, rest = text.partition(" ")
        if word != COMMAND:
            shown = _slack_escape(word[:40].replace("`", ""))
            self.slack.add_ephemeral(
                channel_id,
                user_id,
                text=f"`{shown}` is not a valid command. In Slack, all messages that start with "
                "the \u201c/\u201d character are interpreted as commands. Try `/cyclr help`.",
                local=True,
            )
            return ActionResult()
        return self.command(user_id, channel_id, rest.strip())

    def command(self, user_id: str, channel_id: str, text: str) -> ActionResult:
        """``/cyclr <text>`` in ``channel_id``, with a response URL and a trigger id."""
        user = self._user(user_id)
        self._check_channel(user_id, channel_id)
        hook_url = self.slack.response_url(channel=channel_id, user_id=user_id)
        fields = payloads.slash_command_fields(
            text,
            user_id=user_id,
            user_name=str(user.get("name")),
            team_id=TEAM_ID,
            channel_id=channel_id,
            channel_name=self._channel_name(channel_id),
            trigger_id=self.slack.new_trigger_id(user_id),
            response_url=hook_url,
        )
        response = self._send("/cyclr", payloads.form_request(fields, signing_secret=self._secret))
        if response is None or response.status_code != 200:
            self.slack.add_ephemeral(
                channel_id, user_id, text='/cyclr failed with the error "dispatch_failed"', local=True
            )
            return ActionResult(ok=False, problem="The bot did not take the command.")
        self._show_ack(user_id, channel_id, response, hook_url.rsplit("/", 1)[1])
        return ActionResult()

    def _show_ack(self, user_id: str, channel_id: str, response: requests.Response, hook: str) -> None:
        """A command's ack body is its first answer, ephemeral unless ``in_channel``."""
        if not response.content.strip():
            return
        try:
            body = response.json()
        except ValueError:
            body = {"text": response.text}
        if not isinstance(body, dict):
            self.slack.report_problem("/cyclr", "the ack's body is not a JSON object")
            return
        problems = validate_message(body)
        if problems:
            self.slack.report_problem("/cyclr ack", "invalid_blocks", problems)
            self.slack.add_ephemeral(
                channel_id, user_id, text='/cyclr failed with the error "invalid_blocks"', local=True
            )
            return
        if body.get("response_type") == "in_channel":
            self.slack.post_bot_message(
                channel_id, text=str(body.get("text") or ""), blocks=body.get("blocks")
            )
            return
        self.slack.add_ephemeral(
            channel_id, user_id, text=str(body.get("text") or ""), blocks=body.get("blocks"), hook=hook
        )

    def shortcut(self, user_id: str, callback_id: str = "cyclr_install") -> ActionResult:
        """The global shortcut (from the composer's shortcuts menu)."""
        self._user(user_id)
        payload = payloads.shortcut_payload(
            callback_id, user_id=user_id, team_id=TEAM_ID, trigger_id=self.slack.new_trigger_id(user_id)
        )
        response = self._send("shortcut", payloads.interactive_request(payload, signing_secret=self._secret))
        return ActionResult(ok=response is not None and response.status_code == 200)

    def open_home(self, user_id: str) -> ActionResult:
        """``app_home_opened``: the user opened the app's Home tab."""
        self._user(user_id)
        request = payloads.app_home_opened_request(user_id, team_id=TEAM_ID, signing_secret=self._secret)
        response = self._send("app_home_opened", request)
        return ActionResult(ok=response is not None and response.status_code == 200)

    # -- blocks ----------------------------------------------------------------------------------

    def _surface(self, user_id: str, surface: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """``(kind, stored message or view)`` for the surface the page names."""
        kind = surface.get("kind")
        if kind == "message":
            channel, ts = str(surface.get("channel") or ""), str(surface.get("ts") or "")
            self._check_channel(user_id, channel)
            try:
                return kind, self.slack.message(channel, ts)
            except KeyError:
                raise WorkspaceError("that message is gone") from None
        if kind == "ephemeral":
            wanted = str(surface.get("id") or "")
            found = next((e for e in self.slack.ephemerals(user_id) if e.get("id") == wanted), None)
            if found is None:
                raise WorkspaceError("that message is gone")
            return kind, found
        if kind == "view":
            view_id = str(surface.get("view_id") or "")
            home = self.slack.home_view(user_id)
            if home is not None and home.get("id") == view_id:
                return kind, home
            stack = self.slack.open_modal(user_id)
            if not stack or stack[-1].get("id") != view_id:
                raise WorkspaceError("that modal is not open")
            return kind, stack[-1]
        raise WorkspaceError("unknown surface")

    @staticmethod
    def _element(
        stored: Mapping[str, Any], block_index: int, element_index: int
    ) -> tuple[str, dict[str, Any]]:
        blocks = stored.get("blocks") or []
        if not 0 <= block_index < len(blocks) or not isinstance(blocks[block_index], dict):
            raise WorkspaceError("no such block")
        block = blocks[block_index]
        if block.get("type") == "input":
            element = block.get("element")
        elif element_index == -1:
            element = block.get("accessory")
        else:
            elements = block.get("elements") or []
            element = elements[element_index] if 0 <= element_index < len(elements) else None
        if not isinstance(element, dict):
            raise WorkspaceError("no such element")
        return block_id_of(block, block_index), element

    def action(
        self,
        user_id: str,
        surface: Mapping[str, Any],
        block_index: int,
        element_index: int,
        *,
        value: str | None = None,
        option: Any = None,
        values: Any = None,
    ) -> ActionResult:
        """A button pressed or an option chosen (``value`` for static selects, ``option`` for
        external ones), sent as ``block_actions``; ``values`` is a modal's state."""
        self._user(user_id)
        kind, stored = self._surface(user_id, surface)
        block_id, element = self._element(stored, block_index, element_index)
        selected = None
        if element.get("type") == "static_select":
            selected = _static_option(element, value)
            if selected is None:
                raise WorkspaceError("no such option")
        elif element.get("type") == "external_select":
            selected = _checked_option(option)
        trigger = self.slack.new_trigger_id(user_id, view_id=stored.get("id") if kind == "view" else None)
        common: dict[str, Any] = {
            "element": element,
            "block_id": block_id,
            "selected_option": selected,
            "user_id": user_id,
            "team_id": TEAM_ID,
            "trigger_id": trigger,
        }
        if kind == "view":
            view = dict(stored)
            view["state"] = {"values": self.state_values(stored, values)}
            payload = payloads.block_actions_payload("", view=view, **common)
        else:
            channel = str(stored.get("channel") or surface.get("channel"))
            original = (
                ("message", str(stored["ts"])) if kind == "message" else ("ephemeral", str(stored["id"]))
            )
            payload = payloads.block_actions_payload(
                "",
                channel_id=channel,
                channel_name=self._channel_name(channel),
                message={k: v for k, v in stored.items() if k != "channel"} if kind == "message" else None,
                message_ts=str(stored.get("ts")),
                response_url=self.slack.response_url(channel=channel, user_id=user_id, original=original),
                **common,
            )
        response = self._send(
            "block_actions", payloads.interactive_request(payload, signing_secret=self._secret)
        )
        return ActionResult(ok=response is not None and response.status_code == 200)

    def options(
        self, user_id: str, view_id: str, block_index: int, element_index: int, query: str, values: Any = None
    ) -> list[dict[str, Any]]:
        """An external select's options for what the user typed (``block_suggestion``)."""
        self._user(user_id)
        kind, view = self._surface(user_id, {"kind": "view", "view_id": view_id})
        block_id, element = self._element(view, block_index, element_index)
        if element.get("type") != "external_select":
            raise WorkspaceError("not an external select")
        state_view = dict(view)
        state_view["state"] = {"values": self.state_values(view, values)}
        payload = payloads.block_suggestion_payload(
            query[:200],
            action_id=str(element.get("action_id") or block_id),
            block_id=block_id,
            view=state_view,
            user_id=user_id,
            team_id=TEAM_ID,
        )
        response = self._send(
            "block_suggestion", payloads.interactive_request(payload, signing_secret=self._secret)
        )
        if response is None or response.status_code != 200:
            return []
        try:
            body = response.json()
        except ValueError:
            self.slack.report_problem("block_suggestion", "the options answer is not JSON")
            return []
        problems = validate_options_response(body)
        if problems:
            self.slack.report_problem("block_suggestion", "invalid options", problems)
            return []
        found: list[dict[str, Any]] = list(body.get("options") or [])
        for group in body.get("option_groups") or []:
            found.extend(group.get("options") or [])
        return found

    def submit(self, user_id: str, view_id: str, values: Any) -> ActionResult:
        """The modal's submit button: ``view_submission``, then its ``response_action``."""
        self._user(user_id)
        _, view = self._surface(user_id, {"kind": "view", "view_id": view_id})
        if not view.get("submit"):
            raise WorkspaceError("this modal has no submit button")
        state_view = dict(view)
        state_view["state"] = {"values": self.state_values(view, values)}
        payload = payloads.view_submission_payload(
            state_view,
            user_id=user_id,
            team_id=TEAM_ID,
            trigger_id=self.slack.new_trigger_id(user_id, view_id=view_id),
        )
        response = self._send(
            "view_submission", payloads.interactive_request(payload, signing_secret=self._secret)
        )
        if response is None or response.status_code != 200:
            return ActionResult(ok=False, problem="We had some trouble connecting. Try again?")
        body: Any = {}
        if response.content.strip():
            try:
                body = response.json()
            except ValueError:
                body = None
        if not isinstance(body, dict):
            self.slack.report_problem("view_submission", "the ack's body is not a JSON object")
            return ActionResult(ok=False, problem="We had some trouble connecting. Try again?")
        action = body.get("response_action")
        try:
            if action == "errors":
                return self._errors(view, body.get("errors"))
            if action in ("update", "push"):
                self.slack.respond_with_view(view_id, str(action), body.get("view"))
                return ActionResult()
        except ViewRefused as refused:
            return ActionResult(ok=False, problem=f"Slack refused the bot's view: {refused.error}")
        self.slack.close_view(view_id, all_views=action == "clear")
        return ActionResult()

    def _errors(self, view: Mapping[str, Any], errors: Any) -> ActionResult:
        inputs = {
            block_id_of(block, index)
            for index, block in enumerate(view.get("blocks") or [])
            if isinstance(block, dict) and block.get("type") == "input"
        }
        if not isinstance(errors, dict) or not errors or not set(errors) <= inputs:
            unknown = sorted(set(errors) - inputs) if isinstance(errors, dict) else []
            self.slack.report_problem(
                "response_action errors", "invalid_arguments", [f"not an input block: {b}" for b in unknown]
            )
            return ActionResult(ok=False, problem="Slack refused the bot's answer to the submission.")
        return ActionResult(ok=False, errors={str(k): str(v) for k, v in errors.items()})

    def close_modal(self, user_id: str, view_id: str) -> ActionResult:
        """The modal's close button: ``view_closed`` for each view that asked to be told."""
        self._user(user_id)
        closed = self.slack.close_view(view_id)
        for view in closed:
            if view.get("notify_on_close"):
                payload = payloads.view_closed_payload(
                    view, user_id=user_id, team_id=TEAM_ID, is_cleared=len(closed) > 1
                )
                self._send("view_closed", payloads.interactive_request(payload, signing_secret=self._secret))
        return ActionResult()

    # -- modal state ---------------------------------------------------------------------------

    @staticmethod
    def state_values(view: Mapping[str, Any], given: Any) -> dict[str, dict[str, Any]]:
        """``view.state.values`` from what the page sent: ``{block_id: {action_id: value}}``,
        where a value is text, a static option's value, or an external option object.

        Only the view's own stateful elements are read; anything else is ignored.
        """
        given = given if isinstance(given, dict) else {}
        values: dict[str, dict[str, Any]] = {}
        for index, block in enumerate(view.get("blocks") or []):
            if not isinstance(block, dict):
                continue
            block_id = block_id_of(block, index)
            if block.get("type") == "input":
                elements = [block.get("element")]
            elif block.get("type") == "actions":
                elements = list(block.get("elements") or [])
            else:
                elements = [block.get("accessory")]
            for element in elements:
                if not isinstance(element, dict) or "action_id" not in element:
                    continue
                action_id = str(element["action_id"])
                sent = (
                    (given.get(block_id) or {}).get(action_id)
                    if isinstance(given.get(block_id), dict)
                    else None
                )
                state = _state_of(element, sent)
                if state is not None:
                    values.setdefault(block_id, {})[action_id] = state
        return values


def _slack_escape(text: str) -> str:
    """Text as Slack keeps what a person typed: ``&``, ``<`` and ``>`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _state_of(element: Mapping[str, Any], sent: Any) -> dict[str, Any] | None:
    kind = element.get("type")
    if kind == "plain_text_input":
        text = sent if isinstance(sent, str) else None
        return {"type": kind, "value": text or None}
    if kind == "static_select":
        return {"type": kind, "selected_option": _static_option(element, sent)}
    if kind == "external_select":
        return {"type": kind, "selected_option": _checked_option(sent)}
    return None


def _static_option(element: Mapping[str, Any], value: Any) -> dict[str, Any] | None:
    if not isinstance(value, str):
        return None
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return next((json.loads(json.dumps(o)) for o in options if o.get("value") == value), None)


def _checked_option(option: Any) -> dict[str, Any] | None:
    """An option object the page sent back (from an options load), if it is shaped like one."""
    if not isinstance(option, dict):
        return None
    text, value = option.get("text"), option.get("value")
    if not isinstance(text, dict) or not isinstance(text.get("text"), str) or not isinstance(value, str):
        return None
    return {"text": {"type": "plain_text", "text": text["text"][:75], "emoji": True}, "value": value[:150]}
