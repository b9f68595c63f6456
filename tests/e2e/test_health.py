"""Connector health on loopback: a lost login found by the sweep is told once (a DM to the
installer with a working *Authorise*, one line in the account's channel), and `/cyclr health`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.worker.timed import HEALTH, schedule_for
from tests.e2e.harness import NOTIFY_CHANNEL, Bot
from tests.e2e.test_install_flow import open_modal, submit


def in_dm(call: Any) -> bool:
    return bool(str(call.args.get("channel", "")).startswith("D"))


def install_authorised(bot: Bot, name: str = "Salesforce") -> int:
    """Install an OAuth connector through the modal, as the default user; then authorise it."""
    submit(bot, open_modal(bot), name)
    bot.wait_idle()
    [installed] = [c for c in bot.sandbox.installed() if c["Name"] == name]
    bot.sandbox.set_authenticated(bot.sandbox.default_account_id, installed["Id"], True)
    return int(installed["Id"])


def lost_calls(bot: Bot) -> tuple[list[Any], list[Any]]:
    dms = bot.slack.calls("chat.postMessage", predicate=lambda c: in_dm(c) and "no longer" in c.args["text"])
    lines = bot.slack.calls(
        "chat.postMessage",
        predicate=lambda c: c.args["channel"] == NOTIFY_CHANNEL and "lost its login" in c.args["text"],
    )
    return dms, lines


def test_a_lost_login_is_told_once_with_a_working_authorise(warm_bot: Bot) -> None:
    bot = warm_bot
    account = bot.sandbox.default_account_id
    connector = install_authorised(bot)
    first = bot.services.health.sweep()  # sees it authenticated
    assert first.lost == () and first.accounts == 1
    bot.sandbox.lose_auth(account, connector)

    report = bot.services.health.sweep()
    assert [lost.account_connector_id for lost in report.lost] == [connector] and report.told == 1
    bot.wait_idle()
    dms, lines = lost_calls(bot)
    assert len(dms) == 1 and len(lines) == 1
    assert "<@" in lines[0].args["text"]  # names the installer
    # The DM's Authorise mints a fresh sign-in when its owner clicks it.
    dm = dms[0]
    elements = [e for b in dm.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    button = next(e for e in elements if e.get("action_id") == "authorise")
    message = {"type": "message", "ts": dm.response["ts"], "blocks": dm.args["blocks"]}
    before = bot.sandbox.signin_tokens_issued
    bot.action("authorise", value=button["value"], channel_id=dm.args["channel"], message=message)
    update = bot.slack.wait_for("chat.update", predicate=lambda c: c.args["ts"] == dm.response["ts"])[0]
    assert bot.sandbox.signin_tokens_issued == before + 1
    elements = [e for b in update.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    link = next(e for e in elements if e.get("url"))
    assert bot.sandbox.click_through(link["url"]).redirected

    # The next sweeps tell nothing new: authorised again, and lost-but-told within the day.
    again = bot.services.health.sweep()
    assert again.lost == () and again.told == 0
    bot.wait_idle()
    assert tuple(map(len, lost_calls(bot))) == (1, 1)


def test_a_login_still_lost_is_told_at_most_once_a_day(warm_bot: Bot) -> None:
    bot = warm_bot
    account = bot.sandbox.default_account_id
    connector = install_authorised(bot)
    bot.services.health.sweep()
    bot.sandbox.lose_auth(account, connector)
    assert bot.services.health.sweep().told == 1
    assert bot.services.health.sweep().told == 0  # still lost, told today
    bot.wait_idle()
    assert tuple(map(len, lost_calls(bot))) == (1, 1)
    bot.services.health.tell_every = timedelta(0)  # as if a day had passed
    assert bot.services.health.sweep().told == 1
    bot.wait_idle()
    assert tuple(map(len, lost_calls(bot))) == (2, 2)


def test_an_oauth_install_never_authorised_is_told_once_its_wait_has_ended(warm_bot: Bot) -> None:
    bot = warm_bot
    submit(bot, open_modal(bot), "Salesforce")  # OAuth, waiting for its first sign-in
    bot.wait_idle()
    assert bot.services.health.sweep().lost == ()  # still within its sign-in wait
    bot.services.health.abandon_after = timedelta(0)  # as if the wait had ended
    report = bot.services.health.sweep()
    assert [lost.connector_name for lost in report.lost] == ["Salesforce"] and report.told == 1
    bot.wait_idle()
    assert tuple(map(len, lost_calls(bot))) == (1, 1)
    assert bot.services.health.sweep().told == 0  # told today


def test_a_connector_the_bot_did_not_install_and_never_saw_authorised_is_not_told(warm_bot: Bot) -> None:
    bot = warm_bot
    account = bot.sandbox.default_account_id
    salesforce = bot.sandbox.connector_by_name("Salesforce")
    bot.sandbox.state.install(account, salesforce, {"Name": "From the console"})
    bot.services.health.abandon_after = timedelta(0)
    assert bot.services.health.sweep().lost == ()
    assert bot.services.health.sweep().lost == ()


def test_health_shows_what_needs_a_sign_in(warm_bot: Bot) -> None:
    bot = warm_bot
    account = bot.sandbox.default_account_id
    connector = install_authorised(bot)
    bot.sandbox.lose_auth(account, connector)
    assert bot.command("health", response_url=bot.slack.response_url("health")).status_code == 200
    bot.wait_idle()
    [answer] = bot.response_texts("health")
    assert "0 of 1 connectors authenticated" in answer
    assert "Authorise" in answer and "Salesforce" in answer
    # Cyclr is asked only when a person asks: health is two listings.
    assert bot.sandbox.count("GET", path_prefix="/v1.0/cycles") >= 1


def test_the_sweep_is_a_timed_job_that_can_be_turned_off(warm_bot: Bot) -> None:
    from dataclasses import replace

    services = warm_bot.services
    assert schedule_for(services)[HEALTH] == 900
    off = replace(services, settings=replace(services.settings, health_every=0))
    assert HEALTH not in schedule_for(off)
