"""The sandbox's *Transaction Error Webhook* calls: JSON POSTs to the account's URL, in the background.

Cyclr calls the webhook from its own servers, after the step failed, whatever the API
client is doing. The sandbox does the same from one background thread, in the order the
incidents were raised, one attempt each with a timeout (Cyclr's retry policy for this call
is not documented), following no redirect and no proxy. Every outcome is kept as a
:class:`WebhookDelivery` for tests to inspect.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["WebhookDelivery", "WebhookSender"]

logger = logging.getLogger("bot.cyclr.sandbox")

_USER_AGENT = "Cyclr (https://cyclr.com)"
_STOP = object()


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One webhook call: where, what, and the answer (``status``) or why there was none (``error``)."""

    url: str
    payload: Mapping[str, Any]
    status: int | None
    error: str | None
    sent_at: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _post(url: str, body: bytes, timeout: float) -> int:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    try:
        connection.request(
            "POST",
            target,
            body=body,
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": _USER_AGENT},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class WebhookSender:
    """A queue of webhook calls and the thread that makes them (started on the first call)."""

    def __init__(self, clock: Callable[[], float], *, timeout: float = 5.0) -> None:
        self._clock = clock
        self.timeout = timeout
        self._queue: queue.Queue[object] = queue.Queue()
        self._deliveries: list[WebhookDelivery] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    def send(self, url: str, payload: Mapping[str, Any]) -> None:
        """Queue one call; it is made soon, in order, from the sender's thread."""
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="cyclr-sandbox-webhooks", daemon=True)
                self._thread.start()
            self._queue.put((url, dict(payload)))

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        """Every call made so far, oldest first."""
        with self._changed:
            return list(self._deliveries)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` calls have been made (True) or ``timeout`` passed (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._deliveries) >= count, timeout)

    def stop(self) -> None:
        """Stop the thread after the call in progress; calls still queued are dropped."""
        with self._thread_lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put(_STOP)
        thread.join(timeout=self.timeout + 1)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, tuple)
            self._deliver(item[0], item[1])

    def _deliver(self, url: str, payload: Mapping[str, Any]) -> None:
        sent_at = self._clock()
        status: int | None = None
        error: str | None = None
        try:
            status = _post(url, json.dumps(payload, ensure_ascii=False).encode("utf-8"), self.timeout)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            logger.info("sandbox webhook call failed: %s", error)
        with self._changed:
            self._deliveries.append(WebhookDelivery(url, payload, status, error, sent_at))
            self._changed.notify_all()
