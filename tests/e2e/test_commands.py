"""/cyclr subcommands over signed HTTP against the sandbox and the Slack stand-in."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from sqlalchemy import event

from bot.cyclr.models import AuthKind
from bot.playground import payloads as sr
from tests.e2e.harness import Bot


def blocks_text(payload: dict) -> str:  # type: ignore[type-arg]
    return json.dumps(payload.get("blocks") or []) + (payload.get("text") or "")


def test_help_lists_every_subcommand_with_an_example(bot: Bot) -> None:
    for text in ("", "help"):
        response = bot.command(text)
        assert response.status_code == 200
        body = blocks_text(response.json())
        for sub in (
            "help",
            "search",
            "install",
            "list",
            "auth",
            "uninstall",
            "accounts",
            "account",
            "history",
        ):
            assert f"/cyclr {sub}" in body, sub
        assert "sandbox" in body.lower()


def test_unknown_subcommand_gets_the_card_and_a_suggestion(bot: Bot) -> None:
    response = bot.command("instal salesforce")
    body = blocks_text(response.json())
    assert response.status_code == 200
    assert "instal" in body and "Did you mean `install`" in body
    assert "/cyclr search" in body


def test_forged_signature_and_stale_timestamp_are_refused(bot: Bot) -> None:
    body, headers = sr.slash_command_request("help", signing_secret="not-the-secret")
    assert bot.post((body, headers)).status_code == 401
    body, headers = sr.slash_command_request("help", timestamp=int(time.time()) - 600)
    assert bot.post((body, headers)).status_code == 401
    assert bot.slack.calls("chat.postMessage") == []


def test_search_cold_answers_later_then_warm_answers_at_once(bot: Bot) -> None:
    url = bot.slack.response_url("search1")
    response = bot.command("search salesforc", response_url=url)
    assert response.status_code == 200
    assert "Searching" in response.text
    post = bot.slack.wait_for(None, predicate=lambda c: c.hook == "search1")[0]
    text = json.dumps(post.args)
    assert "Salesforce" in text and "search_install" in text
    warm = bot.command("search hub spot")
    body = blocks_text(warm.json())
    assert "HubSpot" in body and "search_install" in body
    first_button = next(
        b["accessory"]
        for b in warm.json()["blocks"]
        if b.get("accessory", {}).get("action_id") == "search_install"
    )
    assert json.loads(first_button["value"])["a"] == bot.sandbox.default_account_id


def test_search_without_words_explains(bot: Bot) -> None:
    body = blocks_text(bot.command("search").json())
    assert "what to search for" in body


def test_list_shows_installed_connectors_and_authorise_for_oauth(warm_bot: Bot) -> None:
    bot = warm_bot
    account = bot.sandbox.default_account_id
    sf = bot.sandbox.connector_by_name("Salesforce")["Id"]
    hook = bot.sandbox.connector_by_name("Webhook")["Id"]
    bot.services.cyclr.install_connector(account, sf, name="CRM")
    bot.services.cyclr.install_connector(account, hook, name="Hook")
    url = bot.slack.response_url("list1")
    assert "Looking up" in bot.command("list", response_url=url).text
    post = bot.slack.wait_for(None, predicate=lambda c: c.hook == "list1")[0]
    text = json.dumps(post.args)
    assert "CRM" in text and "Hook" in text
    assert text.count('"action_id": "authorise"') == 1


def test_auth_dms_a_fresh_link_for_an_oauth_connector(warm_bot: Bot) -> None:
    bot = warm_bot
    account = bot.sandbox.default_account_id
    installed = bot.services.cyclr.install_connector(
        account, bot.sandbox.connector_by_name("HubSpot")["Id"], name="HubSpot"
    )
    url = bot.slack.response_url("auth1")
    bot.command("auth hubspot", response_url=url)
    dm = bot.slack.wait_for("chat.postMessage", predicate=lambda c: c.args["channel"].startswith("D"))[0]
    button = next(
        e for b in dm.args["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("url")
    )
    assert button["url"].startswith(bot.sandbox.service_url + "/connectorauth/updateaccountconnectoroauth?")
    assert f"id={installed.id}" in button["url"]
    assert "token=" not in json.dumps([b for b in dm.args["blocks"] if b["type"] != "actions"])
    assert dm.args.get("unfurl_links") in (False, "false", "0", 0)
    assert bot.sandbox.signin_tokens_issued == 1
    outcome = bot.sandbox.click_through(button["url"])
    assert outcome.redirected and (outcome.location or "").startswith("https://slack.com/app_redirect?")
    assert bot.services.cyclr.get_account_connector(account, installed.id).authenticated
    confirm = bot.slack.wait_for(None, predicate=lambda c: c.hook == "auth1")[0]
    assert "direct message" in json.dumps(confirm.args)


def test_auth_of_an_unknown_connector_says_so(warm_bot: Bot) -> None:
    url = warm_bot.slack.response_url("auth2")
    warm_bot.command("auth nothing-like-this", response_url=url)
    post = warm_bot.slack.wait_for(None, predicate=lambda c: c.hook == "auth2")[0]
    assert "No installed connector" in json.dumps(post.args)


def test_history_shows_recent_installs(warm_bot: Bot) -> None:
    bot = warm_bot
    bot.services.store.begin_install(
        submission_key="k",
        team_id=sr.TEAM_ID,
        user_id="U0001",
        channel_id="C1",
        account_id="acme-prod",
        connector_id=1,
        connector_name="Stripe",
        connector_version="v1",
        auth_kind=AuthKind.API_KEY,
        name="Payments",
    )
    body = blocks_text(bot.command("history 5").json())
    assert "Payments" in body or "Stripe" in body
    assert "U0001" in body


def test_accounts_and_account_binding(warm_bot: Bot) -> None:
    bot = warm_bot
    body = blocks_text(bot.command("accounts").json())
    for account in ("Acme", "Globex", "Initech"):
        assert account in body
    refused = bot.command("account globex", user_id="U0001")
    assert "Only bot admins can do that" in refused.text and "<@UADMIN01>" in refused.text
    url = bot.slack.response_url("bind")
    bot.command("account globex", user_id="UADMIN01", response_url=url)
    bot.slack.wait_for(None, predicate=lambda c: c.hook == "bind")
    binding = bot.services.store.channel_binding(team_id=sr.TEAM_ID, channel_id=sr.DEFAULT_CHANNEL_ID)
    assert binding is not None and binding.account_id == "globex-eu"
    shown = blocks_text(bot.command("account").json())
    assert "Globex" in shown


def test_uninstall_needs_an_admin_and_a_confirmation(warm_bot: Bot) -> None:
    bot = warm_bot
    account = bot.sandbox.default_account_id
    installed = bot.services.cyclr.install_connector(
        account, bot.sandbox.connector_by_name("Webhook")["Id"], name="Old hook"
    )
    refused = bot.command("uninstall old hook", user_id="U0001")
    assert "Only bot admins can do that" in refused.text
    url = bot.slack.response_url("un2")
    bot.command("uninstall old hook", response_url=url, user_id="UADMIN01")
    confirm = bot.slack.wait_for(None, predicate=lambda c: c.hook == "un2")[0]
    button = next(
        e
        for b in confirm.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == "uninstall"
    )
    assert "confirm" in button
    bot.action(
        "uninstall", value=button["value"], user_id="UADMIN01", response_url=bot.slack.response_url("un3")
    )
    bot.slack.wait_for(None, predicate=lambda c: c.hook == "un3")
    assert bot.sandbox.installed(account) == []
    note = bot.slack.wait_for("chat.postMessage", predicate=lambda c: c.args["channel"] == "CNOTIFY01")[0]
    assert "Old hook" in json.dumps(note.args) and "UADMIN01" in json.dumps(note.args)
    assert bot.services.store.install_for_account_connector(account, installed.id) is not None


def test_app_home_and_shortcut(warm_bot: Bot) -> None:
    bot = warm_bot
    response = bot.post(sr.app_home_opened_request("U0001"))
    assert response.status_code == 200
    publish = bot.slack.wait_for("views.publish")[0]
    assert publish.args["user_id"] == "U0001"
    assert "home_install" in json.dumps(publish.args["view"])
    response = bot.post(sr.shortcut_request("cyclr_install", trigger_id=bot.slack.new_trigger_id()))
    assert response.status_code == 200
    opened = bot.slack.wait_for("views.open")[0]
    assert opened.ok and opened.args["view"]["callback_id"] == "cyclr_install"
    bot.action("home_install")
    assert len(bot.slack.wait_for("views.open", count=2)) == 2


def test_ids_not_shaped_like_slack_ids_are_not_carried_into_a_modal(bot: Bot) -> None:
    payload = sr.shortcut_payload("cyclr_install", trigger_id=bot.slack.new_trigger_id())
    payload["team"] = {"id": "T" * 30_000}
    payload["user"]["team_id"] = "not a team"
    response = bot.post(sr.interactive_request(payload))
    assert response.status_code == 200
    opened = bot.slack.wait_for("views.open")[0]
    assert opened.ok and len(opened.args["view"]["private_metadata"]) <= 3000


@pytest.mark.parametrize(
    ("text", "reads_before_ack"), [("help", False), ("install", False), ("search hub", True)]
)
def test_only_commands_that_name_the_account_read_the_store_before_the_ack(
    warm_bot: Bot, text: str, reads_before_ack: bool
) -> None:
    """/cyclr install looks the channel's account up as its modal opens, after the ack;
    search names the account in its answer, so it reads the binding first."""
    bot = warm_bot
    seen: list[tuple[str, str]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append((threading.current_thread().name, statement))

    event.listen(bot.services.store.engine, "before_cursor_execute", record)
    try:
        assert bot.command(text).status_code == 200
        if text == "install":
            bot.opened_view()
        bot.wait_idle()
    finally:
        event.remove(bot.services.store.engine, "before_cursor_execute", record)
    on_request = [s for name, s in seen if "process_request_thread" in name]
    assert bool(on_request) is reads_before_ack, on_request
    if text == "install":  # the lookup still happens, just after the ack
        assert any("cyclr_channel_bindings" in s for name, s in seen if name.startswith("after-ack")), seen
