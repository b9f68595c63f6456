"""The stand-in's sending side: what a person does in the playground reaches the bot as Slack
sends it (signed, shaped as Slack shapes it), and the bot's answers land where Slack puts them.

The "bot" here is a small recording server on loopback that checks every signature with
slack_sdk's verifier, parses bodies with the bot's own parser and answers what each test
queues; the stand-in is real.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bot.playground.standin import BOT_USER_ID, SlackStandin, dm_channel_id
from bot.playground.workspace import Workspace, WorkspaceError
from bot.web.events import parse_slack_body

SECRET = "playground-test-secret"
TOKEN = "xoxb-playground-test"
ADA, GUS = "U0ADA", "U0GUS"
TEAM = "C0TEAM"


@dataclass
class FakeBot:
    """Records Slack's requests; answers each with the next queued (status, body)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[int, Any]] = field(default_factory=list)
    verifier: SignatureVerifier = field(default_factory=lambda: SignatureVerifier(SECRET))

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        raw = request.get_data()
        if not self.verifier.is_valid(
            raw, request.headers.get("X-Slack-Request-Timestamp"), request.headers.get("X-Slack-Signature")
        ):
            return Response("bad signature", 401)(environ, start_response)
        body = parse_slack_body(raw.decode(), request.mimetype)
        self.received.append(body)
        status, answer = self.answers.pop(0) if self.answers else (200, "")
        payload = json.dumps(answer) if isinstance(answer, dict) else answer
        mimetype = "application/json" if isinstance(answer, dict) else "text/plain"
        return Response(payload, status, mimetype=mimetype)(environ, start_response)

    def last(self) -> dict[str, Any]:
        return self.received[-1]


@pytest.fixture
def world() -> Iterator[tuple[Workspace, SlackStandin, FakeBot, WebClient]]:
    bot = FakeBot()
    server = make_server("127.0.0.1", 0, bot, threaded=True)
    bot.url = f"http://127.0.0.1:{server.server_port}/slack/events"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    slack = SlackStandin(default_users=False).start()
    slack.add_user(BOT_USER_ID, name="cyclr", is_bot=True)
    slack.add_user(ADA, name="ada", real_name="Ada Admin")
    slack.add_user(GUS, name="gus", is_restricted=True)
    slack.add_channel(TEAM, "integrations")
    workspace = Workspace(slack, bot.url, SECRET)
    try:
        yield workspace, slack, bot, WebClient(token=TOKEN, base_url=slack.api_url)
    finally:
        workspace.close()
        slack.close()
        server.shutdown()


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(*blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "cyclr_install",
        "title": {"type": "plain_text", "text": "Install"},
        "submit": {"type": "plain_text", "text": "Install"},
        "blocks": list(blocks),
        **extra,
    }


CONNECTOR_INPUT = {
    "type": "input",
    "block_id": "connector",
    "dispatch_action": True,
    "label": {"type": "plain_text", "text": "Connector"},
    "element": {"type": "external_select", "action_id": "connector", "min_query_length": 0},
}
NAME_INPUT = {
    "type": "input",
    "block_id": "name",
    "label": {"type": "plain_text", "text": "Name"},
    "element": {"type": "plain_text_input", "action_id": "name"},
}
REGION_INPUT = {
    "type": "input",
    "block_id": "region",
    "label": {"type": "plain_text", "text": "Region"},
    "element": {
        "type": "static_select",
        "action_id": "region",
        "options": [{"text": {"type": "plain_text", "text": "Europe"}, "value": "eu"}],
    },
}


def open_modal(workspace: Workspace, slack: SlackStandin, client: WebClient, view: dict[str, Any]) -> str:
    """The bot opens ``view`` for Ada with a trigger from a command, as after ``/cyclr install``."""
    trigger = slack.new_trigger_id(ADA)
    return str(client.views_open(trigger_id=trigger, view=view)["view"]["id"])


# -- commands ------------------------------------------------------------------------------------------


