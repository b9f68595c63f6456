"""Alerts from running cycles in Slack: the messages, the ``tell-alerts`` and ``alert-webhook``
jobs, the subscription replies, and the *Pause cycle* and *Details* buttons.

Each cycle has one parent message per channel (cycle, account, latest error, exact count,
first and last seen), edited in place; new errors are replies in its thread. A channel's
``tell-alerts`` job posts at most once per ``ALERT_GAP`` seconds, about at most
:data:`MAX_THREADS` cycles, each with its parent brought up to date and one reply: the error,
or, past :data:`MAX_REPLIES`, one summary of what arrived since the last post. So a flood in
a channel is a few messages a minute, and the count stays exact.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.cyclr.errors import CyclrError
from bot.cyclr.models import Incident
from bot.services import alerts as alert_service
from bot.services.container import Services
from bot.slack import blocks
from bot.slack.blocks.common import (
    Block,
    Message,
    actions,
    button,
    confirm_dialog,
    context,
    escape_clip,
    message,
    section,
    slack_date,
    view_blocks,
)
from bot.slack.cycles import enqueue_cycle_job
from bot.slack.ids import (
    ALERT_DETAILS,
    ALERT_DETAILS_CALLBACK,
    ALERT_PAUSE,
    AUTHORISE,
    decode_value,
    encode_value,
)
from bot.slack.listeners.background import Surface
from bot.slack.messenger import SlackMessenger
from bot.slack.middleware import ACCESS, Access
from bot.store import CycleAction
from bot.store.alerts import AlertEvent, AlertThread, ThreadSummary
from bot.store.queue import Job
from bot.worker.registry import Later, Outcome, Registry

__all__ = [
    "ALERT_WEBHOOK",
    "MAX_REPLIES",
    "MAX_THREADS",
    "AlertActions",
    "AlertJobs",
    "details_modal",
    "parent_message",
    "register",
]

log = logging.getLogger(__name__)

ALERT_WEBHOOK = alert_service.ALERT_WEBHOOK
#: New errors of one cycle posted one reply each, at most; more become one summary reply.
MAX_REPLIES = 1
#: Cycles told about in one post to a channel; the others wait ``ALERT_GAP`` seconds.
MAX_THREADS = 2
_DETAIL_SHOWN = 2900


def _when(moment: datetime | None) -> str:
    return slack_date(moment) if moment is not None else "—"


def _buttons(thread: AlertThread, event: AlertEvent | None, connector: int | None) -> Block:
    name = escape_clip(thread.cycle_name or thread.cycle_id, 80)
    elements: list[Block] = [
        button(
            "Pause cycle",
            ALERT_PAUSE,
            value=encode_value({"a": thread.account_id, "cy": thread.cycle_id}),
            style="danger",
            confirm=confirm_dialog(
                title="Pause this cycle?",
                text=f"*{name}* stops running until someone resumes it. Transactions already queued finish.",
                confirm="Pause",
            ),
        )
    ]
    if event is not None:
        elements.append(
            button("Details", ALERT_DETAILS, value=encode_value({"a": thread.account_id, "e": event.id}))
        )
    if connector is not None:
        elements.append(
            button(
                "Authorise",
                AUTHORISE,
                value=encode_value({"a": thread.account_id, "ac": connector}),
                style="primary",
            )
        )
    return actions(*elements)


def _tally(errors: int, warnings: int) -> str:
    """ "3 errors", "1 warning", "2 errors and 1 warning"."""
    counted = ((errors, "error"), (warnings, "warning"))
    parts = [f"{n} {word}{'' if n == 1 else 's'}" for n, word in counted if n]
    return " and ".join(parts) or "0 errors"


def _warning(event: AlertEvent) -> bool:
    return event.level == "warning"


def _icon(event: AlertEvent) -> str:
    return ":warning:" if _warning(event) else ":x:"


def parent_message(
    thread: AlertThread, summary: ThreadSummary, *, account_name: str, connector: int | None, sandbox: bool
) -> Message:
    """The cycle's parent message: latest error, exact count, first and last seen."""
    name = escape_clip(thread.cycle_name or thread.cycle_id, 120)
    latest = summary.latest
    what = escape_clip(latest.message, 500) if latest is not None else ""
    step = (
        f" at step *{escape_clip(latest.step_name, 80)}*" if latest is not None and latest.step_name else ""
    )
    tally = _tally(summary.errors, summary.warnings)
    icon = ":rotating_light:" if summary.errors else ":warning:"
    text = f"{icon} *{name}* in {escape_clip(account_name, 80)}: {tally}"
    body = [
        section(f"{text}\nLatest{step}: {what}"),
        context(f"First seen {_when(summary.first_seen)} · last seen {_when(summary.last_seen)}"),
        _buttons(thread, latest, connector),
    ]
    latest_text = latest.message if latest is not None else ""
    fallback = f"{thread.cycle_name or thread.cycle_id}: {tally}; latest: {latest_text}"
    return message(fallback[:300], body, sandbox=sandbox)


