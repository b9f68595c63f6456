"""Authorisation links as an attacker sees them: a ref that leaked (a proxy, a log, browser
history, Cyclr's side of ``targetOrigin``), a dead one, a cross-site form, the database.

A sign-in token can re-authorise the customer's connector to someone else's third-party
account, so the figure that matters is how many tokens were minted: counted from the Cyclr
sandbox's request log (``POST …/signintoken``), not from the bot's own account of it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.logs import MAX_SECRETS, configure_logging, redact, register_secret
from bot.services.installs import CREDENTIALS_TTL
from bot.slack.ids import encode_value
from tests.e2e.harness import Bot, running_bot
from tests.e2e.test_links import buttons, click, install_oauth, mints, page_get, press_link

OTHER_USER = "UOTHER001"


@pytest.fixture
def public_bot(tmp_path: Path) -> Iterator[Bot]:
    with running_bot(tmp_path, public=True) as bot:
        bot.services.catalogue.get(bot.services.accounts.default_account_id, timeout=30)
        bot.services.notifier.first_check = 0.2
        bot.slack.add_user(OTHER_USER, name="someone-else")
        yield bot


def post(bot: Bot, url: str, **headers: str) -> requests.Response:
    return bot.http.post(url, timeout=10, allow_redirects=False, headers=headers)


def return_id_of(location: str) -> str:
    (target_origin,) = parse_qs(urlsplit(location).query)["targetOrigin"]
    return target_origin.rsplit("/", 1)[1]


def table_dump(bot: Bot) -> str:
    """Every cell of the link table, read straight from the SQLite file."""
    path = bot.services.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT * FROM cyclr_link_refs").fetchall()
    return json.dumps(rows, default=str)


def wait_until(condition: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- a ref seen by someone else -------------------------------------------------------------------------


def test_a_leaked_ref_mints_nothing_without_its_owners_click(public_bot: Bot) -> None:
    bot = public_bot
    dm, _ = install_oauth(bot)
    page_url = buttons(dm)["open_link"]["url"]
    # Someone with the URL (a proxy log, browser history): the page shows, Continue mints nothing.
    assert page_get(bot, page_url).status_code == 200
    refused = post(bot, page_url)
    assert refused.status_code == 403 and "Press the button in Slack" in refused.text
    # Another Slack user clicking it (were it ever shown to them) does not arm it either.
    press_link(bot, dm, user_id=OTHER_USER)
    assert post(bot, page_url).status_code == 403
    assert mints(bot) == 0
    # The owner's click arms it, even when the browser's GET came first: one mint.
    assert page_get(bot, page_url).status_code == 200
    press_link(bot, dm)
    assert post(bot, page_url).status_code == 303
    assert mints(bot) == 1
    # Replaying the POST (or a second tab) finds the one mint spent.
    replay = post(bot, page_url)
    assert replay.status_code == 403 and "Press the button in Slack" in replay.text
    assert mints(bot) == 1
    # Each new click by the owner allows one more.
    press_link(bot, dm)
    assert post(bot, page_url).status_code == 303
    assert mints(bot) == 2


def test_an_arming_that_ran_out_mints_nothing(public_bot: Bot) -> None:
    bot = public_bot
    bot.services.links.arm_window = timedelta(0)
    dm, _ = install_oauth(bot)
    page_url = press_link(bot, dm)
    assert post(bot, page_url).status_code == 403
    assert mints(bot) == 0


def test_the_target_origin_value_mints_nothing(public_bot: Bot) -> None:
    bot = public_bot
    dm, _ = install_oauth(bot)
    page_url = press_link(bot, dm)
    location = post(bot, page_url).headers["Location"]
    return_id = return_id_of(location)
    assert return_id and return_id not in page_url
    press_link(bot, dm)  # the owner's click is there: only the value differs
    for method in ("GET", "POST"):
        response = bot.http.request(
            method, f"{bot.url}/authorise/{return_id}", timeout=10, allow_redirects=False
        )
        assert response.status_code == 404, (method, response.status_code)
    assert mints(bot) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.bot.example"},
        {"Origin": "null"},  # a sandboxed frame elsewhere
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_cross_site_post_is_refused(public_bot: Bot, headers: dict[str, str]) -> None:
    bot = public_bot
    dm, _ = install_oauth(bot)
    page_url = press_link(bot, dm)
    refused = post(bot, page_url, **headers)
    assert refused.status_code == 403 and "another site" in refused.text
    assert mints(bot) == 0
    # The page's own form, as a browser sends it (Referrer-Policy no-referrer makes Origin null).
    own = post(bot, page_url, Origin="null", **{"Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 303
    assert mints(bot) == 1


def test_the_pages_own_origin_may_post(public_bot: Bot) -> None:
    bot = public_bot
    dm, _ = install_oauth(bot)
    page_url = press_link(bot, dm)
    assert post(bot, page_url, Origin=bot.url).status_code == 303
    assert mints(bot) == 1


# -- dead refs ------------------------------------------------------------------------------------------


def _authorised_in_cyclr_only(bot: Bot, dm: dict[str, Any], record: Any) -> None:
    bot.sandbox.set_authenticated(record.account_id, record.account_connector_id)


def _authorised_through_the_link(bot: Bot, dm: dict[str, Any], record: Any) -> None:
    location = post(bot, press_link(bot, dm)).headers["Location"]
    outcome = bot.sandbox.click_through(location)
    assert outcome.redirected
    assert "is authorised" in page_get(bot, outcome.location).text
    bot.wait_idle()


def _wait_ran_out(bot: Bot, dm: dict[str, Any], record: Any) -> None:
    bot.services.notifier.watch_for = 0.5
    bot.services.notifier.first_check = 0.1
    assert post(bot, press_link(bot, dm)).status_code == 303  # a token that was never used
    bot.slack.wait_for("chat.update", timeout=10, predicate=lambda c: "has expired" in json.dumps(c.args))


def _uninstalled(bot: Bot, dm: dict[str, Any], record: Any) -> None:
    value = encode_value({"a": record.account_id, "ac": record.account_connector_id})
    assert bot.action("uninstall", value=value, user_id="UADMIN01").status_code == 200
    bot.wait_idle()
    wait_until(
        lambda: all(c["Id"] != record.account_connector_id for c in bot.sandbox.installed(record.account_id)),
        "the uninstall",
    )


def _replaced_by_cyclr_auth(bot: Bot, dm: dict[str, Any], record: Any) -> None:
    bot.command("auth salesforce")
    bot.wait_idle()
    bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.args["channel"] == dm["channel"] and c.response["ts"] != dm["ts"],
    )


@pytest.mark.parametrize(
    "kill",
    [
        _authorised_in_cyclr_only,
        _authorised_through_the_link,
        _wait_ran_out,
        _uninstalled,
        _replaced_by_cyclr_auth,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_dead_ref_mints_nothing(public_bot: Bot, kill: Any) -> None:
    bot = public_bot
    dm, record = install_oauth(bot)
    kill(bot, dm, record)
    before = mints(bot)
    page_url = press_link(bot, dm)  # even the owner's fresh click
    response = post(bot, page_url)
    assert response.status_code in (403, 404, 410), response.status_code
    assert mints(bot) == before


def test_a_link_lives_an_hour_by_default(public_bot: Bot) -> None:
    bot = public_bot
    dm, _ = install_oauth(bot)
    expiry = re.search(r"<!date\^(\d+)\^", json.dumps(dm["blocks"]))  # "The link works until <date>"
    assert expiry is not None
    assert int(expiry.group(1)) - time.time() <= 3600


# -- what the return page and the database give away ----------------------------------------------------


def test_the_return_page_says_nothing_about_a_dead_or_unknown_id(public_bot: Bot) -> None:
    bot = public_bot
    dm, record = install_oauth(bot)
    page_url = press_link(bot, dm)
    ref = page_url.rsplit("/", 1)[1]
    return_id = return_id_of(post(bot, page_url).headers["Location"])
    live = page_get(bot, f"{bot.url}/authorised/{return_id}")
    assert live.status_code == 200 and "Salesforce" in live.text  # the owner, just back from Cyclr
    bot.services.links.return_window = timedelta(0)  # ... and later
    answers = [page_get(bot, f"{bot.url}/authorised/{value}") for value in (return_id, ref, "A" * 43, "nope")]
    for answer in answers:
        assert answer.status_code == 404 and "This link is no longer valid" in answer.text
        for secret in ("Salesforce", "Acme", record.user_id, record.account_id):
            assert secret not in answer.text, secret
    assert len({answer.text for answer in answers}) == 1  # dead and unknown look the same


def test_only_hashes_of_refs_and_return_ids_are_stored(public_bot: Bot) -> None:
    bot = public_bot
    dm, _ = install_oauth(bot)
    page_url = press_link(bot, dm)
    ref = page_url.rsplit("/", 1)[1]
    return_id = return_id_of(post(bot, page_url).headers["Location"])
    dump = table_dump(bot)
    assert ref not in dump and return_id not in dump
    assert hashlib.sha256(ref.encode()).hexdigest() in dump
    assert hashlib.sha256(return_id.encode()).hexdigest() in dump


def test_dead_links_are_pruned(public_bot: Bot) -> None:
    bot = public_bot

    def new_link(ttl: timedelta, connector: int) -> str:
        return str(
            bot.services.links.create_ref(
                team_id="T0001",
                user_id="U0001",
                account_id="acme-prod",
                account_connector_id=connector,
                connector_name="X",
                ttl=ttl,
            ).ref
        )

    def stored() -> int:
        return len(json.loads(table_dump(bot)))

    long_dead = new_link(timedelta(days=-2), 1)  # dead for a day and more
    recently_dead = new_link(timedelta(seconds=-1), 2)
    new_link(timedelta(hours=1), 3)
    assert stored() == 3
    bot.services.queue.enqueue("prune-links")  # the timed job, run now
    bot.wait_idle()
    assert stored() == 2 and hashlib.sha256(long_dead.encode()).hexdigest() not in table_dump(bot)
    assert page_get(bot, f"{bot.url}/authorise/{recently_dead}").status_code == 410  # still says why
    assert page_get(bot, f"{bot.url}/authorise/{long_dead}").status_code == 404


def test_no_ref_or_return_id_in_the_log(public_bot: Bot) -> None:
    bot = public_bot
    stream = io.StringIO()
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    configure_logging("DEBUG", "text", stream=stream)  # slack_sdk logs its calls' bodies at DEBUG
    try:
        dm, _ = install_oauth(bot)
        page_url = press_link(bot, dm)
        assert page_get(bot, page_url).status_code == 200
        return_id = return_id_of(post(bot, page_url).headers["Location"])
        assert page_get(bot, f"{bot.url}/authorised/{return_id}").status_code == 200
        bot.wait_idle()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
    logged = stream.getvalue()
    ref = page_url.rsplit("/", 1)[1]
    assert "/authorise/[redacted]" in logged  # the request lines were there, masked
    assert ref not in logged and return_id not in logged


def test_links_made_in_numbers_leave_every_secret_masked(public_bot: Bot) -> None:
    """The log's registry of values to mask is bounded (MAX_SECRETS; when full, what expires
    soonest goes). Links come one per press of *Get a new link*, so a stream of them must push
    out neither a setting such as the Cyclr client secret nor an API key typed a moment ago,
    and their refs stay masked all the same."""
    bot = public_bot
    setting = bot.services.settings.cyclr_client_secret
    register_secret(setting)  # as `cyclr-bot run` does for each secret setting
    issued = [
        bot.services.links.create_ref(
            team_id="T0001",
            user_id="U0001",
            account_id="acme-prod",
            account_connector_id=n,
            connector_name="X",
        )
        for n in range(1, MAX_SECRETS + 20)
    ]
    typed = f"typed-api-key-{secrets.token_hex(8)}"
    register_secret(typed, ttl=CREDENTIALS_TTL)  # as an install does with the key typed into it
    assert redact(f"a body quoting {setting} and {typed}") == "a body quoting [redacted] and [redacted]"
    for link in (issued[0], issued[-1]):
        assert redact(f"GET /authorise/{link.ref}") == "GET /authorise/[redacted]"


# -- transport ----------------------------------------------------------------------------------------


def test_pages_send_hsts_when_the_public_url_is_https(tmp_path: Path) -> None:
    with running_bot(tmp_path, public_url="https://cyclr-bot.example.com") as bot:
        link = bot.services.links.create_ref(
            team_id="T0001",
            user_id="U0001",
            account_id="acme-prod",
            account_connector_id=1,
            connector_name="X",
        )
        path = urlsplit(bot.services.links.page_url(link)).path
        assert bot.services.links.page_url(link).startswith("https://cyclr-bot.example.com/authorise/")
        for response in (
            page_get(bot, bot.url + path),
            page_get(bot, bot.url + "/authorise/unknown"),
            page_get(bot, bot.url + "/authorised/unknown"),
        ):
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_no_hsts_over_plain_http_on_loopback(public_bot: Bot) -> None:
    assert "Strict-Transport-Security" not in page_get(public_bot, public_bot.url + "/authorise/x").headers


# -- the Authorise button on an ephemeral message in a DM ----------------------------------------------


@pytest.mark.parametrize("public", [False, True], ids=["minted-in-slack", "page"])
def test_authorise_on_an_ephemeral_dm_message_sends_a_new_dm(tmp_path: Path, public: bool) -> None:
    """`/cyclr list` run in the DM answers with an ephemeral message, whose Authorise buttons
    carry ``container.is_ephemeral``: chat.update cannot touch it."""
    with running_bot(tmp_path, public=public) as bot:
        bot.services.catalogue.get(bot.services.accounts.default_account_id, timeout=30)
        dm, record = install_oauth(bot)
        bot.slack.clear()
        value = encode_value({"a": record.account_id, "ac": record.account_connector_id})
        ephemeral_ts = "1700000099.000200"
        response = bot.action(
            "authorise",
            value=value,
            channel_id=dm["channel"],
            message_ts=ephemeral_ts,
            response_url=bot.slack.response_url("eph"),
        )  # no message: Slack sends none for an ephemeral one, and is_ephemeral is true
        assert response.status_code == 200
        bot.wait_idle()
        posted = bot.slack.wait_for(
            "chat.postMessage", predicate=lambda c: c.args["channel"] == dm["channel"]
        )[-1]
        assert "open_link" in json.dumps(posted.args)
        assert "direct message" in json.dumps([c.args for c in bot.slack.response_posts("eph")])
        assert bot.slack.calls("chat.update") == []
        assert mints(bot) == (0 if public else 1)  # only for the link that was delivered
        if not public:
            url = buttons(posted.args)["open_link"]["url"]
            assert url.startswith(bot.sandbox.service_url + "/connectorauth/")


def test_authorise_on_the_dm_itself_updates_it_in_place(tmp_path: Path) -> None:
    with running_bot(tmp_path) as bot:
        bot.services.catalogue.get(bot.services.accounts.default_account_id, timeout=30)
        dm, _ = install_oauth(bot)
        click(bot, "authorise", dm)
        bot.wait_idle()
        update = bot.slack.wait_for("chat.update", predicate=lambda c: c.args["ts"] == dm["ts"])[-1]
        assert update.ok and "open_link" in json.dumps(update.args)
        assert mints(bot) == 1


# -- Socket Mode: the click arrives over the socket, the browser over HTTP ---------------------------


def test_in_socket_mode_the_owners_click_over_the_socket_arms_the_page(tmp_path: Path) -> None:
    """As ``cyclr-bot run`` with ``SLACK_APP_TOKEN`` and a public URL: the link pages on HTTP,
    every Slack request (the URL button's click too) over the socket."""
    from werkzeug.serving import make_server

    from bot.config import Settings
    from bot.cyclr.sandbox import CyclrSandbox
    from bot.playground import payloads as sr
    from bot.playground.socket_standin import SocketModeStandin
    from bot.runtime import build_services, build_worker, wait_idle
    from bot.slack.app import create_app
    from bot.slack.socket_mode import SocketModeClient
    from bot.web.app import create_web_app
    from tests.e2e.test_socket_mode import APP_TOKEN, request_and_ack

    holder: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["web"](env, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    with SocketModeStandin() as slack, CyclrSandbox() as sandbox:
        settings = Settings(
            slack_bot_token="xoxb-test-0001-socket-links",
            slack_app_token=APP_TOKEN,
            slack_api_url=slack.api_url,
            cyclr_api_url=sandbox.api_url,
            cyclr_client_id=sandbox.client_id,
            cyclr_client_secret=sandbox.client_secret,
            cyclr_account_id=sandbox.default_account_id,
            cyclr_service_url=sandbox.service_url,
            database_url=f"sqlite:///{tmp_path / 'bot.db'}",
            public_url=url,
            sandbox=True,
        )
        services = build_services(settings)
        app, messenger = create_app(services)
        consumer = build_worker(services, messenger).start()
        holder["web"] = create_web_app(services, None, socket_connected=lambda: True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client = SocketModeClient(app, APP_TOKEN)
        try:
            client.connect()
            account = sandbox.default_account_id
            salesforce = sandbox.connector_by_name("Salesforce")
            installed = sandbox.state.install(account, salesforce, {"Name": "Salesforce"})
            link = services.links.create_ref(
                team_id=sr.TEAM_ID,
                user_id=sr.DEFAULT_USER_ID,
                account_id=account,
                account_connector_id=int(installed["Id"]),
                connector_name="Salesforce",
            )
            page_url = services.links.page_url(link)
            http = requests.Session()
            assert http.get(page_url, timeout=10).status_code == 200  # the browser was quicker
            assert http.post(page_url, timeout=10, allow_redirects=False).status_code == 403
            click = sr.block_actions_payload(
                "open_link",
                value=encode_value({"l": link.id}),
                channel_id=sr.dm_channel_id(sr.DEFAULT_USER_ID),
                message={"type": "message", "ts": "1700000000.000300", "text": "", "blocks": []},
            )
            envelope = {
                "envelope_id": "click-1",
                "type": "interactive",
                "accepts_response_payload": False,
                "payload": click,
            }
            request_and_ack(slack, envelope)  # armed before the ack
            assert http.post(page_url, timeout=10, allow_redirects=False).status_code == 303
            assert http.post(page_url, timeout=10, allow_redirects=False).status_code == 403
            assert sum(1 for r in sandbox.requests if r.path.endswith("/signintoken")) == 1
        finally:
            client.close()
            server.shutdown()
            wait_idle(services, 10)
            consumer.stop()
            services.close()
