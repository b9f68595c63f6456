"""A Socket Mode client for the Bolt app on ``websockets``, made so a refresh or a drop goes unseen.

slack_sdk's built-in client holds one connection and swaps it on its only message thread:
on Slack's periodic refresh, envelopes wait about 3 s (late), and after an abrupt drop it
may not notice for tens of seconds (it calls a connection stale after four 10 s ping
intervals). This client instead:

* holds ``connections`` (two) open connections per process; Slack delivers each envelope to
  one open connection of the app, so while one is being replaced the other takes the load;
* reads each connection on its own thread and acks each envelope on the connection it came
  on: events at once, before Bolt runs; commands and interactions as soon as Bolt's listener
  acks (milliseconds), with Bolt's response as the ack's ``payload`` when the envelope
  accepts one, or bare after ``ack_budget`` seconds if Bolt has not answered by then;
* on a ``disconnect`` message (Slack's warning before a refresh) opens the replacement first,
  keeps reading the old connection, and closes it ``retire_after`` seconds after the new one
  said hello; on an abrupt drop reconnects at once (jittered backoff, capped, on failures);
* drops envelope ids it has seen among the last ``dedupe`` (Slack may deliver one twice),
  acking them again without dispatching.

A refresh holds one more connection for about ``retire_after`` seconds; Slack allows ten
per app, so run at most four processes. Told ``too_many_websockets``, a connection closes and
waits a minute before trying again.
"""

from __future__ import annotations

import collections
import inspect
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

__all__ = ["EnvelopeIds", "SocketModeClient", "backoff_delay", "bolt_ack"]

log = logging.getLogger(__name__)

#: Slack's ``disconnect`` reason when the app has more connections than it allows (10).
TOO_MANY = "too_many_websockets"
#: Seconds a slot told ``too_many_websockets`` waits before it tries again.
TOO_MANY_WAIT = 60.0
#: A connection that drops within this many seconds of opening counts as a failed open (backoff).
FLAPPING = 1.0
#: websockets 17 warns when connect() is not a context manager unless told it is on purpose.
_LEGACY: dict[str, Any] = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}

Message = dict[str, Any]


def backoff_delay(
    failures: int, *, base: float = 0.25, cap: float = 10.0, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before reconnect attempt ``failures + 1``: full jitter in the upper half."""
    ceiling = min(cap, base * 2.0 ** min(failures, 16))
    return ceiling * (0.5 + 0.5 * rand())


class EnvelopeIds:
    """The last ``size`` envelope ids seen, thread-safe; ``add`` says whether one is new."""

    def __init__(self, size: int = 2000) -> None:
        self._size = size
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def add(self, envelope_id: str) -> bool:
        with self._lock:
            if envelope_id in self._ids:
                return False
            self._ids[envelope_id] = None
            if len(self._ids) > self._size:
                self._ids.popitem(last=False)
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)


def bolt_ack(envelope_id: str, response: BoltResponse) -> Message | None:
    """The ack carrying Bolt's response (as slack_bolt's socket_mode adapter builds it); None
    for a failed dispatch, which the built-in adapter leaves unacked too."""
    if response.status != 200:
        return None
    ack: Message = {"envelope_id": envelope_id}
    if response.body:
        content_type = (response.headers.get("content-type") or [""])[0]
        ack["payload"] = (
            json.loads(response.body)
            if content_type.startswith("application/json")
            else {"text": response.body}
        )
    return ack


@dataclass(eq=False)
class _Link:
    """One websocket connection and what it has said."""

    slot: int
    ws: ClientConnection
    hello: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)  #: closed, or asked to refresh
    refresh: bool = False
    too_many: bool = False
    closed: bool = False
    opened: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def live(self) -> bool:
        return self.hello.is_set() and not self.closed

    def send(self, message: Message) -> None:
        with self.lock:
            self.ws.send(json.dumps(message))


class _Pending:
    """An envelope whose ack waits for Bolt's answer, or for its budget to run out."""

    def __init__(self, link: _Link, envelope_id: str, deadline: float, payload: bool) -> None:
        self.link, self.envelope_id, self.deadline, self.payload = link, envelope_id, deadline, payload
        self._done = False
        self._lock = threading.Lock()

    def claim(self) -> bool:
        """True once: for whoever sends (or gives up on) the ack first."""
        with self._lock:
            first, self._done = not self._done, True
            return first


