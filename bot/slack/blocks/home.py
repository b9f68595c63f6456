"""The App Home tab."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.slack import ids
from bot.slack.blocks.activity import install_line
from bot.slack.blocks.common import (
    Block,
    actions,
    button,
    context,
    divider,
    escape,
    escape_clip,
    header,
    one_line,
    section,
    view_blocks,
)
from bot.store.records import CycleEvent, InstallRecord

__all__ = ["MAX_HOME_RECENT", "app_home", "app_home_help"]

MAX_HOME_RECENT = 15

_HOW_TO = (
    "• `/cyclr search &lt;words&gt;` finds a connector in the catalogue.\n"
    "• `/cyclr install [connector]` opens the install form; OAuth connectors send you a sign-in link by DM.\n"
    "• `/cyclr list` shows what is installed; `/cyclr history` the recent installs.\n"
    "• `/cyclr templates [words]` finds templates to deploy as new cycles.\n"
    "• `/cyclr cycles` shows the account's cycles, to activate, pause or resume them.\n"
    "• `/cyclr help` lists every command."
)


def app_home(
    *,
    default_account_name: str,
    default_account_id: str,
    recent: Sequence[InstallRecord],
    sandbox: bool = False,
    can_install: bool = True,
    account_names: Mapping[str, str] | None = None,
    cycle_events: Sequence[CycleEvent] = (),
) -> dict[str, Any]:
    """The Home view: default account, *Install a connector*, recent installs, a short how-to."""
    account = escape_clip(one_line(default_account_name, default_account_id), 100)
    blocks: list[Block] = [
        header("Cyclr for Slack"),
        section(f"Default account: *{account}* (`{escape_clip(default_account_id, 100)}`)"),
    ]
    if can_install:
        blocks.append(
            actions(
                button("Install a connector", ids.HOME_INSTALL, style="primary"),
                button("Deploy a template", ids.HOME_DEPLOY),
                block_id="home_actions",
            )
        )
    else:
        blocks.append(context("Only allowed installers can install connectors. Ask an admin for access."))
    blocks.extend([divider(), header("Recent installs")])
    if recent:
        names = account_names or {}
        blocks.extend(section(install_line(r, names.get(r.account_id))) for r in recent[:MAX_HOME_RECENT])
        if len(recent) > MAX_HOME_RECENT:
            blocks.append(context(f"…and {len(recent) - MAX_HOME_RECENT} more: see `/cyclr history`."))
    else:
        blocks.append(context("No installs yet."))
    if cycle_events:
        from bot.slack.blocks.cycles import cycle_event_line

        names = account_names or {}
        blocks.extend([divider(), header("Recent cycle changes")])
        blocks.extend(
            section(cycle_event_line(e, names.get(e.account_id))) for e in cycle_events[:MAX_HOME_RECENT]
        )
    blocks.extend([divider(), header("How to"), section(_HOW_TO)])
    return {"type": "home", "blocks": view_blocks(blocks, sandbox=sandbox)}


def app_home_help(*, reason: str, sandbox: bool = False) -> dict[str, Any]:
    """The Home view for someone who may not use Cyclr here (a guest, another organisation's
    user): what the bot is and why they cannot use it; no account, install or person."""
    blocks: list[Block] = [
        header("Cyclr for Slack"),
        section("Find, install and authorise Cyclr connectors without leaving Slack."),
        section(
            f":no_entry: {escape(one_line(reason, 'You cannot use Cyclr here.'))} Ask a bot admin for access."
        ),
        context("`/cyclr help` lists the commands."),
    ]
    return {"type": "home", "blocks": view_blocks(blocks, sandbox=sandbox)}
