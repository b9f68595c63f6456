"""Our Socket Mode client (bot.slack.socket_mode) against the Socket Mode stand-in, with a small
Bolt app: acks, dedupe, refresh overlap, reconnect after a drop, shutdown.

Timing checks are generous (seconds where the client takes milliseconds): the box is shared.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.playground import payloads as sr
from bot.playground.socket_standin import SocketModeStandin, events_envelope, slash_envelope
from bot.slack.socket_mode import EnvelopeIds, SocketModeClient, backoff_delay

APP_TOKEN = "xapp-1-A0001-0001-client"
LATE = 3.0


@dataclass
class Handled:
    texts: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    events: list[str] = field(default_factory=list)


@dataclass
class Rig:
    slack: SocketModeStandin
    client: SocketModeClient
    handled: Handled


def _app(slack: SocketModeStandin, handled: Handled) -> App:
    web = WebClient(token="xoxb-test-client", base_url=slack.api_url)
    app = App(client=web, signing_secret="unused-in-socket-mode", token_verification_enabled=False)

    @app.command("/cyclr")
    def command(ack: Ack, command: dict[str, Any]) -> None:
        text = command["text"]
        handled.texts.append(text)
        if text == "slow":
            handled.release.wait(10)
        ack(f"done: {text}")

    @app.event("app_home_opened")
    def home(ack: Ack, event: dict[str, Any]) -> None:
        ack()
        handled.release.wait(10)
        handled.events.append(event["user"])

    return app


@pytest.fixture
def rig() -> Iterator[Rig]:
    handled = Handled()
    with SocketModeStandin() as slack:
        client = SocketModeClient(
            _app(slack, handled), APP_TOKEN, web_client=WebClient(base_url=slack.api_url), ack_budget=1.0
        )
        client.connect(timeout=10)
        assert client.wait_live(2, timeout=10)
        try:
            yield Rig(slack, client, handled)
        finally:
            handled.release.set()
            client.close()


def test_holds_two_connections_opened_with_the_app_token(rig: Rig) -> None:
    opens = rig.slack.calls("apps.connections.open")
    assert len(opens) == 2 and {c.token for c in opens} == {APP_TOKEN}
    assert rig.slack.open_connections() == 2
    assert rig.client.live_connections == 2


def test_slash_command_is_acked_with_bolts_response_on_the_connection_it_came_on(rig: Rig) -> None:
    envelopes = {index: slash_envelope(f"hello {index}") for index in (0, 1)}
    for index, envelope in envelopes.items():
        rig.slack.deliver(envelope, connection=index)
    assert rig.slack.wait_acked([e["envelope_id"] for e in envelopes.values()], timeout=10)
    for index, envelope in envelopes.items():
        ack = rig.slack.ack(envelope["envelope_id"])
        assert ack is not None
        assert ack.connection == index
        assert ack.message == {
            "envelope_id": envelope["envelope_id"],
            "payload": {"text": f"done: hello {index}"},
        }


def test_event_is_acked_before_its_listener_finishes(rig: Rig) -> None:
    envelope = events_envelope(sr.app_home_opened_event("U0042"))
    rig.slack.deliver(envelope)
    assert rig.slack.wait_acked([envelope["envelope_id"]], timeout=5)
    ack = rig.slack.ack(envelope["envelope_id"])
    assert ack is not None and ack.message == {"envelope_id": envelope["envelope_id"]}
    assert rig.handled.events == []  # still blocked in the listener
    rig.handled.release.set()
    deadline = time.monotonic() + 5
    while not rig.handled.events and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rig.handled.events == ["U0042"]


def test_a_listener_slower_than_the_budget_gets_a_bare_ack_in_time(rig: Rig) -> None:
    envelope = slash_envelope("slow")
    rig.slack.deliver(envelope)
    assert rig.slack.wait_acked([envelope["envelope_id"]], timeout=LATE)
    ack = rig.slack.ack(envelope["envelope_id"])
    assert ack is not None and ack.message == {"envelope_id": envelope["envelope_id"]}
    rig.handled.release.set()
    time.sleep(0.2)
    assert len(rig.slack.acks_of(envelope["envelope_id"])) == 1  # Bolt's late answer is not sent too


def test_a_redelivered_envelope_is_acked_again_but_handled_once(rig: Rig) -> None:
    envelope = slash_envelope("twice")
    rig.slack.deliver(envelope, connection=0)
    assert rig.slack.wait_acked([envelope["envelope_id"]], timeout=5)
    rig.slack.deliver(envelope, connection=1)
    rig.slack.wait_received(lambda m: len(rig.slack.acks_of(envelope["envelope_id"])) >= 2, timeout=5)
    assert [i for i, _ in rig.slack.acks_of(envelope["envelope_id"])] == [0, 1]
    assert rig.handled.texts == ["twice"]
    assert rig.client.duplicates == 1


def test_refresh_opens_the_replacement_before_closing_the_old_connection(rig: Rig) -> None:
    before = rig.slack.lifetimes()
    rig.slack.refresh([0], close_after=10.0)  # the client closes it long before the stand-in would
    rig.slack.wait_connections(3)
    deadline = time.monotonic() + 5
    while rig.slack.is_open(0) and time.monotonic() < deadline:
        time.sleep(0.02)
    lifetimes = rig.slack.lifetimes()
    old_closed, (new_opened, _) = lifetimes[0][1], lifetimes[2]
    assert old_closed is not None, "the client left the refreshed connection open"
    assert new_opened < old_closed, "the old connection closed before its replacement opened"
    assert old_closed - before[0][0] < 10.0
    assert rig.slack.open_connections() == 2

    envelopes = [slash_envelope(f"after {i}") for i in range(10)]
    for envelope in envelopes:
        rig.slack.deliver(envelope)
    rig.slack.wait_acked([e["envelope_id"] for e in envelopes], timeout=10)
    tally = rig.slack.tally(e["envelope_id"] for e in envelopes)
    assert (tally.late, tally.lost) == (0, 0)


def test_envelopes_during_a_refresh_are_all_acked_in_time(rig: Rig) -> None:
    envelopes = [slash_envelope(f"r{i}") for i in range(30)]
    for i, envelope in enumerate(envelopes):
        if i == 10:
            rig.slack.refresh(close_after=1.0)  # both at once, closed soon: the worst case
        rig.slack.deliver(envelope)
        time.sleep(0.05)
    ids = [e["envelope_id"] for e in envelopes]
    rig.slack.wait_acked(ids, timeout=10)
    tally = rig.slack.tally(ids)
    assert tally.lost == 0, tally
    assert tally.late <= 1, tally


def test_reconnects_after_an_abrupt_drop_and_loses_only_what_was_in_flight(rig: Rig) -> None:
    envelopes = [slash_envelope(f"d{i}") for i in range(30)]
    dropped_at = 0.0
    for i, envelope in enumerate(envelopes):
        if i == 10:
            dropped_at = time.monotonic()
            rig.slack.drop()  # both connections, without a close frame
        rig.slack.deliver(envelope)
        time.sleep(0.05)
    rig.slack.wait_connections(4, timeout=10)
    reopened = sorted(opened for opened, _ in rig.slack.lifetimes()[2:])
    assert reopened[0] - dropped_at < LATE, "no reconnect within 3 s of the drop"
    ids = [e["envelope_id"] for e in envelopes]
    rig.slack.wait_acked(ids, timeout=10)
    tally = rig.slack.tally(ids)
    lost = {i for i in ids if rig.slack.ack(i) is None}
    assert lost <= rig.slack.cut_off, "an envelope delivered after the drop was lost"
    assert tally.lost <= 2 and tally.late <= 1, tally


def test_too_many_websockets_gives_the_connections_place_up(rig: Rig) -> None:
    rig.slack.send({"type": "disconnect", "reason": "too_many_websockets"}, connection=0)
    deadline = time.monotonic() + 5
    while rig.slack.is_open(0) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not rig.slack.is_open(0)
    time.sleep(0.5)
    assert len(rig.slack.calls("apps.connections.open")) == 2  # no replacement: it would be refused too
    assert rig.client.live_connections == 1
    index, _ = _ack_of(rig, slash_envelope("still here"))
    assert index == 1


def _ack_of(rig: Rig, envelope: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    rig.slack.deliver(envelope)
    assert rig.slack.wait_acked([envelope["envelope_id"]], timeout=5)
    ack = rig.slack.ack(envelope["envelope_id"])
    assert ack is not None
    return ack.connection, ack.message


def test_close_closes_every_connection(rig: Rig) -> None:
    rig.client.close()
    deadline = time.monotonic() + 5
    while rig.slack.open_connections() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rig.slack.open_connections() == 0
    assert not rig.client.is_connected()
    time.sleep(0.5)
    assert len(rig.slack.calls("apps.connections.open")) == 2  # and it did not reconnect


def test_envelope_ids_remember_the_last_n() -> None:
    ids = EnvelopeIds(3)
    assert [ids.add(x) for x in "abca"] == [True, True, True, False]
    assert ids.add("d")  # "a" drops out
    assert ids.add("a")
    assert not ids.add("d")
    assert len(ids) == 3


def test_backoff_is_jittered_and_capped() -> None:
    assert backoff_delay(0, rand=lambda: 0.0) == pytest.approx(0.125)
    assert backoff_delay(0, rand=lambda: 1.0) == pytest.approx(0.25)
    assert backoff_delay(3, rand=lambda: 1.0) == pytest.approx(2.0)
    assert backoff_delay(50, cap=5.0, rand=lambda: 1.0) == pytest.approx(5.0)
    assert backoff_delay(50, cap=5.0, rand=lambda: 0.0) == pytest.approx(2.5)


def test_a_connection_that_keeps_dropping_at_once_is_reopened_with_backoff(rig: Rig) -> None:
    opens = len(rig.slack.calls("apps.connections.open"))
    stop = time.monotonic() + 3.0
    while time.monotonic() < stop:  # cut every connection the moment it opens
        rig.slack.drop()
        time.sleep(0.01)
    reopened = len(rig.slack.calls("apps.connections.open")) - opens
    # Without backoff two slots reconnecting every ~50 ms would open about 120 times in 3 s.
    assert 2 <= reopened <= 40, reopened
    assert rig.client.wait_live(2, timeout=15)  # and once the cutting stops, both come back
