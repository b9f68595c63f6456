"""Install activity: the team notification (one per install, updated in place) and history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.cyclr.models import AuthKind
from bot.slack.blocks.common import (
    Block,
    Message,
    context,
    escape_clip,
    header,
    mention,
    message,
    one_line,
    pack_lines,
    section,
    slack_date,
    version_label,
)
from bot.store.records import CycleEvent, InstallRecord, InstallState

__all__ = [
    "HISTORY_TEXT_BUDGET",
    "MAX_CYCLE_HISTORY",
    "MAX_HISTORY",
    "history_message",
    "install_line",
    "state_label",
    "team_notification",
]

MAX_HISTORY = 50  #: rows at most (``/cyclr history`` asks for 1-50)
MAX_CYCLE_HISTORY = 15  #: cycle changes at most, after the installs
HISTORY_TEXT_BUDGET = 10_000  #: characters of rows at most; Slack refuses very long messages
_NAME = 80


def state_label(record: InstallRecord, *, reason_limit: int = 300) -> str:
    """Emoji and words for where an install stands (mrkdwn, escaped)."""
    state = record.state
    if state is InstallState.PENDING:
        return ":hourglass_flowing_sand: installing…"
    if state is InstallState.AUTHENTICATED:
        # Someone signed in for an OAuth connector: it is authorised (the word on its buttons).
        word = "authorised" if record.auth_kind is AuthKind.OAUTH else "authenticated"
        return f":white_check_mark: {word}"
    if state is InstallState.FAILED:
        return f":x: failed: {escape_clip(one_line(record.reason, 'no reason given'), reason_limit)}"
    if state is InstallState.UNINSTALLED:
        return f":wastebasket: uninstalled by {mention(record.uninstalled_by)}"
    if record.auth_kind is AuthKind.OAUTH:
        return ":key: waiting for authorisation"
    if record.auth_kind is AuthKind.NONE:
        return ":white_check_mark: installed (no authentication needed)"
    if record.auth_kind is AuthKind.UNKNOWN:
        return ":warning: installed; authentication to finish in Cyclr"
    return ":warning: installed; credentials not confirmed"


def _connector(record: InstallRecord) -> str:
    name = escape_clip(one_line(record.connector_name, f"connector {record.connector_id}"), _NAME)
    version = version_label(record.connector_version)
    return f"*{name}*" + (f" {escape_clip(version, 30)}" if version else "")


def _account(record: InstallRecord, account_name: str | None) -> str:
    return escape_clip(one_line(account_name, record.account_id) or "unknown account", _NAME)


def team_notification(record: InstallRecord, *, account_name: str, sandbox: bool = False) -> Message:
    """Who installed which connector into which account, under what name, and its auth state."""
    who = mention(record.user_id)
    connector = _connector(record)
    account = _account(record, account_name)
    as_name = escape_clip(one_line(record.name, record.connector_name), _NAME)
    lead = f"{who} installed {connector} into *{account}* as *{as_name}*."
    if record.state is InstallState.PENDING:
        lead = f"{who} is installing {connector} into *{account}* as *{as_name}*."
    elif record.state is InstallState.FAILED:
        lead = f"{who} tried to install {connector} into *{account}* as *{as_name}*."
    state = state_label(record)
    when = slack_date(record.created_at)
    blocks = [section(lead), context(f"{state}  ·  {when}", block_id="install_state")]
    return message(f"{lead} {state}", blocks, sandbox=sandbox)


def install_line(record: InstallRecord, account_name: str | None = None) -> str:
    """One history row: when, who, connector, account, outcome (mrkdwn, escaped)."""
    return (
        f"{slack_date(record.created_at)}  {mention(record.user_id)}  {_connector(record)} → "
        f"*{_account(record, account_name)}*  {state_label(record, reason_limit=150)}"
    )


def history_message(
    records: Sequence[InstallRecord],
    *,
    sandbox: bool = False,
    account_names: Mapping[str, str] | None = None,
    cycle_events: Sequence[CycleEvent] = (),
) -> Message:
    """The most recent installs, newest first as given (at most 50 rows; the rest counted),
    then the recent activations, pauses and resumes of cycles (``cycle_events``)."""
    from bot.slack.blocks.cycles import cycle_event_line

    names = account_names or {}
    cycle_blocks: list[Block] = []
    if cycle_events:
        cycle_lines: list[str] = []
        spent = 0
        for event in cycle_events[:MAX_CYCLE_HISTORY]:
            line = cycle_event_line(event, names.get(event.account_id))
            spent += len(line) + 1
            if spent > HISTORY_TEXT_BUDGET // 2:
                break
            cycle_lines.append(line)
        cycle_blocks = [header("Recent cycle changes"), *(section(c) for c in pack_lines(cycle_lines))]
    if not records:
        text = "No installs yet. Start one with `/cyclr install`."
        return message(text, [section(text), *cycle_blocks], sandbox=sandbox)
    lines: list[str] = []
    used = 0
    for record in records[:MAX_HISTORY]:
        line = install_line(record, names.get(record.account_id))
        used += len(line) + 1
        if used > HISTORY_TEXT_BUDGET:
            break
        lines.append(line)
    blocks: list[Block] = [header("Recent installs")]
    blocks.extend(section(chunk) for chunk in pack_lines(lines))
    if len(records) > len(lines):
        blocks.append(context(f"…and {len(records) - len(lines)} more."))
    blocks.extend(cycle_blocks)
    return message(f"Recent installs: {len(records)}", blocks, sandbox=sandbox)
