"""Socket Mode under refreshes and drops: ``python -m benchmarks.socket_mode [--envelopes N] [--quick]``.

For each scenario (Slack refreshing every connection every ``--every`` seconds: ``disconnect``,
then close 3 s later; or cutting every connection without a close frame as often) and each
client (slack_sdk's built-in one through Bolt's ``SocketModeHandler``, and ours,
:mod:`bot.slack.socket_mode`), a fresh :mod:`bot.playground.socket_standin` delivers
``--envelopes`` slash commands at ``--rate`` per second to a small Bolt app that answers in
the ack. An envelope with no open connection waits in the stand-in until one opens (Slack
would fail it; here it counts as late). Printed per 1,000 envelopes: late (acked after 3 s),
slow (after 1 s: on time on loopback, at risk over a real network), lost (not acked 15 s
after the last was sent, or in flight on a connection that went away), p50/p99 ack latency.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.playground.socket_standin import SocketModeStandin, Tally, slash_envelope

__all__ = ["Result", "main", "run_one"]

APP_TOKEN = "xapp-1-A0001-0001-bench"
_QUIET = logging.getLogger("benchmarks.socket_mode.app")
CLIENTS = {"builtin": "slack_sdk built-in", "ours": "ours (2 connections)"}
SCENARIOS = ("refresh", "drop")


@dataclass(frozen=True)
class Result:
    scenario: str
    client: str
    events: int
    tally: Tally

    @property
    def slow(self) -> int:
        """Acked after 1 s: within Slack's 3 s here, but not with a real network's round trips."""
        return sum(1 for x in self.tally.latencies if x > 1.0)

    def per_1000(self, count: int) -> float:
        return count * 1000 / self.tally.sent if self.tally.sent else 0.0


def _app(slack: SocketModeStandin) -> App:
    app = App(
        client=WebClient(token="xoxb-bench", base_url=slack.api_url),
        signing_secret="unused-in-socket-mode",
        token_verification_enabled=False,
        logger=_QUIET,  # slack_sdk's client logs through the app's logger
    )

    @app.command("/cyclr")
    def command(ack: Ack, command: dict[str, Any]) -> None:
        ack(f"ok: {command['text']}")

    return app


def _start(client: str, app: App, slack: SocketModeStandin) -> Callable[[], None]:
    """Connect ``client`` for ``app``; return how to close it."""
    if client == "builtin":
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(app, app_token=APP_TOKEN)
        handler.connect()  # type: ignore[no-untyped-call]
        slack.wait_connections(1, open_now=True)
        return lambda: handler.close()  # type: ignore[no-untyped-call]
    from bot.slack.socket_mode import SocketModeClient

    ours = SocketModeClient(app, APP_TOKEN).connect()
    ours.wait_live(2, timeout=10)
    return ours.close


def run_one(scenario: str, client: str, *, envelopes: int, rate: float, every: float) -> Result:
    """Deliver ``envelopes`` at ``rate``/s to ``client`` while ``scenario`` happens every ``every`` s."""
    with SocketModeStandin() as slack:
        close = _start(client, _app(slack), slack)
        try:
            ids: list[str] = []
            started = time.monotonic()
            next_event, events = started + every, 0
            for n in range(envelopes):
                due = started + n / rate
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                if time.monotonic() >= next_event:
                    if scenario == "refresh":
                        slack.refresh(close_after=3.0)
                    else:
                        slack.drop()
                    events += 1
                    next_event += every
                envelope = slash_envelope(f"bench {n}")
                ids.append(envelope["envelope_id"])
                slack.deliver(envelope)
            slack.wait_acked(ids, timeout=15)
            return Result(scenario, client, events, slack.tally(ids))
        finally:
            close()


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def format_results(results: Sequence[Result]) -> str:
    lines = [
        f"{'scenario':<9} {'client':<22} {'events':>6} {'sent':>5} {'late/1k':>8} {'>1s/1k':>7}"
        f" {'lost/1k':>8} {'p50 ms':>7} {'p99 ms':>7}"
    ]
    for r in results:
        lines.append(
            f"{r.scenario:<9} {CLIENTS[r.client]:<22} {r.events:>6} {r.tally.sent:>5}"
            f" {r.per_1000(r.tally.late):>8.1f} {r.per_1000(r.slow):>7.1f} {r.per_1000(r.tally.lost):>8.1f}"
            f" {_ms(r.tally.percentile(50)):>7} {_ms(r.tally.percentile(99)):>7}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=1000, help="per scenario and client (default 1000)")
    parser.add_argument("--rate", type=float, default=50.0, help="envelopes per second (default 50)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between refreshes or drops")
    parser.add_argument("--clients", default="builtin,ours", help="builtin,ours")
    parser.add_argument("--scenarios", default="refresh,drop", help="refresh,drop")
    parser.add_argument("--quick", action="store_true", help="200 envelopes, an event every 1.5 s")
    args = parser.parse_args(argv)
    for noisy in ("slack_sdk", "slack_bolt", "websockets", "bot.slack.socket_mode"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    _QUIET.setLevel(logging.CRITICAL)
    envelopes = 200 if args.quick else args.envelopes
    every = min(args.every, 1.5) if args.quick else args.every
    results = [
        run_one(scenario, client, envelopes=envelopes, rate=args.rate, every=every)
        for scenario in args.scenarios.split(",")
        for client in args.clients.split(",")
    ]
    print(
        f"Socket Mode: {envelopes} slash commands per run at {args.rate:g}/s; every {every:g} s"
        " Slack refreshes (disconnect, closed 3 s later) or drops every connection. Late: acked after 3 s."
    )
    print(format_results(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
