"""No secret reaches a log line, a Slack message or the database, across every install kind,
nor from a request that fails verification."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pytest
from sqlalchemy import text

from bot.logs import configure_logging
from bot.playground import payloads as sr
from bot.web.app import MAX_BODY
from tests.e2e.harness import BOT_TOKEN, Bot

API_KEY = "sk_live_SECRETKEY_0123456789"
USERNAME = "ops-user"
PASSWORD = "Pa55-SECRET-word!"


@pytest.fixture
def log_capture() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    configure_logging("DEBUG", "text", stream=stream)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)  # the noisiest library, on purpose
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def install(bot: Bot, connector: str, **fields: Any) -> None:
    bot.command("install")
    view = bot.opened_view()
    c = bot.sandbox.connector_by_name(connector)
    values = {"connector": sr.select_input(sr.option(str(c["Id"]), connector)), "name": connector, **fields}
    assert bot.submit(view, values).json()["response_action"] == "update"
    bot.wait_idle()


def test_no_secret_anywhere_after_every_kind_of_install(warm_bot: Bot, log_capture: io.StringIO) -> None:
    bot = warm_bot
    install(bot, "Stripe", api_key=API_KEY)
    install(bot, "Jira", username=USERNAME, password=PASSWORD)
    install(bot, "Salesforce")
    # Authorise the OAuth connector: mints a sign-in token, put in a DM URL button.
    dm = bot.slack.wait_for("chat.postMessage", predicate=lambda c: "authorise" in json.dumps(c.args))[0]
    button = next(
        e
        for b in dm.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == "authorise"
    )
    message = {"type": "message", "ts": dm.response["ts"], "blocks": dm.args["blocks"]}  # not ephemeral
    bot.action("authorise", value=button["value"], channel_id=dm.args["channel"], message=message)
    update = bot.slack.wait_for("chat.update", predicate=lambda c: c.args["channel"].startswith("D"))[0]
    link = next(
        e["url"]
        for b in update.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("url")
    )
    signin_token = re.search(r"token=([^&]+)", link)
    assert signin_token is not None
    bot.wait_idle()
    logging.getLogger("test").info("every secret below must be masked: %s %s", API_KEY, BOT_TOKEN)

    access_tokens = {
        r.header("Authorization").split(" ", 1)[1] for r in bot.sandbox.requests if r.header("Authorization")
    }
    assert access_tokens
    basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    secrets = {
        "api key": API_KEY,
        "password": PASSWORD,
        "basic auth value": basic,
        "client secret": bot.services.settings.cyclr_client_secret,
        "slack token": BOT_TOKEN,
        "signing secret": sr.SIGNING_SECRET,
        "sign-in token": signin_token.group(1),
    }
    secrets.update({f"access token {i}": t for i, t in enumerate(sorted(access_tokens))})

    logs = log_capture.getvalue()
    assert "[redacted]" in logs and "/signintoken" in logs  # the capture saw the run, urllib3 included
    slack_bodies = []
    for call in bot.slack.calls():
        args = dict(call.args)
        if call.method == "chat.update" and args.get("channel", "").startswith("D"):
            # The one place a sign-in URL may live: a URL button in the requester's DM.
            args["blocks"] = [b for b in args.get("blocks", []) if b.get("type") != "actions"]
        slack_bodies.append(json.dumps(args))
    slack_text = "\n".join(slack_bodies)
    with bot.services.store.engine.connect() as conn:
        db_text = "\n".join(
            json.dumps([str(v) for v in row])
            for table in ("cyclr_installs", "cyclr_channel_bindings", "cyclr_link_refs")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )
    assert "Stripe" in db_text and "Jira" in db_text
    for name, value in secrets.items():
        assert value not in logs, f"{name} in the logs"
        assert value not in slack_text, f"{name} in a Slack message"
        assert value not in db_text, f"{name} in the database"


# -- requests that fail verification -------------------------------------------------------------------


def encodings(value: str) -> set[str]:
    """``value`` as a form body or JSON may carry it (what a logged body would show)."""
    return {value, quote_plus(value), quote(value, safe=""), json.dumps(value)[1:-1]}


@pytest.mark.parametrize("how", ["stale", "wrong secret"])
def test_a_refused_submission_leaves_no_trace_of_its_secrets(
    bot: Bot, log_capture: io.StringIO, how: str
) -> None:
    """The review's experiment: Bolt logged the whole refused body, typed key and password too."""
    payload = sr.view_submission_payload(
        user_id="UADMIN01", values={"api_key": API_KEY, "username": USERNAME, "password": PASSWORD}
    )
    if how == "stale":
        request = sr.interactive_request(payload, timestamp=int(time.time()) - 301)
    else:
        request = sr.interactive_request(payload, signing_secret="not-the-signing-secret")
    assert quote_plus(PASSWORD) in request[0].decode()  # the body carries them URL-encoded
    response = bot.post(request)
    assert response.status_code == 401, response.text
    assert response.json() == {"ok": False, "error": "invalid request"}
    logs = log_capture.getvalue()
    assert "failed signature verification" in logs  # the capture saw the refusal
    for secret in (API_KEY, PASSWORD):
        for form in encodings(secret):
            assert form not in logs, f"{form!r} in the log:\n{logs[-2000:]}"
    assert "view_submission" not in logs and "payload" not in logs  # nothing of the body at all


def test_an_unsigned_megabyte_writes_one_short_line(bot: Bot, log_capture: io.StringIO) -> None:
    fields = sr.slash_command_fields("help", user_id="UADMIN01")
    fields["text"] = ""
    room = MAX_BODY - len(urlencode(fields).encode())
    fields["text"] = "A" * room  # a well-formed slash command of exactly 1 MiB
    body = urlencode(fields).encode()
    assert len(body) == MAX_BODY
    before = len(log_capture.getvalue())
    response = bot.post((body, {"Content-Type": "application/x-www-form-urlencoded"}))
    assert response.status_code == 401, response.text[:300]
    # What the bot wrote: not this test's HTTP client (urllib3) nor the harness's server (werkzeug).
    written = [
        line
        for line in log_capture.getvalue()[before:].splitlines()
        if " urllib3." not in line and " werkzeug " not in line
    ]
    assert len(written) == 1 and len(written[0]) < 300, "\n".join(written)[:1000]
    assert "failed signature verification" in written[0]
