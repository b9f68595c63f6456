"""Plain answers: the help card, notices and errors."""

from __future__ import annotations

from collections.abc import Sequence

from bot.slack import subcommands
from bot.slack.blocks.common import (
    MAX_SECTION_TEXT,
    Block,
    Message,
    clip_mrkdwn,
    context,
    escape,
    escape_clip,
    message,
    one_line,
    pack_lines,
    section,
)
from bot.slack.subcommands import HelpEntry

__all__ = [
    "HelpEntry",
    "error_message",
    "help_card",
    "help_entries",
    "notice_message",
]

_MAX_ENTRY = 400


def help_entries() -> Sequence[HelpEntry]:
    """The help card's lines, from the subcommand table."""
    return subcommands.help_entries()


def _command(text: str) -> str:
    text = one_line(text)
    return text if text.startswith("/") else f"/cyclr {text}".rstrip()


def _entry_line(entry: HelpEntry) -> str:
    _sub, usage, description, example = entry
    line = f"`{escape(_command(usage))}`  {escape(one_line(description))}"
    if example and _command(example) != _command(usage):
        line += f"  _e.g._ `{escape(_command(example))}`"
    return clip_mrkdwn(line, _MAX_ENTRY)


def help_card(
    *,
    problem: str | None = None,
    entries: Sequence[HelpEntry] | None = None,
    sandbox: bool = False,
) -> Message:
    """Every subcommand with one example; ``problem`` (plain words, backticks allowed) on top."""
    rows = list(entries if entries is not None else help_entries())[:25]
    blocks: list[Block] = []
    if problem:
        blocks.append(section(f":thinking_face: {escape_clip(one_line(problem), 1000)}"))
    blocks.append(section("*Cyclr for Slack*: find, install and authorise Cyclr connectors."))
    blocks.extend(section(chunk) for chunk in pack_lines([_entry_line(e) for e in rows]))
    blocks.append(context("Only you can see this."))
    names = ", ".join(one_line(e[0]) for e in rows)
    text = f"{escape(one_line(problem))} " if problem else ""
    return message(f"{text}Cyclr commands: {escape(names)}", blocks, sandbox=sandbox)


def notice_message(text: str, *, sandbox: bool = False) -> Message:
    """A plain ephemeral answer. ``text`` is plain words: ``& < >`` are escaped here,
    so ``*bold*`` and ``code`` still render but no mention or link can."""
    safe = escape_clip(text.strip() or "Done.", MAX_SECTION_TEXT)
    return message(safe, [section(safe)], sandbox=sandbox)


def error_message(text: str, *, ref: str | None = None, sandbox: bool = False) -> Message:
    """"Something went wrong" with plain words (escaped here) and an optional reference."""
    reason = escape_clip(text.strip() or "an unexpected error.", 2500)
    blocks: list[Block] = [section(f":warning: Something went wrong: {reason}")]
    fallback = f"Something went wrong: {reason}"
    if ref:
        code = escape_clip(one_line(ref, "?"), 100)
        blocks.append(context(f"If it happens again, give your admin the reference `{code}`."))
        fallback += f" (reference {code})"
    return message(fallback, blocks, sandbox=sandbox)
