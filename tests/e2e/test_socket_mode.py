"""Socket Mode against a local stand-in for Slack's ``apps.connections.open`` and websocket.

The bot's Socket Mode client (slack_sdk's built-in one, through Bolt's ``SocketModeHandler``)
calls ``apps.connections.open`` with the app-level token on the same Web API base URL as the
bot's other calls, gets a ``ws://`` URL, connects, and then answers envelopes over the socket:
``{"envelope_id": ..., "payload": ...}`` within Slack's 3 seconds.

Most tests build the bot in-process (``build_services`` + ``create_app`` + the handler); the
last one runs ``cyclr-bot run --sandbox`` as a subprocess with ``SLACK_APP_TOKEN`` set.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from bot.config import Settings
from bot.cyclr.sandbox import CyclrSandbox
from bot.playground import payloads as sr
from bot.playground.standin import APP_ID, DEFAULT_USER_ID, SlackStandin
from bot.runtime import build_services
from bot.slack.app import create_app
from bot.slack.blocks.common import SANDBOX_BLOCK_ID, SANDBOX_PREFIX

BOT_TOKEN = "xoxb-test-0001-socket-mode"
APP_TOKEN = "xapp-1-A0001-0001-socket-mode"
NOTIFY_CHANNEL = "CNOTIFY01"
ACK_DEADLINE = 3.0  # Slack's: an envelope not acked within 3 s counts as failed
SDK_RECEIVE_TIMEOUT = 3.0  # slack_sdk.socket_mode.builtin.connection.Connection(receive_timeout=3)
CYCLR_BOT = Path(sys.executable).parent / "cyclr-bot"
_STRIPPED = ("SLACK_", "CYCLR_", "LOG_", "PORT", "WEB_CONCURRENCY", "WEB_THREADS")

Message = dict[str, Any]


class SocketModeSlack(SlackStandin):
    """The Web API stand-in plus Socket Mode: ``apps.connections.open`` and the websocket.

    Each ``apps.connections.open`` (app token ``xapp-…`` only, as Slack) hands out a fresh
    ``ws://127.0.0.1:PORT/link/?ticket=N``. Every connection gets Slack's ``hello`` first;
    messages the bot sends back are recorded with the index of the connection they came on.
    """

    def __init__(self) -> None:
        super().__init__()
        self._ws: Server | None = None
        self._ws_thread: threading.Thread | None = None
        self._ws_cond = threading.Condition()
        self._connections: list[ServerConnection] = []
        self._received: list[tuple[int, Message]] = []
        self._tickets = itertools.count(1)

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> SocketModeSlack:
        super().start()
        if self._ws is None:
            self._ws = serve(self._serve_ws, "127.0.0.1", 0, compression=None)
            self._ws_thread = threading.Thread(
                target=self._ws.serve_forever, name="socket-mode-standin", daemon=True
            )
            self._ws_thread.start()
        return self

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.shutdown()
            if self._ws_thread is not None:
                self._ws_thread.join(timeout=5)
        super().close()

    def __enter__(self) -> SocketModeSlack:
        return self.start()

    @property
    def ws_port(self) -> int:
        if self._ws is None:
            raise RuntimeError("the Socket Mode stand-in is not started")
        return int(self._ws.socket.getsockname()[1])

    # -- the Web API method -----------------------------------------------------------------------

    def _handle_api(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if method != "apps.connections.open":
            return super()._handle_api(method, args, token)
        if not token:
            return {"ok": False, "error": "not_authed"}
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": f"ws://127.0.0.1:{self.ws_port}/link/?ticket={next(self._tickets)}"}

    # -- the websocket ------------------------------------------------------------------------------

    def _serve_ws(self, conn: ServerConnection) -> None:
        if conn.request is None or not conn.request.path.startswith("/link/?ticket="):
            conn.close(code=1008, reason="unknown link")
            return
        with self._ws_cond:
            self._connections.append(conn)
            index = len(self._connections) - 1
            self._ws_cond.notify_all()
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "standin", "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        try:
            conn.send(json.dumps(hello))
            for raw in conn:
                with self._ws_cond:
                    self._received.append((index, json.loads(raw)))
                    self._ws_cond.notify_all()
        except ConnectionClosed:
            pass

    def wait_connections(self, count: int = 1, timeout: float = 10.0) -> list[ServerConnection]:
        """Wait until ``count`` websocket connections have been opened; return them all."""
        with self._ws_cond:
            ok = self._ws_cond.wait_for(lambda: len(self._connections) >= count, timeout)
            calls = "; ".join(c.summary() for c in self.calls())
            assert ok, f"{len(self._connections)} websocket connection(s), wanted {count}; calls: {calls}"
            return list(self._connections)

    def send(self, message: Message, connection: int = -1) -> float:
        """Send ``message`` over a connection (the latest by default); the time it was sent."""
        with self._ws_cond:
            conn = self._connections[connection]
        sent = time.monotonic()
        conn.send(json.dumps(message))
        return sent

    def wait_received(
        self, predicate: Callable[[Message], bool], timeout: float = 5.0
    ) -> tuple[int, Message, float]:
        """The first message from the bot matching ``predicate``: (connection, message, arrival)."""
        with self._ws_cond:
            found: list[tuple[int, Message, float]] = []

            def match() -> bool:
                for index, message in self._received:
                    if predicate(message):
                        found.append((index, message, time.monotonic()))
                        return True
                return False

            if not self._ws_cond.wait_for(match, timeout):
                raise AssertionError(f"no matching message within {timeout:g}s; received {self._received}")
            return found[0]

    def is_open(self, connection: int) -> bool:
        with self._ws_cond:
            conn = self._connections[connection]
        return conn.protocol.state.name == "OPEN"


# -- envelopes ----------------------------------------------------------------------------------------


def slash_envelope(text: str, **fields: Any) -> Message:
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": sr.slash_command_fields(text, **fields),
    }


def events_envelope(event: Message) -> Message:
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
        "payload": sr.event_callback_payload(event),
    }


def ack_for(envelope: Message) -> Callable[[Message], bool]:
    return lambda message: message.get("envelope_id") == envelope["envelope_id"]


def says_sandbox(message: Message) -> bool:
    banner = any(b.get("block_id") == SANDBOX_BLOCK_ID for b in message.get("blocks") or [])
    return banner and str(message.get("text", "")).startswith(SANDBOX_PREFIX)


def request_and_ack(slack: SocketModeSlack, envelope: Message, connection: int = -1) -> tuple[int, Message]:
    """Send an envelope and return (connection, ack), asserting the ack came within 3 s."""
    sent = slack.send(envelope, connection)
    index, ack, arrived = slack.wait_received(ack_for(envelope), timeout=ACK_DEADLINE + 2)
    assert arrived - sent < ACK_DEADLINE, f"ack after {arrived - sent:.2f}s"
    return index, ack


# -- fixtures -------------------------------------------------------------------------------------------


@contextmanager
def socket_bot(tmp_path: Path, slack: SlackStandin) -> Iterator[SocketModeHandler]:
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
        app, _ = create_app(services)
        handler = SocketModeHandler(app, app_token=APP_TOKEN)
        try:
            handler.connect()  # type: ignore[no-untyped-call]
            yield handler
        finally:
            # Takes up to the SDK's 3 s receive timeout: disconnect waits for the reader's lock.
            handler.close()  # type: ignore[no-untyped-call]
    finally:
        services.wait_idle(10)
        services.close()
        sandbox.stop()


@pytest.fixture(scope="module")
def slack() -> Iterator[SocketModeSlack]:
    """One stand-in for the module's shared bot."""
    with SocketModeSlack() as standin:
        yield standin


