"""The ``/cyclr`` subcommands: one ordered table that everything else reads.

The parser takes its names and aliases from :data:`TABLE`, the help card its lines, the
access middleware the role each subcommand needs, the command listener the handler it
routes to, and ``manifest.yml`` its usage hint (:func:`usage_hint`, checked by a test).

Adding a subcommand is one :class:`Subcommand` here plus its handler, a method of
:class:`~bot.slack.listeners.commands.CyclrCommand` named by ``handler`` (the listener
refuses to start if one is missing). A word that is not in the table gets the help card;
access for a name that is not in it is refused (see :func:`required_role`).

Pure: no Slack SDK, so the parser and the tests can use it anywhere.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from bot.services.access import Role

__all__ = [
    "ALIASES",
    "BY_NAME",
    "HISTORY_DEFAULT",
    "HISTORY_MAX",
    "HISTORY_MIN",
    "NAMES",
    "TABLE",
    "AccountUse",
    "HelpEntry",
    "Subcommand",
    "help_entries",
    "lookup",
    "required_role",
    "resolve",
    "usage_hint",
]

#: ``/cyclr history [n]``: how many installs it shows by default, and the bounds of ``n``.
HISTORY_DEFAULT: Final = 10
HISTORY_MIN: Final = 1
HISTORY_MAX: Final = 50

#: One line of the help card: (subcommand, usage, summary, example).
HelpEntry = tuple[str, str, str, str]

_PREFIX: Final = "/cyclr"


class AccountUse(enum.Enum):
    """Which Cyclr account a subcommand works on."""

    NONE = "none"  #: none (help, the audit log, the list of accounts)
    CHANNEL = "channel"  #: the channel's account: its binding, else the default
    NAMED = "named"  #: one named in the arguments, else the channel's


@dataclass(frozen=True, slots=True, kw_only=True)
class Subcommand:
    """One ``/cyclr`` subcommand: how it is typed, what the help card says, who may run it,
    and which handler runs it."""

    name: str
    #: The arguments as the help card shows them: ``<needed>``, ``[optional]``.
    args: str = ""
    #: One line for the help card.
    summary: str
    #: A whole command that works, ``/cyclr …``; the help card shows it.
    example: str
    #: The least role that may run it (:class:`~bot.services.access.Role`).
    role: Role
    #: The least role when arguments are given, if higher (``account <name>`` binds).
    role_with_args: Role | None = None
    #: The method of ``CyclrCommand`` that runs it.
    handler: str
    aliases: tuple[str, ...] = ()
    account: AccountUse = AccountUse.CHANNEL
    #: The handler checks access itself just after the ack (it opens a modal, and the check
    #: may need ``users.info``, which must not hold the ack). The middleware lets it through.
    checked_by_handler: bool = False
    #: Listed in the slash command's usage hint (Slack shows it as people type).
    in_usage_hint: bool = True

    @property
    def usage(self) -> str:
        """``/cyclr <name> <args>``."""
        return f"{_PREFIX} {self.name} {self.args}".rstrip()

    @property
    def help_entry(self) -> HelpEntry:
        return (self.name, self.usage, self.summary, self.example)

    def role_for(self, args: str) -> Role:
        """The least role that may run it with ``args``."""
        if args and self.role_with_args is not None:
            return max(self.role, self.role_with_args)
        return self.role


TABLE: Final[tuple[Subcommand, ...]] = (
    Subcommand(
        name="help",
        args="[subcommand]",
        summary="Show this card.",
        example="/cyclr help install",
        role=Role.NONE,
        handler="help",
        aliases=("?", "h", "-h", "--help"),
        account=AccountUse.NONE,
    ),
    Subcommand(
        name="search",
        args="<words>",
        summary="Find connectors in the account's catalogue, each with an Install button.",
        example="/cyclr search salesforce",
        role=Role.INSTALLER,
        handler="search",
        aliases=("find",),
    ),
    Subcommand(
        name="install",
        args="[connector]",
        summary="Open the install form, with the best match picked when you name one.",
        example="/cyclr install Google Sheets",
        role=Role.INSTALLER,
        handler="install",
        aliases=("add",),
        checked_by_handler=True,
    ),
    Subcommand(
        name="list",
        summary="Connectors installed in the account, and whether they are authorised.",
        example="/cyclr list",
        role=Role.INSTALLER,
        handler="list",
        aliases=("ls", "installed"),
    ),
    Subcommand(
        name="health",
        summary="Connectors that need a sign-in and cycles with errors, in the channel's account.",
        example="/cyclr health",
        role=Role.INSTALLER,
        handler="health",
        aliases=("status",),
    ),
    Subcommand(
        name="auth",
        args="<installed connector>",
        summary="DM me a fresh sign-in link to authorise an installed connector.",
        example="/cyclr auth HubSpot",
        role=Role.INSTALLER,
        handler="auth",
        aliases=("authorise", "authorize", "authenticate", "reauth"),
    ),
    Subcommand(
        name="uninstall",
        args="<installed connector>",
        summary="Remove an installed connector after you confirm (admins only).",
        example="/cyclr uninstall Mailchimp",
        role=Role.ADMIN,
        handler="uninstall",
        aliases=("remove", "delete", "rm"),
        in_usage_hint=False,
    ),
    Subcommand(
        name="accounts",
        summary="List the partner's Cyclr accounts.",
        example="/cyclr accounts",
        role=Role.INSTALLER,
        handler="accounts",
        account=AccountUse.NONE,
        in_usage_hint=False,
    ),
    Subcommand(
        name="account",
        args="[account]",
        summary="Show the Cyclr account this channel works on, or bind another (admins only).",
        example="/cyclr account Acme Ltd",
        role=Role.INSTALLER,
        role_with_args=Role.ADMIN,
        handler="account",
        account=AccountUse.NAMED,
        in_usage_hint=False,
    ),
    Subcommand(
        name="cycles",
        args="[account]",
        summary="The account's cycles: status, last run, errors; Activate, Pause and Resume.",
        example="/cyclr cycles",
        role=Role.INSTALLER,
        handler="cycles",
        aliases=("cycle", "integrations"),
        account=AccountUse.NAMED,
    ),
    Subcommand(
        name="subscribe",
        args="[errors|warnings] [account]",
        summary="Post the account's cycle errors (or warnings too) in this channel (admins only).",
        example="/cyclr subscribe errors",
        role=Role.ADMIN,
        handler="subscribe",
        aliases=("watch", "alerts"),
        account=AccountUse.NAMED,
        in_usage_hint=False,
    ),
    Subcommand(
        name="unsubscribe",
        args="[account]",
        summary="Stop posting the account's cycle errors in this channel (admins only).",
        example="/cyclr unsubscribe",
        role=Role.ADMIN,
        handler="unsubscribe",
        aliases=("unwatch",),
        account=AccountUse.NAMED,
        in_usage_hint=False,
    ),
    Subcommand(
        name="subscriptions",
        summary="Which accounts' cycle errors this channel hears of.",
        example="/cyclr subscriptions",
        role=Role.INSTALLER,
        handler="subscriptions",
        account=AccountUse.NONE,
        in_usage_hint=False,
    ),
    Subcommand(
        name="templates",
        args="[words]",
        summary="Find templates in the library, each with a Deploy button.",
        example="/cyclr templates salesforce slack",
        role=Role.INSTALLER,
        handler="templates",
        aliases=("template",),
    ),
    Subcommand(
        name="history",
        args=f"[{HISTORY_MIN}-{HISTORY_MAX}]",
        summary=f"The recent installs in this workspace (default {HISTORY_DEFAULT}).",
        example="/cyclr history 20",
        role=Role.INSTALLER,
        handler="history",
        aliases=("log", "audit"),
        account=AccountUse.NONE,
    ),
)


def _index(table: Iterable[Subcommand]) -> tuple[Mapping[str, Subcommand], Mapping[str, str]]:
    """Names and aliases → entry and name; raises on a clash, so a bad table fails at import."""
    by_name: dict[str, Subcommand] = {}
    aliases: dict[str, str] = {}
    for entry in table:
        words = (entry.name, *entry.aliases)
        for word in words:
            if word != word.casefold() or not word or " " in word:
                raise ValueError(f"subcommand word {word!r} must be one lower-case word")
            if word in by_name or word in aliases:
                raise ValueError(f"subcommand word {word!r} is in the table twice")
        if not entry.example.startswith(f"{_PREFIX} {entry.name}"):
            raise ValueError(f"the example of {entry.name!r} must start with '{_PREFIX} {entry.name}'")
        by_name[entry.name] = entry
        aliases.update((alias, entry.name) for alias in entry.aliases)
    return MappingProxyType(by_name), MappingProxyType(aliases)


BY_NAME, ALIASES = _index(TABLE)
#: The subcommands' names, in the table's order.
NAMES: Final[tuple[str, ...]] = tuple(BY_NAME)


def lookup(name: str) -> Subcommand | None:
    """The entry called ``name`` (not an alias), or None."""
    return BY_NAME.get(name)


def resolve(word: str) -> str | None:
    """The subcommand a typed word means (a name or an alias), or None."""
    return word if word in BY_NAME else ALIASES.get(word)


def required_role(name: str, args: str = "") -> Role | None:
    """The least role that may run subcommand ``name`` with ``args``; None, meaning nobody,
    when ``name`` is not in the table (fail closed)."""
    entry = lookup(name)
    return None if entry is None else entry.role_for(args)


def help_entries() -> tuple[HelpEntry, ...]:
    """The help card's lines, in the table's order."""
    return tuple(entry.help_entry for entry in TABLE)


def usage_hint() -> str:
    """The slash command's usage hint, as ``manifest.yml`` must state it."""
    return " | ".join(f"{e.name} {e.args}".rstrip() for e in TABLE if e.in_usage_hint)
