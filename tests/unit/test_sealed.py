"""Seals on modal metadata and button values: the bot's own come back intact, nothing else does."""

from __future__ import annotations

import json

import pytest

from bot.slack.ids import decode_value
from bot.slack.sealed import MAX_METADATA, ModalMeta, Sealer

SEALER = Sealer.for_bot_token("xoxb-one")


def test_metadata_round_trips_for_its_user_only() -> None:
    meta = ModalMeta("C1", "acme", auto_name="Webhook")
    text = meta.dumps(SEALER, "U1")
    assert ModalMeta.loads(SEALER, "U1", text) == meta
    assert ModalMeta.loads(SEALER, "U2", text) is None
    assert ModalMeta.loads(Sealer.for_bot_token("xoxb-two"), "U1", text) is None
    assert ModalMeta.loads(SEALER, "", text) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("acme", "globex"),
        lambda t: t.split(".", 1)[1],  # the seal dropped
        lambda t: "x" + t,
        lambda t: t[:-1] + ',"c":"C2"}',  # a field added
        lambda t: "\u00e9" * 43 + "." + t.split(".", 1)[1],  # not ASCII: no TypeError
        lambda t: t.split(".", 1)[0] + "." + json.dumps({"a": "\ud800"}),  # a lone surrogate
    ],
)
def test_altered_metadata_is_refused(tamper: object) -> None:
    text = ModalMeta("C1", "acme").dumps(SEALER, "U1")
    assert callable(tamper)
    assert ModalMeta.loads(SEALER, "U1", tamper(text)) is None


@pytest.mark.parametrize("value", [None, 5, "", ".", "no seal", json.dumps({"a": "acme"})])
def test_anything_else_is_not_metadata(value: object) -> None:
    assert ModalMeta.loads(SEALER, "U1", value) is None


def test_long_names_are_dropped_before_the_place() -> None:
    text = ModalMeta("C1", "acme", auto_name="n" * 4000).dumps(SEALER, "U1")
    assert len(text) <= MAX_METADATA
    assert ModalMeta.loads(SEALER, "U1", text) == ModalMeta("C1", "acme")


def test_button_values_are_sealed_for_one_user() -> None:
    value = SEALER.button_value("U1", {"a": "acme", "ac": 12})
    data = decode_value(value)
    assert (data["a"], data["ac"]) == ("acme", 12)  # listeners read it like a plain value
    assert SEALER.value_sealed_for("U1", data)
    assert not SEALER.value_sealed_for("U2", data)
    assert not SEALER.value_sealed_for("U1", data | {"a": "globex"})
    assert not SEALER.value_sealed_for("U1", data | {"s": "\u00e9"})
    assert not SEALER.value_sealed_for("U1", {"a": "acme", "ac": 12})
    # A modal seal is no button seal, and the other way round.
    assert ModalMeta.loads(SEALER, "U1", data["s"] + "." + json.dumps({"a": "acme"})) is None


def test_the_key_is_not_the_token() -> None:
    assert "xoxb-one" not in repr(SEALER)
    assert "xoxb-one" not in ModalMeta("C1", "acme").dumps(SEALER, "U1")
