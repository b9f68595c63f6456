"""Authorisation links with a public URL: the page mints only on POST, and the loop closes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.playground import payloads as sr
from bot.store import InstallState
from tests.e2e.harness import NOTIFY_CHANNEL, Bot, running_bot


@pytest.fixture
def public_bot(tmp_path: Path) -> Iterator[Bot]:
    with running_bot(tmp_path, public=True) as bot:
        bot.services.catalogue.get(bot.services.accounts.default_account_id, timeout=30)
        bot.services.notifier.first_check = 0.2
        yield bot


def install_oauth(bot: Bot, connector: str = "Salesforce") -> tuple[dict[str, Any], Any]:
    """Install an OAuth connector through the modal; return (the DM call, the install record)."""
    bot.command("install")
    view = bot.opened_view()
    c = bot.sandbox.connector_by_name(connector)
    values = {"connector": sr.select_input(sr.option(str(c["Id"]), connector)), "name": connector}
    assert bot.submit(view, values).json()["response_action"] == "update"
    bot.wait_idle()
    dm = bot.slack.wait_for("chat.postMessage", predicate=lambda call: call.args["channel"].startswith("D"))[
        0
    ]
    record = bot.services.store.install_by_key(view["id"])
    return dm.args | {"ts": dm.response["ts"]}, record


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]}


def as_message(posted: dict[str, Any]) -> dict[str, Any]:
    """A posted message as Slack puts it in a ``block_actions`` from it (not ephemeral)."""
    return {"type": "message", "ts": posted["ts"], "text": posted.get("text", ""), "blocks": posted["blocks"]}


def click(bot: Bot, action_id: str, posted: dict[str, Any], **kw: Any) -> requests.Response:
    """Click a button of the bot's (non-ephemeral) DM ``posted``, as Slack reports it."""
    element = buttons(posted)[action_id]
    response = bot.action(
        action_id, value=element.get("value"), channel_id=posted["channel"], message=as_message(posted), **kw
    )
    assert response.status_code == 200, response.text
    return response


def press_link(bot: Bot, dm: dict[str, Any], **kw: Any) -> str:
    """Click the DM's URL button (Slack opens the browser and tells the bot); its page URL."""
    click(bot, "open_link", dm, **kw)
    return str(buttons(dm)["open_link"]["url"])


def page_get(bot: Bot, url: str) -> requests.Response:
    return bot.http.get(url, timeout=10, allow_redirects=False)


def mints(bot: Bot) -> int:
    """Cyclr sign-in tokens requested, from the sandbox's request log."""
    return sum(1 for r in bot.sandbox.requests if r.method == "POST" and r.path.endswith("/signintoken"))


def test_get_shows_the_page_and_mints_nothing(public_bot: Bot) -> None:
    bot = public_bot
    dm, record = install_oauth(bot)
    page_url = buttons(dm)["open_link"]["url"]
    assert page_url.startswith(bot.url + "/authorise/")
    for _ in range(3):  # an unfurler or a mail scanner fetching it
        response = page_get(bot, page_url)
        assert response.status_code == 200
    assert bot.sandbox.signin_tokens_issued == 0 and mints(bot) == 0
    assert "Salesforce" in response.text and "Acme" in response.text and 'method="post"' in response.text
    headers = response.headers
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert bot.sandbox.service_url in headers["Content-Security-Policy"]
    assert "<script" not in response.text and "http" not in response.text.split("<body>")[1].replace(
        "http-equiv", ""
    )