def test_a_command_is_signed_shaped_as_slack_and_its_ack_is_an_ephemeral(world: Any) -> None:
    workspace, slack, bot, client = world
    bot.answers.append((200, {"text": "Looking…", "blocks": [section("*Looking…*")]}))
    assert workspace.type_message(ADA, TEAM, "/cyclr search  hub spot ").ok
    body = bot.last()
    assert body["command"] == "/cyclr" and body["text"] == "search  hub spot"
    assert (body["user_id"], body["user_name"], body["channel_id"], body["channel_name"]) == (
        ADA,
        "ada",
        TEAM,
        "integrations",
    )
    assert body["response_url"].startswith(slack.base_url + "hooks/")
    [shown] = slack.ephemerals(ADA)
    assert shown["channel"] == TEAM and shown["blocks"] == [section("*Looking…*")]
    # The trigger is the stand-in's own, valid for views.open once.
    assert client.views_open(trigger_id=body["trigger_id"], view=modal(NAME_INPUT))["ok"]

    # The job's answer through response_url replaces the ack; a second post adds another.
    response = requests.post(
        body["response_url"], json={"text": "Found", "replace_original": True}, timeout=5
    )
    assert response.status_code == 200
    assert [e["text"] for e in slack.ephemerals(ADA)] == ["Found"]
    requests.post(body["response_url"], json={"text": "More"}, timeout=5)
    assert [e["text"] for e in slack.ephemerals(ADA)] == ["Found", "More"]
    requests.post(body["response_url"], json={"delete_original": True}, timeout=5)
    assert [e["text"] for e in slack.ephemerals(ADA)] == ["Found"]
    requests.post(body["response_url"], json={"text": "For all", "response_type": "in_channel"}, timeout=5)
    assert [m["text"] for m in slack.messages(TEAM)] == ["For all"]
    assert slack.ephemerals(GUS) == []


def test_in_a_dm_the_command_comes_from_the_dm_and_other_words_are_messages(world: Any) -> None:
    workspace, slack, bot, _ = world
    workspace.type_message(ADA, dm_channel_id(ADA), "/cyclr help")
    assert (bot.last()["channel_id"], bot.last()["channel_name"]) == (dm_channel_id(ADA), "directmessage")
    workspace.type_message(ADA, TEAM, "hello <b>team</b>")
    [message] = slack.messages(TEAM)
    assert (message["user"], message["text"]) == (ADA, "hello &lt;b&gt;team&lt;/b&gt;")  # as Slack keeps it
    workspace.type_message(ADA, TEAM, "/deploy now")
    assert "is not a valid command" in slack.ephemerals(ADA)[-1]["text"]
    assert len(bot.received) == 1  # neither a message nor another app's command reaches the bot
    with pytest.raises(WorkspaceError):
        workspace.type_message(ADA, dm_channel_id(GUS), "/cyclr help")  # someone else's DM
    with pytest.raises(WorkspaceError):
        workspace.type_message("U0NOBODY", TEAM, "/cyclr help")


def test_a_refused_or_broken_answer_is_a_visible_problem(world: Any) -> None:
    workspace, slack, bot, _ = world
    bot.answers.append((500, {"ok": False}))
    assert not workspace.command(ADA, TEAM, "list").ok
    assert "dispatch_failed" in slack.ephemerals(ADA)[-1]["text"]
    bot.answers.append(
        (200, {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]})
    )
    workspace.command(ADA, TEAM, "list")
    texts = [p.describe() for p in slack.problems()]
    assert texts[0] == "/cyclr: the bot answered HTTP 500"
    assert texts[1].startswith("Slack refused /cyclr ack: invalid_blocks ([ERROR] must be less than 3001"), (
        texts
    )


def test_a_web_api_call_slack_refuses_for_its_blocks_is_a_problem(world: Any) -> None:
    _, slack, _, client = world
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel=TEAM, text="x", blocks=[section("y" * 3001)])
    [problem] = slack.problems()
    assert problem.method == "chat.postMessage" and problem.error == "invalid_blocks"
    assert any("json-pointer:/blocks/0/text" in m for m in problem.messages)
    with pytest.raises(SlackApiError):
        client.chat_update(channel=TEAM, ts="1.2", text="gone")  # message_not_found: not a Block Kit problem
    assert len(slack.problems()) == 1


# -- buttons and selects ---------------------------------------------------------------------------------


