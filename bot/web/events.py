"""``POST /slack/events``: Slack's requests, checked for shape before Bolt sees them.

The endpoint parses the body itself: a body that is not shaped like a Slack request (bad
JSON, a ``payload`` that is not an object, a field of the wrong type) is answered 400, or
415 for a content type Slack never sends, instead of reaching Bolt, which assumes Slack's
shapes and would fail with a 500. Unsigned bodies still get 401 first, so nothing about
the parser is told to a stranger.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, jsonify, request
from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.adapter.flask.handler import to_flask_response
from slack_bolt.request.internals import build_context
from slack_sdk.signature import SignatureVerifier

__all__ = ["MalformedRequest", "parse_slack_body", "register_events", "shape_problem"]

log = logging.getLogger(__name__)


def register_events(web: Flask, bolt_app: App, signing_secret: str) -> None:
    """``POST /slack/events``: Bolt's endpoint, behind a check of the body's shape."""
    verifier = SignatureVerifier(signing_secret)

    @web.post("/slack/events")
    def slack_events() -> Response | tuple[Response, int]:
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        if timestamp is not None and not _TIMESTAMP.fullmatch(timestamp):
            # slack_sdk's verifier raises on it, and Bolt then runs the error handler, which
            # answers the unverified request's response_url as if Slack had sent it.
            return jsonify(ok=False, error="invalid request"), 401
        raw = request.get_data()
        text = raw.decode("utf-8", "replace")  # as Bolt's own Flask adapter reads it
        try:
            body = parse_slack_body(text, request.mimetype)
        except MalformedRequest as error:
            if not verifier.is_valid(raw, timestamp, request.headers.get("X-Slack-Signature")):
                return jsonify(ok=False, error="invalid request"), 401
            log.warning("refused a malformed Slack request: %s", error)
            return jsonify(ok=False, error=f"malformed Slack request: {error}"), error.status
        bolt_request = BoltRequest(
            body="", query=request.query_string.decode("utf-8", "replace"), headers=dict(request.headers)
        )
        bolt_request.raw_body = text  # what Bolt checks the signature against
        bolt_request.body = body
        bolt_request.context = build_context(BoltContext(), body)
        return to_flask_response(bolt_app.dispatch(bolt_request))


# -- the shape of a Slack request --------------------------------------------------------------

_TIMESTAMP = re.compile(r"[0-9]{1,12}")

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

#: Fields Bolt or the bot read as objects (``null`` is fine), at the top of a request.
_OBJECTS = ("user", "team", "channel", "enterprise", "view", "container", "message", "event", "state")
#: Fields read as text, at the top of a request.
_TEXTS = (
    "type", "command", "text", "user_id", "team_id", "channel_id", "enterprise_id",
    "callback_id", "action_id", "block_id", "value", "trigger_id", "response_url",
)  # fmt: skip
_ENTITY_TEXTS = ("id", "team_id")
_ACTION_TEXTS = ("type", "action_id", "block_id", "value")
_VIEW_TEXTS = ("id", "type", "callback_id", "private_metadata", "hash", "root_view_id", "external_id")
_VIEW_TYPES = ("view_submission", "view_closed")


class MalformedRequest(ValueError):
    """A body that is not shaped like a Slack request; the message says why, briefly."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def parse_slack_body(text: str, content_type: str | None) -> dict[str, Any]:
    """The request body, parsed the way Slack sends it, or :class:`MalformedRequest`.

    JSON for the Events API; a form for slash commands; a form whose one field ``payload``
    is JSON for interactivity. (Bolt's own parser takes any form containing the letters
    "payload" for an interaction, so ``/cyclr search payload`` would be lost as unhandled.)
    """
    if content_type == JSON:
        body = _json_object(text, "the body")
    elif content_type == FORM:
        fields = dict(parse_qsl(text, keep_blank_values=True))
        body = _json_object(fields["payload"], "payload") if "payload" in fields else fields
    else:
        raise MalformedRequest(f"unsupported content type {content_type or '(none)'!r}", 415)
    problem = shape_problem(body)
    if problem is not None:
        raise MalformedRequest(problem)
    return body


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedRequest(f"{what} is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedRequest(f"{what} is not a JSON object")
    return data


def shape_problem(body: object) -> str | None:
    """Why ``body`` lacks the shape Slack documents for the fields read (None if it has it).

    Only types and the few fields Bolt needs to route a request are checked; what the
    values mean is the listeners' business.
    """
    if not isinstance(body, dict):
        return "not a JSON object"
    if problem := _typed(body, "", _OBJECTS, _TEXTS):
        return problem
    for name in ("user", "team", "channel", "enterprise"):
        if body.get(name) and (problem := _typed(body[name], f"{name}.", (), _ENTITY_TEXTS)):
            return problem
    for name in ("authorizations", "actions", "response_urls"):
        value = body.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            return f"{name} is not a list of objects"
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions") or []
        if not actions or not all(isinstance(a.get("action_id"), str) for a in actions):
            return "block_actions without an action_id"
        for action in actions:
            if problem := _typed(action, "action.", ("selected_option",), _ACTION_TEXTS):
                return problem
    view = body.get("view")
    if kind in _VIEW_TYPES and not (isinstance(view, dict) and _has_texts(view, "callback_id", "type")):
        return f"{kind} without a view callback_id and type"
    if isinstance(view, dict) and (
        problem := _typed(view, "view.", ("state",), _VIEW_TEXTS) or _state(view.get("state"), "view.")
    ):
        return problem
    event = body.get("event")
    if kind == "event_callback" and not (isinstance(event, dict) and _has_texts(event, "type")):
        return "event_callback without an event type"
    return _state(body.get("state"), "")


def _has_texts(data: Mapping[str, Any], *names: str) -> bool:
    return all(isinstance(data.get(name), str) for name in names)


def _typed(data: Mapping[str, Any], where: str, objects: Iterable[str], texts: Iterable[str]) -> str | None:
    for name in objects:
        if data.get(name) is not None and not isinstance(data[name], dict):
            return f"{where}{name} is not an object"
    for name in texts:
        if data.get(name) is not None and not isinstance(data[name], str):
            return f"{where}{name} is not a string"
    return None


def _state(state: Any, where: str) -> str | None:
    """``state.values`` is ``{block_id: {action_id: {...}}}``."""
    values = state.get("values") if isinstance(state, dict) else None
    if values is None:
        return None
    if isinstance(values, dict) and all(
        isinstance(block, dict) and all(isinstance(element, dict) for element in block.values())
        for block in values.values()
    ):
        return None
    return f"{where}state.values is not blocks of inputs"
