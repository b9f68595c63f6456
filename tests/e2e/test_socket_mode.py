"""Socket Mode against the stand-in for Slack's ``apps.connections.open`` and websocket.

The bot's Socket Mode client (``bot.slack.socket_mode``) calls ``apps.connections.open`` with
the app-level token on the same Web API base URL as the bot's other calls, twice (two
connections), and answers envelopes over the sockets: ``{"envelope_id": ..., "payload": ...}``
within Slack's 3 seconds, across Slack's refreshes and abrupt drops.

Most tests build the bot in-process (``build_services`` + ``create_app`` + the client); the
last one runs ``cyclr-bot run --sandbox`` as a subprocess with ``SLACK_APP_TOKEN`` set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.cyclr.sandbox import CyclrSandbox
from bot.playground import payloads as sr
from bot.playground.socket_standin import SocketModeStandin, events_envelope, slash_envelope
from bot.playground.standin import DEFAULT_USER_ID
from bot.runtime import WORKER_DRAIN, build_services, build_worker, wait_idle
from bot.slack.app import create_app
from bot.slack.blocks.common import SANDBOX_BLOCK_ID, SANDBOX_PREFIX
from bot.slack.socket_mode import SocketModeClient

BOT_TOKEN = "xoxb-test-0001-socket-mode"
APP_TOKEN = "xapp-1-A0001-0001-socket-mode"
NOTIFY_CHANNEL = "CNOTIFY01"
ACK_DEADLINE = 3.0  # Slack's: an envelope not acked within 3 s counts as failed
CYCLR_BOT = Path(sys.executable).parent / "cyclr-bot"
_STRIPPED = ("SLACK_", "CYCLR_", "LOG_", "PORT", "WEB_CONCURRENCY", "WEB_THREADS")

Message = dict[str, Any]


# -- envelopes ----------------------------------------------------------------------------------------


def says_sandbox(message: Message) -> bool:
    banner = any(b.get("block_id") == SANDBOX_BLOCK_ID for b in message.get("blocks") or [])
    return banner and str(message.get("text", "")).startswith(SANDBOX_PREFIX)


def request_and_ack(
    slack: SocketModeStandin, envelope: Message, connection: int | None = None
) -> tuple[int, Message]:
    """Deliver an envelope and return (connection, ack), asserting the ack came within 3 s."""
    slack.deliver(envelope, connection)
    envelope_id = envelope["envelope_id"]
    assert slack.wait_acked([envelope_id], timeout=ACK_DEADLINE + 2), "no ack"
    ack, latency = slack.ack(envelope_id), slack.latency(envelope_id)
    assert ack is not None and latency is not None
    assert latency < ACK_DEADLINE, f"ack after {latency:.2f}s"
    return ack.connection, ack.message


# -- fixtures -------------------------------------------------------------------------------------------


@contextmanager
def socket_bot(tmp_path: Path, slack: SocketModeStandin) -> Iterator[SocketModeClient]:
    """The bot built in-process as ``_run_socket`` builds it, connected through ``slack``."""
    sandbox = CyclrSandbox().start()
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_api_url=slack.api_url,
        cyclr_api_url=sandbox.api_url,
        cyclr_client_id=sandbox.client_id,
        cyclr_client_secret=sandbox.client_secret,
        cyclr_account_id=sandbox.default_account_id,
        cyclr_service_url=sandbox.service_url,
        notify_channel=NOTIFY_CHANNEL,
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        sandbox=True,
    )
    assert settings.mode == "socket"
    services = build_services(settings)
    try:
        app, messenger = create_app(services)
        consumer = build_worker(services, messenger).start()
        client = SocketModeClient(app, APP_TOKEN)
        try:
            client.connect()
            assert client.wait_live(2, timeout=10)
            yield client
        finally:
            client.close()
    finally:
        wait_idle(services, 10)
        if "consumer" in locals():
            consumer.stop()
        services.close()
        sandbox.stop()


@pytest.fixture(scope="module")
def slack() -> Iterator[SocketModeStandin]:
    """One stand-in for the module's shared bot."""
    with SocketModeStandin() as standin:
        yield standin


