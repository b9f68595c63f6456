"""``/cyclr list`` and ``/cyclr uninstall``: the connectors installed in an account."""

from __future__ import annotations

from collections.abc import Sequence

from bot.cyclr.models import AccountConnector, AuthKind
from bot.slack import ids
from bot.slack.blocks.common import (
    Block,
    Message,
    actions,
    button,
    confirm_dialog,
    context,
    escape_clip,
    message,
    one_line,
    section,
    version_label,
)

__all__ = ["MAX_LISTED", "installed_list", "installed_rows", "uninstall_confirm_message"]

MAX_LISTED = 40
_NAME = 80


def _names(item: AccountConnector) -> tuple[str, str]:
    """(installed name, "Connector vX") as escaped mrkdwn."""
    base = item.connector
    connector = escape_clip(one_line(base.name if base else None, "unknown connector"), _NAME)
    version = version_label(base.version if base else None)
    label = connector + (f" {escape_clip(version, 30)}" if version else "")
    name = escape_clip(one_line(item.name or (base.name if base else None), f"#{item.id}"), _NAME)
    return name, label


def _row(item: AccountConnector, account_id: str) -> Block:
    name, label = _names(item)
    if item.authenticated:
        state = ":white_check_mark: authenticated"
    elif item.auth_kind is AuthKind.OAUTH:
        state = ":warning: not authenticated: needs a sign-in"
    elif item.auth_kind is AuthKind.NONE:
        state = ":white_check_mark: no authentication needed"
    else:
        state = ":warning: not authenticated"
    text = f"*{name}*  ·  {label}\n{state}"
    if item.needs_oauth:
        value = ids.encode_value({"a": account_id, "ac": item.id})
        return section(text, accessory=button("Authorise", ids.AUTHORISE, value=value, style="primary"))
    return section(text)


def installed_rows(connectors: Sequence[AccountConnector], account_id: str) -> list[Block]:
    """One section per connector: its names and state, *Authorise* when it needs a sign-in."""
    return [_row(c, account_id) for c in connectors]


def installed_list(
    connectors: Sequence[AccountConnector],
    *,
    account_id: str,
    account_name: str,
    sandbox: bool = False,
) -> Message:
    """Each installed connector with its state; unauthenticated OAuth ones get *Authorise*."""
    account = escape_clip(one_line(account_name, account_id), _NAME)
    if not connectors:
        text = f"No connectors are installed in *{account}* yet. Try `/cyclr install`."
        return message(text, [section(text)], sandbox=sandbox)
    shown = connectors[:MAX_LISTED]
    count = len(connectors)
    noun = "connector" if count == 1 else "connectors"
    lead = f"*{count}* {noun} installed in *{account}*:"
    blocks: list[Block] = [section(lead)]
    blocks.extend(_row(c, account_id) for c in shown)
    if count > len(shown):
        blocks.append(context(f"…and {count - len(shown)} more. Manage the rest in Cyclr."))
    return message(f"{count} {noun} installed in {account}", blocks, sandbox=sandbox)


def uninstall_confirm_message(
    connector: AccountConnector,
    *,
    account_id: str,
    account_name: str,
    sandbox: bool = False,
) -> Message:
    """A danger *Uninstall* button behind a confirmation dialog."""
    name, label = _names(connector)
    account = escape_clip(one_line(account_name, account_id), _NAME)
    text = f"Uninstall *{name}* ({label}) from *{account}*? Cycles that use it stop working."
    dialog = confirm_dialog(
        title="Uninstall this connector?",
        text=f"*{name}* will be removed from *{account}*. This cannot be undone from Slack.",
        confirm="Uninstall",
        deny="Cancel",
    )
    value = ids.encode_value({"a": account_id, "ac": connector.id})
    blocks = [section(f":wastebasket: {text}"),
              actions(button("Uninstall", ids.UNINSTALL, value=value, style="danger", confirm=dialog))]
    return message(text, blocks, sandbox=sandbox)
