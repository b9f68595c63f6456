"""Parse the text after ``/cyclr`` into a :class:`Command`.

Pure functions (no Slack SDK) that never raise on any ``str``. Slack sends the text with
its own escapes (``<@U1|ann>``, ``<#C1|general>``, ``<https://x|label>``, ``&amp;``) and
whatever the user's keyboard produced (smart quotes, non-breaking spaces, pasted control
characters); all of that is normalised before the first word is taken as the subcommand.

Anything not understood still yields a Command: subcommand ``help`` with ``problem`` set
(and ``suggestion``/``hint`` when the word looks like a typo of a subcommand), so the
caller can always answer with the help card and never with a stack trace.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from bot.slack import subcommands
from bot.slack.subcommands import HISTORY_DEFAULT, HISTORY_MAX, HISTORY_MIN, HelpEntry

#: The subcommands' names and aliases (alias → name), from the table.
SUBCOMMANDS: Final[tuple[str, ...]] = subcommands.NAMES
ALIASES: Final[Mapping[str, str]] = subcommands.ALIASES

MAX_INPUT_CHARS: Final = 500
# Text far past the cap is refused before normalising, so huge pastes cost nothing.
_RAW_HARD_CAP: Final = 20 * MAX_INPUT_CHARS
_ECHO_MAX: Final = 30

_QUOTES: Final = str.maketrans(
    {
        "\u201c": '"',  # “
        "\u201d": '"',  # ”
        "\u201e": '"',  # „
        "\u201f": '"',  # ‟
        "\u00ab": '"',  # «
        "\u00bb": '"',  # »
        "\u2033": '"',  # ″
        "\u2018": "'",  # ‘
        "\u2019": "'",  # ’
        "\u201a": "'",  # ‚
        "\u201b": "'",  # ‛
        "\u2039": "'",  # ‹
        "\u203a": "'",  # ›
        "\u2032": "'",  # ′
    }
)
_ESCAPE = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES: Final = {"amp": "&", "lt": "<", "gt": ">"}
_WHITESPACE = re.compile(r"\s+")
_TRAILING_PUNCTUATION = ":,.;!?"


#: The help card: (subcommand, usage, description, example), one per subcommand.
HELP_ENTRIES: Final[tuple[HelpEntry, ...]] = subcommands.help_entries()


@dataclass(frozen=True)
class Command:
    """What ``/cyclr <text>`` asks for.

    ``problem`` is set when something was not understood; the caller should then answer
    with the help card (for ``subcommand``) and the problem, not run anything.
    """

    subcommand: str
    args: str = ""
    problem: str | None = None
    suggestion: str | None = None  # closest subcommand to an unknown word
    count: int | None = None  # ``history`` only: how many installs to show
    user_ids: tuple[str, ...] = ()  # from <@U…> mentions, in order
    channel_ids: tuple[str, ...] = ()  # from <#C…> mentions
    usergroup_ids: tuple[str, ...] = ()  # from <!subteam^S…> mentions

    @property
    def hint(self) -> str | None:
        return f"Did you mean `{self.suggestion}`?" if self.suggestion else None

    @property
    def message(self) -> str | None:
        """``problem`` and ``hint`` as one sentence pair, for the help card."""
        if self.problem is None:
            return None
        return f"{self.problem} {self.hint}" if self.hint else self.problem


@dataclass
class _Mentions:
    users: list[str]
    channels: list[str]
    usergroups: list[str]


def parse_command(text: str) -> Command:
    """Parse the slash command text; never raises."""
    try:
        return _parse(text)
    except Exception:  # pragma: no cover - a last resort; _parse is written not to raise
        return Command("help", problem="I could not read that command.")


def _parse(text: str) -> Command:
    if not isinstance(text, str):
        text = ""
    if len(text) > _RAW_HARD_CAP:
        return _too_long(len(text))
    mentions = _Mentions([], [], [])
    clean = _normalise(text, mentions)
    if len(clean) > MAX_INPUT_CHARS:
        return _too_long(len(clean))
    base = Command(
        "help",
        user_ids=tuple(mentions.users),
        channel_ids=tuple(mentions.channels),
        usergroup_ids=tuple(mentions.usergroups),
    )
    if not clean:
        return base

    first, _, rest = clean.partition(" ")
    word = first.casefold().strip("\"'`")
    if len(word) > 1:  # "install:" or "help?" still count; a lone "?" is an alias
        word = word.rstrip(_TRAILING_PUNCTUATION) or word
    subcommand = _resolve(word)
    args = _unquote(rest)

    if subcommand is None:
        return replace(
            base,
            args=_unquote(clean),
            problem=f"I don't know `{_echo(first)}`.",
            suggestion=_closest(word),
        )
    if subcommand == "help":
        topic = _resolve(args.partition(" ")[0].casefold()) if args else None
        return replace(base, args=topic or args)
    if subcommand == "history":
        count, problem = _history_count(args)
        return replace(base, subcommand="history", args=args, problem=problem, count=count)
    return replace(base, subcommand=subcommand, args=args)


def normalise(text: str) -> str:
    """Plain, single-spaced text from what Slack sent (see :func:`_normalise`)."""
    return _normalise(text, _Mentions([], [], []))


def _normalise(text: str, found: _Mentions) -> str:
    """Slack escapes become readable text (their ids are collected into ``found``); HTML
    entities are decoded once; smart quotes become ASCII; every kind of space becomes
    one space; control and format characters go.
    """
    text = _ESCAPE.sub(lambda m: _replace_escape(m.group(1), found), text)
    text = _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)  # one pass: "&amp;lt;" -> "&lt;"
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    chars: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace() or category in ("Zs", "Zl", "Zp"):
            chars.append(" ")
        elif category[0] == "C" and category != "Co":  # Cc, Cf, Cs, Cn: controls, format, junk
            continue
        else:
            chars.append(ch)
    return _WHITESPACE.sub(" ", "".join(chars)).strip()


def _replace_escape(inner: str, found: _Mentions) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user_id = target[1:]
        if user_id:
            found.users.append(user_id)
        return f"@{label or user_id}"
    if target.startswith("#"):
        channel_id = target[1:]
        if channel_id:
            found.channels.append(channel_id)
        return f"#{label or channel_id}"
    if target.startswith("!subteam^"):
        group_id = target[len("!subteam^") :]
        if group_id:
            found.usergroups.append(group_id)
        return label if label.startswith("@") else f"@{label or group_id}"
    if target.startswith("!"):
        special = target[1:].partition("^")[0]
        return label or f"@{special}"
    if target.startswith("mailto:"):
        return label or target[len("mailto:") :]
    return target or label


def _resolve(word: str) -> str | None:
    return subcommands.resolve(word)


def _closest(word: str) -> str | None:
    """The subcommand a mistyped word most likely meant (an alias counts as its subcommand)."""
    if not word or len(word) > 2 * max(len(w) for w in SUBCOMMANDS):
        return None
    candidates = list(SUBCOMMANDS) + [a for a in ALIASES if len(a) > 2]
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.7)
    if not match:
        return None
    return _resolve(match[0])


def _unquote(args: str) -> str:
    """Drop the quotes around an argument: ``"Google Sheets"`` -> ``Google Sheets``.

    Double quotes and backticks are never part of a name, so all of them go; single quotes
    only when they wrap the whole argument (``O'Reilly`` keeps its apostrophe).
    """
    args = args.replace('"', " ").replace("`", " ")
    args = _WHITESPACE.sub(" ", args).strip()
    while len(args) >= 2 and args[0] == args[-1] == "'":
        args = args[1:-1].strip()
    if args == "'":
        return ""
    return args


def _history_count(args: str) -> tuple[int | None, str | None]:
    if not args:
        return HISTORY_DEFAULT, None
    word = args.split(" ")[0]
    if not word.isdecimal() or not word.isascii():
        return (
            None,
            f"`{_echo(word)}` is not a number. Try `history 20` (from {HISTORY_MIN} to {HISTORY_MAX}).",
        )
    count = int(word[:6])  # isdecimal guarantees int() succeeds; a long run is out of range anyway
    if not HISTORY_MIN <= count <= HISTORY_MAX or len(word) > 6:
        return None, f"I can show from {HISTORY_MIN} to {HISTORY_MAX} installs, not {_echo(word)}."
    return count, None


def _too_long(length: int) -> Command:
    return Command(
        "help",
        problem=f"That is too long ({length} characters); keep it under {MAX_INPUT_CHARS}.",
    )


def _echo(word: str) -> str:
    """A user's word, short and without backticks so it can sit inside `…`.

    Problems are plain text: whoever renders them as mrkdwn escapes ``& < >``.
    """
    word = word.replace("`", "'")
    if len(word) > _ECHO_MAX:
        word = word[: _ECHO_MAX - 1] + "…"
    return word
