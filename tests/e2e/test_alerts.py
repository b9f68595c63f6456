"""Alerts from running cycles end to end: `/cyclr subscribe` (admins only), incidents polled
from the sandbox or pushed by its error webhook, one parent message per cycle with replies in
its thread, no transaction twice, a flood rolled up, *Pause cycle* and *Details*.

Black-box: signed requests to the bot on loopback, the Cyclr sandbox and the Slack stand-in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.cyclr.models import WebhookSettings
from bot.playground import payloads as sr
from bot.services import alerts as alert_service
from bot.worker.timed import INCIDENTS, schedule_for
from tests.e2e.harness import Bot, running_bot

INSTALLER = sr.DEFAULT_USER_ID
ADMIN = "UADMIN01"
CHANNEL = "C0001"
DEFAULT = "acme-prod"
RUNNABLE = "Webhook > HTTP: forward events"
BLOCKED = "Salesforce > Slack: new opportunities"


@pytest.fixture(autouse=True)
def no_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Posts about a cycle are spaced by ALERT_GAP; tests that look at spacing set it back."""
    monkeypatch.setattr(alert_service, "ALERT_GAP", 0.0)


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    with running_bot(tmp_path) as running:
        running.services.accounts.all()
        yield running
        assert [p.describe() for p in running.slack.problems()] == []


@pytest.fixture
def public_bot(tmp_path: Path) -> Iterator[Bot]:
    with running_bot(tmp_path, public=True) as running:
        running.services.accounts.all()
        yield running
        assert [p.describe() for p in running.slack.problems()] == []


def make_cycle(bot: Bot, template: str = RUNNABLE) -> str:
    return bot.services.cyclr.install_template(DEFAULT, str(bot.sandbox.template_by_name(template)["Id"])).id


def subscribe(bot: Bot, text: str = "subscribe", user: str = ADMIN) -> requests.Response:
    response = bot.command(text, user_id=user, channel_id=CHANNEL)
    assert response.status_code == 200
    bot.wait_idle()
    return response


def channel_posts(bot: Bot, *, thread: bool | None = None) -> list[Any]:
    def wanted(call: Any) -> bool:
        if call.args.get("channel") != CHANNEL:
            return False
        if thread is None:
            return True
        return bool(call.args.get("thread_ts")) is thread

    return bot.slack.calls("chat.postMessage", predicate=wanted)


def updates(bot: Bot) -> list[Any]:
    return bot.slack.calls("chat.update", predicate=lambda c: c.args.get("channel") == CHANNEL)


def poll(bot: Bot) -> None:
    bot.services.alerts.poll()
    bot.wait_idle()


