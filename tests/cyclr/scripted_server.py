"""A tiny scripted HTTP server for protocol-level client tests.

Unlike the Cyclr sandbox (a working Cyclr stand-in), this server answers exactly what a
test scripts, per ``(method, path)``: odd statuses and headers, broken JSON, a server that
ignores ``page``, a slow answer, a connection dropped without an answer. It runs on a
loopback port in a thread, speaks HTTP/1.1 keep-alive like a real server, and records
every request it receives (before any scripted delay, so a timed-out request counts).

``POST /oauth/token`` answers fresh tokens (``token-1``, ``token-2`` …) unless scripted.
An unscripted route answers 404 ``{"Message": "no script for …"}``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Recorded", "Reply", "ScriptedServer", "free_port"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        status: HTTP status.
        json: Body, serialised as JSON (when ``body`` is None and this is not None).
        body: Raw body bytes (wins over ``json``).
        headers: Extra response headers.
        delay: Seconds to sleep before answering.
        drop: Close the connection without answering.
    """

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class Recorded:
    """A request as the server received it (``path`` is raw: still percent-encoded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


Handler = Callable[[Recorded], Reply]
Step = Reply | Handler


def free_port() -> int:
    """A loopback port that nothing listens on (at the moment of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: clients that time out leave broken pipes behind on purpose."""


class ScriptedServer:
    """Scripted answers per route, recorded requests; use as a context manager."""

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], list[Step]] = {}
        self._tokens = 0
        self.requests: list[Recorded] = []
        self._httpd = _Server(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="scripted", daemon=True
        )

    # -- lifecycle
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting
    def on(self, method: str, path: str, *steps: Step) -> None:
        """Script ``method path``: answers used in order, the last one repeats."""
        if not steps:
            raise ValueError("script at least one reply")
        with self._lock:
            self._routes[(method.upper(), path)] = list(steps)

    def requests_to(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper()) and (path is None or r.path == path)
            ]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return len(self.requests_to(method, path))

    def _next_step(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            steps = self._routes.get((recorded.method, recorded.path))
            if steps is None:
                if (recorded.method, recorded.path) == ("POST", "/oauth/token"):
                    self._tokens += 1
                    return Reply(json={"access_token": f"token-{self._tokens}", "token_type": "bearer",
                                       "expires_in": 3600})
                return Reply(404, json={"Message": f"no script for {recorded.method} {recorded.path}"})
            step = steps.pop(0) if len(steps) > 1 else steps[0]
        return step(recorded) if callable(step) else step

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply = server._next_step(recorded)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.body is not None:
                    payload = reply.body
                elif reply.json is not None:
                    payload = json.dumps(reply.json).encode()
                else:
                    payload = b""
                try:
                    self.send_response(reply.status)
                    if reply.json is not None and reply.body is None:
                        self.send_header("Content-Type", "application/json; charset=utf-8")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815

        return _Handler


@contextlib.contextmanager
def running(port: int = 0) -> Iterator[ScriptedServer]:
    with ScriptedServer(port) as server:
        yield server
