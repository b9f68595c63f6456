"""``POST /slack/events``: Slack's requests, verified and checked for shape before Bolt sees them.

First the signature: ``v0=HMAC-SHA256(signing secret, "v0:{timestamp}:{raw body}")``,
computed on the body's bytes as they arrived, before anything decodes or parses them, with
a timestamp at most five minutes off. A request that fails gets 401 and a short JSON body,
and the log gets a count of such refusals (at most one line a minute, never a body: an
outsider can send as many as they like, and a body may hold what a user typed). Bolt's own
check is switched off (:func:`bot.slack.app.create_app`); it logged the body it refused.

Then the shape: a verified body that is not shaped like a Slack request (not UTF-8, empty,
bad JSON, a ``payload`` that is not an object, a field of the wrong type) is answered 400,
or 415 for a content type Slack never sends, instead of reaching Bolt, which assumes
Slack's shapes and would fail with a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, jsonify, request
from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.adapter.flask.handler import to_flask_response
from slack_bolt.request.internals import build_context

__all__ = [
    "MAX_CLOCK_SKEW",
    "MalformedRequest",
    "RefusalLog",
    "parse_slack_body",
    "register_events",
    "shape_problem",
    "signature_problem",
]

log = logging.getLogger(__name__)


def register_events(web: Flask, bolt_app: App, signing_secret: str) -> None:
    """``POST /slack/events``: Bolt's endpoint, behind the signature check and a check of
    the body's shape."""
    secret = signing_secret.encode()
    refusals = RefusalLog()

    @web.post("/slack/events")
    def slack_events() -> Response | tuple[Response, int]:
        raw = request.get_data()
        problem = signature_problem(
            secret,
            raw,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
            now=time.time(),
        )
        if problem is not None:
            refusals.note(problem)
            return jsonify(ok=False, error="invalid request"), 401
        try:
            if not raw:
                raise MalformedRequest("the body is empty")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedRequest("the body is not UTF-8") from None
            body = parse_slack_body(text, request.mimetype)
        except MalformedRequest as error:
            log.warning("refused a malformed Slack request: %s", error)
            return jsonify(ok=False, error=f"malformed Slack request: {error}"), error.status
        bolt_request = BoltRequest(
            body="", query=request.query_string.decode("utf-8", "replace"), headers=dict(request.headers)
        )
        bolt_request.raw_body = text
        bolt_request.body = body
        bolt_request.context = build_context(BoltContext(), body)
        return to_flask_response(bolt_app.dispatch(bolt_request))


# -- the signature ------------------------------------------------------------------------------

#: Slack's limit: a timestamp further than this from now is a replay (or a clock far off).
MAX_CLOCK_SKEW = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def signature_problem(
    secret: bytes, raw: bytes, timestamp: str | None, signature: str | None, *, now: float
) -> str | None:
    """Why the request is not verifiably Slack's (a few words), or None when it is.

    The HMAC covers the raw bytes, so nothing about the body is decoded before it is
    trusted; the comparison takes the same time whatever the signature's first wrong byte.
    """
    if not secret:
        return "no signing secret configured"
    if timestamp is None or signature is None:
        return "unsigned"
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return "malformed signature headers"
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW:
        return "timestamp more than 5 minutes off"
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "wrong signature"
    return None


class RefusalLog:
    """Counts refused requests and logs the count: one line at the first refusal, then at
    most one line per ``every`` seconds, covering the refusals since the last line.

    Anyone can send requests that fail verification, so a line per request would let an
    outsider fill the log; a line per minute still tells an operator that Slack's own
    requests fail (a wrong SLACK_SIGNING_SECRET, a clock far off).
    """

    def __init__(self, *, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._last: float | None = None

    def note(self, reason: str) -> None:
        with self._lock:
            self._counts[reason] += 1
            now = self._clock()
            if self._last is not None and now - self._last < self._every:
                return
            counts, self._counts, self._last = self._counts, Counter(), now
        reasons = ", ".join(f"{why}: {n}" for why, n in counts.most_common())
        log.warning(
            "refused %d request(s) to /slack/events that failed signature verification (%s)",
            counts.total(),
            reasons,
        )


# -- the shape of a Slack request --------------------------------------------------------------

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