@pytest.fixture(scope="module")
def bot(slack: SocketModeStandin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SocketModeClient]:
    """One connected bot shared by the tests that neither reconnect nor stop it."""
    with socket_bot(tmp_path_factory.mktemp("socket-bot"), slack) as client:
        yield client


@pytest.fixture
def own_slack() -> Iterator[SocketModeStandin]:
    """A stand-in of the test's own, for tests that reconnect or run the command line."""
    with SocketModeStandin() as standin:
        yield standin


# -- tests ----------------------------------------------------------------------------------------------


def test_connects_twice_with_the_app_token_on_the_configured_api_url(
    bot: SocketModeClient, slack: SocketModeStandin
) -> None:
    calls = slack.calls("apps.connections.open")
    assert len(calls) == 2
    assert {call.token for call in calls} == {APP_TOKEN}
    assert all(call.ok for call in calls)
    assert bot.is_connected()
    assert slack.is_open(0) and slack.is_open(1)


def test_slash_command_is_acked_over_the_socket_with_the_help_card(
    bot: SocketModeClient, slack: SocketModeStandin
) -> None:
    envelope = slash_envelope("help", response_url=slack.response_url("sock-help"))
    _, ack = request_and_ack(slack, envelope)
    assert set(ack) == {"envelope_id", "payload"}
    card = ack["payload"]
    text = json.dumps(card["blocks"])
    for sub in ("help", "search", "install", "list", "auth", "uninstall"):
        assert f"/cyclr {sub}" in text, sub
    assert says_sandbox(card), card
    assert slack.response_posts("sock-help") == []  # the answer went in the ack, not the hook


def test_each_connection_acks_what_came_on_it(bot: SocketModeClient, slack: SocketModeStandin) -> None:
    for connection in (0, 1):
        index, ack = request_and_ack(slack, slash_envelope("help"), connection)
        assert index == connection
        assert says_sandbox(ack["payload"])


def test_slow_command_acks_then_posts_to_response_url(
    bot: SocketModeClient, slack: SocketModeStandin
) -> None:
    envelope = slash_envelope("list", response_url=slack.response_url("sock-list"))
    _, ack = request_and_ack(slack, envelope)
    assert says_sandbox(ack["payload"])
    [post] = slack.wait_for(None, predicate=lambda c: c.hook == "sock-list", timeout=15)
    assert post.status == 200, post.summary()
    assert says_sandbox(post.args), post.args


def test_event_envelope_is_acked_empty_and_home_is_published(
    bot: SocketModeClient, slack: SocketModeStandin
) -> None:
    envelope = events_envelope(sr.app_home_opened_event(DEFAULT_USER_ID))
    _, ack = request_and_ack(slack, envelope)
    assert ack == {"envelope_id": envelope["envelope_id"]}
    [call] = slack.wait_for("views.publish", timeout=10)
    assert call.ok, call.summary()
    assert call.args["user_id"] == DEFAULT_USER_ID
    view = slack.home_view(DEFAULT_USER_ID)
    assert view is not None
    assert any(b.get("block_id") == SANDBOX_BLOCK_ID for b in view["blocks"])


def test_a_redelivered_command_is_answered_once(bot: SocketModeClient, slack: SocketModeStandin) -> None:
    envelope = slash_envelope("list", response_url=slack.response_url("sock-twice"))
    request_and_ack(slack, envelope, 0)
    slack.deliver(envelope, 1)  # Slack may deliver an envelope again
    deadline = time.monotonic() + 5
    while len(slack.acks_of(envelope["envelope_id"])) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [index for index, _ in slack.acks_of(envelope["envelope_id"])] == [0, 1]
    slack.wait_for(None, predicate=lambda c: c.hook == "sock-twice", timeout=15)
    time.sleep(1.0)
    assert len(slack.response_posts("sock-twice")) == 1  # one list, not two


