"""The /cyclr text parser: subcommands, aliases, normalisation, problems, and never raising."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.parsing import (
    ALIASES,
    HELP_ENTRIES,
    HISTORY_DEFAULT,
    MAX_INPUT_CHARS,
    SUBCOMMANDS,
    Command,
    normalise,
    parse_command,
)


@pytest.mark.parametrize(
    ("text", "subcommand", "args"),
    [
        ("", "help", ""),
        ("   ", "help", ""),
        ("help", "help", ""),
        ("?", "help", ""),
        ("HELP", "help", ""),
        ("help install", "help", "install"),
        ("help add", "help", "install"),  # a topic alias resolves to the subcommand
        ("help nonsense", "help", "nonsense"),
        ("search salesforc", "search", "salesforc"),
        ("Search hub spot", "search", "hub spot"),
        ("find gsheets", "search", "gsheets"),
        ("install", "install", ""),
        ("install Google Sheets", "install", "Google Sheets"),
        ('install "Google Sheets"', "install", "Google Sheets"),
        ("install 'Google Sheets'", "install", "Google Sheets"),
        ("install `Google Sheets`", "install", "Google Sheets"),
        ("install O'Reilly Media", "install", "O'Reilly Media"),
        ('install "Google Sheets', "install", "Google Sheets"),  # unbalanced quote
        ('install ""', "install", ""),
        ("install: hubspot", "install", "hubspot"),
        ("add hubspot", "install", "hubspot"),
        ("InStAlL HubSpot", "install", "HubSpot"),
        ("list", "list", ""),
        ("ls", "list", ""),
        ("LS", "list", ""),
        ("auth HubSpot", "auth", "HubSpot"),
        ("authorise HubSpot", "auth", "HubSpot"),
        ("authorize HubSpot", "auth", "HubSpot"),
        ("uninstall Mailchimp", "uninstall", "Mailchimp"),
        ("remove Mailchimp", "uninstall", "Mailchimp"),
        ("delete Mailchimp", "uninstall", "Mailchimp"),
        ("accounts", "accounts", ""),
        ("account", "account", ""),
        ("account Acme Ltd", "account", "Acme Ltd"),
        ("history", "history", ""),
        ("history 20", "history", "20"),
    ],
)
def test_subcommands_and_args(text: str, subcommand: str, args: str) -> None:
    command = parse_command(text)
    assert (command.subcommand, command.args, command.problem) == (subcommand, args, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("install \u201cGoogle Sheets\u201d", "Google Sheets"),  # “ ”
        ("install \u2018Google Sheets\u2019", "Google Sheets"),  # ‘ ’
        ("install \u00abGoogle Sheets\u00bb", "Google Sheets"),  # « »
        ("install \u201eGoogle Sheets\u201c", "Google Sheets"),  # „ “
        ("install O\u2019Reilly", "O'Reilly"),  # a smart apostrophe stays an apostrophe
        ("install Google\u00a0Sheets", "Google Sheets"),  # no-break space
        ("install Google\u2003\u2009Sheets", "Google Sheets"),  # em and thin spaces
        ("install Google\u3000Sheets", "Google Sheets"),  # ideographic space
        ("install Google\tSheets\n", "Google Sheets"),
        ("install Goo\u200bgle Sheets", "Google Sheets"),  # zero-width space removed
        ("install Google\x00\x07 Sheets\x1b", "Google Sheets"),  # control characters removed
        ("install \u202eGoogle Sheets", "Google Sheets"),  # bidi override removed
        ("install   Google     Sheets   ", "Google Sheets"),
        ("install AT&amp;T &lt;beta&gt;", "AT&T <beta>"),
        ("install &amp;lt;", "&lt;"),  # entities are decoded once only
        ("install \uff27oogle", "Google"),  # full-width letters (NFKC)
    ],
)
def test_normalisation(text: str, expected: str) -> None:
    assert parse_command(text).args == expected


def test_fullwidth_subcommand_is_understood() -> None:
    assert parse_command("\uff49\uff4e\uff53\uff54\uff41\uff4c\uff4c x").subcommand == "install"


def test_user_channel_and_group_escapes() -> None:
    command = parse_command("account <@U0123ABC|alice> <@W999> <#C0456|general> <#C789> <!subteam^S42|@ops>")
    assert command.args == "@alice @W999 #general #C789 @ops"
    assert command.user_ids == ("U0123ABC", "W999")
    assert command.channel_ids == ("C0456", "C789")
    assert command.usergroup_ids == ("S42",)


def test_link_escapes_become_urls() -> None:
    assert (
        parse_command("search <https://example.com/a?b=1&amp;c=2|example>").args
        == "https://example.com/a?b=1&c=2"
    )
    assert parse_command("search <https://example.com>").args == "https://example.com"
    assert parse_command("search <mailto:a@b.com|a@b.com>").args == "a@b.com"
    assert parse_command("search <!here> now").args == "@here now"
    assert parse_command("search <!date^1392734382^{date}|Feb 18>").args == "Feb 18"


def test_normalise_alone() -> None:
    assert normalise("  a\u00a0<@U1|bob>\u200b  &amp; \u201cb\u201d ") == 'a @bob & "b"'
    assert normalise("") == ""


@pytest.mark.parametrize(
    ("text", "word", "suggestion"),
    [
        ("instal Google Sheets", "instal", "install"),
        ("isntall", "isntall", "install"),
        ("serch salesforce", "serch", "search"),
        ("lsit", "lsit", "list"),
        ("histroy", "histroy", "history"),
        ("acount Acme", "acount", "account"),
        ("accuonts", "accuonts", "accounts"),
        ("uninstal x", "uninstal", "uninstall"),
        ("hepl", "hepl", "help"),
        ("authorse x", "authorse", "auth"),  # close to an alias: suggest its subcommand
        ("remvoe x", "remvoe", "uninstall"),
    ],
)
def test_typos_get_help_problem_and_suggestion(text: str, word: str, suggestion: str) -> None:
    command = parse_command(text)
    assert command.subcommand == "help"
    assert command.problem == f"I don't know `{word}`."
    assert command.suggestion == suggestion
    assert command.hint == f"Did you mean `{suggestion}`?"
    assert command.message == f"I don't know `{word}`. Did you mean `{suggestion}`?"


def test_unknown_word_without_close_match() -> None:
    command = parse_command("salesforce please")
    assert command.subcommand == "help"
    assert command.problem == "I don't know `salesforce`."
    assert command.suggestion is None and command.hint is None
    assert command.message == command.problem
    assert command.args == "salesforce please"  # kept, so the caller can offer a search


def test_unknown_word_is_echoed_short_and_without_backticks() -> None:
    command = parse_command("a`b" + "x" * 100)
    assert command.problem is not None
    assert "`a'b" in command.problem
    assert len(command.problem) < 60
    assert command.problem.count("`") == 2


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("history", HISTORY_DEFAULT),
        ("history 1", 1),
        ("history 50", 50),
        ("history 007", 7),
        ("HISTORY 5 please", 5),
    ],
)
def test_history_counts(text: str, count: int) -> None:
    command = parse_command(text)
    assert command.subcommand == "history"
    assert command.problem is None
    assert command.count == count


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("history 0", "from 1 to 50"),
        ("history 51", "from 1 to 50"),
        ("history 99999999999999999999", "from 1 to 50"),
        ("history abc", "not a number"),
        ("history -5", "not a number"),
        ("history 2.5", "not a number"),
        ("history \u0663", "not a number"),  # Arabic-Indic three: NFKC keeps it, it is not ASCII
    ],
)
def test_history_bad_counts(text: str, fragment: str) -> None:
    command = parse_command(text)
    assert command.subcommand == "history"
    assert command.count is None
    assert command.problem is not None and fragment in command.problem


def test_too_long() -> None:
    command = parse_command("install " + "x" * MAX_INPUT_CHARS)
    assert command.subcommand == "help"
    assert command.problem is not None and command.problem.startswith("That is too long")
    assert command.args == ""
    at_limit = parse_command("install " + "x" * (MAX_INPUT_CHARS - len("install ")))
    assert at_limit.subcommand == "install" and at_limit.problem is None
    huge = parse_command("x" * 1_000_000)
    assert huge.problem is not None and huge.problem.startswith("That is too long")


def test_spaces_do_not_count_towards_the_limit() -> None:
    command = parse_command("install" + " " * 2000 + "HubSpot")
    assert (command.subcommand, command.args, command.problem) == ("install", "HubSpot", None)


def test_command_is_frozen() -> None:
    command = parse_command("list")
    with pytest.raises(AttributeError):
        command.subcommand = "install"  # type: ignore[misc]


def test_aliases_point_at_subcommands() -> None:
    assert set(ALIASES.values()) <= set(SUBCOMMANDS)
    assert not set(ALIASES) & set(SUBCOMMANDS)
    for alias, target in ALIASES.items():
        assert parse_command(f"{alias} x").subcommand == target


def test_help_entries_cover_every_subcommand_once() -> None:
    assert [entry[0] for entry in HELP_ENTRIES] == list(SUBCOMMANDS)
    for subcommand, usage, description, example in HELP_ENTRIES:
        assert usage.startswith(f"/cyclr {subcommand}")
        assert example.startswith(f"/cyclr {subcommand}")
        assert description and len(description) < 120
        parsed = parse_command(example.removeprefix("/cyclr "))
        assert parsed.subcommand == subcommand and parsed.problem is None, example


# -- properties -----------------------------------------------------------------------------------------

_WORDS = st.sampled_from(list(SUBCOMMANDS) + list(ALIASES) + ["instal", "", "?", "history"])
_NASTY = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(list("<>|@#!^&;\"'`\u201c\u201d\u00a0\u200b\u202e\x00\x1b\n\t")),
    )
)
_TEXTS = st.one_of(
    st.text(),
    _NASTY,
    st.text(max_size=20_000),
    st.builds(lambda w, rest: f"{w} {rest}", _WORDS, _NASTY),
    st.builds(lambda w, n: f"{w} {n}", st.just("history"), st.integers(-(10**30), 10**30)),
    st.builds(lambda w: w * 3000, st.text(min_size=1, max_size=5)),
)


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_parse_never_raises_and_stays_in_bounds(text: str) -> None:
    command = parse_command(text)
    assert isinstance(command, Command)
    assert command.subcommand in SUBCOMMANDS
    assert len(command.args) <= MAX_INPUT_CHARS
    assert command.args == command.args.strip()
    assert "  " not in command.args
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in command.args)
    if command.subcommand == "history" and command.problem is None:
        assert command.count is not None and 1 <= command.count <= 50
    if command.problem is not None:
        assert command.problem.strip() and "Traceback" not in command.problem
    if command.suggestion is not None:
        assert command.suggestion in SUBCOMMANDS


@settings(max_examples=200, deadline=None)
@given(_TEXTS)
def test_reparsing_a_clean_command_keeps_its_subcommand(text: str) -> None:
    command = parse_command(text)
    if command.problem is None:
        again = parse_command(f"{command.subcommand} {command.args}")
        assert again.subcommand == command.subcommand
