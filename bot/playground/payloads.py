"""Signed Slack requests, built the way Slack builds and signs them.

Each ``*_request`` function returns ``(body, headers)`` ready for
``app.dispatch(BoltRequest(body=body.decode(), headers=headers))``, a Flask test client or
a real HTTP post to ``/slack/events``. The payload builders (``*_payload``) return the
dict alone, for tests that want to tweak it before :func:`interactive_request`.

Signing: ``X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{raw body}"))`` and
``X-Slack-Request-Timestamp: {ts}``. Slash commands are form-encoded; interactivity is
``payload=<urlencoded JSON>``; events are JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from bot.playground.standin import APP_ID, BOT_USER_ID, DEFAULT_USER_ID, TEAM_DOMAIN, TEAM_ID, dm_channel_id

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
VERIFICATION_TOKEN = "legacy-verification-token"
DEFAULT_CHANNEL_ID = "C0001"
DEFAULT_CHANNEL_NAME = "integrations"
DEFAULT_RESPONSE_URL = "https://hooks.slack.com/commands/T0001/1/none"

Request = tuple[bytes, dict[str, str]]


# -- signing -----------------------------------------------------------------------------------


def signature(body: bytes, timestamp: str, signing_secret: str = SIGNING_SECRET) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes,
    content_type: str,
    *,
    signing_secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers Slack sends with ``body``; ``timestamp`` defaults to now."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature(body, ts, signing_secret),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    headers.update(extra or {})
    return headers


def form_request(
    fields: Mapping[str, str], *, signing_secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> Request:
    body = urlencode(fields).encode()
    return body, signed_headers(
        body, "application/x-www-form-urlencoded", signing_secret=signing_secret, timestamp=timestamp
    )


def interactive_request(
    payload: Mapping[str, Any], *, signing_secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> Request:
    """An interactivity request: form body ``payload=<urlencoded JSON>``."""
    return form_request({"payload": json.dumps(payload)}, signing_secret=signing_secret, timestamp=timestamp)


def json_request(
    payload: Mapping[str, Any],
    *,
    signing_secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> Request:
    body = json.dumps(payload).encode()
    headers = signed_headers(
        body, "application/json", signing_secret=signing_secret, timestamp=timestamp, extra=extra_headers
    )
    return body, headers


# -- small payload pieces -------------------------------------------------------------------------


def user_object(
    user_id: str = DEFAULT_USER_ID, team_id: str = TEAM_ID, name: str | None = None
) -> dict[str, str]:
    name = name or user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def team_object(team_id: str = TEAM_ID) -> dict[str, str]:
    return {"id": team_id, "domain": TEAM_DOMAIN if team_id == TEAM_ID else team_id.lower()}


def plain_text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def option(value: str, text: str | None = None) -> dict[str, Any]:
    """A Block Kit option, as Slack echoes it back in ``selected_option``."""
    return {"text": plain_text(text if text is not None else value), "value": value}


def text_input(value: str | None) -> dict[str, Any]:
    """A ``plain_text_input`` state value (``None`` when the user left it empty)."""
    return {"type": "plain_text_input", "value": value}


def select_input(selected: dict[str, Any] | None, kind: str = "external_select") -> dict[str, Any]:
    """A select's state value; ``selected`` is an :func:`option` or ``None``."""
    return {"type": kind, "selected_option": selected}


