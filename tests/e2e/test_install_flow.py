"""The install modal end to end: open, pick, fields, submit, outcome, DM, team notification."""

from __future__ import annotations

import base64
import hashlib
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.cyclr.sandbox import Fault
from bot.playground import payloads as sr
from bot.runtime import wait_idle
from bot.store import InstallState
from tests.e2e.harness import NOTIFY_CHANNEL, Bot


def block_ids(view: dict[str, Any]) -> list[str]:
    return [b.get("block_id", "") for b in view["blocks"]]


def connector_option(bot: Bot, name: str) -> dict[str, Any]:
    c = bot.sandbox.connector_by_name(name)
    return sr.option(str(c["Id"]), name)


def open_modal(bot: Bot, text: str = "install") -> dict[str, Any]:
    assert bot.command(text).status_code == 200
    return bot.opened_view()


def choose(bot: Bot, view: dict[str, Any], name: str) -> dict[str, Any]:
    """Pick a connector in the modal as Slack would report it; return the updated view."""
    before = len(bot.slack.calls("views.update"))
    values = sr.state_values({"connector": sr.select_input(connector_option(bot, name))})
    v = sr.view_payload(view, values=values, view_id=view["id"])
    response = bot.post(
        sr.block_actions_request(
            "connector", view=v, selected_option=connector_option(bot, name), action_type="external_select"
        )
    )
    assert response.status_code == 200
    bot.slack.wait_for("views.update", count=before + 1)
    return bot.slack.view(view["id"])


def submit(bot: Bot, view: dict[str, Any], name: str, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "connector": sr.select_input(connector_option(bot, name)),
        "name": fields.pop("install_name", name),
    }
    values.update(fields)
    response = bot.submit(view, values)
    assert response.status_code == 200, response.text
    return response.json() if response.text else {}


def outcome_view(bot: Bot, view_id: str) -> dict[str, Any]:
    bot.wait_idle()
    return bot.slack.view(view_id)


