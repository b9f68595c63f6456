"""The ``/cyclr search`` answer: best matches, each with an *Install* button."""

from __future__ import annotations

from collections.abc import Sequence

from bot.cyclr.models import Connector
from bot.slack import ids
from bot.slack.blocks.common import (
    Block,
    Message,
    button,
    context,
    escape,
    escape_clip,
    first_sentence,
    message,
    one_line,
    section,
    version_label,
)

__all__ = ["MAX_RESULTS", "search_results"]

MAX_RESULTS = 10
_NAME = 120


def _result(connector: Connector, account_id: str) -> Block:
    name = escape_clip(one_line(connector.name, f"Connector {connector.id}"), _NAME)
    facts = [f"*{name}*"]
    version = version_label(connector.version)
    if version:
        facts.append(escape_clip(version, 30))
    facts.append(connector.auth_kind.label)
    text = " · ".join(facts)
    summary = first_sentence(connector.description, 150)
    if summary:
        text += f"\n{escape(summary)}"
    if not connector.is_installable:
        text += f"\n_Not installable ({escape_clip(one_line(connector.status, 'draft'), 30)})._"
        return section(text)
    value = ids.encode_value({"a": account_id, "c": connector.id})
    return section(text, accessory=button("Install", ids.SEARCH_INSTALL, value=value, style="primary"))


def search_results(
    query: str,
    connectors: Sequence[Connector],
    *,
    account_id: str,
    account_name: str,
    total_matches: int | None = None,
    sandbox: bool = False,
) -> Message:
    """The best matches (at most 10), in the order given."""
    words = escape_clip(one_line(query, "…"), 100)
    account = escape_clip(one_line(account_name, account_id), 100)
    if not connectors:
        text = f"No connectors in *{account}* match *{words}*."
        tip = "Try `/cyclr search` with other words: part of the name or a shorter word works too."
        return message(text, [section(f":mag: {text}"), context(tip)], sandbox=sandbox)
    shown = list(connectors[:MAX_RESULTS])
    total = max(total_matches or 0, len(connectors))
    head = f":mag: Best matches for *{words}* in *{account}*"
    if total > len(shown):
        head += f" (the best {len(shown)} of {total})"
    blocks: list[Block] = [section(head + ":")]
    blocks.extend(_result(c, account_id) for c in shown)
    blocks.append(context("Not it? Try `/cyclr search` with other words, or `/cyclr install` to browse."))
    names = ", ".join(one_line(c.name) for c in shown[:3])
    return message(f"Best matches for {words}: {escape(names)}", blocks, sandbox=sandbox)
