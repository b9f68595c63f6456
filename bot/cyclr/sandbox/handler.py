"""The HTTP layer: a threaded server whose handler parses, injects faults, records and answers.

Each request is read in full (so a dropped connection is a clean close, not a reset
mid-upload), offered to the fault plan, handled by :class:`~.api.CyclrApi`, recorded,
and answered with ``Content-Length`` and ``X-Content-Type-Options: nosniff`` over
HTTP/1.1 keep-alive. An unexpected exception becomes a 500 and is kept for the test to see.
Requests for the sandbox's own controls (``/_sandbox``, :mod:`.control`) skip the faults
and the record: they are not Cyclr.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from .api import CyclrApi
from .control import CONTROL_PREFIX, SandboxControls
from .faults import Fault, FaultPlan
from .recording import RecordedRequest, RequestLog, canonical_header
from .wire import Request, Response

__all__ = ["SandboxHTTPServer", "SandboxHost", "SandboxRequestHandler"]

logger = logging.getLogger("bot.cyclr.sandbox")

MAX_BODY_BYTES = 16 * 1024 * 1024
_LINE_LIMIT = 65_537


class SandboxHost(Protocol):
    """What the handler needs from the sandbox that owns the server."""

    api: CyclrApi
    controls: SandboxControls
    faults: FaultPlan
    request_log: RequestLog

    def now(self) -> float: ...

    def wait(self, seconds: float) -> None: ...

    def report_error(self, text: str) -> None: ...


class SandboxHTTPServer(ThreadingHTTPServer):
    """A thread per connection; remembers open connections so :meth:`close_connections` can end them."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], host: SandboxHost) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = host
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, SandboxRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a bot worker stopping) is normal here, not a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        if isinstance(request, socket.socket):
            with self._open_lock:
                self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if isinstance(request, socket.socket):
            with self._open_lock:
                self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut every open connection so idle keep-alive threads end now, not at their timeout."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _hostname(host_header: str) -> str:
    return (urlsplit(f"//{host_header.strip()}").hostname or "").lower()


def _fault_response(fault: Fault) -> Response:
    headers = {}
    if fault.retry_after is not None:
        seconds = fault.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    if fault.kind == "rate_limit":
        return Response.message(429, "Too many requests. Please retry later.", headers)
    message = "An error has occurred." if fault.status == 500 else "The service is temporarily unavailable."
    return Response.message(fault.status, message, headers)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Serves one connection; every method goes through :meth:`_serve`."""

    server: SandboxHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "CyclrSandbox/1.0"
    timeout = 120  # an idle keep-alive connection is closed after this many seconds

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        logger.debug("%s - " + format, self.address_string(), *args)

    def _serve(self) -> None:
        host = self.server.sandbox
        received = host.now()
        split = urlsplit(self.path)
        query: dict[str, str] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(key, value)
        headers = {canonical_header(k): v for k, v in self.headers.items()}
        hostname = _hostname(self.headers.get("Host", ""))
        path = unquote(split.path) or "/"
        remote = str(self.client_address[0]) if self.client_address else ""
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            request = Request(self.command, path, query, headers, b"", hostname, remote)
            response = Response.message(400, "The request body could not be read.")
            self._record(request, response.status, received, None)
            self._send(response)
            return
        request = Request(self.command, path, query, headers, body, hostname, remote)
        if path == CONTROL_PREFIX or path.startswith(f"{CONTROL_PREFIX}/"):
            self._send(self._guarded(request, host.controls.handle))
            return
        fault = host.faults.take(request.method, request.path)
        kind = fault.kind if fault is not None else None
        if kind == "drop_before":
            self._record(request, 0, received, kind)
            self._drop()
            return
        if fault is not None and kind == "delay_before":
            host.wait(fault.delay)
        if fault is not None and kind in ("status", "rate_limit"):
            response = _fault_response(fault)
        else:
            response = self._apply(request)
        self._record(request, response.status, received, kind)
        if fault is not None and kind == "delay_after":
            host.wait(fault.delay)
        if kind == "drop_after":
            self._drop()
            return
        self._send(response)

    def _record(self, request: Request, status: int, received: float, fault: str | None) -> None:
        self.server.sandbox.request_log.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=request.body,
                status=status,
                time=received,
                fault=fault,
                host=request.host,
            )
        )

    def _apply(self, request: Request) -> Response:
        return self._guarded(request, self.server.sandbox.api.handle)

    def _guarded(self, request: Request, handle: Callable[[Request], Response]) -> Response:
        try:
            return handle(request)
        except Exception:  # a sandbox bug: answer like Cyclr would and let the test see it
            text = traceback.format_exc()
            logger.error("sandbox error on %s %s\n%s", request.method, request.path, text)
            self.server.sandbox.report_error(text)
            return Response.message(500, "An error has occurred.")

    def _read_body(self) -> bytes:
        """The whole request body (Content-Length or chunked); ValueError when malformed."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        size = int(length)
        if not 0 <= size <= MAX_BODY_BYTES:
            raise ValueError("bad Content-Length")
        data = self.rfile.read(size)
        if len(data) != size:
            raise ValueError("body shorter than Content-Length")
        return data

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(_LINE_LIMIT).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(_LINE_LIMIT) not in (b"\r\n", b"\n", b""):
                    pass  # skip trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError("body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(_LINE_LIMIT)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:  # the client went away (e.g. its read timeout during a delay)
            self.close_connection = True

    def _drop(self) -> None:
        """End the connection with no answer at all."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
