"""The subcommand table over signed HTTP: every entry runs its handler; anything else gets the
help card and runs nothing; access for a name the table lacks is refused, never help."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.playground import payloads as sr
from bot.slack.parsing import Command
from tests.e2e.harness import Bot

ADMIN = "UADMIN01"


def _answer(response: Any) -> str:
    if not response.content:
        return ""
    payload = response.json()
    return json.dumps(payload.get("blocks") or []) + (payload.get("text") or "")


def _quiet_since(bot: Bot, slack_calls: int, cyclr_requests: int) -> None:
    """Nothing reached Slack or Cyclr after the ack: no job, no message, no modal (Bolt's
    auth.test on a bot's first request aside)."""
    bot.wait_idle()
    assert [c.method for c in bot.slack.calls()[slack_calls:] if c.method != "auth.test"] == []
    assert bot.sandbox.requests[cyclr_requests:] == []


def test_every_subcommand_in_the_table_runs_its_handler(warm_bot: Bot) -> None:
    """Each entry's help-card example, run by an admin, gets its own answer: not a refusal and
    not the help card (except `help`'s)."""
    from bot.slack.subcommands import TABLE

    bot = warm_bot
    for entry in TABLE:
        text = entry.example.removeprefix("/cyclr ")
        response = bot.command(text, user_id=ADMIN)
        assert response.status_code == 200, entry.name
        answer = _answer(response)
        assert ":no_entry:" not in answer and ":thinking_face:" not in answer, (entry.name, answer)
        if entry.name == "help":
            assert "Cyclr commands:" in answer
            continue
        assert "Cyclr commands:" not in answer, entry.name
        if entry.name == "install":
            assert bot.opened_view()["callback_id"] == "cyclr_install"
    bot.wait_idle()


@pytest.mark.parametrize("user", [ADMIN, sr.DEFAULT_USER_ID])
@pytest.mark.parametrize("text", ["frobnicate salesforce", "sudo uninstall hubspot", "instal"])
def test_a_name_not_in_the_table_gets_the_help_card_and_nothing_else(
    warm_bot: Bot, user: str, text: str
) -> None:
    bot = warm_bot
    slack_calls, cyclr_requests = len(bot.slack.calls()), len(bot.sandbox.requests)
    response = bot.command(text, user_id=user)
    assert response.status_code == 200
    answer = _answer(response)
    word = text.split(" ")[0]
    assert f"I don't know `{word}`" in answer and "/cyclr search" in answer and "Cyclr commands:" in answer
    _quiet_since(bot, slack_calls, cyclr_requests)


@pytest.mark.parametrize("user", [ADMIN, sr.DEFAULT_USER_ID])
def test_a_subcommand_the_parser_knows_but_access_does_not_is_refused(
    warm_bot: Bot, monkeypatch: pytest.MonkeyPatch, user: str
) -> None:
    """Fail closed: were the parser to recognise a subcommand that the access check has no role
    for, it is refused to everyone, admins included; it is not treated as `help`."""
    bot = warm_bot

    def parse(text: str) -> Command:
        word, _, rest = text.partition(" ")
        return Command(word, args=rest)

    monkeypatch.setattr("bot.slack.middleware.parse_command", parse)
    monkeypatch.setattr("bot.slack.listeners.commands.parse_command", parse)
    slack_calls, cyclr_requests = len(bot.slack.calls()), len(bot.sandbox.requests)
    response = bot.command("frobnicate hubspot", user_id=user)
    assert response.status_code == 200
    answer = _answer(response)
    assert ":no_entry:" in answer, answer
    assert "Cyclr commands:" not in answer
    _quiet_since(bot, slack_calls, cyclr_requests)