def test_post_mints_one_token_redirects_and_the_loop_closes(public_bot: Bot) -> None:
    bot = public_bot
    dm, record = install_oauth(bot)
    page_url = press_link(bot, dm)
    ref = page_url.rsplit("/", 1)[1]
    response = bot.http.post(page_url, timeout=10, allow_redirects=False)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(bot.sandbox.service_url + "/connectorauth/updateaccountconnectoroauth?")
    query = parse_qs(urlsplit(location).query)
    assert query["id"] == [str(record.account_connector_id)]
    (target_origin,) = query["targetOrigin"]
    assert target_origin.startswith(f"{bot.url}/authorised/") and ref not in target_origin
    assert bot.sandbox.signin_tokens_issued == 1 and mints(bot) == 1
    outcome = bot.sandbox.click_through(location)
    assert outcome.redirected and outcome.location == target_origin
    back = page_get(bot, outcome.location)
    assert back.status_code == 200 and "is authorised" in back.text and "close this tab" in back.text
    bot.wait_idle()
    settled = bot.services.store.get_install(record.id)
    assert settled is not None and settled.state is InstallState.AUTHENTICATED
    dm_update = bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: (
            c.args["channel"] == dm["channel"] and "authorised and ready" in json.dumps(c.args)
        ),
    )
    assert dm_update[-1].args["ts"] == dm["ts"]
    note = bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: (
            c.args["channel"] == NOTIFY_CHANNEL and ":white_check_mark: authorised" in json.dumps(c.args)
        ),
    )
    assert note
    # A spent Cyclr URL is refused, and the page is dead. A stale "Get a new link" on the
    # authorised connector makes no link (it could mint nothing): the DM says it is authorised.
    assert bot.sandbox.click_through(location).status == 403
    assert page_get(bot, page_url).status_code == 410
    def links() -> int:
        return len(bot.services.store.links_for_connector(record.account_id, record.account_connector_id))

    links_before = links()
    click(bot, "new_link", dm)
    bot.wait_idle()
    told = bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: c.args["channel"] == dm["channel"] and "is authorised in" in json.dumps(c.args),
    )[-1]
    assert told.args["ts"] == dm["ts"] and "open_link" not in json.dumps(told.args)
    assert links() == links_before
    assert bot.sandbox.signin_tokens_issued == 1


def test_watcher_notices_authorisation_without_the_browser_coming_back(public_bot: Bot) -> None:
    bot = public_bot
    dm, record = install_oauth(bot, "HubSpot")
    location = bot.http.post(press_link(bot, dm), timeout=10, allow_redirects=False).headers["Location"]
    assert bot.sandbox.click_through(location).redirected  # consent given; the redirect is not followed
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        current = bot.services.store.get_install(record.id)
        if current is not None and current.state is InstallState.AUTHENTICATED:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the watcher did not notice the authorisation")
    bot.wait_idle()
    key = f"watch-auth:{record.account_id}:{record.account_connector_id}"
    assert [job["state"] for job in bot.services.queue.find(key=key)] == ["done"]  # watched no longer


def test_watch_that_runs_out_offers_a_new_link(tmp_path: Path) -> None:
    with running_bot(tmp_path) as bot:
        bot.services.catalogue.get(bot.services.accounts.default_account_id, timeout=30)
        bot.services.notifier.watch_for = 0.5
        bot.services.notifier.first_check = 0.1
        dm, _ = install_oauth(bot)
        click(bot, "authorise", dm)
        expired = bot.slack.wait_for(
            "chat.update", timeout=10, predicate=lambda c: "has expired" in json.dumps(c.args)
        )[0]
        assert expired.args["ts"] == dm["ts"] and "new_link" in json.dumps(expired.args)


@pytest.mark.parametrize("ref", ["nope", "A" * 43, "../etc/passwd", "%00", "x" * 300])
def test_unknown_refs_get_a_page_saying_so(public_bot: Bot, ref: str) -> None:
    for method in ("GET", "POST"):
        response = public_bot.http.request(
            method, f"{public_bot.url}/authorise/{ref}", timeout=10, allow_redirects=False
        )
        assert response.status_code in (404, 410), (method, ref, response.status_code)
        if response.status_code == 404 and "text/html" in response.headers.get("Content-Type", ""):
            assert "/cyclr auth" in response.text
    assert public_bot.sandbox.signin_tokens_issued == 0


def test_expired_ref_gets_its_page(public_bot: Bot) -> None:
    bot = public_bot
    link = bot.services.links.create_ref(
        team_id="T0001",
        user_id="U0001",
        account_id="acme-prod",
        account_connector_id=1,
        connector_name="Salesforce",
        ttl=timedelta(seconds=-1),
    )
    for method in ("GET", "POST"):
        response = bot.http.request(
            method, f"{bot.url}/authorise/{link.ref}", timeout=10, allow_redirects=False
        )
        assert (
            response.status_code == 410
            and "expired" in response.text
            and "/cyclr auth Salesforce" in response.text
        )
    assert bot.sandbox.signin_tokens_issued == 0


def test_no_cyclr_url_or_token_in_any_slack_message_with_a_public_url(public_bot: Bot) -> None:
    bot = public_bot
    dm, _ = install_oauth(bot)
    assert bot.http.post(press_link(bot, dm), timeout=10, allow_redirects=False).status_code == 303
    bot.command("auth salesforce", response_url=bot.slack.response_url("a"))
    bot.wait_idle()
    everything = json.dumps([c.args for c in bot.slack.calls()])
    assert "connectorauth" not in everything and "token=" not in everything
    assert bot.sandbox.signin_tokens_issued == 1
