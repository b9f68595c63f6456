"""The signed request builders produce what Slack sends, as Bolt and slack_sdk read it."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import Ack, App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.playground import payloads as sr
from bot.playground.standin import SlackStandin, validate_options_response


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


def _payload(body: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(_form(body)["payload"])
    return decoded


def test_signature_is_accepted_by_slack_sdk_verifier() -> None:
    body, headers = sr.slash_command_request("help")
    verifier = SignatureVerifier(sr.SIGNING_SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b"&x=1", headers)
    assert headers["X-Slack-Signature"].startswith("v0=")


def test_old_timestamp_is_refused_by_the_verifier() -> None:
    body, headers = sr.slash_command_request("help", timestamp=int(time.time()) - 600)
    assert not SignatureVerifier(sr.SIGNING_SECRET).is_valid_request(body, headers)


def test_slash_command_fields() -> None:
    body, headers = sr.slash_command_request(
        "install “Google Sheets”",
        user_id="U0002",
        channel_id="C0042",
        trigger_id="9.9.t",
        response_url="http://r/",
    )
    form = _form(body)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form["command"] == "/cyclr" and form["text"] == "install “Google Sheets”"
    assert (form["user_id"], form["channel_id"], form["trigger_id"], form["response_url"]) == (
        "U0002",
        "C0042",
        "9.9.t",
        "http://r/",
    )
    assert form["team_id"] == "T0001" and form["is_enterprise_install"] == "false"
    expected = {"token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name"}
    expected |= {"command", "text", "api_app_id", "response_url", "trigger_id", "is_enterprise_install"}
    assert expected <= set(form)


def test_state_values_shapes() -> None:
    values = sr.state_values(
        {
            "name": "Sheets",
            "description": None,
            "connector": sr.select_input(sr.option("42", "Google Sheets")),
            "custom": {"picker": sr.select_input(None, "static_select")},
        }
    )
    assert values["name"] == {"name": {"type": "plain_text_input", "value": "Sheets"}}
    assert values["description"]["description"]["value"] is None
    assert values["connector"]["connector"]["selected_option"]["value"] == "42"
    assert values["custom"]["picker"] == {"type": "static_select", "selected_option": None}
    with pytest.raises(TypeError):
        sr.state_values({"bad": 3})


def test_view_submission_carries_the_opened_view_and_state(slack_standin: SlackStandin) -> None:
    client = WebClient(token="xoxb-t", base_url=slack_standin.api_url)
    opened = client.views_open(
        trigger_id=slack_standin.new_trigger_id(),
        view={
            "type": "modal",
            "callback_id": "cyclr_install",
            "private_metadata": '{"channel_id": "C0001"}',
            "title": {"type": "plain_text", "text": "Install"},
            "blocks": [],
        },
    )["view"]
    payload = _payload(sr.view_submission_request(slack_standin.view(opened["id"]), values={"name": "X"})[0])
    assert payload["type"] == "view_submission"
    assert payload["view"]["id"] == opened["id"] and payload["view"]["hash"] == opened["hash"]
    assert payload["view"]["private_metadata"] == '{"channel_id": "C0001"}'
    assert payload["view"]["state"]["values"]["name"]["name"]["value"] == "X"
    assert payload["user"]["id"] == "U0001" and payload["team"]["id"] == "T0001"


def test_block_actions_from_message_and_from_view() -> None:
    from_message = sr.block_actions_payload("authorise", value="ref-1", channel_id="C7")
    assert from_message["container"]["type"] == "message" and from_message["channel"]["id"] == "C7"
    assert from_message["actions"][0] == from_message["actions"][0] | {
        "type": "button",
        "action_id": "authorise",
        "block_id": "authorise",
        "value": "ref-1",
    }
    assert from_message["response_url"]
    from_view = sr.block_actions_payload(
        "connector",
        selected_option=sr.option("42", "Sheets"),
        action_type="external_select",
        view={"id": "V9", "type": "modal"},
    )
    assert from_view["container"] == {"type": "view", "view_id": "V9"}
    assert from_view["view"]["root_view_id"] == "V9"
    assert from_view["actions"][0]["selected_option"]["value"] == "42"
    assert "response_url" not in from_view


@pytest.fixture
def bolt_app(slack_standin: SlackStandin) -> App:
    client = WebClient(token="xoxb-bolt", base_url=slack_standin.api_url)
    return App(client=client, signing_secret=sr.SIGNING_SECRET)


def _dispatch(app: App, request: tuple[bytes, dict[str, str]]) -> tuple[int, str]:
    body, headers = request
    response = app.dispatch(BoltRequest(body=body.decode(), headers=dict(headers.items())))
    return response.status, response.body


def test_bolt_routes_every_builder(bolt_app: App, slack_standin: SlackStandin) -> None:
    seen: dict[str, Any] = {}

    @bolt_app.command("/cyclr")
    def command(ack: Ack, command: dict[str, Any]) -> None:
        seen["command"] = command["text"]
        ack(text="help card")

    @bolt_app.action("authorise")
    def action(ack: Ack, action: dict[str, Any]) -> None:
        seen["action"] = action["value"]
        ack()

    @bolt_app.view("cyclr_install")
    def submission(ack: Ack, view: dict[str, Any]) -> None:
        seen["view"] = view["state"]["values"]["name"]["name"]["value"]
        ack(response_action="errors", errors={"name": "Taken"})

    @bolt_app.view_closed("cyclr_install")
    def closed(ack: Ack) -> None:
        seen["closed"] = True
        ack()

    @bolt_app.options("connector")
    def options(ack: Ack, payload: dict[str, Any]) -> None:
        ack(options=[{"text": {"type": "plain_text", "text": payload["value"]}, "value": "1"}])

    @bolt_app.shortcut("cyclr_install")
    def shortcut(ack: Ack, shortcut: dict[str, Any]) -> None:
        seen["shortcut"] = shortcut["trigger_id"]
        ack()

    @bolt_app.event("app_home_opened")
    def home(event: dict[str, Any]) -> None:
        seen["home"] = event["user"]

    assert _dispatch(bolt_app, sr.slash_command_request("help")) == (200, "help card")
    assert _dispatch(bolt_app, sr.block_actions_request("authorise", value="ref-1"))[0] == 200
    status, body = _dispatch(bolt_app, sr.view_submission_request(values={"name": "dup"}))
    assert status == 200 and json.loads(body) == {"response_action": "errors", "errors": {"name": "Taken"}}
    assert _dispatch(bolt_app, sr.view_closed_request())[0] == 200
    status, body = _dispatch(bolt_app, sr.block_suggestion_request("sales"))
    assert status == 200 and json.loads(body)["options"][0]["text"]["text"] == "sales"
    assert validate_options_response(json.loads(body)) == []
    assert _dispatch(bolt_app, sr.shortcut_request(trigger_id="7.7.s"))[0] == 200
    assert _dispatch(bolt_app, sr.app_home_opened_request("U0002"))[0] == 200
    status, body = _dispatch(bolt_app, sr.url_verification_request("challenge-1"))
    assert status == 200 and json.loads(body)["challenge"] == "challenge-1"

    deadline = time.monotonic() + 3
    while "home" not in seen and time.monotonic() < deadline:  # events run on a worker thread
        time.sleep(0.01)
    assert seen == {
        "command": "help",
        "action": "ref-1",
        "view": "dup",
        "closed": True,
        "shortcut": "7.7.s",
        "home": "U0002",
    }


def test_bolt_refuses_a_wrong_signature(bolt_app: App) -> None:
    @bolt_app.command("/cyclr")
    def command(ack: Ack) -> None:
        ack()

    assert _dispatch(bolt_app, sr.slash_command_request("help", signing_secret="wrong"))[0] == 401


def test_event_retry_headers() -> None:
    _, headers = sr.app_home_opened_request(retry_num=1)
    assert headers["X-Slack-Retry-Num"] == "1" and headers["X-Slack-Retry-Reason"] == "http_timeout"
    body, plain = sr.app_home_opened_request(event_id="Ev1")
    assert "X-Slack-Retry-Num" not in plain
    event = json.loads(body)
    assert event["event_id"] == "Ev1" and event["event"]["channel"] == "DU0001"
