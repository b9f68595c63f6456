"""``/cyclr accounts`` and ``/cyclr account``: the partner's Cyclr accounts."""

from __future__ import annotations

from collections.abc import Sequence

from bot.cyclr.models import Account
from bot.slack.blocks.common import (
    Block,
    Message,
    context,
    escape_clip,
    message,
    one_line,
    pack_lines,
    section,
)

__all__ = ["MAX_ACCOUNTS", "accounts_message", "channel_account_message"]

MAX_ACCOUNTS = 40
_NAME = 80


def _account_line(account: Account, current_account_id: str | None) -> str:
    name = escape_clip(one_line(account.name, account.id), _NAME)
    line = f"• *{name}*  `{escape_clip(account.id, 60)}`"
    if account.id == current_account_id:
        line += "  ← this channel"
    return line


def _matches(account: Account, query: str) -> bool:
    words = query.casefold().split()
    haystack = f"{account.name} {account.id} {account.description or ''}".casefold()
    return all(w in haystack for w in words)


def accounts_message(
    accounts: Sequence[Account],
    *,
    current_account_id: str | None,
    query: str | None = None,
    sandbox: bool = False,
) -> Message:
    """The accounts (filtered by the words of ``query``), the channel's one marked."""
    wanted = [a for a in accounts if _matches(a, query)] if query and query.strip() else list(accounts)
    words = escape_clip(one_line(query), 100) if query else ""
    if not wanted:
        text = f"No Cyclr accounts match *{words}*." if words else "No Cyclr accounts found."
        return message(text, [section(text), context("Try `/cyclr accounts` with other words.")],
                       sandbox=sandbox)
    shown = wanted[:MAX_ACCOUNTS]
    noun = "Cyclr account" if len(wanted) == 1 else "Cyclr accounts"
    lead = f"*{len(wanted)}* {noun}" + (f" matching *{words}*:" if words else ":")
    blocks: list[Block] = [section(lead)]
    blocks.extend(section(chunk) for chunk in pack_lines(_account_line(a, current_account_id) for a in shown))
    tail = "Show or bind this channel's account with `/cyclr account [account]`."
    if len(wanted) > len(shown):
        tail = f"…and {len(wanted) - len(shown)} more: add words to `/cyclr accounts` to narrow it. " + tail
    blocks.append(context(tail))
    return message(f"{len(wanted)} {noun}", blocks, sandbox=sandbox)


def channel_account_message(
    *,
    account: Account | None,
    account_id: str,
    bound: bool,
    sandbox: bool = False,
) -> Message:
    """Which account this channel works on, and whether it is bound or the default."""
    ident = escape_clip(account_id, 100)
    label = f"`{ident}`"
    if account is not None:
        label = f"*{escape_clip(one_line(account.name, account_id), _NAME)}* ({label})"
    if bound:
        text = f"This channel works on {label}."
        hint = "Admins can bind another with `/cyclr account &lt;account&gt;`."
    else:
        text = f"This channel is not bound; it uses the default account {label}."
        hint = "Admins can bind this channel with `/cyclr account &lt;account&gt;`."
    if account is None:
        hint = f"I could not find the name of `{ident}` in Cyclr. " + hint
    return message(text, [section(text), context(hint)], sandbox=sandbox)