def test_a_button_in_a_message_sends_its_own_value_with_the_message_and_a_response_url(world: Any) -> None:
    workspace, slack, bot, client = world
    blocks = [
        section("Pick"),
        {
            "type": "actions",
            "block_id": "acts",
            "elements": [
                {
                    "type": "button",
                    "action_id": "authorise",
                    "text": {"type": "plain_text", "text": "Authorise"},
                    "value": '{"a":"acc","ac":7}',
                    "style": "primary",
                },
                {
                    "type": "button",
                    "action_id": "open_link",
                    "text": {"type": "plain_text", "text": "Open"},
                    "url": "http://127.0.0.1:9/authorise/abc",
                },
            ],
        },
    ]
    posted = client.chat_postMessage(channel=ADA, text="x", blocks=blocks)
    surface = {"kind": "message", "channel": posted["channel"], "ts": posted["ts"]}
    assert workspace.action(ADA, surface, 1, 0).ok
    body = bot.last()
    [action] = body["actions"]
    assert body["type"] == "block_actions" and body["user"]["id"] == ADA
    assert (action["action_id"], action["block_id"], action["value"], action["text"]["text"]) == (
        "authorise",
        "acts",
        '{"a":"acc","ac":7}',
        "Authorise",
    )
    assert body["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": dm_channel_id(ADA),
        "is_ephemeral": False,
    }
    assert body["message"]["blocks"] == blocks and body["channel"]["name"] == "directmessage"
    # The URL button is sent too (Slack tells the app about every click), with its URL.
    workspace.action(ADA, surface, 1, 1)
    assert bot.last()["actions"][0]["url"] == "http://127.0.0.1:9/authorise/abc"
    # Its response_url acts on that message.
    requests.post(bot.last()["response_url"], json={"text": "Done", "replace_original": True}, timeout=5)
    assert slack.message(posted["channel"], posted["ts"])["text"] == "Done"
    with pytest.raises(WorkspaceError):
        workspace.action(ADA, surface, 1, 5)
    with pytest.raises(WorkspaceError):
        workspace.action(ADA, {"kind": "message", "channel": posted["channel"], "ts": "9.9"}, 0, 0)


def test_an_ephemeral_button_is_sent_as_ephemeral(world: Any) -> None:
    workspace, slack, bot, _ = world
    install = {
        "type": "button",
        "action_id": "search_install",
        "text": {"type": "plain_text", "text": "Install"},
        "value": "v",
    }
    bot.answers.append((200, {"blocks": [section("HubSpot"), {"type": "actions", "elements": [install]}]}))
    workspace.command(ADA, TEAM, "search hubspot")
    [shown] = slack.ephemerals(ADA)
    workspace.action(ADA, {"kind": "ephemeral", "id": shown["id"]}, 1, 0)
    body = bot.last()
    assert body["container"]["is_ephemeral"] is True and body["container"]["channel_id"] == TEAM
    assert body["actions"][0]["block_id"] == "pg-1"  # Slack gives a block without an id one of its own
    with pytest.raises(WorkspaceError):
        workspace.action(GUS, {"kind": "ephemeral", "id": shown["id"]}, 1, 0)  # not Gus's


def test_typing_in_an_external_select_loads_options_and_choosing_one_dispatches(world: Any) -> None:
    workspace, slack, bot, client = world
    view_id = open_modal(workspace, slack, client, modal(CONNECTOR_INPUT, NAME_INPUT))
    hubspot = {"text": {"type": "plain_text", "text": "HubSpot"}, "value": "5178"}
    bot.answers.append((200, {"options": [hubspot]}))
    values = {"name": {"name": "My HubSpot"}}
    assert workspace.options(ADA, view_id, 0, 0, "hub", values) == [hubspot]
    body = bot.last()
    assert (body["type"], body["action_id"], body["block_id"], body["value"]) == (
        "block_suggestion",
        "connector",
        "connector",
        "hub",
    )
    assert body["view"]["id"] == view_id
    assert body["view"]["state"]["values"]["name"]["name"] == {
        "type": "plain_text_input",
        "value": "My HubSpot",
    }

    workspace.action(ADA, {"kind": "view", "view_id": view_id}, 0, 0, option=hubspot, values=values)
    body = bot.last()
    assert body["container"] == {"type": "view", "view_id": view_id}
    assert body["actions"][0]["selected_option"] == {
        "text": {"type": "plain_text", "text": "HubSpot", "emoji": True},
        "value": "5178",
    }
    # A views.push with this trigger stacks on the modal the action came from.
    pushed = client.views_push(trigger_id=body["trigger_id"], view=modal(NAME_INPUT))
    assert slack.view_stack(view_id) == [view_id, pushed["view"]["id"]]

    with pytest.raises(WorkspaceError):
        workspace.options(ADA, view_id, 0, 0, "hub")  # no longer the top view
    with pytest.raises(WorkspaceError):
        workspace.options(ADA, pushed["view"]["id"], 0, 0, "hub")  # a text input, not a select


def test_options_slack_would_refuse_are_a_problem(world: Any) -> None:
    workspace, slack, bot, client = world
    view_id = open_modal(workspace, slack, client, modal(CONNECTOR_INPUT))
    bot.answers.append((200, {"options": [{"text": {"type": "plain_text", "text": "x" * 80}, "value": "1"}]}))
    assert workspace.options(ADA, view_id, 0, 0, "xx") == []
    assert [p.method for p in slack.problems()] == ["block_suggestion"]


