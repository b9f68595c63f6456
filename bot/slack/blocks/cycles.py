"""``/cyclr cycles``: an account's cycles, a page at a time, with *Activate*, *Pause* and
*Resume*; the activate modal; the team's line about each change; history rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.cyclr.models import CYCLE_INTERVALS, Cycle, CycleStatus, interval_label
from bot.slack import ids
from bot.slack.blocks.common import (
    Block,
    Message,
    actions,
    button,
    confirm_dialog,
    context,
    escape_clip,
    mention,
    message,
    one_line,
    plain,
    section,
    slack_date,
    view_blocks,
)
from bot.store.records import CycleAction, CycleEvent, CycleEventState

__all__ = [
    "CYCLES_PAGE_SIZE",
    "INTERVAL_OPTIONS",
    "RUN_ONCE_VALUE",
    "activate_modal",
    "cycle_event_line",
    "cycle_event_notification",
    "cycle_status_label",
    "cycles_list",
    "page_count",
]

#: Cycles per message: each is one block, and a message holds at most 50.
CYCLES_PAGE_SIZE = 10
_NAME = 80
_TITLE = "Activate cycle"

#: The ``run_once`` select's value for "Run once, then pause".
RUN_ONCE_VALUE = "once"

#: (minutes, label) for each interval Cyclr accepts: the activate modal's choices.
INTERVAL_OPTIONS: tuple[tuple[int, str], ...] = tuple((m, interval_label(m)) for m in CYCLE_INTERVALS)


_REPEAT = {"text": plain("Keep running on this schedule", 75), "value": "repeat"}
_ONCE = {"text": plain("Run once, then pause", 75), "value": RUN_ONCE_VALUE}


def page_count(total: int) -> int:
    return max(1, -(-total // CYCLES_PAGE_SIZE))


def _every(minutes: int | None) -> str:
    if minutes is None:
        return ""
    try:
        return interval_label(minutes).lower()
    except ValueError:
        return f"every {minutes} minutes"


def cycle_status_label(cycle: Cycle) -> str:
    """Emoji and words for a cycle's status (mrkdwn, escaped)."""
    state = cycle.state
    if state is CycleStatus.ACTIVE:
        return ":large_green_circle: running"
    if state is CycleStatus.PAUSED:
        return ":double_vertical_bar: paused"
    if state is CycleStatus.STOPPING:
        return ":hourglass_flowing_sand: stopping"
    if state is CycleStatus.ERROR:
        return ":red_circle: stopped by an error"
    return f":grey_question: {escape_clip(one_line(cycle.status, 'unknown'), 40)}"


def _name(cycle: Cycle) -> str:
    return escape_clip(one_line(cycle.name, cycle.id), _NAME)


def _button(cycle: Cycle, *, account_id: str, page: int, interval: int | None) -> Block | None:
    """*Pause* for a running cycle; *Resume* for a stopped one the bot started before (it knows
    the interval); *Activate* (the modal asks for the interval) for any other stopped one."""
    name = _name(cycle)
    state = cycle.state
    value: dict[str, Any] = {"a": account_id, "cy": cycle.id, "p": page}
    if state is CycleStatus.ACTIVE:
        dialog = confirm_dialog(
            title="Pause this cycle?",
            text=f"*{name}* stops running until someone resumes it. Transactions already queued finish.",
            confirm="Pause",
        )
        return button("Pause", ids.CYCLE_PAUSE, value=ids.encode_value(value), confirm=dialog)
    if state not in (CycleStatus.PAUSED, CycleStatus.ERROR):
        return None
    if interval is not None:
        dialog = confirm_dialog(
            title="Resume this cycle?",
            text=f"*{name}* runs again {_every(interval)}, as it did before it was paused.",
            confirm="Resume",
        )
        return button(
            "Resume", ids.CYCLE_RESUME, value=ids.encode_value(value), style="primary", confirm=dialog
        )
    value["n"] = one_line(cycle.name, cycle.id)[:_NAME]
    return button("Activate", ids.CYCLE_ACTIVATE, value=ids.encode_value(value), style="primary")


def _row(cycle: Cycle, *, account_id: str, page: int, interval: int | None) -> Block:
    last = "never" if cycle.last_successful_run is None else slack_date(cycle.last_successful_run)
    errors = f"{cycle.error_count} error" + ("" if cycle.error_count == 1 else "s")
    status = cycle_status_label(cycle)
    if cycle.is_active and interval is not None:
        status += f" {_every(interval)}"
    text = f"*{_name(cycle)}*\n{status}  ·  last successful run {last}  ·  {errors}"
    accessory = _button(cycle, account_id=account_id, page=page, interval=interval)
    return section(text, accessory=accessory)