def buttons(args: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in args.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


# -- subscriptions -----------------------------------------------------------------------------------


def test_subscribe_is_for_admins_and_is_listed(bot: Bot) -> None:
    refused = subscribe(bot, user=INSTALLER)
    assert "Subscribing" not in refused.text
    assert bot.services.alerts.ledger.subscriptions() == []

    response = subscribe(bot, "subscribe warnings")
    assert "Subscribing" in response.text
    [sub] = bot.services.alerts.ledger.subscriptions(channel_id=CHANNEL)
    assert (sub.account_id, sub.level) == (DEFAULT, "warnings")

    url = bot.slack.response_url("subs")
    assert (
        bot.command("subscriptions", user_id=INSTALLER, channel_id=CHANNEL, response_url=url).status_code
        == 200
    )
    bot.wait_idle()
    [listed] = bot.response_texts("subs")
    assert "errors and warnings" in listed

    subscribe(bot, "unsubscribe")
    assert bot.services.alerts.ledger.subscriptions() == []


def test_polling_is_a_timed_job_in_both_modes_unless_turned_off(bot: Bot) -> None:
    services = bot.services
    assert schedule_for(services)[INCIDENTS] == 60
    off = replace(services, settings=replace(services.settings, incidents_every=0))
    assert INCIDENTS not in schedule_for(off)
    public = replace(services, settings=replace(services.settings, public_url="https://bot.example"))
    assert schedule_for(public)[INCIDENTS] == 60


# -- posting -----------------------------------------------------------------------------------------


def test_two_errors_make_one_parent_and_one_reply_and_no_transaction_twice(bot: Bot) -> None:
    cycle = make_cycle(bot, BLOCKED)
    subscribe(bot)
    bot.sandbox.raise_incidents(DEFAULT, cycle, count=2, message="Boom")
    poll(bot)
    parents, replies = channel_posts(bot, thread=False), channel_posts(bot, thread=True)
    assert len(parents) == 1 and len(replies) == 1
    assert replies[0].args["thread_ts"] == parents[0].response["ts"]
    assert "2 errors" in parents[0].args["text"]
    labels = {b["text"]["text"] for b in buttons(parents[0].args)}
    assert {"Pause cycle", "Details"} <= labels and "Authorise" not in labels  # not a login failure

    # The same transactions again (the cursor forgotten, or the webhook after a poll): nothing.
    account = bot.services.alerts.ledger
    account.set_cursor(DEFAULT, "errors", "")
    incidents = bot.services.cyclr.list_incidents(DEFAULT)
    assert bot.services.alerts.ingest(DEFAULT, incidents) == 0
    bot.wait_idle()
    assert len(channel_posts(bot)) == 2 and updates(bot) == []

    # A third error: the parent is edited in place, one more reply.
    bot.sandbox.raise_incidents(DEFAULT, cycle, count=1)
    poll(bot)
    assert len(channel_posts(bot, thread=False)) == 1 and len(channel_posts(bot, thread=True)) == 2
    [update] = updates(bot)
    assert update.args["ts"] == parents[0].response["ts"] and "3 errors" in update.args["text"]


def test_warnings_are_called_warnings_next_to_errors(bot: Bot) -> None:
    cycle = make_cycle(bot, BLOCKED)
    subscribe(bot, "subscribe warnings")
    bot.sandbox.raise_incidents(DEFAULT, cycle, level="warning", message="Slow answer")
    poll(bot)
    [parent] = channel_posts(bot, thread=False)
    assert "1 warning" in parent.args["text"] and "error" not in parent.args["text"]
    assert ":warning:" in json.dumps(parent.args["blocks"])

    details = next(b for b in buttons(parent.args) if b["text"]["text"] == "Details")
    bot.action(details["action_id"], element=details, user_id=INSTALLER, channel_id=CHANNEL)
    bot.wait_idle()
    assert bot.slack.calls("views.open")[-1].args["view"]["title"]["text"] == "Cycle warning"

    bot.sandbox.raise_incidents(DEFAULT, cycle, message="Field 'Email' is required.")
    poll(bot)
    [update] = updates(bot)
    assert "1 error and 1 warning" in update.args["text"]
    [reply] = channel_posts(bot, thread=True)
    shown = json.dumps(reply.args["blocks"])
    assert ":x:" in shown and ":warning:" not in shown


def test_a_flood_is_rolled_up_with_an_exact_count(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alert_service, "ALERT_GAP", 1.0)
    cycle = make_cycle(bot, BLOCKED)
    subscribe(bot)
    started = time.monotonic()
    for _ in range(4):  # 60 errors in well under two seconds, polled as they come
        bot.sandbox.raise_incidents(DEFAULT, cycle, count=15)
        bot.services.alerts.poll()
    assert time.monotonic() - started < 2
    bot.wait_idle()
    time.sleep(1.2)  # the spacing between two posts about the cycle
    bot.services.queue.enqueue(alert_service.TELL_ALERTS, {"channel": CHANNEL}, key=f"tell-alerts:{CHANNEL}")
    bot.wait_idle()
    posts = channel_posts(bot)
    assert 2 <= len(posts) <= 4, [p.args["text"] for p in posts]
    assert len(channel_posts(bot, thread=False)) == 1
    final = (updates(bot) or channel_posts(bot, thread=False))[-1]
    assert "60 errors" in final.args["text"]


def test_pause_cycle_deactivates_the_cycle(bot: Bot) -> None:
    cycle = make_cycle(bot, RUNNABLE)
    bot.services.cyclr.activate_cycle(DEFAULT, cycle, interval=5)
    subscribe(bot)
    bot.sandbox.raise_incidents(DEFAULT, cycle, count=1)
    poll(bot)
    [parent] = channel_posts(bot, thread=False)
    pause = next(b for b in buttons(parent.args) if b["text"]["text"] == "Pause cycle")
    message = {"type": "message", "ts": parent.response["ts"], "blocks": parent.args["blocks"]}
    response = bot.action(
        pause["action_id"], element=pause, user_id=INSTALLER, channel_id=CHANNEL, message=message
    )
    assert response.status_code == 200
    bot.wait_idle()
    status = next(c for c in bot.sandbox.cycles(DEFAULT) if c["Id"] == cycle)["Status"]
    assert status == "Paused"


def test_details_shows_step_message_and_a_redacted_detail(bot: Bot) -> None:
    cycle = make_cycle(bot, BLOCKED)
    subscribe(bot)
    raised = bot.sandbox.raise_incidents(DEFAULT, cycle, count=3, auth_failure=True)
    planted = [s for item in raised for s in item.incident.secrets]
    assert planted
    poll(bot)
    everything = json.dumps([c.args for c in bot.slack.calls()])
    assert not [s for s in planted if s in everything]
    [parent] = channel_posts(bot, thread=False)
    labels = {b["text"]["text"] for b in buttons(parent.args)}
    assert "Authorise" in labels
    details = next(b for b in buttons(parent.args) if b["text"]["text"] == "Details")
    bot.action(details["action_id"], element=details, user_id=INSTALLER, channel_id=CHANNEL)
    view = bot.opened_view()
    text = json.dumps(view)
    assert "Step:" in text and "Message:" in text and "[redacted]" in text
    assert not [s for s in planted if s in text]

    # *Authorise* sends the person who clicked a way to sign the connector in again, in a DM.
    authorise = next(b for b in buttons(parent.args) if b["text"]["text"] == "Authorise")
    bot.action(authorise["action_id"], element=authorise, user_id=INSTALLER, channel_id=CHANNEL)
    bot.wait_idle()
    dms = bot.slack.wait_for(
        "chat.postMessage", predicate=lambda c: str(c.args.get("channel", "")).startswith("D"), timeout=10
    )
    assert dms and "authoris" in json.dumps(dms[-1].args).lower()


# -- webhook mode ------------------------------------------------------------------------------------


def test_webhook_mode_points_the_account_at_the_bot_and_posts_what_cyclr_pushes(public_bot: Bot) -> None:
    bot = public_bot
    cycle = make_cycle(bot, BLOCKED)
    before = bot.services.cyclr.get_webhook_settings(DEFAULT)
    subscribe(bot)
    hook = bot.services.cyclr.get_webhook_settings(DEFAULT)
    assert hook.enabled and (hook.url or "").startswith(bot.url + "/cyclr/webhook/")

    bot.sandbox.raise_incidents(DEFAULT, cycle, count=2)
    assert bot.sandbox.wait_for_webhooks(2)
    assert all(d.ok for d in bot.sandbox.webhook_deliveries)
    bot.wait_idle()
    assert len(channel_posts(bot, thread=False)) == 1 and len(channel_posts(bot, thread=True)) == 1
    # A poll after the push finds the same transactions: nothing new.
    assert bot.services.alerts.poll_account(DEFAULT) == 0

    wrong = requests.post(bot.url + "/cyclr/webhook/not-the-secret-0123456789", json={}, timeout=5)
    assert wrong.status_code == 404

    subscribe(bot, "unsubscribe")
    restored = bot.services.cyclr.get_webhook_settings(DEFAULT)
    assert (restored.enabled, restored.url) == (before.enabled, before.url)


def test_in_webhook_mode_an_incident_whose_push_never_arrived_is_polled(public_bot: Bot) -> None:
    bot = public_bot
    cycle = make_cycle(bot, BLOCKED)
    subscribe(bot)
    ours = bot.services.cyclr.get_webhook_settings(DEFAULT)
    # The bot unreachable when Cyclr calls (or the moments before the webhook is set).
    bot.services.cyclr.set_webhook_settings(
        DEFAULT, WebhookSettings(True, "http://127.0.0.1:9/cyclr/webhook/gone", False)
    )
    bot.sandbox.raise_incidents(DEFAULT, cycle, count=1)
    assert bot.sandbox.wait_for_webhooks(1)
    assert not any(d.ok for d in bot.sandbox.webhook_deliveries)
    bot.wait_idle()
    assert channel_posts(bot) == []

    assert schedule_for(bot.services)[INCIDENTS] > 0  # the timed job that does this
    poll(bot)
    assert len(channel_posts(bot, thread=False)) == 1
    bot.services.cyclr.set_webhook_settings(DEFAULT, ours)


def test_pause_cycle_is_access_checked(bot: Bot) -> None:
    bot.slack.add_user("UGUEST01", is_restricted=True)
    cycle = make_cycle(bot, RUNNABLE)
    bot.services.cyclr.activate_cycle(DEFAULT, cycle, interval=5)
    subscribe(bot)
    bot.sandbox.raise_incidents(DEFAULT, cycle, count=1)
    poll(bot)
    [parent] = channel_posts(bot, thread=False)
    pause = next(b for b in buttons(parent.args) if b["text"]["text"] == "Pause cycle")
    response = bot.action(pause["action_id"], element=pause, user_id="UGUEST01", channel_id=CHANNEL)
    assert response.status_code == 200
    bot.wait_idle()
    status = next(c for c in bot.sandbox.cycles(DEFAULT) if c["Id"] == cycle)["Status"]
    assert status == "Active"
    assert not [r for r in bot.sandbox.requests if r.path.endswith("/deactivate")]


def test_a_webhook_flood_is_rolled_up_with_an_exact_count(
    public_bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alert_service, "ALERT_GAP", 1.0)
    bot = public_bot
    cycle = make_cycle(bot, BLOCKED)
    subscribe(bot)
    bot.sandbox.raise_incidents(DEFAULT, cycle, count=60)
    assert bot.sandbox.wait_for_webhooks(60, timeout=20)
    assert all(d.ok for d in bot.sandbox.webhook_deliveries)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        bot.wait_idle()
        final = (updates(bot) or channel_posts(bot, thread=False))[-1]
        if "60 errors" in final.args["text"]:
            break
        time.sleep(0.3)
    assert "60 errors" in final.args["text"]
    assert len(channel_posts(bot, thread=False)) == 1
    # One post per cycle per ALERT_GAP: a handful of messages, not sixty.
    assert len(channel_posts(bot)) + len(updates(bot)) <= 12


def test_a_channel_gets_at_most_two_cycles_worth_per_post(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alert_service, "ALERT_GAP", 60.0)
    cycles = [make_cycle(bot, BLOCKED) for _ in range(3)]
    subscribe(bot)
    for cycle in cycles:
        bot.sandbox.raise_incidents(DEFAULT, cycle, count=5)
    poll(bot)
    parents = channel_posts(bot, thread=False)
    assert len(parents) == 2 and len(channel_posts(bot, thread=True)) == 2  # one summary reply each
    assert all("5 errors" in p.args["text"] for p in parents)
    # More errors within the gap: nothing is posted until it has passed.
    bot.sandbox.raise_incidents(DEFAULT, cycles[0], count=1)
    poll(bot)
    assert len(channel_posts(bot)) == 4 and updates(bot) == []
    monkeypatch.setattr(alert_service, "ALERT_GAP", 0.0)
    bot.services.queue.enqueue(alert_service.TELL_ALERTS, {"channel": CHANNEL}, key=f"tell-alerts:{CHANNEL}")
    bot.wait_idle()
    assert len(channel_posts(bot, thread=False)) == 3  # the third cycle, waiting longest, first
    bot.services.queue.enqueue(alert_service.TELL_ALERTS, {"channel": CHANNEL}, key=f"tell-alerts:{CHANNEL}")
    bot.wait_idle()
    assert any("6 errors" in u.args["text"] for u in updates(bot))
