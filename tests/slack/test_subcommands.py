"""The subcommand table drives the parser, the help card, access, routing and the manifest."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from bot.services import access as policy
from bot.services.access import ACTION_ROLES, Action, Role, Standing, permits
from bot.slack import blocks, subcommands
from bot.slack.listeners.commands import CyclrCommand
from bot.slack.middleware import command_for
from bot.slack.parsing import ALIASES, HELP_ENTRIES, SUBCOMMANDS, parse_command
from bot.slack.subcommands import TABLE, AccountUse, Subcommand, required_role, usage_hint

ROOT = Path(__file__).resolve().parents[2]


def _router() -> CyclrCommand:
    """A router without services: building it only reads the table."""
    none = cast(Any, None)
    return CyclrCommand(none, none, none, none)


def _slash(text: str) -> dict[str, Any]:
    return {"command": "/cyclr", "text": text}


# -- (a) every entry parses, routes to a handler and is on the help card ---------------------------


@pytest.mark.parametrize("entry", TABLE, ids=lambda e: e.name)
def test_every_subcommand_parses_by_name_alias_and_example(entry: Subcommand) -> None:
    for word in (entry.name, entry.name.upper(), *entry.aliases):
        command = parse_command(word)
        assert (command.subcommand, command.problem) == (entry.name, None), word
    example = parse_command(entry.example.removeprefix("/cyclr "))
    assert (example.subcommand, example.problem) == (entry.name, None), entry.example


def test_the_parser_knows_exactly_the_table() -> None:
    assert tuple(e.name for e in TABLE) == SUBCOMMANDS
    assert dict(ALIASES) == {alias: e.name for e in TABLE for alias in e.aliases}


@pytest.mark.parametrize("entry", TABLE, ids=lambda e: e.name)
def test_every_subcommand_routes_to_its_handler(entry: Subcommand) -> None:
    router = _router()
    route = router.routes[entry.name]
    assert route == getattr(router, entry.handler)
    assert getattr(route, "__self__", None) is router


def test_routes_are_exactly_the_table() -> None:
    assert list(_router().routes) == [e.name for e in TABLE]


def test_a_table_entry_without_a_handler_stops_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    ghost = dataclasses.replace(TABLE[1], name="ghost", aliases=(), handler="ghost", example="/cyclr ghost")
    monkeypatch.setattr(subcommands, "TABLE", (*TABLE, ghost))
    with pytest.raises(TypeError, match="ghost"):
        _router()


def test_every_subcommand_is_on_the_help_card_with_its_example() -> None:
    assert HELP_ENTRIES == tuple(blocks.help_entries()) == subcommands.help_entries()
    card = blocks.help_card()
    shown = "".join(b["text"]["text"] for b in card.blocks if b["type"] == "section")
    for entry in TABLE:
        assert f"`{blocks.escape(entry.usage)}`" in shown, entry.name
        assert blocks.escape(entry.summary) in shown, entry.name
        if entry.example != entry.usage:
            assert f"`{blocks.escape(entry.example)}`" in shown, entry.name
    assert card.text.endswith(", ".join(e.name for e in TABLE))


# -- (b) the manifest --------------------------------------------------------------------------------


def test_the_manifests_usage_hint_is_the_tables() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["usage_hint"] == usage_hint()
    named = [part.split(" ")[0] for part in command["usage_hint"].split(" | ")]
    assert named == [e.name for e in TABLE if e.in_usage_hint]


# -- (c) and (d): anything else gets the help card; access not in the table is refused -------------


@pytest.mark.parametrize("word", ["frobnicate", "teleport", "xyzzy", "instal", "account-s", "4"])
def test_a_word_not_in_the_table_parses_as_help_with_the_problem(word: str) -> None:
    command = parse_command(f"{word} salesforce")
    assert command.subcommand == "help" and command.problem is not None and word in command.problem


def test_the_middleware_takes_each_role_from_the_table() -> None:
    for entry in TABLE:
        _command, found, role = command_for(_slash(entry.example.removeprefix("/cyclr ")))
        assert found is entry and role is entry.role_for(_command.args), entry.name
    assert command_for(_slash("account"))[2] is Role.INSTALLER
    assert command_for(_slash("account Acme Ltd"))[2] is Role.ADMIN
    assert command_for(_slash("frobnicate"))[1:] == (subcommands.lookup("help"), Role.NONE)


def test_a_name_not_in_the_table_requires_a_role_nobody_has() -> None:
    assert required_role("frobnicate") is None and required_role("xyzzy", "x") is None
    refusal = permits(Standing(Role.ADMIN), required_role("frobnicate"))
    assert not refusal.allowed and refusal.reason == policy.UNKNOWN_REQUIREMENT


def test_an_action_with_no_role_is_refused_to_admins_too(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(ACTION_ROLES) == set(Action)
    admin = Standing(Role.ADMIN)
    assert policy.allows(admin, Action.UNINSTALL).allowed
    monkeypatch.setattr(
        policy, "ACTION_ROLES", {a: r for a, r in ACTION_ROLES.items() if a is not Action.AUTH}
    )
    assert not policy.allows(admin, Action.AUTH).allowed
    assert policy.allows(admin, Action.UNINSTALL).allowed


# -- the table itself -----------------------------------------------------------------------------


def test_the_table_matches_the_policys_actions() -> None:
    """Subcommands that share a name with a button's action need the same role."""
    for entry in TABLE:
        if entry.name in set(Action):
            assert ACTION_ROLES[Action(entry.name)] is entry.role, entry.name
    account = subcommands.lookup("account")
    assert account is not None
    assert (account.role, account.role_with_args) == (
        ACTION_ROLES[Action.ACCOUNTS],
        ACTION_ROLES[Action.BIND],
    )


def test_the_table_is_well_formed() -> None:
    assert TABLE[0].name == "help" and TABLE[0].role is Role.NONE
    assert [e for e in TABLE if e.role is Role.NONE] == [TABLE[0]]
    for entry in TABLE:
        assert re.fullmatch(r"[a-z]+", entry.name), entry.name
        assert entry.summary.endswith(".") and len(entry.summary) < 120, entry.name
        assert ("[account]" in entry.args) is (entry.account is AccountUse.NAMED), entry.name
        if entry.role_with_args is not None:
            assert entry.role_with_args > entry.role, entry.name
    assert [e.name for e in TABLE if e.checked_by_handler] == ["install"]


def test_a_clash_in_the_table_fails_at_import() -> None:
    clash = dataclasses.replace(TABLE[1], name="finder", aliases=("ls",), example="/cyclr finder x")
    with pytest.raises(ValueError, match="'ls'"):
        subcommands._index((*TABLE, clash))
    with pytest.raises(ValueError, match="example"):
        subcommands._index((dataclasses.replace(TABLE[1], example="/cyclr list"),))