def state_values(inputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``view.state.values`` from ``{block_id: value}``.

    A ``str``/``None`` value is a text input; a dict with ``type`` is a state value
    (from :func:`text_input`/:func:`select_input`) under ``action_id == block_id`` (the
    bot's convention); any other dict is ``{action_id: state value}`` as is.
    """
    values: dict[str, dict[str, Any]] = {}
    for block_id, value in inputs.items():
        if value is None or isinstance(value, str):
            values[block_id] = {block_id: text_input(value)}
        elif isinstance(value, dict) and "type" in value:
            values[block_id] = {block_id: dict(value)}
        elif isinstance(value, dict):
            values[block_id] = {str(k): dict(v) for k, v in value.items()}
        else:
            raise TypeError(
                f"state value for {block_id!r} must be str, None or dict, not {type(value).__name__}"
            )
    return values


def view_payload(
    view: Mapping[str, Any] | None = None,
    *,
    values: Mapping[str, Any] | None = None,
    callback_id: str | None = None,
    private_metadata: str | None = None,
    view_id: str = "V0000000001",
) -> dict[str, Any]:
    """A ``view`` as Slack sends it in interactions.

    Start from ``view`` (e.g. ``standin.view(view_id)``, or the dict the bot opened) and
    overlay the state ``values`` (see :func:`state_values`) and any given fields.
    """
    base: dict[str, Any] = {
        "id": view_id,
        "team_id": TEAM_ID,
        "type": "modal",
        "blocks": [],
        "private_metadata": "",
        "callback_id": "",
        "state": {"values": {}},
        "hash": "1700000000.abcdef01",
        "title": plain_text("Cyclr"),
        "clear_on_close": False,
        "notify_on_close": False,
        "close": None,
        "submit": None,
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": APP_ID,
        "external_id": "",
        "app_installed_team_id": TEAM_ID,
        "bot_id": "B0001",
    }
    if view is not None:
        given = json.loads(json.dumps(view))
        base.update(given)
        if "root_view_id" not in given or not given["root_view_id"]:
            base["root_view_id"] = base["id"]
    if values is not None:
        base["state"] = {"values": state_values(values)}
    if callback_id is not None:
        base["callback_id"] = callback_id
    if private_metadata is not None:
        base["private_metadata"] = private_metadata
    return base


# -- slash command ---------------------------------------------------------------------------------


def slash_command_fields(
    text: str = "",
    *,
    command: str = "/cyclr",
    user_id: str = DEFAULT_USER_ID,
    user_name: str | None = None,
    team_id: str = TEAM_ID,
    channel_id: str = DEFAULT_CHANNEL_ID,
    channel_name: str = DEFAULT_CHANNEL_NAME,
    trigger_id: str = "1.2.nottrigger",
    response_url: str = DEFAULT_RESPONSE_URL,
    enterprise_id: str | None = None,
) -> dict[str, str]:
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN if team_id == TEAM_ID else team_id.lower(),
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    if enterprise_id:
        fields["enterprise_id"] = enterprise_id
        fields["enterprise_name"] = enterprise_id
    return fields


def slash_command_request(
    text: str = "",
    *,
    signing_secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    **fields: Any,
) -> Request:
    """A signed ``/cyclr <text>`` request; ``fields`` go to :func:`slash_command_fields`."""
    return form_request(
        slash_command_fields(text, **fields), signing_secret=signing_secret, timestamp=timestamp
    )


# -- interactivity ------------------------------------------------------------------------------------


def block_actions_payload(
    action_id: str,
    *,
    block_id: str | None = None,
    value: str | None = None,
    selected_option: dict[str, Any] | None = None,
    action_type: str | None = None,
    user_id: str = DEFAULT_USER_ID,
    team_id: str = TEAM_ID,
    trigger_id: str = "1.2.nottrigger",
    view: Mapping[str, Any] | None = None,
    channel_id: str = DEFAULT_CHANNEL_ID,
    message: Mapping[str, Any] | None = None,
    message_ts: str = "1700000000.000100",
    response_url: str = DEFAULT_RESPONSE_URL,
    element: Mapping[str, Any] | None = None,
    channel_name: str = DEFAULT_CHANNEL_NAME,
) -> dict[str, Any]:
    """A ``block_actions`` payload for one action.

    From a view when ``view`` is given (see :func:`view_payload`), else from a message in
    ``channel_id``. A button has ``value``; a select has ``selected_option``. With
    ``element`` (the button or select as it is in the blocks), the action is built from it
    the way Slack builds it, and ``action_id``, ``value`` and ``action_type`` are ignored.
    """
    if element is not None:
        action = element_action(element, block_id or action_id, selected_option)
    else:
        kind = action_type or ("button" if selected_option is None else "static_select")
        action = {
            "type": kind,
            "action_id": action_id,
            "block_id": block_id or action_id,
            "action_ts": f"{time.time():.6f}",
        }
        if kind == "button":
            action["text"] = plain_text(action_id)
            if value is not None:
                action["value"] = value
        else:
            action["selected_option"] = selected_option
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": user_object(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": team_object(team_id),
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [action],
    }
    if view is not None:
        v = view_payload(view)
        payload["container"] = {"type": "view", "view_id": v["id"]}
        payload["view"] = v
        payload["state"] = v["state"]
    else:
        msg = dict(message) if message is not None else {"type": "message", "ts": message_ts, "text": ""}
        msg.setdefault("ts", message_ts)
        payload["container"] = {
            "type": "message",
            "message_ts": msg["ts"],
            "channel_id": channel_id,
            "is_ephemeral": message is None,
        }
        payload["channel"] = {"id": channel_id, "name": channel_name}
        payload["message"] = msg
        payload["response_url"] = response_url
        payload["state"] = {"values": {}}
    return payload


def element_action(
    element: Mapping[str, Any], block_id: str, selected_option: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``actions[0]`` Slack sends when a person uses ``element`` (a button or a select)."""
    kind = str(element.get("type") or "button")
    action: dict[str, Any] = {
        "type": kind,
        "action_id": element.get("action_id") or block_id,
        "block_id": block_id,
        "action_ts": f"{time.time():.6f}",
    }
    if kind == "button":
        action["text"] = json.loads(json.dumps(element.get("text") or plain_text("")))
        for key in ("value", "url", "style"):
            if element.get(key) is not None:
                action[key] = element[key]
    else:
        action["selected_option"] = dict(selected_option) if selected_option is not None else None
        if element.get("placeholder") is not None:
            action["placeholder"] = element["placeholder"]
    return action


def block_actions_request(action_id: str, *, signing_secret: str = SIGNING_SECRET, **kw: Any) -> Request:
    return interactive_request(block_actions_payload(action_id, **kw), signing_secret=signing_secret)


def view_submission_payload(
    view: Mapping[str, Any] | None = None,
    *,
    values: Mapping[str, Any] | None = None,
    callback_id: str = "cyclr_install",
    private_metadata: str | None = None,
    user_id: str = DEFAULT_USER_ID,
    team_id: str = TEAM_ID,
    trigger_id: str = "1.2.nottrigger",
) -> dict[str, Any]:
    v = view_payload(view, values=values, private_metadata=private_metadata)
    if view is None or not v.get("callback_id"):
        v["callback_id"] = callback_id
    return {
        "type": "view_submission",
        "team": team_object(team_id),
        "user": user_object(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": v,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_submission_request(
    view: Mapping[str, Any] | None = None, *, signing_secret: str = SIGNING_SECRET, **kw: Any
) -> Request:
    return interactive_request(view_submission_payload(view, **kw), signing_secret=signing_secret)


def view_closed_payload(
    view: Mapping[str, Any] | None = None,
    *,
    callback_id: str = "cyclr_install",
    user_id: str = DEFAULT_USER_ID,
    team_id: str = TEAM_ID,
    is_cleared: bool = False,
) -> dict[str, Any]:
    v = view_payload(view)
    if view is None or not v.get("callback_id"):
        v["callback_id"] = callback_id
    return {
        "type": "view_closed",
        "team": team_object(team_id),
        "user": user_object(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "view": v,
        "is_cleared": is_cleared,
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_closed_request(
    view: Mapping[str, Any] | None = None, *, signing_secret: str = SIGNING_SECRET, **kw: Any
) -> Request:
    return interactive_request(view_closed_payload(view, **kw), signing_secret=signing_secret)


def block_suggestion_payload(
    value: str,
    *,
    action_id: str = "connector",
    block_id: str | None = None,
    view: Mapping[str, Any] | None = None,
    user_id: str = DEFAULT_USER_ID,
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """An options load for an external select in a view: the user typed ``value``."""
    v = view_payload(view)
    return {
        "type": "block_suggestion",
        "user": user_object(user_id, team_id),
        "container": {"type": "view", "view_id": v["id"]},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "action_id": action_id,
        "block_id": block_id or action_id,
        "value": value,
        "team": team_object(team_id),
        "enterprise": None,
        "is_enterprise_install": False,
        "view": v,
    }


def block_suggestion_request(value: str, *, signing_secret: str = SIGNING_SECRET, **kw: Any) -> Request:
    return interactive_request(block_suggestion_payload(value, **kw), signing_secret=signing_secret)


def shortcut_payload(
    callback_id: str = "cyclr_install",
    *,
    user_id: str = DEFAULT_USER_ID,
    team_id: str = TEAM_ID,
    trigger_id: str = "1.2.nottrigger",
) -> dict[str, Any]:
    """A global shortcut."""
    user = user_object(user_id, team_id)
    return {
        "type": "shortcut",
        "token": VERIFICATION_TOKEN,
        "action_ts": f"{time.time():.6f}",
        "team": team_object(team_id),
        "user": {"id": user["id"], "username": user["username"], "team_id": team_id},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
    }


def shortcut_request(
    callback_id: str = "cyclr_install", *, signing_secret: str = SIGNING_SECRET, **kw: Any
) -> Request:
    return interactive_request(shortcut_payload(callback_id, **kw), signing_secret=signing_secret)


# -- Events API ----------------------------------------------------------------------------------------


def event_callback_payload(
    event: Mapping[str, Any], *, team_id: str = TEAM_ID, event_id: str | None = None
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": now,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6ImFwcF9ob21lX29wZW5lZCJ9",
    }


def app_home_opened_event(user_id: str = DEFAULT_USER_ID, *, tab: str = "home") -> dict[str, Any]:
    return {
        "type": "app_home_opened",
        "user": user_id,
        "channel": dm_channel_id(user_id),
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }


def app_home_opened_request(
    user_id: str = DEFAULT_USER_ID,
    *,
    tab: str = "home",
    team_id: str = TEAM_ID,
    event_id: str | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    signing_secret: str = SIGNING_SECRET,
) -> Request:
    """``app_home_opened``; ``retry_num`` adds Slack's retry headers (a redelivery)."""
    payload = event_callback_payload(
        app_home_opened_event(user_id, tab=tab), team_id=team_id, event_id=event_id
    )
    extra = {}
    if retry_num is not None:
        extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
    return json_request(payload, signing_secret=signing_secret, extra_headers=extra)


def url_verification_request(
    challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    *,
    signing_secret: str = SIGNING_SECRET,
) -> Request:
    return json_request(
        {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"},
        signing_secret=signing_secret,
    )
