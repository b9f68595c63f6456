"""``/cyclr cycles`` end to end: the listing, *Activate* (modal, interval), *Pause* and
*Resume*, the team channel, the audit log, and who may do it on which account.

Black-box: signed requests to ``/slack/events`` on loopback, the Cyclr sandbox (whose request
log shows what reached Cyclr) and the Slack stand-in. The default user (U0001) is an
installer in the unbound channel C0001, whose account is the default, acme-prod; UADMIN01 is
an admin; UGUEST01 a guest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cyclr.sandbox import Fault
from bot.playground import payloads as sr
from bot.slack.sealed import Sealer
from tests.e2e.harness import BOT_TOKEN, NOTIFY_CHANNEL, Bot, running_bot

INSTALLER = sr.DEFAULT_USER_ID
ADMIN = "UADMIN01"
GUEST = "UGUEST01"
DEFAULT = "acme-prod"
OTHER = "globex-eu"
RUNNABLE = "Webhook > HTTP: forward events"  #: no connector to authorise: it can start at once
BLOCKED = "Salesforce > Slack: new opportunities"  #: two OAuth connectors to authorise first
INTERVALS = ["1", "5", "15", "30", "60", "120", "180", "240", "360", "480", "720", "1440", "10080"]


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    with running_bot(tmp_path) as running:
        running.slack.add_user(GUEST, is_restricted=True)
        running.services.accounts.all()
        yield running
        # Everything the bot sent Slack was valid Block Kit, within Slack's limits.
        assert [p.describe() for p in running.slack.problems()] == []


# -- helpers -----------------------------------------------------------------------------------------


def make_cycle(bot: Bot, template: str = RUNNABLE, account: str = DEFAULT) -> str:
    cycle = bot.services.cyclr.install_template(account, str(bot.sandbox.template_by_name(template)["Id"]))
    return cycle.id


def status(bot: Bot, cycle_id: str, account: str = DEFAULT) -> str:
    return str(next(c for c in bot.sandbox.cycles(account) if c["Id"] == cycle_id)["Status"])


def cyclr_calls(bot: Bot, method: str, suffix: str) -> list[Any]:
    return [r for r in bot.sandbox.requests if r.method == method and r.path.endswith(suffix)]


def text_of(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def answer(bot: Bot, hook: str, count: int = 1) -> dict[str, Any]:
    """The ``count``-th post to the response_url ``hook``."""
    posts = bot.slack.wait_for(None, count=count, timeout=10, predicate=lambda c: c.hook == hook)
    return dict(posts[count - 1].args)


def listing(bot: Bot, hook: str, *, user: str = INSTALLER, text: str = "cycles") -> dict[str, Any]:
    url = bot.slack.response_url(hook)
    response = bot.command(text, user_id=user, response_url=url)
    assert response.status_code == 200
    assert "Looking up the cycles" in response.text, response.text
    return answer(bot, hook)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in message.get("blocks") or []:
        if isinstance(block.get("accessory"), dict) and block["accessory"].get("type") == "button":
            found.append(block["accessory"])
        found.extend(e for e in block.get("elements") or [] if e.get("type") == "button")
    return found


def button_for(message: dict[str, Any], label: str, cycle_id: str) -> dict[str, Any]:
    return next(
        b
        for b in buttons(message)
        if b["text"]["text"] == label and json.loads(b["value"]).get("cy") == cycle_id
    )


def click(bot: Bot, element: dict[str, Any], hook: str, *, user: str = INSTALLER) -> None:
    url = bot.slack.response_url(hook)
    response = bot.action(element["action_id"], element=element, user_id=user, response_url=url)
    assert response.status_code == 200, response.text


def submit_interval(
    bot: Bot, view: dict[str, Any], minutes: str, *, user: str = INSTALLER, once: bool = False
) -> Any:
    option = next(o for o in view_select(view)["options"] if o["value"] == minutes)
    values = {"interval": sr.select_input(option, kind="static_select")}
    if once:
        choice = next(o for o in view_select(view, "run_once")["options"] if o["value"] == "once")
        values["run_once"] = sr.select_input(choice, kind="static_select")
    return bot.submit(view, values, user_id=user)


def view_select(view: dict[str, Any], block_id: str = "interval") -> dict[str, Any]:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    element: dict[str, Any] = block["element"]
    return element


def activate(bot: Bot, cycle_id: str, minutes: str, hook: str) -> dict[str, Any]:
    """List, click *Activate*, choose ``minutes``, submit; the listing as updated."""
    listed = listing(bot, f"{hook}-list")
    click(bot, button_for(listed, "Activate", cycle_id), hook)
    view = bot.opened_view()
    response = submit_interval(bot, view, minutes)
    assert response.status_code == 200 and not response.text, response.text
    bot.wait_idle()
    return answer(bot, hook)


# -- the listing -------------------------------------------------------------------------------------


def test_listing_shows_each_cycle_with_status_last_run_and_errors(bot: Bot) -> None:
    ran = make_cycle(bot, RUNNABLE)
    failing = make_cycle(bot, BLOCKED)
    bot.sandbox.record_success(DEFAULT, ran)
    bot.sandbox.raise_incidents(DEFAULT, failing, count=3)
    message = listing(bot, "list1")
    text = text_of(message)
    assert "2* cycles in" in text
    assert RUNNABLE.replace(">", "&gt;") in text and BLOCKED.replace(">", "&gt;") in text
    rows = {b["accessory"]["value"]: b["text"]["text"] for b in message["blocks"] if "accessory" in b}
    ran_row = next(t for v, t in rows.items() if json.loads(v)["cy"] == ran)
    failing_row = next(t for v, t in rows.items() if json.loads(v)["cy"] == failing)
    assert "paused" in ran_row and "last successful run <!date^" in ran_row and "0 errors" in ran_row
    assert "last successful run never" in failing_row and "3 errors" in failing_row
    # Never started from Slack: Activate (the interval is asked), not Resume.
    assert {b["text"]["text"] for b in buttons(message)} == {"Activate"}


def test_a_long_listing_is_paged_with_more(bot: Bot) -> None:
    ids = [make_cycle(bot) for _ in range(12)]
    first = listing(bot, "page1")
    assert "page 1 of 2" in text_of(first)
    assert sum(1 for b in buttons(first) if b["text"]["text"] == "Activate") == 10
    assert len(first["blocks"]) <= 50
    more = next(b for b in buttons(first) if b["text"]["text"] == "More")
    click(bot, more, "page2")
    second = answer(bot, "page2")
    assert "page 2 of 2" in text_of(second)
    shown = {json.loads(b["value"])["cy"] for b in buttons(second) if b["text"]["text"] == "Activate"}
    assert shown == set(ids[10:])


# -- activate, pause, resume -------------------------------------------------------------------------


def test_activate_asks_for_an_interval_and_sends_exactly_one_put_carrying_it(bot: Bot) -> None:
    cycle = make_cycle(bot)
    listed = listing(bot, "act-list")
    click(bot, button_for(listed, "Activate", cycle), "act1")
    view = bot.opened_view()
    assert view["callback_id"] == "cyclr_activate"
    options = view_select(view)["options"]
    assert [o["value"] for o in options] == INTERVALS
    labels = [o["text"]["text"] for o in options]
    assert labels[:3] == ["Every minute", "Every 5 minutes", "Every 15 minutes"]
    assert labels[-2:] == ["Every day", "Every week"]
    bot.sandbox.clear_requests()
    first = submit_interval(bot, view, "60")
    again = submit_interval(bot, view, "60")  # a double submit of the same modal
    assert first.status_code == again.status_code == 200
    bot.wait_idle()
    puts = cyclr_calls(bot, "PUT", f"/cycles/{cycle}/activate")
    assert len(puts) == 1
    assert puts[0].json["Interval"] == 60
    assert status(bot, cycle) == "Active"
    assert bot.sandbox.schedule(DEFAULT, cycle)["Interval"] == 60
    updated = answer(bot, "act1")
    assert updated.get("replace_original") is True
    assert "Activated" in text_of(updated) and "every hour" in text_of(updated)
    assert button_for(updated, "Pause", cycle)  # the listing, in place, now offers Pause
    told = bot.slack.wait_for("chat.postMessage", predicate=lambda c: c.args["channel"] == NOTIFY_CHANNEL)[0]
    assert f"<@{INSTALLER}> activated" in text_of(told.args) and "every hour" in text_of(told.args)


def test_run_once_is_sent_to_cyclr_when_chosen(bot: Bot) -> None:
    cycle = make_cycle(bot)
    listed = listing(bot, "once-list")
    click(bot, button_for(listed, "Activate", cycle), "once")
    view = bot.opened_view()
    assert view_select(view, "run_once")["initial_option"]["value"] == "repeat"
    bot.sandbox.clear_requests()
    assert submit_interval(bot, view, "1440", once=True).status_code == 200
    bot.wait_idle()
    puts = cyclr_calls(bot, "PUT", f"/cycles/{cycle}/activate")
    assert len(puts) == 1 and puts[0].json["RunOnce"] is True and puts[0].json["Interval"] == 1440
    assert "runs once, then pauses" in text_of(answer(bot, "once"))


def test_pause_and_resume_are_confirmed_call_cyclr_and_tell_the_team(bot: Bot) -> None:
    cycle = make_cycle(bot)
    activate(bot, cycle, "15", "pr-act")
    listed = listing(bot, "pr-list")
    pause = button_for(listed, "Pause", cycle)
    assert pause["confirm"]["confirm"]["text"] == "Pause"  # Slack asks before the click is sent
    bot.sandbox.clear_requests()
    click(bot, pause, "pr-pause")
    bot.wait_idle()
    assert len(cyclr_calls(bot, "PUT", f"/cycles/{cycle}/deactivate")) == 1
    assert cyclr_calls(bot, "PUT", f"/cycles/{cycle}/activate") == []
    assert status(bot, cycle) == "Paused"
    paused = answer(bot, "pr-pause")
    assert paused.get("replace_original") is True and "Paused" in text_of(paused)
    resume = button_for(paused, "Resume", cycle)
    assert resume["confirm"]["confirm"]["text"] == "Resume"
    assert "every 15 minutes" in resume["confirm"]["text"]["text"]
    click(bot, resume, "pr-resume")
    bot.wait_idle()
    puts = cyclr_calls(bot, "PUT", f"/cycles/{cycle}/activate")
    assert len(puts) == 1 and puts[0].json["Interval"] == 15
    assert status(bot, cycle) == "Active"
    assert "Resumed" in text_of(answer(bot, "pr-resume"))
    team = [
        text_of(c.args) for c in bot.slack.calls("chat.postMessage") if c.args["channel"] == NOTIFY_CHANNEL
    ]
    assert any(f"<@{INSTALLER}> paused" in t for t in team)
    assert any(f"<@{INSTALLER}> resumed" in t and "every 15 minutes" in t for t in team)
    # The audit log: /cyclr history and App Home show the three changes.
    history = text_of(bot.command("history").json())
    assert "Recent cycle changes" in history
    for word in ("activated", "paused", "resumed"):
        assert word in history
    bot.post(sr.app_home_opened_request(INSTALLER))
    home = bot.slack.wait_for("views.publish")[0].args["view"]
    assert "Recent cycle changes" in text_of(home) and "resumed" in text_of(home)


# -- refusals ----------------------------------------------------------------------------------------


def test_a_guest_is_refused_and_nothing_reaches_cyclr(bot: Bot) -> None:
    cycle = make_cycle(bot)
    bot.services.cyclr.activate_cycle(DEFAULT, cycle, interval=60)
    bot.sandbox.clear_requests()
    refused = bot.command("cycles", user_id=GUEST)
    assert refused.status_code == 200
    assert "Guests" in refused.text and f"<@{ADMIN}>" in refused.text
    value = json.dumps({"a": DEFAULT, "cy": cycle, "p": 0})
    click(
        bot,
        {"type": "button", "action_id": "cycle_pause", "text": sr.plain_text("Pause"), "value": value},
        "guest-pause",
        user=GUEST,
    )
    bot.wait_idle()
    assert "Guests" in text_of(answer(bot, "guest-pause"))
    assert [r for r in bot.sandbox.requests if "/cycles" in r.path] == []
    assert status(bot, cycle) == "Active"
    assert bot.services.store.recent_cycle_events(sr.TEAM_ID) == []


def test_an_installer_cannot_act_on_another_account_by_a_crafted_value(bot: Bot) -> None:
    cycle = make_cycle(bot, account=OTHER)
    bot.services.cyclr.activate_cycle(OTHER, cycle, interval=60)
    bot.sandbox.clear_requests()
    crafted = {
        "type": "button",
        "action_id": "cycle_pause",
        "text": sr.plain_text("Pause"),
        "value": json.dumps({"a": OTHER, "cy": cycle, "p": 0}),
    }
    click(bot, crafted, "crafted")
    bot.wait_idle()
    assert "only work on the Cyclr account" in text_of(answer(bot, "crafted"))
    # Nor by naming the account, nor through an activate modal sealed for someone else.
    url = bot.slack.response_url("named")
    bot.command(f"cycles {OTHER}", response_url=url)
    bot.wait_idle()
    named = text_of(answer(bot, "named"))
    assert "only work on the Cyclr account" in named and f"<@{ADMIN}>" in named
    from bot.slack.sealed import ActivateMeta

    others = ActivateMeta(None, OTHER, cycle).dumps(Sealer.for_bot_token(BOT_TOKEN), ADMIN)
    mine = ActivateMeta(None, OTHER, cycle).dumps(Sealer.for_bot_token(BOT_TOKEN), INSTALLER)
    for metadata in (others, mine):
        view = sr.view_payload(
            callback_id="cyclr_activate", private_metadata=metadata, view_id=f"VFORGED{len(metadata)}"
        )
        view["blocks"] = [{"type": "input", "block_id": "interval", "element": {"type": "static_select"}}]
        refused = bot.submit(view, {"interval": sr.select_input(sr.option("5"), kind="static_select")})
        assert refused.json()["response_action"] == "errors", refused.text
    assert [r for r in bot.sandbox.requests if r.method == "PUT"] == []
    assert status(bot, cycle, OTHER) == "Active"
    # The same click by an admin goes through: the refusal above was the account, not the button.
    click(bot, crafted, "admin-pause", user=ADMIN)
    bot.wait_idle()
    assert status(bot, cycle, OTHER) == "Paused"


def test_a_remaining_prerequisite_is_told_plainly_and_nothing_is_activated(bot: Bot) -> None:
    cycle = make_cycle(bot, BLOCKED)
    bot.sandbox.clear_requests()
    updated = activate(bot, cycle, "5", "pre")
    text = text_of(updated)
    assert "cannot start yet" in text and "is not authorised yet" in text and "/cyclr auth Salesforce" in text
    assert cyclr_calls(bot, "PUT", f"/cycles/{cycle}/activate") == []
    assert status(bot, cycle) == "Paused"
    event = bot.services.store.recent_cycle_events(sr.TEAM_ID)[0]
    assert event.state.value == "failed" and "cannot start yet" in (event.reason or "")
    assert not [c for c in bot.slack.calls("chat.postMessage") if c.args["channel"] == NOTIFY_CHANNEL]


def test_a_409_from_cyclr_is_told_plainly(bot: Bot) -> None:
    cycle = make_cycle(bot)
    bot.sandbox.faults.add(
        Fault("status", status=409, method="PUT", path_prefix=f"/v1.0/cycles/{cycle}/activate")
    )
    updated = activate(bot, cycle, "30", "conflict")
    assert "will not change this cycle while it is running" in text_of(updated)
    assert "HTTP 409" not in text_of(updated) and "Traceback" not in text_of(updated)
    assert len(cyclr_calls(bot, "PUT", f"/cycles/{cycle}/activate")) == 1
    assert status(bot, cycle) == "Paused"


def test_junk_button_values_get_a_clear_answer_and_change_nothing(bot: Bot) -> None:
    cycle = make_cycle(bot)
    bot.services.cyclr.activate_cycle(DEFAULT, cycle, interval=60)
    bot.sandbox.clear_requests()
    junk = [
        "not json",
        json.dumps({"a": DEFAULT, "cy": "   "}),
        json.dumps({"a": DEFAULT, "cy": ["x"]}),
        json.dumps({"a": 7, "cy": cycle}),
        json.dumps({"a": DEFAULT, "cy": "../../account/connectors"}),
    ]
    for n, value in enumerate(junk):
        element = {
            "type": "button",
            "action_id": "cycle_pause",
            "text": sr.plain_text("Pause"),
            "value": value,
        }
        click(bot, element, f"junk{n}")
        bot.wait_idle()
        told = text_of(answer(bot, f"junk{n}"))
        # A well-formed id Cyclr does not know (sent percent-encoded, one path segment) is "gone".
        assert "out of date" in told or "no longer in" in told, value
    assert [r for r in bot.sandbox.requests if r.method == "PUT"] == []
    assert status(bot, cycle) == "Active"
