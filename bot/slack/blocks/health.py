"""Connector health: the DM and channel line about a lost login, and ``/cyclr health``."""

from __future__ import annotations

from collections.abc import Sequence

from bot.cyclr.models import AccountConnector, AuthKind, Cycle
from bot.slack import ids
from bot.slack.blocks.common import (
    Block,
    Message,
    actions,
    button,
    context,
    escape_clip,
    message,
    one_line,
    section,
    slack_date,
)
from bot.slack.blocks.installed import MAX_LISTED, installed_rows

__all__ = ["health_message", "login_lost_dm", "login_lost_line"]

_NAME = 80
MAX_CYCLES = 10


def _name(text: str | None, fallback: str) -> str:
    return escape_clip(one_line(text, fallback), _NAME)


def login_lost_dm(
    *, connector_name: str, account_name: str, oauth: bool, button_value: str | None, sandbox: bool = False
) -> Message:
    """To the person who installed it: what happened and a fresh way to authorise it."""
    connector, account = _name(connector_name, "A connector"), _name(account_name, "its account")
    text = f":warning: *{connector}* in *{account}* is no longer authenticated: its cycles cannot reach it."
    blocks: list[Block] = [section(text)]
    if oauth and button_value:
        label = f"Authorise {one_line(connector_name, 'connector')}"
        blocks.append(actions(button(label, ids.AUTHORISE, value=button_value, style="primary")))
        blocks.append(context("A one-time sign-in link is made when you click; only you can use it."))
    else:
        blocks.append(
            context("Its key or login was refused. Enter a new one in Cyclr, or reinstall it"
                    " with `/cyclr install`.")
        )
    return message(text, blocks, sandbox=sandbox)


def login_lost_line(
    *, connector_name: str, account_name: str, installer: str | None, sandbox: bool = False
) -> Message:
    """One line in the account's channel."""
    connector, account = _name(connector_name, "A connector"), _name(account_name, "its account")
    if installer:
        who = f"<@{installer}> has a fresh sign-in in their DM."
    else:
        who = f"Anyone who may install can sign in again with `/cyclr auth {one_line(connector_name)}`."
    text = f":warning: *{connector}* in *{account}* lost its login. {who}"
    return message(text, [section(text)], sandbox=sandbox)


def _cycle_row(cycle: Cycle) -> str:
    name = _name(cycle.name, cycle.id)
    errors = f"{cycle.error_count} error" + ("" if cycle.error_count == 1 else "s")
    last = (
        f"last good run {slack_date(cycle.last_successful_run)}"
        if cycle.last_successful_run
        else "no good run yet"
    )
    return f":rotating_light: *{name}* ({escape_clip(cycle.status, 30)}): {errors}, {last}"


def health_message(
    connectors: Sequence[AccountConnector],
    failing_cycles: Sequence[Cycle],
    *,
    account_id: str,
    account_name: str,
    sandbox: bool = False,
) -> Message:
    """``/cyclr health``: connectors not authenticated first (with *Authorise*), then cycles with errors."""
    account = _name(account_name, account_id)
    lost = [c for c in connectors if not c.authenticated and c.auth_kind is not AuthKind.NONE]
    fine = len(connectors) - len(lost)
    lead = (
        f"*{account}*: {fine} of {len(connectors)} connectors authenticated or needing none, "
        f"{len(failing_cycles)} cycle" + ("" if len(failing_cycles) == 1 else "s") + " with errors."
    )
    blocks: list[Block] = [section(lead)]
    if lost:
        blocks.extend(installed_rows(lost[:MAX_LISTED], account_id))
        if len(lost) > MAX_LISTED:
            blocks.append(context(f"…and {len(lost) - MAX_LISTED} more not authenticated."))
    elif connectors:
        blocks.append(context(":white_check_mark: Every installed connector is authenticated."))
    if failing_cycles:
        rows = [_cycle_row(c) for c in failing_cycles[:MAX_CYCLES]]
        blocks.append(section("\n".join(rows)))
        if len(failing_cycles) > MAX_CYCLES:
            blocks.append(context(f"…and {len(failing_cycles) - MAX_CYCLES} more cycles with errors."))
    text = lead.replace("*", "")
    return message(text, blocks, sandbox=sandbox)