def text_of(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def test_install_with_words_preselects_the_best_match_once_loaded(bot: Bot) -> None:
    view = open_modal(bot, "install salesforc")
    assert "Loading" in text_of(view)
    bot.slack.wait_for("views.update", predicate=lambda c: c.args.get("view_id") == view["id"])
    updated = bot.slack.view(view["id"])
    connector = next(b for b in updated["blocks"] if b.get("block_id") == "connector")
    assert connector["element"]["initial_option"]["value"] == str(
        bot.sandbox.connector_by_name("Salesforce")["Id"]
    )
    assert connector["element"]["type"] == "external_select"


def test_warm_install_preselects_in_the_opened_view(warm_bot: Bot) -> None:
    view = open_modal(warm_bot, "install hub spot")
    connector = next(b for b in view["blocks"] if b.get("block_id") == "connector")
    assert connector["element"]["initial_option"]["text"]["text"].startswith("HubSpot")


def test_typeahead_serves_at_most_100_valid_options(warm_bot: Bot) -> None:
    view = open_modal(warm_bot)
    from bot.playground.standin import validate_options_response

    for query in ("", "g", "google sheet", "zzzzzz", "<!channel>"):
        answer = warm_bot.options(query, view)
        assert validate_options_response(answer) == [], query
        assert 1 <= len(answer["options"]) <= 100
    sheets = warm_bot.options("gsheets", view)["options"]
    assert any(o["text"]["text"].startswith("Google Sheets") for o in sheets[:3])


def test_choosing_a_connector_swaps_in_its_fields(warm_bot: Bot) -> None:
    bot = warm_bot
    view = open_modal(bot)
    assert "api_key" not in block_ids(view)
    stripe = choose(bot, view, "Stripe")
    assert "api_key" in block_ids(stripe) and "password" not in block_ids(stripe)
    name_block = next(b for b in stripe["blocks"] if b.get("block_id") == "name")
    assert name_block["element"]["initial_value"] == "Stripe"
    jira = choose(bot, stripe, "Jira")
    assert {"username", "password"} <= set(block_ids(jira)) and "api_key" not in block_ids(jira)
    sf = choose(bot, jira, "Salesforce")
    assert not {"api_key", "username", "password"} & set(block_ids(sf))
    assert "sign-in link" in text_of(sf)
    zendesk = choose(bot, sf, "Zendesk")
    assert "prop:Subdomain" in block_ids(zendesk)


def test_api_key_install_end_to_end(warm_bot: Bot) -> None:
    bot = warm_bot
    view = open_modal(bot)
    answer = submit(bot, view, "Stripe", install_name="Payments", api_key="sk_live_abcdef123")
    assert answer["response_action"] == "update"
    assert "Installing" in text_of(answer["view"])
    final = outcome_view(bot, view["id"])
    assert "Payments" in text_of(final) and "Acme" in text_of(final)
    installed = bot.sandbox.installed()
    assert [i["Name"] for i in installed] == ["Payments"]
    received = bot.sandbox.auth_received(bot.sandbox.default_account_id, installed[0]["Id"])
    assert received.sha256 == hashlib.sha256(b"sk_live_abcdef123").hexdigest()
    dm = bot.slack.wait_for("chat.postMessage", predicate=lambda c: c.args["channel"].startswith("D"))[0]
    assert "Payments" in text_of(dm.args) and "sk_live" not in text_of(dm.args)
    bot.wait_idle()
    # One team notification, kept up to date in place (an update follows only when the
    # install was still pending as it was first posted).
    [post] = bot.slack.calls("chat.postMessage", predicate=lambda c: c.args["channel"] == NOTIFY_CHANNEL)
    updates = bot.slack.calls("chat.update", predicate=lambda c: c.args["channel"] == NOTIFY_CHANNEL)
    assert all(u.args["ts"] == post.response["ts"] for u in updates)
    latest = (updates[-1] if updates else post).args
    assert "U0001" in text_of(latest) and "Stripe" in text_of(latest) and "authenticated" in text_of(latest)
    record = bot.services.store.install_by_key(view["id"])
    assert record is not None and record.state is InstallState.AUTHENTICATED


def test_basic_install_sends_base64_credentials(warm_bot: Bot) -> None:
    bot = warm_bot
    view = open_modal(bot)
    submit(bot, view, "Jira", username="ops", password="s3cret pass")
    bot.wait_idle()
    installed = bot.sandbox.installed()[0]
    received = bot.sandbox.auth_received(bot.sandbox.default_account_id, installed["Id"])
    expected = base64.b64encode(b"ops:s3cret pass").decode()
    assert received.kind == "basic" and received.sha256 == hashlib.sha256(expected.encode()).hexdigest()


def test_oauth_install_dms_an_authorise_button_that_mints_on_click(warm_bot: Bot) -> None:
    bot = warm_bot
    view = open_modal(bot)
    submit(bot, view, "Salesforce")
    bot.wait_idle()
    assert bot.sandbox.signin_tokens_issued == 0  # nothing minted before a click
    dm = bot.slack.wait_for("chat.postMessage", predicate=lambda c: c.args["channel"].startswith("D"))[0]
    button = next(
        e
        for b in dm.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == "authorise"
    )
    assert "url" not in button
    message = {"type": "message", "ts": dm.response["ts"], "blocks": dm.args["blocks"]}  # not ephemeral
    bot.action("authorise", value=button["value"], channel_id=dm.args["channel"], message=message)
    update = bot.slack.wait_for("chat.update", predicate=lambda c: c.args["channel"].startswith("D"))[0]
    assert update.args["ts"] == dm.response["ts"]
    link = next(
        e for b in update.args["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("url")
    )
    assert bot.sandbox.signin_tokens_issued == 1

    def in_dm(call: Any) -> bool:
        return bool(call.args["channel"].startswith("D"))

    def click_new_link(blocks: list[dict[str, Any]]) -> None:
        actions = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
        button = next(e for e in actions if e.get("action_id") == "new_link")
        bot.action("new_link", value=button["value"], channel_id=dm.args["channel"], message=message)

    # "Get a new link" before signing in mints a fresh one in place.
    click_new_link(update.args["blocks"])
    update = bot.slack.wait_for("chat.update", count=2, predicate=in_dm)[1]
    assert bot.sandbox.signin_tokens_issued == 2
    link = next(
        e for b in update.args["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("url")
    )
    assert bot.sandbox.click_through(link["url"]).redirected
    assert bot.sandbox.installed()[0]["Authenticated"] is True
    # A spent link is refused by Cyclr; once authorised, "Get a new link" mints nothing and says so.
    assert bot.sandbox.click_through(link["url"]).status == 403
    click_new_link(update.args["blocks"])
    last = bot.slack.wait_for("chat.update", count=3, predicate=in_dm)[2]
    assert "is authorised in" in json.dumps(last.args)
    assert bot.sandbox.signin_tokens_issued == 2


def test_no_auth_install(warm_bot: Bot) -> None:
    view = open_modal(warm_bot)
    submit(warm_bot, view, "Webhook", install_name="Orders")
    final = outcome_view(warm_bot, view["id"])
    post = [r for r in warm_bot.sandbox.requests if r.path.endswith("/install")][0]
    assert post.json == {"Name": "Orders"}
    assert "Orders" in text_of(final)


def test_field_errors_answer_inside_the_modal(warm_bot: Bot) -> None:
    view = open_modal(warm_bot)
    answer = submit(warm_bot, view, "Stripe", api_key="")
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {"api_key"}
    answer = submit(warm_bot, view, "Jira", install_name="x" * 101, username="a:b", password="")
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {"name", "username", "password"}
    assert warm_bot.sandbox.count("POST", path_prefix="/v1.0/connectors/") == 0


def test_one_name_submitted_twice_at_once_installs_once(warm_bot: Bot) -> None:
    """Both jobs may find the name free; Cyclr refuses the second POST, and that user is told."""
    bot = warm_bot
    views = [open_modal(bot), open_modal(bot)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda view: submit(bot, view, "Webhook", install_name="Twin"), views))
    bot.wait_idle()
    records = [bot.services.store.install_by_key(view["id"]) for view in views]
    states = sorted(r.state for r in records if r is not None)
    assert states == [InstallState.AUTHENTICATED, InstallState.FAILED]
    assert [c["Name"] for c in bot.sandbox.installed()].count("Twin") == 1
    loser = next(v for v, r in zip(views, records, strict=True) if r and r.state is InstallState.FAILED)
    assert "is in use" in text_of(outcome_view(bot, loser["id"]))


def test_duplicate_name_tells_the_user_to_choose_another(warm_bot: Bot) -> None:
    bot = warm_bot
    first = open_modal(bot)
    submit(bot, first, "Webhook", install_name="Hook")
    assert "Hook" in text_of(outcome_view(bot, first["id"]))  # installed: the name is now in use
    second = open_modal(bot)
    submit(bot, second, "Webhook", install_name="Hook")
    final = outcome_view(bot, second["id"])
    assert "is in use" in text_of(final) and "another name" in text_of(final).lower()
    record = bot.services.store.install_by_key(second["id"])
    assert record is not None and record.state is InstallState.FAILED


def test_cyclr_server_error_is_explained(warm_bot: Bot) -> None:
    bot = warm_bot
    bot.sandbox.faults.add(Fault("status", status=503, method="POST", path_prefix="/v1.0/connectors/"))
    view = open_modal(bot)
    submit(bot, view, "Webhook")
    final = outcome_view(bot, view["id"])
    assert "internal error" in text_of(final)
    assert bot.sandbox.installed() == []


def test_double_submit_installs_once(warm_bot: Bot) -> None:
    bot = warm_bot
    bot.sandbox.install_latency = 0.5
    view = open_modal(bot)
    first = submit(bot, view, "Webhook")
    second = submit(bot, view, "Webhook")
    assert first["response_action"] == second["response_action"] == "update"
    bot.wait_idle()
    assert bot.sandbox.count("POST", path_prefix="/v1.0/connectors/") == 1
    assert len(bot.sandbox.installed()) == 1


def test_acks_stay_fast_with_a_slow_cyclr_and_20_concurrent_submissions(warm_bot: Bot) -> None:
    bot = warm_bot
    bot.sandbox.install_latency = 2.0
    views = [open_modal(bot) for _ in range(20)]

    def timed_submit(i: int) -> float:
        start = time.perf_counter()
        submit(bot, views[i], "Webhook", install_name=f"Hook {i}")
        return time.perf_counter() - start

    with ThreadPoolExecutor(20) as pool:
        durations = list(pool.map(timed_submit, range(20)))
    assert max(durations) < 1.5, (
        f"slowest ack {max(durations):.2f}s, median {statistics.median(durations):.2f}s"
    )
    assert wait_idle(bot.services, 30)
    assert len(bot.sandbox.installed()) == 20


@pytest.mark.parametrize("bad_metadata", ["", "not json", json.dumps({"t": 1}), json.dumps([1, 2])])
def test_tampered_metadata_gets_a_clear_answer(warm_bot: Bot, bad_metadata: str) -> None:
    view = dict(open_modal(warm_bot), private_metadata=bad_metadata)
    answer = submit(warm_bot, view, "Webhook")
    assert answer["response_action"] == "errors" and "out of date" in answer["errors"]["connector"]
