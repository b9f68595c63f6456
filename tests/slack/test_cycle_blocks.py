"""The cycle listing, the activate modal and the words for what blocks a cycle: pure builders."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.cyclr.models import Cycle, CycleConnector, Prerequisite
from bot.playground.standin import validate_message, validate_view
from bot.slack import blocks
from bot.slack.blocks.cycles import CYCLES_PAGE_SIZE, INTERVAL_OPTIONS
from bot.slack.cycles import prerequisite_words


def cycle(n: int, status: str = "Paused", **kw: object) -> Cycle:
    return Cycle(id=f"cy-{n}", name=f"Cycle <{n}>", status=status, **kw)  # type: ignore[arg-type]


def labels(message: blocks.Message) -> list[str]:
    found = []
    for block in message.blocks:
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            found.append(accessory["text"]["text"])
        found.extend(e["text"]["text"] for e in block.get("elements") or [] if e.get("type") == "button")
    return found


def test_each_status_gets_the_button_that_fits() -> None:
    cycles = [
        cycle(1, "Active"),
        cycle(2, "Paused"),
        cycle(3, "Paused"),
        cycle(4, "Stopping"),
        cycle(5, "Error"),
    ]
    message = blocks.cycles_list(
        cycles, account_id="acme", account_name="Acme", intervals={"cy-3": 60, "cy-1": 5}
    )
    assert labels(message) == ["Pause", "Activate", "Resume", "Activate"]
    assert validate_message({"text": message.text, "blocks": message.blocks}) == []
    text = json.dumps(message.blocks)
    assert "Cycle &lt;1&gt;" in text and "<1>" not in text  # names are escaped
    assert "running every 5 minutes" in text


def test_last_run_and_errors_are_shown() -> None:
    when = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    message = blocks.cycles_list(
        [cycle(1, last_successful_run=when, error_count=1), cycle(2, error_count=7)],
        account_id="a",
        account_name="A",
    )
    rows = [b["text"]["text"] for b in message.blocks if "accessory" in b]
    assert "last successful run <!date^" in rows[0] and "1 error" in rows[0] and "1 errors" not in rows[0]
    assert "last successful run never" in rows[1] and "7 errors" in rows[1]


def test_pages_stay_within_slacks_limits() -> None:
    many = [cycle(n) for n in range(95)]
    pages = (len(many) + CYCLES_PAGE_SIZE - 1) // CYCLES_PAGE_SIZE
    for page in range(pages):
        message = blocks.cycles_list(
            many, account_id="a", account_name="A", page=page, notice="*Done.*", sandbox=True
        )
        assert validate_message({"text": message.text, "blocks": message.blocks}) == []
        nav = labels(message)[-1]
        assert nav == ("More" if page < pages - 1 else "Back to the first page")
    beyond = blocks.cycles_list(many, account_id="a", account_name="A", page=500)
    assert f"page {pages} of {pages}" in json.dumps(beyond.blocks)
    assert "No cycles" in blocks.cycles_list([], account_id="a", account_name="A").text


def test_the_activate_modal_offers_only_cyclrs_intervals() -> None:
    view = blocks.activate_modal(cycle_name="Orders", account_name="Acme", metadata="sealed", sandbox=True)
    assert validate_view(view) == []
    assert view["callback_id"] == "cyclr_activate" and view["private_metadata"] == "sealed"
    select = next(b for b in view["blocks"] if b.get("block_id") == "interval")["element"]
    assert select["type"] == "static_select" and select["action_id"] == "interval"
    assert [int(o["value"]) for o in select["options"]] == [
        1,
        5,
        15,
        30,
        60,
        120,
        180,
        240,
        360,
        480,
        720,
        1440,
        10080,
    ]
    assert [o["text"]["text"] for o in select["options"]] == [label for _m, label in INTERVAL_OPTIONS]
    assert INTERVAL_OPTIONS[4][1] == "Every hour" and INTERVAL_OPTIONS[-1][1] == "Every week"


def test_prerequisites_in_plain_words() -> None:
    blocked = Cycle(
        id="cy",
        name="Orders",
        status="Paused",
        connectors=(
            CycleConnector(connector_id=1, account_connector_id=42, name="Shopify", authenticated=False),
        ),
    )
    words = prerequisite_words(
        blocked,
        [
            Prerequisite(20, "Unauthenticated connector", "AccountConnector", "42"),
            Prerequisite(30, "Missing mapping", "Action", "step"),
        ],
    )
    assert words.startswith("Orders cannot start yet: Shopify is not authorised yet")
    assert "`/cyclr auth Shopify`" in words and "only the Cyclr console can fix that" in words
