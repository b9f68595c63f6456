"""The signature check on raw bytes, and the bounded log of refused requests."""

from __future__ import annotations

import logging
import time

import pytest

from bot.playground import payloads as sr
from bot.web.events import RefusalLog, signature_problem

SECRET = sr.SIGNING_SECRET.encode()


def test_the_signature_covers_the_raw_bytes_whatever_they_decode_to() -> None:
    now = int(time.time())
    body = b"\xff\xfe not utf-8 \x00"
    signature = sr.signature(body, str(now))
    assert signature_problem(SECRET, body, str(now), signature, now=now) is None
    assert signature_problem(SECRET, body + b" ", str(now), signature, now=now) == "wrong signature"


@pytest.mark.parametrize(
    ("timestamp", "signature", "problem"),
    [
        (None, "v0=" + "0" * 64, "unsigned"),
        ("1700000000", None, "unsigned"),
        ("abc", "v0=" + "0" * 64, "malformed signature headers"),
        ("1700000000", "v1=" + "0" * 64, "malformed signature headers"),
        ("1700000000", "v0=" + "0" * 63, "malformed signature headers"),
        ("1699999699", "v0=" + "0" * 64, "timestamp more than 5 minutes off"),
        ("1700000301", "v0=" + "0" * 64, "timestamp more than 5 minutes off"),
        ("1700000000", "v0=" + "0" * 64, "wrong signature"),
    ],
)
def test_each_problem_is_named(timestamp: str | None, signature: str | None, problem: str) -> None:
    assert signature_problem(SECRET, b"x", timestamp, signature, now=1_700_000_000) == problem


def test_a_timestamp_just_inside_five_minutes_is_accepted() -> None:
    stamp = "1699999700"
    signature = sr.signature(b"x", stamp)
    assert signature_problem(SECRET, b"x", stamp, signature, now=1_700_000_000) is None
    assert signature_problem(b"", b"x", stamp, signature, now=1_700_000_000) == "no signing secret configured"


def test_refusals_make_at_most_a_line_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    refusals = RefusalLog(every=60, clock=lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger="bot.web.events"):
        for _ in range(1000):
            refusals.note("unsigned")
            clock[0] += 0.01  # 1,000 refusals in 10 s
        refusals.note("wrong signature")
        clock[0] += 60
        refusals.note("unsigned")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "refused 1 request(s)" in lines[0] and "(unsigned: 1)" in lines[0]
    assert "refused 1001 request(s)" in lines[1] and "unsigned: 1000, wrong signature: 1" in lines[1]