def cycles_list(
    cycles: Sequence[Cycle],
    *,
    account_id: str,
    account_name: str,
    page: int = 0,
    intervals: Mapping[str, int] | None = None,
    notice: str | None = None,
    sandbox: bool = False,
) -> Message:
    """One page of the account's cycles: status, last successful run, error count and the
    button that fits. ``notice`` (mrkdwn, escaped) leads, e.g. the outcome of a click."""
    account = escape_clip(one_line(account_name, account_id), _NAME)
    known = intervals or {}
    lead_blocks: list[Block] = [section(notice)] if notice else []
    if not cycles:
        text = f"No cycles in *{account}* yet. A cycle appears when a template is installed."
        return message(text, [*lead_blocks, section(text)], sandbox=sandbox)
    pages = page_count(len(cycles))
    page = min(max(page, 0), pages - 1)
    shown = cycles[page * CYCLES_PAGE_SIZE : (page + 1) * CYCLES_PAGE_SIZE]
    count = len(cycles)
    noun = "cycle" if count == 1 else "cycles"
    where = f" (page {page + 1} of {pages})" if pages > 1 else ""
    lead = f"*{count}* {noun} in *{account}*{where}:"
    blocks: list[Block] = [*lead_blocks, section(lead)]
    blocks.extend(_row(c, account_id=account_id, page=page, interval=known.get(c.id)) for c in shown)
    if pages > 1:
        following = page + 1 if page + 1 < pages else 0
        label = "More" if following else "Back to the first page"
        value = ids.encode_value({"a": account_id, "p": following})
        blocks.append(actions(button(label, ids.CYCLES_PAGE, value=value), block_id="cycles_pages"))
    fallback = f"{count} {noun} in {account}{where}"
    return message(f"{notice} {fallback}" if notice else fallback, blocks, sandbox=sandbox)


def activate_modal(
    *, cycle_name: str, account_name: str, metadata: str, sandbox: bool = False
) -> dict[str, Any]:
    """Asks how often the cycle should run (only Cyclr's intervals) and whether just once."""
    name = escape_clip(one_line(cycle_name, "this cycle"), _NAME)
    account = escape_clip(one_line(account_name, "the account"), _NAME)
    options = [{"text": plain(label, 75), "value": str(minutes)} for minutes, label in INTERVAL_OPTIONS]
    blocks: list[Block] = [
        section(f"How often should *{name}* in *{account}* run?"),
        {
            "type": "input",
            "block_id": ids.INTERVAL,
            "label": plain("Run", 2000),
            "element": {
                "type": "static_select",
                "action_id": ids.INTERVAL,
                "placeholder": plain("Choose an interval", 150),
                "options": options,
            },
        },
        {
            "type": "input",
            "block_id": ids.RUN_ONCE,
            "optional": True,
            "label": plain("How long", 2000),
            # A select rather than a checkbox: the playground draws selects (flow 16).
            "element": {
                "type": "static_select",
                "action_id": ids.RUN_ONCE,
                "initial_option": _REPEAT,
                "options": [_REPEAT, _ONCE],
            },
        },
        context("Cyclr checks that nothing stops the cycle (a connector to authorise, a mapping) first."),
    ]
    return {
        "type": "modal",
        "callback_id": ids.ACTIVATE_CALLBACK,
        "title": plain(_TITLE, 24),
        "submit": plain("Activate", 24),
        "close": plain("Cancel", 24),
        "private_metadata": metadata,
        "blocks": view_blocks(blocks, sandbox=sandbox),
    }


def _event_name(event: CycleEvent) -> str:
    return escape_clip(one_line(event.cycle_name, event.cycle_id), _NAME)


def _did(event: CycleEvent) -> str:
    """ "activated *X* to run every hour", "paused *X*", "resumed *X* (every hour)"."""
    name = _event_name(event)
    if event.action is CycleAction.PAUSE:
        return f"paused *{name}*"
    if event.action is CycleAction.RESUME:
        return f"resumed *{name}* ({_every(event.interval)})"
    if event.run_once:
        return f"activated *{name}* to run once"
    return f"activated *{name}* to run {_every(event.interval)}"


def cycle_event_notification(event: CycleEvent, *, account_name: str, sandbox: bool = False) -> Message:
    """The team channel's line about a change someone made to a cycle."""
    account = escape_clip(one_line(account_name, event.account_id), _NAME)
    lead = f"{mention(event.user_id)} {_did(event)} in *{account}*."
    blocks = [section(lead), context(slack_date(event.created_at), block_id="cycle_event")]
    return message(lead, blocks, sandbox=sandbox)


def cycle_event_line(event: CycleEvent, account_name: str | None = None) -> str:
    """One history row: when, who, what, account, outcome (mrkdwn, escaped)."""
    account = escape_clip(one_line(account_name, event.account_id), _NAME)
    state = event.state
    if state is CycleEventState.DONE:
        outcome = ":white_check_mark:"
    elif state is CycleEventState.UNCHANGED:
        outcome = ":white_check_mark: (it already was)"
    elif state is CycleEventState.FAILED:
        outcome = f":x: {escape_clip(one_line(event.reason, 'failed'), 150)}"
    else:
        outcome = ":hourglass_flowing_sand:"
    return f"{slack_date(event.created_at)}  {mention(event.user_id)}  {_did(event)} → *{account}*  {outcome}"