@pytest.fixture(scope="module")
def bot(slack: SocketModeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SocketModeHandler]:
    """One connected bot shared by the tests that neither reconnect nor stop it."""
    with socket_bot(tmp_path_factory.mktemp("socket-bot"), slack) as handler:
        slack.wait_connections(1)
        yield handler


@pytest.fixture
def own_slack() -> Iterator[SocketModeSlack]:
    """A stand-in of the test's own, for tests that reconnect or run the command line."""
    with SocketModeSlack() as standin:
        yield standin


# -- tests ----------------------------------------------------------------------------------------------


def test_connects_with_the_app_token_on_the_configured_api_url(
    bot: SocketModeHandler, slack: SocketModeSlack
) -> None:
    [call] = slack.calls("apps.connections.open")
    assert call.token == APP_TOKEN
    assert call.ok
    assert bot.client.is_connected()
    assert slack.is_open(0)


def test_slash_command_is_acked_over_the_socket_with_the_help_card(
    bot: SocketModeHandler, slack: SocketModeSlack
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


def test_slow_command_acks_then_posts_to_response_url(bot: SocketModeHandler, slack: SocketModeSlack) -> None:
    envelope = slash_envelope("list", response_url=slack.response_url("sock-list"))
    _, ack = request_and_ack(slack, envelope)
    assert says_sandbox(ack["payload"])
    [post] = slack.wait_for(None, predicate=lambda c: c.hook == "sock-list", timeout=15)
    assert post.status == 200, post.summary()
    assert says_sandbox(post.args), post.args


def test_event_envelope_is_acked_empty_and_home_is_published(
    bot: SocketModeHandler, slack: SocketModeSlack
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


def test_disconnect_refresh_reconnects_on_a_new_url(own_slack: SocketModeSlack, tmp_path: Path) -> None:
    slack = own_slack
    with socket_bot(tmp_path, slack):
        slack.wait_connections(1)
        slack.send({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "standin"}})
        slack.wait_connections(2)
        opens = slack.wait_for("apps.connections.open", count=2)
        assert {c.token for c in opens} == {APP_TOKEN}

        # An envelope that arrives while the client swaps connections is answered on the new
        # one, but late: slack_sdk's built-in client reconnects on its only message-processing
        # thread and closing the old socket waits out its 3 s receive timeout first.
        early = slash_envelope("help")
        sent = slack.send(early, connection=1)
        late_bound = ACK_DEADLINE + SDK_RECEIVE_TIMEOUT
        index, ack, arrived = slack.wait_received(ack_for(early), timeout=late_bound + 2)
        assert index == 1 and says_sandbox(ack["payload"])
        assert arrived - sent < late_bound

        deadline = time.monotonic() + 5
        while slack.is_open(0) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not slack.is_open(0), "the old connection was left open"
        # Settled: back within Slack's 3 s.
        index, _ = request_and_ack(slack, slash_envelope("help"), connection=1)
        assert index == 1
        assert len(slack.calls("apps.connections.open")) == 2


def test_cli_run_in_socket_mode_answers_and_stops_on_sigterm(
    own_slack: SocketModeSlack, tmp_path: Path
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
            slack.wait_connections(1, timeout=30)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{output()}") from None
        _, ack = request_and_ack(slack, slash_envelope("help"))
        assert says_sandbox(ack["payload"]), ack
        assert "/cyclr search" in json.dumps(ack["payload"]["blocks"])

        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            pytest.fail(f"cyclr-bot still running 8s after SIGTERM\n{output()}")
        assert code == 0, output()
        assert "Traceback" not in output(), output()
        deadline = time.monotonic() + 3
        while slack.is_open(0) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not slack.is_open(0), "the websocket outlived the process"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
