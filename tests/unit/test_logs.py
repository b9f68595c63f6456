"""The redaction filter: secrets never reach a log line, a traceback or JSON output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus, urlencode

import pytest

from bot.logs import (
    SecretRegistry,
    configure_logging,
    encoded_forms,
    redact,
    reference_id,
    register_secret,
)


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


# -- encoded forms -------------------------------------------------------------------------------------

#: A typed password with what URL and JSON encoders escape (space, slash, quote, backslash,
#: ampersand, non-ASCII) around a core no encoding changes.
AWKWARD = 'pa ss/wö"\\&Zq9x!'
CORE = "Zq9x"


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(quote(AWKWARD, safe=""), id="quote"),
        pytest.param(quote(AWKWARD), id="quote keeping slashes"),
        pytest.param(quote_plus(AWKWARD), id="quote_plus"),
        pytest.param(json.dumps(AWKWARD), id="json"),
        pytest.param(json.dumps(AWKWARD, ensure_ascii=False), id="json utf-8"),
        pytest.param(json.dumps(AWKWARD).replace("/", "\\/"), id="json as Slack writes it"),
        pytest.param(repr({"password": AWKWARD}), id="repr"),
        pytest.param(urlencode({"payload": json.dumps({"value": AWKWARD})}), id="form body of JSON"),
        pytest.param(
            urlencode({"payload": json.dumps({"value": AWKWARD}).replace("/", "\\/")}), id="Slack payload"
        ),
    ],
)
def test_a_registered_value_is_masked_in_its_encoded_forms(captured: io.StringIO, form: str) -> None:
    register_secret(AWKWARD)
    assert form != AWKWARD and AWKWARD not in form  # each is a form the plain value is not in
    logging.getLogger("test.redaction").info("body: %s", form)
    output = captured.getvalue()
    assert "[redacted]" in output and CORE not in output, output


REF = "Zr0_-QmL8yT1vV3kX9pW2sN4bD6fH7jK0aC5eG8iU1o"  # as secrets.token_urlsafe(32) makes one


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(f'"POST /authorise/{REF} HTTP/1.1" 303', id="request line"),
        pytest.param(f"/authorised/{REF}", id="return page"),
        pytest.param(json.dumps({"url": f"https://bot.example/authorise/{REF}"}), id="json"),
        pytest.param(json.dumps({"url": f"https://bot.example/authorise/{REF}"}).replace("/", "\\/"),
                     id="json as Slack writes it"),
        pytest.param(urlencode({"targetOrigin": f"https://bot.example/authorised/{REF}"}), id="query"),
        pytest.param(quote(f"https://b.example/authorised/{REF}", safe="").lower(), id="lower-case escapes"),
        pytest.param(urlencode({"payload": json.dumps({"url": f"https://b.example/authorise/{REF}"})
                                .replace("/", "\\/")}), id="Slack payload"),
    ],
)
def test_link_refs_and_return_ids_are_masked_by_their_place_in_the_url(form: str) -> None:
    """One ref per link: they are recognised by the pages' paths, never registered one by one."""
    masked = redact(form)
    assert REF not in masked and REF.lower() not in masked and "[redacted]" in masked, masked


def test_the_link_path_pattern_leaves_short_and_other_paths_alone() -> None:
    line = "GET /authorise/unknown 404; GET /oauth/authorize?client_id=1234567890123456789"
    assert redact(line) == line


def test_encoded_forms_of_a_token_are_just_the_token() -> None:
    """A token of letters, digits, ``-`` and ``_`` has one form: it costs one scan per line."""
    assert encoded_forms("sk_live_0123-abcd") == {"sk_live_0123-abcd"}


# -- lifetimes -----------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_masked_until_its_lifetime_ends() -> None:
    clock = FakeClock()
    registry = SecretRegistry(clock=clock)
    registry.register("signin-token-1", ttl=300)
    registry.register("client-secret-forever")
    line = "signin-token-1 client-secret-forever"
    clock.now += 299.9
    assert registry.redact(line) == "[redacted] [redacted]"
    clock.now += 0.1
    assert registry.redact(line) == "signin-token-1 [redacted]"
    assert len(registry) == 1  # dropped, not just skipped
    clock.now += 10**9
    assert registry.redact(line) == "signin-token-1 [redacted]"


def test_registering_again_extends_a_lifetime_and_never_shortens_it() -> None:
    clock = FakeClock()
    registry = SecretRegistry(clock=clock)
    registry.register("api-key-typed", ttl=60)
    clock.now += 50
    registry.register("api-key-typed", ttl=60)  # the install attempt starts: 60 s from now
    registry.register("api-key-typed", ttl=1)  # a shorter one changes nothing
    clock.now += 59
    assert registry.redact("api-key-typed") == "[redacted]"
    clock.now += 1
    assert registry.redact("api-key-typed") == "api-key-typed"
    registry.register("setting-secret", ttl=5)
    registry.register("setting-secret")  # None: for as long as the process runs
    clock.now += 10**9
    assert registry.redact("setting-secret") == "[redacted]"


def test_the_registry_is_bounded_and_drops_what_expires_soonest() -> None:
    clock = FakeClock()
    registry = SecretRegistry(clock=clock, limit=3)
    registry.register("forever-value")
    registry.register("long-lived-1", ttl=3600)
    registry.register("short-lived-1", ttl=60)
    registry.register("long-lived-2", ttl=3600)
    assert len(registry) == 3
    assert registry.redact("forever-value long-lived-1 long-lived-2 short-lived-1") == (
        "[redacted] [redacted] [redacted] short-lived-1"
    )


def test_the_module_registry_takes_a_lifetime() -> None:
    register_secret("expired-already-value", ttl=0)
    register_secret("lives-an-hour-value", ttl=3600)
    assert redact("expired-already-value lives-an-hour-value") == "expired-already-value [redacted]"


def test_a_value_without_a_long_plain_run_is_still_masked_in_every_form() -> None:
    """A line is tested for each form only once it holds the value's longest plain run; a
    value with none of four characters or more has every form looked for."""
    registry = SecretRegistry()
    registry.register("a!b@c#d$e%f")
    line = f"{quote_plus('a!b@c#d$e%f')} {json.dumps({'p': 'a!b@c#d$e%f'})}"
    assert registry.redact(line) == '[redacted] {"p": "[redacted]"}'
