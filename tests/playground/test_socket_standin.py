"""The Socket Mode stand-in itself, driven by a bare websockets client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.sync.client import ClientConnection, connect

from bot.playground.socket_standin import SocketModeStandin, slash_envelope

APP_TOKEN = "xapp-1-A0001-0001-standin"


@pytest.fixture
def slack() -> Iterator[SocketModeStandin]:
    with SocketModeStandin() as standin:
        yield standin


def _open(slack: SocketModeStandin) -> ClientConnection:
    url = WebClient(base_url=slack.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    ws = connect(url, legacy=True)
    assert json.loads(ws.recv(timeout=5))["type"] == "hello"
    assert isinstance(ws, ClientConnection)
    return ws


def _recv(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=5))
    assert isinstance(message, dict)
    return message


def test_apps_connections_open_wants_an_app_token(slack: SocketModeStandin) -> None:
    with pytest.raises(SlackApiError) as refused:
        WebClient(token="xoxb-bot", base_url=slack.api_url).apps_connections_open(app_token="xoxb-bot")
    assert refused.value.response["error"] == "not_allowed_token_type"
    url = WebClient(base_url=slack.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith(f"ws://127.0.0.1:{slack.ws_port}/link/?ticket=")


def test_delivers_to_one_connection_in_turn_and_records_acks(slack: SocketModeStandin) -> None:
    first, second = _open(slack), _open(slack)
    slack.wait_connections(2)
    envelopes = [slash_envelope("a"), slash_envelope("b")]
    for envelope in envelopes:
        slack.deliver(envelope)
    got = {_recv(first)["envelope_id"], _recv(second)["envelope_id"]}
    assert got == {e["envelope_id"] for e in envelopes}
    first.send(json.dumps({"envelope_id": envelopes[0]["envelope_id"]}))
    assert slack.wait_acked([envelopes[0]["envelope_id"]], timeout=5)
    tally = slack.tally([e["envelope_id"] for e in envelopes])
    assert (tally.sent, tally.late, tally.lost) == (2, 0, 1)
    assert slack.tally([envelopes[0]["envelope_id"]], late_after=0.0).late == 1
    first.close()
    second.close()


def test_refresh_warns_then_closes_and_routes_around_the_warned_connection(slack: SocketModeStandin) -> None:
    old = _open(slack)
    slack.refresh(close_after=0.5)
    assert _recv(old) == {
        "type": "disconnect",
        "reason": "refresh_requested",
        "debug_info": {"host": "standin"},
    }
    new = _open(slack)
    envelope = slash_envelope("to the new one")
    slack.deliver(envelope)
    assert _recv(new)["envelope_id"] == envelope["envelope_id"]
    with pytest.raises(ConnectionClosedOK):
        old.recv(timeout=5)
    new.close()


def test_drop_cuts_without_a_close_frame_and_queues_until_one_opens(slack: SocketModeStandin) -> None:
    ws = _open(slack)
    in_flight = slash_envelope("on the wire")
    slack.deliver(in_flight)
    slack.drop()
    with pytest.raises(ConnectionClosedError):
        while True:
            ws.recv(timeout=5)
    assert slack.cut_off == {in_flight["envelope_id"]}
    queued = slash_envelope("waits")
    slack.deliver(queued)
    time.sleep(0.2)
    again = _open(slack)
    assert _recv(again)["envelope_id"] == queued["envelope_id"]
    again.close()