class SocketModeClient:
    """Socket Mode for a Bolt ``App``: ``connect()``, then ``close()``."""

    def __init__(
        self,
        app: App,
        app_token: str,
        *,
        web_client: WebClient | None = None,
        connections: int = 2,
        threads: int = 16,
        ack_budget: float = 2.0,
        retire_after: float = 1.0,
        backoff_cap: float = 5.0,
        dedupe: int = 2000,
        ping_interval: float | None = 10.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.app = app
        self._app_token = app_token
        self._web = web_client or app.client
        self._slots = connections
        self._ack_budget = ack_budget
        self._retire_after = retire_after
        self._backoff_cap = backoff_cap
        self._ping_interval = ping_interval
        self._open_timeout = open_timeout
        self._seen = EnvelopeIds(dedupe)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="socket-dispatch")
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self._links: set[_Link] = set()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._pending: collections.deque[_Pending] = collections.deque()
        self.duplicates = 0  #: envelopes acked again without dispatch

    # -- life cycle ----------------------------------------------------------------------------

    def connect(self, timeout: float = 30.0) -> SocketModeClient:
        """Start every connection; return once one is live (raise TimeoutError if none is in time)."""
        if not self._started:
            self._started = True
            for slot in range(self._slots):
                self._spawn(self._keep_slot, f"socket-slot-{slot}", slot)
            self._spawn(self._watch_acks, "socket-ack-watch")
        with self._lock:
            if not self._lock.wait_for(self.is_connected, timeout):
                raise TimeoutError(f"no Socket Mode connection within {timeout:g} s")
        return self

    def is_connected(self) -> bool:
        """Whether at least one connection is open and has had Slack's hello."""
        return any(link.live for link in self._live_snapshot())

    @property
    def live_connections(self) -> int:
        return sum(link.live for link in self._live_snapshot())

    def wait_live(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` connections are live; False if not within ``timeout``."""
        with self._lock:
            return self._lock.wait_for(lambda: self.live_connections >= count, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Close every connection and wait (up to ``timeout``) for running dispatches."""
        self._stopping.set()
        with self._lock:
            links = list(self._links)
            self._lock.notify_all()
        for link in links:
            self._close_link(link)
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _live_snapshot(self) -> Sequence[_Link]:
        with self._lock:
            return list(self._links)

    # -- connections -----------------------------------------------------------------------------

    def _keep_slot(self, slot: int) -> None:
        """Keep one connection open: replace it on refresh (new first), reopen it after a drop."""
        failures = 0
        retiring: _Link | None = None
        while not self._stopping.is_set():
            try:
                link = self._open(slot)
            except Exception as error:  # any failure to open: retry with backoff
                delay = backoff_delay(failures, cap=self._backoff_cap)
                failures += 1
                log.warning(
                    "Socket Mode connection %d failed to open (%s); retrying in %.2f s", slot, error, delay
                )
                self._stopping.wait(delay)
                continue
            if self._stopping.is_set():
                self._close_link(link)
                break
            if retiring is not None:
                self._retire(retiring)
                retiring = None
            link.ended.wait()
            if self._stopping.is_set():
                break
            if link.refresh:
                failures = 0
                retiring = link  # keep reading it until the replacement is live
            elif link.too_many:  # give this slot's place up for a while
                log.warning(
                    "Slack has too many Socket Mode connections for the app; connection %d waits %.0f s",
                    slot,
                    TOO_MANY_WAIT,
                )
                self._close_link(link)
                self._stopping.wait(TOO_MANY_WAIT)
            else:  # dropped: at once, unless it keeps dropping soon after opening
                flapping = time.monotonic() - link.opened < FLAPPING
                failures = failures + 1 if flapping else 0
                self._stopping.wait(
                    backoff_delay(failures, cap=self._backoff_cap)
                    if failures
                    else backoff_delay(0, base=0.05)
                )
        if retiring is not None:
            self._close_link(retiring)

    def _open(self, slot: int) -> _Link:
        answer = self._web.apps_connections_open(app_token=self._app_token)
        url = str(answer["url"])
        ws = connect(
            url,
            **_LEGACY,
            open_timeout=self._open_timeout,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_interval,
            close_timeout=2,
            compression=None,
            max_size=None,
        )
        link = _Link(slot, ws)
        with self._lock:
            self._links.add(link)
        self._spawn(self._read, f"socket-read-{slot}", link)
        with self._lock:  # a close (ours or Slack's) ends the wait too
            self._lock.wait_for(lambda: link.hello.is_set() or link.closed, self._open_timeout)
        if not link.hello.is_set() or link.closed:
            self._close_link(link)
            raise ConnectionError("no hello from Slack")
        log.info("Socket Mode connection %d open", slot)
        return link

    def _retire(self, link: _Link) -> None:
        """Close a refreshed connection a little after its replacement is live."""
        timer = threading.Timer(self._retire_after, self._close_link, args=(link,))
        timer.daemon = True
        timer.start()

    def _close_link(self, link: _Link) -> None:
        try:
            link.ws.close()
        except Exception:  # closing a broken socket can fail in many ways; it is closed either way
            log.debug("closing a Socket Mode connection failed", exc_info=True)
        self._forget(link)

    def _forget(self, link: _Link) -> None:
        with self._lock:
            link.closed = True
            self._links.discard(link)
            self._lock.notify_all()
        link.ended.set()

    def _read(self, link: _Link) -> None:
        try:
            for raw in link.ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "hello":
                    with self._lock:
                        link.hello.set()
                        self._lock.notify_all()
                elif kind == "disconnect":
                    reason = message.get("reason")
                    log.info("Slack asks connection %d to disconnect (%s)", link.slot, reason)
                    link.too_many = reason == TOO_MANY
                    link.refresh = not link.too_many
                    link.ended.set()
                elif message.get("envelope_id"):
                    self._on_envelope(link, message)
        except ConnectionClosed as closed:
            if not self._stopping.is_set() and not link.refresh:
                log.warning("Socket Mode connection %d dropped (%s); reconnecting", link.slot, closed)
        except Exception:  # a reader must never die silently: the slot reconnects
            log.exception("Socket Mode connection %d failed", link.slot)
            self._close_link(link)
        finally:
            self._forget(link)

    # -- envelopes -------------------------------------------------------------------------------

    def _on_envelope(self, link: _Link, envelope: Message) -> None:
        envelope_id = str(envelope["envelope_id"])
        if not self._seen.add(envelope_id):
            with self._lock:
                self.duplicates += 1
            self._ack(link, {"envelope_id": envelope_id})
            return
        if envelope.get("type") == "events_api":  # nothing to answer: ack first, then handle
            self._ack(link, {"envelope_id": envelope_id})
            self._submit(self._dispatch, envelope, None)
            return
        payload = bool(envelope.get("accepts_response_payload"))
        pending = _Pending(link, envelope_id, time.monotonic() + self._ack_budget, payload)
        with self._lock:
            self._pending.append(pending)
            self._lock.notify_all()
        self._submit(self._dispatch, envelope, pending)

    def _submit(self, work: Callable[..., None], *args: Any) -> None:
        try:
            self._pool.submit(work, *args)
        except RuntimeError:  # shut down: the process is stopping
            log.info("Socket Mode client closed; envelope left to Slack's retry")

    def _dispatch(self, envelope: Message, pending: _Pending | None) -> None:
        try:
            response = self.app.dispatch(
                BoltRequest(
                    mode="socket_mode", body=envelope.get("payload") or {}, headers=_retry_headers(envelope)
                )
            )
        except Exception:  # Bolt handles listener errors itself; this is a last resort
            log.exception("dispatching a Socket Mode envelope failed")
            response = BoltResponse(status=500)
        if pending is None or not pending.claim():
            return
        ack = bolt_ack(pending.envelope_id, response)
        if ack is not None and not pending.payload:
            ack.pop("payload", None)
        if ack is None:
            log.info(
                "Bolt did not handle envelope %s (status %d); not acked", pending.envelope_id, response.status
            )
            return
        self._ack(pending.link, ack)

    def _watch_acks(self) -> None:
        """Send a bare ack for any envelope Bolt has not answered within ``ack_budget``."""
        while not self._stopping.is_set():
            with self._lock:
                while self._pending and self._pending[0].deadline <= time.monotonic():
                    due = self._pending.popleft()
                    if due.claim():
                        log.warning(
                            "Bolt took over %.1f s; acking envelope %s without a payload",
                            self._ack_budget,
                            due.envelope_id,
                        )
                        self._submit(self._ack, due.link, {"envelope_id": due.envelope_id})
                wait = self._pending[0].deadline - time.monotonic() if self._pending else None
                self._lock.wait(wait if wait is None else max(wait, 0.01))

    def _ack(self, link: _Link, ack: Message) -> None:
        """Send an ack on the envelope's connection, or on another live one if that one is gone."""
        for candidate in (
            link,
            *[other for other in self._live_snapshot() if other is not link and other.live],
        ):
            try:
                candidate.send(ack)
                return
            except ConnectionClosed:
                continue
        log.warning("no open connection to ack envelope %s on", ack["envelope_id"])


def _retry_headers(envelope: Message) -> dict[str, str | Sequence[str]] | None:
    """Slack's retry fields as the HTTP headers Bolt reads (as slack_bolt's adapter does)."""
    headers: dict[str, str | Sequence[str]] = {}
    if envelope.get("retry_attempt") is not None:
        headers["x-slack-retry-num"] = str(envelope["retry_attempt"])
    if envelope.get("retry_reason") is not None:
        headers["x-slack-retry-reason"] = str(envelope["retry_reason"])
    return headers or None