# -- submissions -------------------------------------------------------------------------------------------


def test_submission_state_errors_update_push_and_close(world: Any) -> None:
    workspace, slack, bot, client = world
    view_id = open_modal(workspace, slack, client, modal(CONNECTOR_INPUT, NAME_INPUT, REGION_INPUT))
    option = {"text": {"type": "plain_text", "text": "HubSpot"}, "value": "5178"}
    values = {
        "connector": {"connector": option},
        "name": {"name": ""},
        "region": {"region": "eu"},
        "bogus": {"bogus": "ignored"},
    }

    bot.answers.append((200, {"response_action": "errors", "errors": {"name": "Give it a name"}}))
    result = workspace.submit(ADA, view_id, values)
    assert result.errors == {"name": "Give it a name"} and not result.ok
    body = bot.last()
    assert body["type"] == "view_submission" and body["view"]["callback_id"] == "cyclr_install"
    assert body["view"]["state"]["values"] == {
        "connector": {
            "connector": {
                "type": "external_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "HubSpot", "emoji": True},
                    "value": "5178",
                },
            }
        },
        "name": {"name": {"type": "plain_text_input", "value": None}},
        "region": {
            "region": {"type": "static_select", "selected_option": REGION_INPUT["element"]["options"][0]}
        },
    }

    bot.answers.append(
        (200, {"response_action": "update", "view": modal(section("Installing…"), submit=None)})
    )
    assert workspace.submit(ADA, view_id, values).ok
    [top] = slack.open_modal(ADA)
    assert top["id"] == view_id and top["blocks"] == [section("Installing…")]
    with pytest.raises(WorkspaceError):
        workspace.submit(ADA, view_id, {})  # the progress view has no submit button

    client.views_update(view_id=view_id, view=modal(NAME_INPUT))
    bot.answers.append((200, {"response_action": "push", "view": modal(NAME_INPUT)}))
    workspace.submit(ADA, view_id, {})
    assert len(slack.open_modal(ADA)) == 2
    bot.answers.append((200, {"response_action": "clear"}))
    workspace.submit(ADA, slack.open_modal(ADA)[-1]["id"], {})
    assert slack.open_modal(ADA) == []
    # A closed view is gone, as in Slack: the bot's late update finds nothing.
    with pytest.raises(SlackApiError) as refused:
        client.views_update(view_id=view_id, view=modal(NAME_INPUT))
    assert "not_found" in str(refused.value)


def test_an_empty_ack_closes_the_top_view_and_a_bad_answer_is_a_problem(world: Any) -> None:
    workspace, slack, bot, client = world
    view_id = open_modal(workspace, slack, client, modal(NAME_INPUT))
    bot.answers.append((200, {"response_action": "errors", "errors": {"nope": "x"}}))
    result = workspace.submit(ADA, view_id, {})
    assert not result.ok and result.problem and not result.errors
    bot.answers.append((200, {"response_action": "update", "view": modal(section("y" * 3001))}))
    assert "invalid_arguments" in (workspace.submit(ADA, view_id, {}).problem or "")
    assert [p.method for p in slack.problems()] == ["response_action errors", "response_action update"]
    assert workspace.submit(ADA, view_id, {}).ok  # an empty ack
    assert slack.open_modal(ADA) == []


def test_closing_tells_the_bot_only_when_it_asked(world: Any) -> None:
    workspace, slack, bot, client = world
    quiet = open_modal(workspace, slack, client, modal(NAME_INPUT))
    workspace.close_modal(ADA, quiet)
    assert bot.received == [] and slack.open_modal(ADA) == []
    told = open_modal(workspace, slack, client, modal(NAME_INPUT, notify_on_close=True))
    workspace.close_modal(ADA, told)
    assert bot.last()["type"] == "view_closed" and bot.last()["view"]["id"] == told


def test_home_and_the_shortcut(world: Any) -> None:
    workspace, _, bot, _ = world
    workspace.open_home(ADA)
    event = bot.last()
    assert event["type"] == "event_callback"
    assert (event["event"]["type"], event["event"]["user"], event["event"]["tab"]) == (
        "app_home_opened",
        ADA,
        "home",
    )
    workspace.shortcut(ADA)
    assert (bot.last()["type"], bot.last()["callback_id"], bot.last()["user"]["id"]) == (
        "shortcut",
        "cyclr_install",
        ADA,
    )
