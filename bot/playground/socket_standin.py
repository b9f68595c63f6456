"""A Socket Mode stand-in: the Web API stand-in plus ``apps.connections.open`` and the websocket.

Each ``apps.connections.open`` (app token ``xapp-…`` only, as Slack) hands out a fresh
``ws://127.0.0.1:PORT/link/?ticket=N``; every connection gets Slack's ``hello`` first.
:meth:`SocketModeStandin.deliver` sends an envelope to one open connection, as Slack does
(round robin over those not asked to disconnect; queued until one opens when none is), and
records when it was sent and when, and on which connection, it was acked.
:meth:`~SocketModeStandin.refresh` sends ``disconnect`` (``refresh_requested``) and closes
the connection a few seconds later; :meth:`~SocketModeStandin.drop` cuts it without a close
frame. An envelope in flight on a connection that closes is lost unless it is acked later
(an ack is accepted on any connection of the app; :attr:`~SocketModeStandin.cut_off` names
them); :meth:`~SocketModeStandin.tally` counts late and lost ones.

Usage::

    with SocketModeStandin() as slack:
        client = SocketModeClient(app, "xapp-1-…", web_client=WebClient(base_url=slack.api_url)).connect()
        slack.deliver(envelope)
        slack.wait_acked([envelope["envelope_id"]])
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import statistics
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from bot.playground import payloads as sr
from bot.playground.standin import APP_ID, SlackStandin

__all__ = ["Ack", "SocketModeStandin", "Tally", "events_envelope", "slash_envelope"]

Message = dict[str, Any]
#: Slack's: an envelope not acked within 3 s counts as failed.
ACK_DEADLINE = 3.0


def slash_envelope(text: str, **fields: Any) -> Message:
    """A ``slash_commands`` envelope (it accepts a response payload in the ack)."""
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": sr.slash_command_fields(text, **fields),
    }


def events_envelope(event: Message) -> Message:
    """An ``events_api`` envelope (acked empty)."""
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
        "payload": sr.event_callback_payload(event),
    }


@dataclass(frozen=True)
class Ack:
    connection: int
    at: float  #: time.monotonic()
    message: Message


@dataclass(frozen=True)
class Tally:
    """Ack latencies of a set of envelopes: late (over ``late_after``) and lost (never acked)."""

    sent: int
    late: int
    lost: int
    latencies: tuple[float, ...]

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(p) - 1]


@dataclass(eq=False)
class _Conn:
    index: int
    ws: ServerConnection
    opened: float
    hello: bool = False
    disconnecting: bool = False
    closed: bool = False
    closed_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: Message) -> None:
        with self.lock:
            self.ws.send(json.dumps(message))


class SocketModeStandin(SlackStandin):
    """The Web API stand-in with Socket Mode. Start with ``start()`` or ``with``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ws: Server | None = None
        self._ws_thread: threading.Thread | None = None
        self._ws_cond = threading.Condition()
        self._conns: list[_Conn] = []
        self._received: list[tuple[int, Message]] = []
        self._sent: dict[str, float] = {}  # envelope id -> first send
        self._acks: dict[str, Ack] = {}  # envelope id -> first ack
        self._queued: list[Message] = []  # waiting for an open connection
        self._on: dict[str, int] = {}  # envelope id -> the connection it was last sent on
        self._cut_off: set[str] = set()
        self._tickets = itertools.count(1)
        self._turn = itertools.count()
        self._timers: list[threading.Timer] = []

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> SocketModeStandin:
        super().start()
        if self._ws is None:
            self._ws = serve(self._serve_ws, "127.0.0.1", 0, compression=None, max_size=None)
            self._ws_thread = threading.Thread(
                target=self._ws.serve_forever, name="socket-mode-standin", daemon=True
            )
            self._ws_thread.start()
        return self

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.shutdown()
            if self._ws_thread is not None:
                self._ws_thread.join(timeout=5)
        super().close()

    def __enter__(self) -> SocketModeStandin:
        return self.start()

    @property
    def ws_port(self) -> int:
        if self._ws is None:
            raise RuntimeError("the Socket Mode stand-in is not started")
        return int(self._ws.socket.getsockname()[1])

    # -- apps.connections.open ---------------------------------------------------------------------

    def _handle_api(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if method != "apps.connections.open":
            return super()._handle_api(method, args, token)
        if not token:
            return {"ok": False, "error": "not_authed"}
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": f"ws://127.0.0.1:{self.ws_port}/link/?ticket={next(self._tickets)}"}

    # -- the websocket -----------------------------------------------------------------------------

    def _serve_ws(self, ws: ServerConnection) -> None:
        if ws.request is None or not ws.request.path.startswith("/link/?ticket="):
            ws.close(code=1008, reason="unknown link")
            return
        with self._ws_cond:
            conn = _Conn(len(self._conns), ws, time.monotonic())
            self._conns.append(conn)
            self._ws_cond.notify_all()
        hello = {
            "type": "hello",
            "num_connections": self.open_connections() + 1,
            "debug_info": {"host": "standin", "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        try:
            with conn.lock:  # open for delivery once hello is on its way, never before
                with self._ws_cond:
                    conn.hello = True
                    queued, self._queued = self._queued, []
                    self._ws_cond.notify_all()
                ws.send(json.dumps(hello))
            for envelope in queued:
                self._route(envelope)
            for raw in ws:
                message = json.loads(raw)
                now = time.monotonic()
                with self._ws_cond:
                    self._received.append((conn.index, message))
                    envelope_id = message.get("envelope_id")
                    if envelope_id and envelope_id not in self._acks:
                        self._acks[envelope_id] = Ack(conn.index, now, message)
                    self._ws_cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self._mark_closed(conn)

    def open_connections(self) -> int:
        with self._ws_cond:
            return sum(1 for c in self._conns if c.hello and not c.closed)

    def wait_connections(self, count: int = 1, timeout: float = 10.0, *, open_now: bool = False) -> int:
        """Wait until ``count`` connections have been opened (ever, or ``open_now``); return the number."""

        def enough() -> bool:
            opened = [c for c in self._conns if c.hello and not (open_now and c.closed)]
            return len(opened) >= count

        with self._ws_cond:
            if not self._ws_cond.wait_for(enough, timeout):
                raise AssertionError(f"{len(self._conns)} websocket connection(s), wanted {count}")
            return len(self._conns)

    def lifetimes(self) -> list[tuple[float, float | None]]:
        """(opened, closed or None) of every connection so far, by index (time.monotonic())."""
        with self._ws_cond:
            return [(c.opened, c.closed_at) for c in self._conns]

    def is_open(self, connection: int) -> bool:
        with self._ws_cond:
            return not self._conns[connection].closed

    # -- delivering envelopes ----------------------------------------------------------------------

    def deliver(self, envelope: Message, connection: int | None = None) -> float:
        """Send ``envelope`` to one open connection (or the one given); the time it was first sent."""
        now = time.monotonic()
        with self._ws_cond:
            sent = self._sent.setdefault(str(envelope["envelope_id"]), now)
        if connection is not None:
            with self._ws_cond:
                conn = self._conns[connection]
                self._on[str(envelope["envelope_id"])] = conn.index
            conn.send(envelope)
        else:
            self._route(envelope)
        return sent

    def _route(self, envelope: Message) -> None:
        while True:
            with self._ws_cond:
                open_ = [c for c in self._conns if c.hello and not c.closed]
                ready = [c for c in open_ if not c.disconnecting] or open_
                if not ready:
                    self._queued.append(envelope)
                    return
                conn = ready[next(self._turn) % len(ready)]
                self._on[str(envelope["envelope_id"])] = conn.index
            try:
                conn.send(envelope)
                return
            except ConnectionClosed:
                with self._ws_cond:
                    conn.closed = True

    def send(self, message: Message, connection: int = -1) -> float:
        """Send any message over a connection (the latest by default); the time it was sent."""
        with self._ws_cond:
            conn = self._conns[connection]
        sent = time.monotonic()
        conn.send(message)
        return sent

    def refresh(self, connections: Iterable[int] | None = None, close_after: float = 3.0) -> list[int]:
        """Ask connections (default: every open one not asked already) to refresh, then close them
        ``close_after`` s later."""
        targets = [c for c in self._targets(connections) if connections is not None or not c.disconnecting]
        for conn in targets:
            with self._ws_cond:
                conn.disconnecting = True
            try:
                conn.send(
                    {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "standin"}}
                )
            except ConnectionClosed:
                continue
            timer = threading.Timer(close_after, self._close_conn, args=(conn,))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        return [c.index for c in targets]

    def drop(self, connections: Iterable[int] | None = None, *, reset: bool = True) -> list[int]:
        """Cut connections (default: every open one) without a close frame, as a network failure
        does: with a TCP reset (``reset``), else with a FIN."""
        targets = self._targets(connections)
        for conn in targets:
            self._mark_closed(conn)
            with contextlib.suppress(OSError):
                if reset:  # closing with a zero linger sends RST
                    conn.ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.ws.socket.shutdown(socket.SHUT_RD)  # wakes the reader, which closes the socket
                else:
                    conn.ws.socket.shutdown(socket.SHUT_RDWR)
        return [c.index for c in targets]

    def _targets(self, connections: Iterable[int] | None) -> list[_Conn]:
        with self._ws_cond:
            if connections is None:
                return [c for c in self._conns if not c.closed]
            return [self._conns[i] for i in connections]

    def _close_conn(self, conn: _Conn) -> None:
        self._mark_closed(conn)
        conn.ws.close()

    def _mark_closed(self, conn: _Conn) -> None:
        with self._ws_cond:
            conn.closed = True
            if conn.closed_at is None:
                conn.closed_at = time.monotonic()
            self._ws_cond.notify_all()
            self._cut_off |= {i for i, c in self._on.items() if c == conn.index and i not in self._acks}

    @property
    def cut_off(self) -> set[str]:
        """Envelopes unacked on a connection when the stand-in closed or dropped it (in flight)."""
        with self._ws_cond:
            return set(self._cut_off)

    # -- what came back ------------------------------------------------------------------------------

    def ack(self, envelope_id: str) -> Ack | None:
        with self._ws_cond:
            return self._acks.get(envelope_id)

    def acks_of(self, envelope_id: str) -> list[tuple[int, Message]]:
        """Every ack received for an envelope (a duplicate delivery is acked again)."""
        with self._ws_cond:
            return [(i, m) for i, m in self._received if m.get("envelope_id") == envelope_id]

    def latency(self, envelope_id: str) -> float | None:
        with self._ws_cond:
            ack = self._acks.get(envelope_id)
            return None if ack is None else ack.at - self._sent[envelope_id]

    def wait_acked(self, envelope_ids: Iterable[str], timeout: float = 10.0) -> bool:
        """Wait until every one of ``envelope_ids`` is acked; False if not within ``timeout``."""
        ids = list(envelope_ids)
        with self._ws_cond:
            return self._ws_cond.wait_for(lambda: all(i in self._acks for i in ids), timeout)

    def wait_received(
        self, predicate: Callable[[Message], bool], timeout: float = 5.0
    ) -> tuple[int, Message, float]:
        """The first message from the client matching ``predicate``: (connection, message, arrival)."""
        found: list[tuple[int, Message, float]] = []

        def match() -> bool:
            for index, message in self._received:
                if predicate(message):
                    found.append((index, message, time.monotonic()))
                    return True
            return False

        with self._ws_cond:
            if not self._ws_cond.wait_for(match, timeout):
                raise AssertionError(f"no matching message within {timeout:g}s")
        return found[0]

    def tally(self, envelope_ids: Iterable[str], late_after: float = ACK_DEADLINE) -> Tally:
        """Late and lost among ``envelope_ids``, and the acked ones' latencies (sorted)."""
        ids = list(envelope_ids)
        latencies = sorted(x for x in (self.latency(i) for i in ids) if x is not None)
        return Tally(
            sent=len(ids),
            late=sum(1 for x in latencies if x > late_after),
            lost=len(ids) - len(latencies),
            latencies=tuple(latencies),
        )