def reply_message(thread: AlertThread, event: AlertEvent, *, connector: int | None, sandbox: bool) -> Message:
    step = f"*{escape_clip(event.step_name, 80)}*: " if event.step_name else ""
    line = f"{_icon(event)} {step}{escape_clip(event.message, 1500)}"
    body = [section(line), context(_when(event.occurred_at)), _buttons(thread, event, connector)]
    return message(event.message[:300], body, sandbox=sandbox)


def rollup_message(
    thread: AlertThread, events: list[AlertEvent], *, connector: int | None, sandbox: bool
) -> Message:
    latest = events[-1]
    warnings = sum(1 for e in events if _warning(e))
    tally = _tally(len(events) - warnings, warnings)
    line = (
        f"{':x:' if warnings < len(events) else ':warning:'} {tally} more between"
        f" {_when(events[0].occurred_at)} and {_when(latest.occurred_at)}."
        f"\nLatest: {escape_clip(latest.message, 1000)}"
    )
    body = [section(line), _buttons(thread, latest, connector)]
    return message(f"{tally} more", body, sandbox=sandbox)


def details_modal(event: AlertEvent, *, cycle_name: str, sandbox: bool) -> dict[str, Any]:
    """*Details*: step, message and the redacted detail."""
    detail = event.detail.strip() or "(Cyclr gave no detail.)"
    if len(detail) > _DETAIL_SHOWN:
        detail = detail[:_DETAIL_SHOWN] + "…"
    detail = detail.replace("```", "'''")
    body: list[Block] = [
        section(
            f"*Cycle:* {escape_clip(cycle_name, 150)}\n*Step:* {escape_clip(event.step_name or '—', 150)}"
        ),
        section(f"*Message:* {escape_clip(event.message, 1500)}"),
        context(f"{_when(event.occurred_at)} · transaction {escape_clip(event.transaction_id, 80)}"),
        section("```" + escape_clip(detail, 2990 - 6) + "```"),
    ]
    return {
        "type": "modal",
        "callback_id": ALERT_DETAILS_CALLBACK,
        "title": {"type": "plain_text", "text": "Cycle warning" if _warning(event) else "Cycle error"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": view_blocks(body, sandbox=sandbox),
    }


class AlertJobs:
    def __init__(self, services: Services, messenger: SlackMessenger) -> None:
        self.services = services
        self.messenger = messenger

    def register(self, registry: Registry) -> None:
        registry.add(alert_service.TELL_ALERTS, self.tell, attempts=5)
        registry.add(ALERT_WEBHOOK, self.webhook, attempts=3)

    @property
    def ledger(self) -> Any:
        return self.services.alerts.ledger

    def webhook(self, job: Job) -> Outcome:
        """One call of Cyclr's transaction error webhook, after the 200 was sent."""
        account_id = str(job.payload["account"])
        body = job.payload.get("body")
        if not isinstance(body, dict):
            return {"ignored": True}
        incident = Incident.from_webhook(body)
        return {"new": self.services.alerts.ingest(account_id, [incident])}

    def _connector(self, thread: AlertThread, events: list[AlertEvent]) -> int | None:
        """The connector to authorise when the latest error is an authentication failure."""
        if not events or not events[-1].auth_failure:
            return None
        try:
            cycle = self.services.cyclr.get_cycle(thread.account_id, thread.cycle_id)
        except (CyclrError, ValueError):
            return None
        ids = [
            c.account_connector_id for c in cycle.connectors if c.account_connector_id and not c.authenticated
        ]
        return ids[0] if ids else None

    def tell(self, job: Job) -> Outcome:
        """Post what is new in the channel: at most :data:`MAX_THREADS` cycles' worth, at most
        once per ``ALERT_GAP`` seconds; the rest waits for the next post (``Later``)."""
        channel = str(job.payload["channel"])
        gap = alert_service.ALERT_GAP
        last = self.ledger.last_told(channel)
        if last is not None:
            left = gap - (datetime.now(UTC) - last).total_seconds()
            if left > 0:
                return Later(left)
        threads = self.ledger.threads_with_unposted(channel)
        posted = sum(self._tell_thread(thread) for thread in threads[:MAX_THREADS])
        if len(threads) > MAX_THREADS:
            return Later(gap)
        return {"posted": posted}

    def _tell_thread(self, thread: AlertThread) -> int:
        events = self.ledger.unposted(thread.id)
        if not events:
            return 0
        read = [e.id for e in events]  # what arrives from now on is for the next post
        client = self.messenger.client
        sandbox = self.services.sandbox
        connector = self._connector(thread, events)
        summary = self.ledger.summary(thread.id)
        parent = parent_message(
            thread,
            summary,
            account_name=self.services.accounts.name_of(thread.account_id),
            connector=connector,
            sandbox=sandbox,
        )
        self.ledger.set_told(thread.id)
        posts = 1
        if thread.parent_ts:
            client.chat_update(
                channel=thread.channel_id, ts=thread.parent_ts, text=parent.text, blocks=parent.blocks
            )
            parent_ts = thread.parent_ts
        else:
            response = client.chat_postMessage(
                channel=thread.channel_id,
                text=parent.text,
                blocks=parent.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
            parent_ts = str(response["ts"])
            self.ledger.set_parent(thread.id, parent_ts)
            events = events[1:]  # the first error is the parent itself
        if len(events) > MAX_REPLIES:
            replies = [rollup_message(thread, events, connector=connector, sandbox=sandbox)]
        else:
            replies = [reply_message(thread, e, connector=connector, sandbox=sandbox) for e in events]
        # Marked before posting: a failure later leaves a reply out rather than posting it twice.
        self.ledger.mark_posted(read)
        for reply in replies:
            client.chat_postMessage(
                channel=thread.channel_id,
                thread_ts=parent_ts,
                text=reply.text,
                blocks=reply.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
            posts += 1
        return posts


# -- buttons -----------------------------------------------------------------------------------------


class AlertActions(Surface):
    def pause(self, body: dict[str, Any], action: dict[str, Any], access: Access) -> None:
        """*Pause cycle*: the same path as *Pause* on a cycle listing (a cycle event, one job)."""
        value = decode_value(action.get("value"))
        cycle_id = value.get("cy")
        if access.account is None or not isinstance(cycle_id, str) or not 0 < len(cycle_id) <= 255:
            return
        container = body.get("container") or {}
        key = ":".join(
            str(part)[:60]
            for part in ("alert-pause", access.user_id, container.get("message_ts"), action.get("action_ts"))
        )
        event, created = self.services.store.begin_cycle_event(
            request_key=key,
            team_id=access.team_id,
            user_id=access.user_id,
            channel_id=access.channel_id,
            account_id=access.account,
            cycle_id=cycle_id,
            action=CycleAction.PAUSE,
        )
        if created:
            # No response_url: the outcome goes to the clicker privately, the alert stays as it is.
            enqueue_cycle_job(self.services, event, response_url=None, page=0)

    def details(
        self, client: WebClient, body: dict[str, Any], action: dict[str, Any], access: Access
    ) -> None:
        value = decode_value(action.get("value"))
        event_id = value.get("e")
        ledger = self.services.alerts.ledger
        event = (
            ledger.event(event_id) if isinstance(event_id, int) and not isinstance(event_id, bool) else None
        )
        thread = ledger.get_thread(event.thread_id) if event is not None else None
        if event is None or thread is None or thread.account_id != access.account:
            self.messenger.respond(
                body.get("response_url"),
                blocks.notice_message("That alert is no longer known.", sandbox=self.sandbox),
                user_id=access.user_id,
                channel_id=access.channel_id,
            )
            return
        view = details_modal(event, cycle_name=thread.cycle_name or thread.cycle_id, sandbox=self.sandbox)
        client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)


def register(app: App, alert_actions: AlertActions) -> None:
    @app.action(ALERT_PAUSE)
    def pause(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
        alert_actions.pause(body, action, context[ACCESS])
        ack()

    @app.action(ALERT_DETAILS)
    def details(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        access = context[ACCESS]
        ack()
        alert_actions.later(
            "alert-details",
            lambda: alert_actions.details(client, body, action, access),
            response_url=body.get("response_url"),
            user_id=access.user_id,
        )
