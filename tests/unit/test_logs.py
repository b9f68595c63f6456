"""The redaction filter: secrets never reach a log line, a traceback or JSON output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging, redact, reference_id, register_secret


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    old_handlers, old_level = list(root.handlers), root.level
    configure_logging("DEBUG", "text", stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in old_handlers:
        root.addHandler(handler)
    root.setLevel(old_level)


def test_patterns_mask_tokens_wherever_they_come_from() -> None:
    text = redact(
        "xoxb-1-2-abc xapp-1-A1-xyz Authorization: Bearer abc.def-ghi client_secret=s3cr3t&x=1 "
        '"AuthValue": "dXNlcjpwYXNz" token=tok123'
    )
    for secret in ("xoxb-1-2-abc", "xapp-1-A1-xyz", "abc.def-ghi", "s3cr3t", "dXNlcjpwYXNz", "tok123"):
        assert secret not in text
    assert "x=1" in text  # only the secret part goes


def test_registered_values_are_masked_in_messages_args_and_tracebacks(captured: io.StringIO) -> None:
    register_secret("hunter2-password-xyz")
    log = logging.getLogger("test.redaction")
    log.info("user typed %s", "hunter2-password-xyz")
    try:
        raise RuntimeError("failed with hunter2-password-xyz inside")
    except RuntimeError:
        log.exception("boom")
    output = captured.getvalue()
    assert "hunter2-password-xyz" not in output
    assert "user typed [redacted]" in output
    assert "RuntimeError: failed with [redacted] inside" in output


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact("abc def") == "abc def"


def test_json_format_is_one_object_per_line_with_reference() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    old = list(root.handlers)
    configure_logging("INFO", "json", stream=stream)
    try:
        token = reference_id.set("E-ABC123")
        logging.getLogger("test.json").warning("hello %s", "xoxb-9-9-secret")
        reference_id.reset(token)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in old:
            root.addHandler(handler)
    lines = stream.getvalue().strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["ref"] == "E-ABC123"
    assert record["level"] == "WARNING"
    assert record["message"] == "hello [redacted]"
