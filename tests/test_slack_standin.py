"""The Slack Web API stand-in answers like Slack, through the real slack_sdk client."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.playground.standin import FakeClock, SlackStandin, validate_options_response
from tests.fixtures.slack import SLACK_BOT_TOKEN


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def _modal(blocks: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "cyclr_install",
        "title": {"type": "plain_text", "text": "Install a connector"},
        "blocks": blocks if blocks is not None else [_section("Loading…")],
    }
    view.update(extra)
    return view


def _button(text: str = "Go", action_id: str = "go", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, **extra}


def _options(n: int, text_len: int = 5) -> list[dict[str, Any]]:
    return [
        {"text": {"type": "plain_text", "text": f"{i:0{text_len}d}"[:text_len]}, "value": str(i)}
        for i in range(n)
    ]


def _api_error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def _messages(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return "\n".join(exc.value.response.get("response_metadata", {}).get("messages", []))


# -- auth, routing, recording ------------------------------------------------------------------------


def test_auth_test_answers_the_fixed_identity(slack_client: WebClient) -> None:
    resp = slack_client.auth_test()
    assert (resp["team_id"], resp["user_id"], resp["bot_id"], resp["team"]) == (
        "T0001",
        "UBOT",
        "B0001",
        "Acme",
    )


@pytest.mark.parametrize(
    ("token", "error"), [("xoxp-user-token", "invalid_auth"), ("garbage", "invalid_auth")]
)
def test_tokens_that_are_not_bot_tokens_are_refused(
    slack_standin: SlackStandin, token: str, error: str
) -> None:
    client = WebClient(token=token, base_url=slack_standin.api_url)
    with pytest.raises(SlackApiError) as exc:
        client.auth_test()
    assert _api_error(exc) == error


def test_missing_token_is_not_authed(slack_standin: SlackStandin) -> None:
    client = WebClient(base_url=slack_standin.api_url)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C1", text="hi")
    assert _api_error(exc) == "not_authed"


def test_unknown_method(slack_client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack_client.api_call("chat.scheduleEverything")
    assert _api_error(exc) == "unknown_method"


def test_calls_are_recorded_with_decoded_blocks_headers_and_token(
    slack_standin: SlackStandin, slack_client: WebClient
) -> None:
    blocks = [_section("*hello*", "b1")]
    slack_client.chat_postMessage(channel="C1", text="hello", blocks=blocks)
    [call] = slack_standin.wait_for("chat.postMessage")
    assert call.args["blocks"] == blocks
    assert call.args["channel"] == "C1"
    assert call.token == SLACK_BOT_TOKEN
    assert call.headers["authorization"] == f"Bearer {SLACK_BOT_TOKEN}"
    assert call.ok and call.status == 200
    assert abs(call.time - time.time()) < 5
    assert [c.method for c in slack_standin.calls()] == ["chat.postMessage"]
    slack_standin.clear()
    assert slack_standin.calls() == []


def test_form_encoded_bodies_and_query_strings_are_parsed(slack_standin: SlackStandin) -> None:
    blocks = [_section("from a form", "b1")]
    body = f"channel=C9&text=hi&blocks={urllib.parse.quote(json.dumps(blocks))}".encode()
    req = urllib.request.Request(
        slack_standin.api_url + "chat.postMessage?unfurl_links=false",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer xoxb-form"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        answer = json.loads(resp.read())
    assert answer["ok"] is True
    [call] = slack_standin.calls("chat.postMessage")
    assert call.args["blocks"] == blocks  # the JSON string was decoded
    assert call.args["unfurl_links"] == "false"
    assert call.args["channel"] == "C9"


def test_token_in_form_body_is_accepted(slack_standin: SlackStandin) -> None:
    req = urllib.request.Request(slack_standin.api_url + "auth.test", data=b"token=xoxb-in-body")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read())["ok"] is True
    assert slack_standin.calls("auth.test")[0].token == "xoxb-in-body"


def test_wait_for_waits_for_a_later_call(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    timer = threading.Timer(0.2, lambda: slack_client.chat_postMessage(channel="C1", text="late"))
    timer.start()
    try:
        calls = slack_standin.wait_for(
            "chat.postMessage", timeout=5, predicate=lambda c: c.args["text"] == "late"
        )
    finally:
        timer.join()
    assert calls[0].args["text"] == "late"
    # A predicate that trips over a call without the argument is just "no match".
    slack_client.auth_test()
    assert slack_standin.wait_for(None, predicate=lambda c: c.args["text"] == "late", timeout=1) == calls


def test_wait_for_timeout_dumps_what_was_received(
    slack_standin: SlackStandin, slack_client: WebClient
) -> None:
    slack_client.chat_postMessage(channel="C1", text="only this")
    with pytest.raises(AssertionError) as exc:
        slack_standin.wait_for("views.open", timeout=0.2)
    text = str(exc.value)
    assert "views.open" in text and "chat.postMessage" in text and "only this" in text
    with pytest.raises(AssertionError):
        slack_standin.wait_for("chat.postMessage", count=2, timeout=0.1)


def test_concurrent_posts_get_unique_increasing_ts(
    slack_standin: SlackStandin, slack_client: WebClient
) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        ts = slack_client.chat_postMessage(channel="C1", text=f"m{i}")["ts"]
        with lock:
            results.append(ts)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 20
    assert len(slack_standin.wait_for("chat.postMessage", count=20)) == 20
    first, second = (slack_client.chat_postMessage(channel="C1", text=x)["ts"] for x in "ab")
    assert float(second) > float(first)
    assert re.fullmatch(r"[0-9]{10}\.[0-9]{6}", first)
    assert abs(float(first) - time.time()) < 3600  # the time now, as Slack's ts are


# -- messages -------------------------------------------------------------------------------------------


def test_post_to_user_id_lands_in_dm_and_can_be_updated(
    slack_standin: SlackStandin, slack_client: WebClient
) -> None:
    posted = slack_client.chat_postMessage(channel="U0001", text="your link")
    assert posted["channel"] == "DU0001"
    opened = slack_client.conversations_open(users="U0001")
    assert opened["channel"]["id"] == posted["channel"]
    slack_client.chat_update(
        channel=posted["channel"], ts=posted["ts"], text="new link", blocks=[_section("new")]
    )
    stored = slack_standin.message("DU0001", posted["ts"])
    assert stored["text"] == "new link"
    assert stored["blocks"][0]["text"]["text"] == "new"
    assert [m["text"] for m in slack_standin.messages("DU0001")] == ["new link"]


def test_update_of_unknown_message_fails(slack_client: WebClient) -> None:
    posted = slack_client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_update(channel="C1", ts="1600000000.000001", text="y")
    assert _api_error(exc) == "message_not_found"
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_update(channel="C2", ts=posted["ts"], text="y")
    assert _api_error(exc) == "message_not_found"


def test_message_needs_text_or_blocks(slack_client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc, pytest.warns(UserWarning, match="text"):
        slack_client.chat_postMessage(channel="C1")
    assert _api_error(exc) == "no_text"


def test_ephemeral_is_recorded_per_user(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    resp = slack_client.chat_postEphemeral(channel="C1", user="U0001", text="only you")
    assert resp["message_ts"]
    assert [e["text"] for e in slack_standin.ephemerals("U0001")] == ["only you"]
    assert slack_standin.ephemerals("U0002") == []


# -- Block Kit limits ------------------------------------------------------------------------------------

_LONG_ID = "x" * 256

MESSAGE_CASES: list[tuple[str, list[dict[str, Any]], str]] = [
    ("51 blocks", [_section(str(i)) for i in range(51)], "no more than 50 items"),
    ("section text 3001", [_section("a" * 3001)], "/blocks/0/text/text"),
    ("empty section text", [_section("")], "/blocks/0/text/text"),
    (
        "header 151",
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        "/blocks/0/text/text",
    ),
    (
        "mrkdwn header",
        [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
        "must be plain_text",
    ),
    (
        "button text 76",
        [{"type": "actions", "elements": [_button("b" * 76)]}],
        "/blocks/0/elements/0/text/text",
    ),
    (
        "button url 3001",
        [{"type": "actions", "elements": [_button(url="https://x/" + "u" * 2991)]}],
        "/blocks/0/elements/0/url",
    ),
    (
        "26 actions elements",
        [{"type": "actions", "elements": [_button(action_id=f"a{i}") for i in range(26)]}],
        "no more than 25 items",
    ),
    (
        "11 context elements",
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": str(i)} for i in range(11)]}],
        "no more than 10 items",
    ),
    (
        "option text 76",
        [
            {
                "type": "actions",
                "elements": [{"type": "static_select", "action_id": "s", "options": _options(1, 76)}],
            }
        ],
        "/blocks/0/elements/0/options/0/text/text",
    ),
    (
        "101 options",
        [
            {
                "type": "actions",
                "elements": [{"type": "static_select", "action_id": "s", "options": _options(101)}],
            }
        ],
        "no more than 100 items",
    ),
    ("block_id 256", [_section("a", _LONG_ID)], "/blocks/0/block_id"),
    ("action_id 256", [{"type": "actions", "elements": [_button(action_id=_LONG_ID)]}], "action_id"),
    ("duplicate block_id", [_section("a", "same"), _section("b", "same")], "duplicate block_id"),
    (
        "duplicate action_id in a block",
        [{"type": "actions", "elements": [_button(action_id="a"), _button(action_id="a")]}],
        "duplicate action_id",
    ),
    ("unknown block type", [{"type": "carousel"}], "unsupported type"),
]


@pytest.mark.parametrize(
    ("blocks", "expected"), [c[1:] for c in MESSAGE_CASES], ids=[c[0] for c in MESSAGE_CASES]
)
def test_message_block_limits_fail_like_slack(
    slack_standin: SlackStandin, slack_client: WebClient, blocks: list[dict[str, Any]], expected: str
) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_postMessage(channel="C1", text="fallback", blocks=blocks)
    assert _api_error(exc) == "invalid_blocks"
    assert expected in _messages(exc)
    assert _messages(exc).startswith("[ERROR] ")
    assert slack_standin.messages() == []  # nothing was posted


def test_message_blocks_at_the_limits_are_accepted(slack_client: WebClient) -> None:
    at_limits = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        _section("a" * 3000, "b" * 255),
        {
            "type": "actions",
            "elements": [
                _button("t" * 75, action_id=f"a{i}", url="https://x/" + "u" * 2990) for i in range(25)
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": str(i)} for i in range(10)]},
        {
            "type": "actions",
            "elements": [{"type": "static_select", "action_id": "s" * 255, "options": _options(100, 75)}],
        },
    ]
    blocks = at_limits + [_section(str(i)) for i in range(50 - len(at_limits))]
    assert slack_client.chat_postMessage(channel="C1", text="ok", blocks=blocks)["ok"]


VIEW_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("title 25", _modal(title={"type": "plain_text", "text": "t" * 25}), "/view/title/text"),
    ("submit 25", _modal(submit={"type": "plain_text", "text": "s" * 25}), "/view/submit/text"),
    ("close 25", _modal(close={"type": "plain_text", "text": "c" * 25}), "/view/close/text"),
    ("101 blocks", _modal([_section(str(i)) for i in range(101)]), "no more than 100 items"),
    ("private_metadata 3001", _modal(private_metadata="p" * 3001), "/view/private_metadata"),
    ("duplicate block_id", _modal([_section("a", "dup"), _section("b", "dup")]), "duplicate block_id"),
    (
        "input without submit",
        _modal(
            [
                {
                    "type": "input",
                    "block_id": "name",
                    "label": {"type": "plain_text", "text": "Name"},
                    "element": {"type": "plain_text_input", "action_id": "name"},
                }
            ]
        ),
        "/view/submit",
    ),
    ("no title", {"type": "modal", "blocks": []}, "/view/title"),
    (
        "initial option not among options",
        _modal(
            [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "pick"},
                    "accessory": {
                        "type": "static_select",
                        "action_id": "s",
                        "options": _options(2),
                        "initial_option": {"text": {"type": "plain_text", "text": "zz"}, "value": "zz"},
                    },
                }
            ]
        ),
        "must match one of the provided options",
    ),
]


@pytest.mark.parametrize(("view", "expected"), [c[1:] for c in VIEW_CASES], ids=[c[0] for c in VIEW_CASES])
def test_view_limits_fail_like_slack(
    slack_standin: SlackStandin, slack_client: WebClient, view: dict[str, Any], expected: str
) -> None:
    trigger = slack_standin.new_trigger_id()
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_open(trigger_id=trigger, view=view)
    assert _api_error(exc) == "invalid_arguments"
    assert expected in _messages(exc)
    # A refused view does not use up the trigger.
    assert slack_client.views_open(trigger_id=trigger, view=_modal())["ok"]


def test_view_at_the_limits_is_accepted(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    view = _modal(
        [_section(str(i)) for i in range(100)],
        title={"type": "plain_text", "text": "t" * 24},
        submit={"type": "plain_text", "text": "s" * 24},
        close={"type": "plain_text", "text": "c" * 24},
        private_metadata="p" * 3000,
    )
    resp = slack_client.views_open(trigger_id=slack_standin.new_trigger_id(), view=view)
    assert resp["view"]["private_metadata"] == "p" * 3000
    assert len(resp["view"]["blocks"]) == 100


def test_view_too_large(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    blocks = [_section("a" * 2900) for _ in range(100)]  # ~300 kB of JSON
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_open(trigger_id=slack_standin.new_trigger_id(), view=_modal(blocks))
    assert _api_error(exc) == "view_too_large"


# -- trigger ids and views --------------------------------------------------------------------------------


def test_trigger_is_single_use(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    trigger = slack_standin.new_trigger_id()
    resp = slack_client.views_open(trigger_id=trigger, view=_modal())
    assert resp["view"]["id"].startswith("V")
    assert resp["view"]["hash"]
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_open(trigger_id=trigger, view=_modal())
    assert _api_error(exc) == "exchanged_trigger_id"


def test_unknown_trigger_is_invalid(slack_client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_open(trigger_id="12.34.made-up", view=_modal())
    assert _api_error(exc) == "invalid_trigger_id"


def test_trigger_expires_after_three_seconds_of_the_clock() -> None:
    clock = FakeClock()
    with SlackStandin(clock=clock) as slack:
        client = WebClient(token=SLACK_BOT_TOKEN, base_url=slack.api_url)
        fresh, stale = slack.new_trigger_id(), slack.new_trigger_id()
        clock.advance(2.9)
        assert client.views_open(trigger_id=fresh, view=_modal())["ok"]
        clock.advance(0.2)
        with pytest.raises(SlackApiError) as exc:
            client.views_open(trigger_id=stale, view=_modal())
        assert _api_error(exc) == "expired_trigger_id"
        # The playground shows it: the bot opened its modal too late.
        assert [(p.method, p.error) for p in slack.problems()] == [("views.open", "expired_trigger_id")]


def test_trigger_expiry_with_real_time() -> None:
    with SlackStandin(trigger_ttl=0.2) as slack:
        client = WebClient(token=SLACK_BOT_TOKEN, base_url=slack.api_url)
        trigger = slack.new_trigger_id()
        time.sleep(0.3)
        with pytest.raises(SlackApiError) as exc:
            client.views_open(trigger_id=trigger, view=_modal())
        assert _api_error(exc) == "expired_trigger_id"


def test_views_update_by_id_and_external_id_with_hash(
    slack_standin: SlackStandin, slack_client: WebClient
) -> None:
    opened = slack_client.views_open(
        trigger_id=slack_standin.new_trigger_id(), view=_modal(external_id="install-1")
    )["view"]
    updated = slack_client.views_update(
        view_id=opened["id"], hash=opened["hash"], view=_modal([_section("Installing…")])
    )["view"]
    assert updated["id"] == opened["id"]
    assert updated["hash"] != opened["hash"]
    assert updated["external_id"] == "install-1"  # kept when the update does not repeat it
    with pytest.raises(SlackApiError) as exc:  # the old hash is stale now
        slack_client.views_update(view_id=opened["id"], hash=opened["hash"], view=_modal([_section("late")]))
    assert _api_error(exc) == "hash_conflict"
    done = slack_client.views_update(external_id="install-1", view=_modal([_section("Done")]))["view"]
    assert done["id"] == opened["id"]
    assert slack_standin.view(opened["id"])["blocks"][0]["text"]["text"] == "Done"


def test_views_update_unknown_or_without_id(slack_client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_update(view_id="V404", view=_modal())
    assert _api_error(exc) == "not_found"
    with pytest.raises(SlackApiError) as exc:
        slack_client.api_call("views.update", json={"view": _modal()})
    assert _api_error(exc) == "invalid_arguments"


def test_duplicate_external_id_is_refused(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    slack_client.views_open(trigger_id=slack_standin.new_trigger_id(), view=_modal(external_id="e1"))
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_open(trigger_id=slack_standin.new_trigger_id(), view=_modal(external_id="e1"))
    assert _api_error(exc) == "duplicate_external_id"


def test_views_push_stacks_up_to_three(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    root = slack_client.views_open(trigger_id=slack_standin.new_trigger_id(), view=_modal())["view"]
    second = slack_client.views_push(
        trigger_id=slack_standin.new_trigger_id(view_id=root["id"]), view=_modal()
    )["view"]
    assert second["root_view_id"] == root["id"] and second["previous_view_id"] == root["id"]
    third = slack_client.views_push(
        trigger_id=slack_standin.new_trigger_id(view_id=second["id"]), view=_modal()
    )["view"]
    assert slack_standin.view_stack(third["id"]) == [root["id"], second["id"], third["id"]]
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_push(trigger_id=slack_standin.new_trigger_id(view_id=third["id"]), view=_modal())
    assert _api_error(exc) == "push_limit_reached"


def test_views_publish_home(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    home = {"type": "home", "blocks": [_section("Default account: Acme")]}
    first = slack_client.views_publish(user_id="U0001", view=home)["view"]
    second = slack_client.views_publish(user_id="U0001", view=home, hash=first["hash"])["view"]
    assert second["id"] == first["id"] and second["hash"] != first["hash"]
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_publish(user_id="U0001", view=home, hash=first["hash"])
    assert _api_error(exc) == "hash_conflict"
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_publish(user_id="U0001", view=_modal())
    assert _api_error(exc) == "invalid_arguments"
    stored = slack_standin.home_view("U0001")
    assert stored is not None and stored["blocks"][0]["text"]["text"] == "Default account: Acme"
    assert slack_standin.home_view("U0002") is None


# -- users and groups ----------------------------------------------------------------------------------------


def test_users_info_and_usergroups(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    slack_standin.add_user("U0002", name="guest", is_restricted=True)
    slack_standin.add_user("W0003", team_id="T0OTHER", is_admin=True)
    slack_standin.add_usergroup("S0001", ["U0001", "U0002"])
    guest = slack_client.users_info(user="U0002")["user"]
    assert guest["is_restricted"] is True and guest["name"] == "guest" and guest["team_id"] == "T0001"
    foreign = slack_client.users_info(user="W0003")["user"]
    assert foreign["team_id"] == "T0OTHER" and foreign["is_admin"] is True
    assert slack_client.users_info(user="U0001")["user"]["is_restricted"] is False
    assert slack_client.usergroups_users_list(usergroup="S0001")["users"] == ["U0001", "U0002"]
    with pytest.raises(SlackApiError) as exc:
        slack_client.users_info(user="U404")
    assert _api_error(exc) == "user_not_found"
    with pytest.raises(SlackApiError) as exc:
        slack_client.usergroups_users_list(usergroup="S404")
    assert _api_error(exc) == "no_such_subteam"
    assert slack_standin.calls("users.info")[0].args["user"] == "U0002"


# -- response_url --------------------------------------------------------------------------------------------


def test_response_url_takes_five_posts(slack_standin: SlackStandin) -> None:
    url = slack_standin.response_url("cmd")
    assert url.startswith(slack_standin.base_url)
    hook = WebhookClient(url)
    statuses = [hook.send(text=f"post {i}", response_type="ephemeral").status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]
    posts = slack_standin.response_posts("cmd")
    assert [p.args.get("text") for p in posts] == [f"post {i}" for i in range(6)]
    assert posts[-1].response == "used_url" and not posts[-1].ok
    assert slack_standin.wait_for("response_url", count=6)[0].hook == "cmd"


def test_response_url_validates_blocks_and_expires() -> None:
    clock = FakeClock()
    with SlackStandin(clock=clock) as slack:
        hook = WebhookClient(slack.response_url())
        bad = hook.send(text="x", blocks=[_section("a" * 3001)])
        assert (bad.status_code, bad.body) == (400, "invalid_blocks")
        assert hook.send(delete_original=True).status_code == 200
        clock.advance(30 * 60 + 1)
        late = hook.send(text="too late")
        assert (late.status_code, late.body) == (404, "expired_url")


def test_unknown_response_url_is_refused(slack_standin: SlackStandin) -> None:
    resp = WebhookClient(slack_standin.base_url + "hooks/never-issued").send(text="x")
    assert resp.status_code == 404


# -- faults ------------------------------------------------------------------------------------------------


def test_ratelimit_fault_without_retry_handler(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    slack_standin.fail_next("chat.postMessage", retry_after=2)
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_postMessage(channel="C1", text="x")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["retry-after"] in ("2", ["2"])
    assert _api_error(exc) == "ratelimited"
    assert slack_client.chat_postMessage(channel="C1", text="x")["ok"]  # only the next one failed


def test_rate_limit_retry_handler_retries(slack_standin: SlackStandin) -> None:
    client = WebClient(
        token=SLACK_BOT_TOKEN,
        base_url=slack_standin.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    slack_standin.fail_next("chat.postMessage", count=2, retry_after=0)
    started = time.monotonic()
    assert client.chat_postMessage(channel="C1", text="eventually")["ok"]
    assert time.monotonic() - started < 5
    calls = slack_standin.calls("chat.postMessage")
    assert [c.status for c in calls] == [429, 429, 200]
    assert [m["text"] for m in slack_standin.messages("C1")] == ["eventually"]


def test_other_status_faults(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    slack_standin.fail_next("views.open", status=503, retry_after=None)
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_open(trigger_id=slack_standin.new_trigger_id(), view=_modal())
    assert exc.value.response.status_code == 503
    assert "retry-after" not in {k.lower() for k in exc.value.response.headers}


def test_error_next(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    slack_standin.error_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_postMessage(channel="C404", text="x")
    assert _api_error(exc) == "channel_not_found"
    assert slack_client.chat_postMessage(channel="C1", text="x")["ok"]
    assert [c.ok for c in slack_standin.calls("chat.postMessage")] == [False, True]


def test_delay_next(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    slack_standin.delay_next("auth.test", 0.3)
    started = time.monotonic()
    assert slack_client.auth_test()["ok"]
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    slack_client.auth_test()
    assert time.monotonic() - started < 0.3


# -- options responses ------------------------------------------------------------------------------------


def test_validate_options_response() -> None:
    assert validate_options_response({"options": _options(100, 75)}) == []
    assert (
        validate_options_response(
            {"option_groups": [{"label": {"type": "plain_text", "text": "Popular"}, "options": _options(3)}]}
        )
        == []
    )
    assert any("no more than 100" in p for p in validate_options_response({"options": _options(101)}))
    assert any("/options/0/text/text" in p for p in validate_options_response({"options": _options(1, 76)}))
    long_value = [{"text": {"type": "plain_text", "text": "x"}, "value": "v" * 151}]
    assert any("/options/0/value" in p for p in validate_options_response({"options": long_value}))
    mrkdwn = [{"text": {"type": "mrkdwn", "text": "*x*"}, "value": "x"}]
    assert validate_options_response({"options": mrkdwn}) != []
    assert validate_options_response({}) != []
    assert validate_options_response({"options": [], "option_groups": []}) != []


# -- what the playground reads ---------------------------------------------------------------------------


def test_a_change_wakes_whoever_waits_for_one(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    since = slack_standin.version
    assert slack_standin.wait_for_change(since, timeout=0.05) == since  # nothing happened
    woken: list[int] = []
    waiter = threading.Thread(target=lambda: woken.append(slack_standin.wait_for_change(since, timeout=30)))
    waiter.start()
    slack_client.chat_postMessage(channel="C1", text="hi")
    waiter.join(timeout=30)
    assert woken and woken[0] > since


def test_a_users_modal_is_open_until_closed(slack_standin: SlackStandin, slack_client: WebClient) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    opened = slack_client.views_open(trigger_id=slack_standin.new_trigger_id("U0001"), view=view)["view"]
    assert [v["id"] for v in slack_standin.open_modal("U0001")] == [opened["id"]]
    assert slack_standin.open_modal("U0002") == []
    [closed] = slack_standin.close_view(opened["id"])
    assert closed["id"] == opened["id"] and slack_standin.open_modal("U0001") == []
    with pytest.raises(SlackApiError, match="not_found"):
        slack_client.views_update(view_id=opened["id"], view=view)