def test_no_command_is_late_or_lost_across_a_refresh_and_a_drop(
    own_slack: SocketModeStandin, tmp_path: Path
) -> None:
    """N help commands at a steady pace; Slack refreshes both connections, then cuts both."""
    slack = own_slack
    with socket_bot(tmp_path, slack):
        envelopes = [slash_envelope("help") for _ in range(60)]
        for i, envelope in enumerate(envelopes):
            if i == 15:
                slack.refresh(close_after=2.0)
            if i == 40:
                slack.drop()
            slack.deliver(envelope)
            time.sleep(0.05)
        ids = [e["envelope_id"] for e in envelopes]
        slack.wait_acked(ids, timeout=15)
        tally = slack.tally(ids)
        lost = {i for i in ids if slack.ack(i) is None}
        # Only an envelope on the wire at the instant of the drop may be lost: no client
        # can ack what it never received. Late: generous for a loaded box (the client takes ms).
        assert lost <= slack.cut_off, f"lost after delivery: {tally}"
        assert tally.lost <= 2, tally
        assert tally.late <= 1, tally
        for envelope_id in ids:
            ack = slack.ack(envelope_id)
            assert ack is None or says_sandbox(ack.message["payload"])
        assert slack.open_connections() == 2
        assert len(slack.calls("apps.connections.open")) == 6  # 2, then 2 on refresh, 2 after the drop


def test_cli_run_in_socket_mode_answers_and_stops_on_sigterm(
    own_slack: SocketModeStandin, tmp_path: Path
) -> None:
    slack = own_slack
    if not CYCLR_BOT.exists():
        pytest.fail(f"the console script {CYCLR_BOT} is not installed (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED)}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=slack.api_url,
        CYCLR_BOT_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        CYCLR_NOTIFY_CHANNEL=NOTIFY_CHANNEL,
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(CYCLR_BOT), "--env-file", str(tmp_path / "no-such.env"), "run", "--sandbox"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output() -> str:
        return f"exit code {proc.poll()}\n{log.read_text(errors='replace')}"

    try:
        try:
            slack.wait_connections(2, timeout=30)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{output()}") from None
        _, ack = request_and_ack(slack, slash_envelope("help"))
        assert says_sandbox(ack["payload"]), ack
        assert "/cyclr search" in json.dumps(ack["payload"]["blocks"])

        proc.send_signal(signal.SIGTERM)
        # Stopping lets the worker child's running jobs finish (the timed ones start with it),
        # up to WORKER_DRAIN seconds; then the process must be gone.
        budget = WORKER_DRAIN + 10
        try:
            code = proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            pytest.fail(f"cyclr-bot still running {budget}s after SIGTERM\n{output()}")
        assert code == 0, output()
        assert "Traceback" not in output(), output()
        deadline = time.monotonic() + 3
        while slack.open_connections() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slack.open_connections() == 0, "a websocket outlived the process"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def test_cli_run_with_a_public_url_holds_the_sockets_in_the_web_worker(
    own_slack: SocketModeStandin, tmp_path: Path
) -> None:
    """With ``CYCLR_BOT_PUBLIC_URL`` gunicorn's worker holds both connections and /healthz says so."""
    import requests

    from tests.e2e.test_cli import free_port

    slack = own_slack
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED)}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=slack.api_url,
        CYCLR_BOT_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        CYCLR_NOTIFY_CHANNEL=NOTIFY_CHANNEL,
        CYCLR_BOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(CYCLR_BOT), "--env-file", str(tmp_path / "none.env"), "run", "--sandbox", f"--port={port}"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            slack.wait_connections(2, timeout=40)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{log.read_text(errors='replace')}") from None
        _, ack = request_and_ack(slack, slash_envelope("help"))
        assert says_sandbox(ack["payload"]), ack
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
        assert health["socket_mode_connected"] is True, health
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
