"""What redaction costs a log line: ``python -m benchmarks.redact_bench [--lines N]``.

Every log line is scanned for every encoded form of every live registered secret, so the
cost grows with the number of live values. Prints the microseconds per line for registries
of a few sizes: the settings alone, a busy bot's live values (tokens that expire, credentials
of installs under way), the bound :data:`bot.logs.MAX_SECRETS`, and what a registry that
never forgot would hold after some days; for a short line and a long one (a logged JSON body).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Sequence

from bot.logs import MAX_SECRETS, SecretRegistry, encoded_forms, redact

__all__ = ["main"]

SHORT = "2024-05-01 12:00:00,000 INFO bot.services.links [E-7F3A2C] minted a sign-in link for install 4211"
LONG = SHORT + " body: " + '{"type": "view_submission", "view": {"state": {"values": {}}}, "x": 1} ' * 26


def sample_values(count: int) -> list[str]:
    """A realistic mix: mostly tokens (one form each), some URLs and typed passwords (several)."""
    values = []
    for i in range(count):
        kind = i % 10
        if kind < 7:
            values.append(secrets.token_urlsafe(24))
        elif kind < 9:
            token = secrets.token_urlsafe(24)
            values.append(f"https://app.cyclr.com/account/signin?token={token}&targetOrigin=https://bot/x")
        else:
            values.append(f"p@ss w/{secrets.token_hex(4)}\"é!")
    return values


def per_line(registry: SecretRegistry, line: str, rounds: int) -> float:
    """Median microseconds of ``registry.redact(line)`` over ``rounds`` batches of 100."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(100):
            registry.redact(line)
        timings.append((time.perf_counter() - started) / 100 * 1e6)
    return statistics.median(timings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="batches of 100 lines per figure (default 30)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    for _ in range(1000):
        redact(SHORT)
    patterns = (time.perf_counter() - started) / 1000 * 1e6
    print(f"patterns alone (no registered value): {patterns:.1f} us per short line")
    print(f"{'registry':>12} {'values':>7} {'forms':>6} {'short line (us)':>16} {'long line (us)':>15}")
    print(f"{'':>12} {'':>7} {'':>6} {len(SHORT):>13} ch {len(LONG):>12} ch")
    for label, count in (
        ("settings", 4),
        ("busy", 40),
        ("bound", MAX_SECRETS),
        ("never forgot", 5000),
    ):
        registry = SecretRegistry(limit=max(count, MAX_SECRETS))
        values = sample_values(count)
        for value in values:
            registry.register(value, ttl=3600)
        forms = sum(len(encoded_forms(v)) for v in values)
        short = per_line(registry, SHORT, args.rounds)
        long = per_line(registry, LONG, max(3, args.rounds // 5))
        print(f"{label:>12} {count:>7} {forms:>6} {short:>16.1f} {long:>15.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
