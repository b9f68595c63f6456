"""Load generation and latency statistics for the HTTP benchmark.

A Slack request is acknowledged by its HTTP response, so the time from sending a signed
request to reading the whole response *is* the ack latency Slack sees. Every request uses
its own connection, as Slack's deliveries do.

Bursts come from :class:`LoadGenerator`: one asyncio loop in a process of its own. On a
small machine the load generator shares the cores with the app it measures, so it must
cost little: 50 threads of :mod:`http.client` sharing a GIL with the stand-ins took about
0.8 ms of CPU per request, which the app then waited behind. Slack's servers are not on
the app's machine, so the less the generator takes, the closer the figures are to what
Slack would see. The closed loop (typeahead) uses the same sender, in this process.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

__all__ = [
    "SLACK_ACK_LIMIT", "LoadGenerator", "Sample", "Stats", "Target", "burst", "closed_loop", "percentile",
]  # fmt: skip

#: Slack shows the user an error when an ack takes longer than this (seconds).
SLACK_ACK_LIMIT = 3.0

Request = tuple[bytes, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Target:
    """Where the signed requests go: ``http://host:port`` and the events path."""

    host: str
    port: int
    path: str = "/slack/events"

    @classmethod
    def from_url(cls, url: str, path: str = "/slack/events") -> Target:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, path)


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: when it was sent (wall clock), how long until the answer, and the answer."""

    sent: float
    elapsed: float
    status: int | None  #: HTTP status; None when no answer came
    error: str | None = None  #: "timeout" or the exception's class name
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def timed_out(self) -> bool:
        return self.error == "timeout"

    @property
    def late(self) -> bool:
        """Slack would have given up: no 200 within :data:`SLACK_ACK_LIMIT`."""
        return not self.ok or self.elapsed > SLACK_ACK_LIMIT


def burst(target: Target, requests: Sequence[Request], *, timeout: float) -> list[Sample]:
    """Send every request at the same moment, each on its own connection, from one event loop."""
    if not requests:
        return []
    return asyncio.run(_burst(target, requests, timeout))


async def _burst(target: Target, requests: Sequence[Request], timeout: float) -> list[Sample]:
    wire = [_wire(target, request) for request in requests]  # built before the clock starts
    return list(await asyncio.gather(*(_send_async(target, data, timeout) for data in wire)))


def _wire(target: Target, request: Request) -> bytes:
    body, headers = request
    lines = [f"POST {target.path} HTTP/1.1", f"Host: {target.host}:{target.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "content-length"]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


async def _send_async(target: Target, data: bytes, timeout: float) -> Sample:
    sent = time.time()
    started = time.perf_counter()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(target.host, target.port)
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length = _status_and_length(head)
            body = await (reader.readexactly(length) if length is not None else reader.read())
        return Sample(sent, time.perf_counter() - started, status, body=body)
    except TimeoutError:
        return Sample(sent, time.perf_counter() - started, None, "timeout")
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        return Sample(sent, time.perf_counter() - started, None, type(error).__name__)
    finally:
        if writer is not None:
            writer.close()


def _status_and_length(head: bytes) -> tuple[int, int | None]:
    """The status and Content-Length (None: read to the end) of a response's head."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return status, int(value.strip())
    return status, None


class LoadGenerator:
    """Sends bursts from a process of its own (see the module's docstring); a context manager."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self._pool.submit(time.time).result()  # start the process now, not in the first burst

    def burst(self, target: Target, requests: Sequence[Request], *, timeout: float) -> list[Sample]:
        """:func:`burst` in the generator's process."""
        return self._pool.submit(burst, target, [(b, dict(h)) for b, h in requests], timeout=timeout).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def closed_loop(
    target: Target,
    make_requests: Sequence[Callable[[], Request]],
    *,
    concurrency: int,
    timeout: float,
) -> list[Sample]:
    """Send the requests ``concurrency`` at a time, each as soon as a previous one is answered.

    The requests are built (and signed) just before they are sent.
    """
    return asyncio.run(_closed_loop(target, make_requests, max(1, concurrency), timeout))


async def _closed_loop(
    target: Target, make_requests: Sequence[Callable[[], Request]], concurrency: int, timeout: float
) -> list[Sample]:
    slots = asyncio.Semaphore(concurrency)

    async def one(make: Callable[[], Request]) -> Sample:
        async with slots:
            return await _send_async(target, _wire(target, make()), timeout)

    return list(await asyncio.gather(*(one(make) for make in make_requests)))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Stats:
    """p50/p95/p99 and counts of a set of latencies (seconds)."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float
    late: int = 0  #: no 200 within Slack's 3 s
    timeouts: int = 0  #: no answer within the client's timeout
    errors: int = 0  #: answered with a status other than 200

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(values), percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99),
            max(values),
        )

    @classmethod
    def of_samples(cls, samples: Sequence[Sample]) -> Stats:
        """Latency of every sample; a timed-out one counts with the time it was waited for."""
        base = cls.of([s.elapsed for s in samples])
        return cls(
            base.count, base.p50, base.p95, base.p99, base.max,
            late=sum(1 for s in samples if s.late),
            timeouts=sum(1 for s in samples if s.timed_out),
            errors=sum(1 for s in samples if s.status is not None and s.status != 200),
        )
