"""Options for the external selects (connector and account pickers).

An options answer holds at most 100 options; option text ≤ 75, value ≤ 150 characters.
Option text is ``plain_text``, so it needs no escaping.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.cyclr.models import Account, Connector
from bot.slack import ids
from bot.slack.blocks.common import Block, clip, one_line, plain, version_label

__all__ = [
    "account_option",
    "account_options",
    "connector_option",
    "connector_options",
    "options_placeholder",
]

MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
_MIN_NAME = 24  # keep at least this much of a name before the " vX · auth" suffix


def _option(text: str, value: str, description: str | None = None) -> Block:
    opt: Block = {"text": plain(text, MAX_OPTION_TEXT), "value": value}
    if description:
        opt["description"] = plain(description, MAX_OPTION_TEXT)
    return opt


def connector_option(connector: Connector) -> Block:
    """``"Name vX · Auth label"`` (the name is shortened first), value ``str(connector.id)``."""
    name = one_line(connector.name, f"Connector {connector.id}")
    version = version_label(connector.version)
    suffix = f"{' ' + version if version else ''} · {connector.auth_kind.label}"
    room = MAX_OPTION_TEXT - len(suffix)
    text = clip(name, room) + suffix if room >= _MIN_NAME else clip(name + suffix, MAX_OPTION_TEXT)
    return _option(text, str(connector.id))


def connector_options(connectors: Iterable[Connector]) -> list[Block]:
    """At most 100 connector options, in the given order, one per connector id."""
    seen: set[int] = set()
    out: list[Block] = []
    for connector in connectors:
        if connector.id in seen:
            continue
        seen.add(connector.id)
        out.append(connector_option(connector))
        if len(out) == MAX_OPTIONS:
            break
    return out


def account_option(account: Account) -> Block:
    """The account's name, its id as value (and as description when the name differs).

    Raises ValueError for an id longer than an option value may be (150).
    """
    if not account.id or len(account.id) > MAX_OPTION_VALUE:
        raise ValueError("account id must be 1-150 characters")
    name = one_line(account.name, account.id)
    return _option(name, account.id, account.id if name != account.id else None)


def account_options(accounts: Iterable[Account]) -> list[Block]:
    """At most 100 account options; accounts whose id cannot be an option value are left out."""
    seen: set[str] = set()
    out: list[Block] = []
    for account in accounts:
        if account.id in seen or not account.id or len(account.id) > MAX_OPTION_VALUE:
            continue
        seen.add(account.id)
        out.append(account_option(account))
        if len(out) == MAX_OPTIONS:
            break
    return out


def options_placeholder(text: str) -> list[Block]:
    """One explanatory option (value ``"none"``), e.g. while the catalogue loads or nothing matches."""
    return [_option(one_line(text, "No matches"), ids.NO_OPTION)]
