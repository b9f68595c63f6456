"""Operating existing cycles from Slack: the ``cycle`` and ``tell-cycle`` job kinds.

Intake records a pending :class:`~bot.store.CycleEvent` (one per request: a repeated
submission finds the same row) and queues one ``cycle`` job for it. The job reads the cycle
from Cyclr first, so it is safe to run again: a cycle that is already running is not
activated a second time, one already paused is not paused again. Then it records the
outcome, updates the listing the click came from, in place, and queues ``tell-cycle`` for
the team channel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.cyclr.errors import (
    CyclrAPIError,
    CyclrConflict,
    CyclrError,
    CyclrNotFound,
    CyclrRateLimited,
    CyclrServerError,
    CyclrTransportError,
)
from bot.cyclr.models import Cycle, Prerequisite, interval_label
from bot.services.container import Services
from bot.slack import blocks
from bot.slack.blocks.common import escape_clip, message, section
from bot.slack.messenger import SlackMessenger
from bot.store import CycleAction, CycleEvent, CycleEventState
from bot.store.queue import Job
from bot.worker.registry import Outcome, Registry

__all__ = [
    "CYCLE",
    "CYCLE_ATTEMPTS",
    "TELL_CYCLE",
    "CycleJobs",
    "cycles_page",
    "enqueue_cycle_job",
    "prerequisite_words",
]

log = logging.getLogger(__name__)

CYCLE = "cycle"
TELL_CYCLE = "tell-cycle"
#: Tries of a ``cycle`` job when Cyclr does not answer; each reads the cycle before acting.
CYCLE_ATTEMPTS = 3


def cycles_page(
    services: Services, account_id: str, *, page: int = 0, notice: str | None = None
) -> blocks.Message:
    """One page of the account's cycles, with the buttons the bot's own records allow
    (*Resume* needs the interval the cycle last started with from Slack)."""
    found = services.cyclr.list_cycles(account_id)
    intervals = services.store.last_intervals(account_id, (c.id for c in found))
    return blocks.cycles_list(
        found,
        account_id=account_id,
        account_name=services.accounts.name_of(account_id),
        page=page,
        intervals=intervals,
        notice=notice,
        sandbox=services.sandbox,
    )


def enqueue_cycle_job(
    services: Services, event: CycleEvent, *, response_url: str | None, page: int, deploy: int | None = None
) -> None:
    """Queue the job that carries out ``event`` (once per event: the key is the event's);
    ``deploy``: the checklist it was asked from, which is told instead of a listing."""
    payload: dict[str, object] = {"event": event.id, "response_url": response_url, "page": page}
    if deploy is not None:
        payload["deploy"] = deploy
    services.queue.enqueue(CYCLE, payload, key=f"{CYCLE}:{event.id}")
    wake = services.notifier.wake
    if wake is not None:
        wake()


def prerequisite_words(cycle: Cycle, prerequisites: Sequence[Prerequisite]) -> str:
    """What still stops ``cycle`` from starting, in plain words, with how to fix each."""
    names = {c.account_connector_id: c.name for c in cycle.connectors if c.account_connector_id}
    parts: list[str] = []
    for item in prerequisites:
        if item.fixable_in_slack:
            connector = names.get(item.account_connector_id) if item.account_connector_id else None
            if connector:
                parts.append(
                    f"{connector} is not authorised yet (`/cyclr auth {connector}` sends you a link)"
                )
            else:
                parts.append("a connector it uses is not authorised yet (see `/cyclr list`)")
        else:
            parts.append(f"{item.description.rstrip('.')} (only the Cyclr console can fix that)")
    unique = list(dict.fromkeys(parts))
    return f"{cycle.name} cannot start yet: " + "; ".join(unique) + "."


@dataclass(frozen=True, slots=True)
class _Result:
    state: CycleEventState
    reason: str | None = None
    name: str | None = None
    interval: int | None = None


class CycleJobs:
    """Runs the cycle kinds with one process's services and messenger."""

    def __init__(self, services: Services, messenger: SlackMessenger) -> None:
        self.services = services
        self.messenger = messenger

    def register(self, registry: Registry) -> None:
        registry.add(CYCLE, self.operate, attempts=CYCLE_ATTEMPTS)
        registry.add(TELL_CYCLE, self.tell, attempts=10)

    @property
    def sandbox(self) -> bool:
        return self.services.sandbox

    # -- the change itself -----------------------------------------------------------------------

    def operate(self, job: Job) -> Outcome:
        payload = job.payload
        store = self.services.store
        event = store.get_cycle_event(int(payload["event"]))
        if event is None:
            return {"missing": True}
        if not event.state.is_final:
            try:
                result = self._perform(event)
            except (CyclrTransportError, CyclrServerError, CyclrRateLimited) as error:
                if job.attempt < CYCLE_ATTEMPTS:
                    raise  # the queue tries again; the next try reads the cycle first
                result = _Result(CycleEventState.FAILED, f"Cyclr did not answer: {error.user_message}")
            except ValueError:  # an id the client will not put in a path: not one Cyclr gave
                result = _Result(
                    CycleEventState.FAILED, "That button is out of date. Run `/cyclr cycles` again."
                )
            finished = store.finish_cycle_event(
                event.id, result.state, reason=result.reason, cycle_name=result.name, interval=result.interval
            )
            event = finished or event
            if event.state is CycleEventState.DONE and not payload.get("deploy"):
                # A deploy's activation is told in the deploy's own team message.
                self.services.queue.enqueue(TELL_CYCLE, {"event": event.id}, key=f"{TELL_CYCLE}:{event.id}")
        deploy = payload.get("deploy")
        if isinstance(deploy, int) and not isinstance(deploy, bool):
            from bot.slack.deploys import tell_deploy

            tell_deploy(self.services, deploy)
            return {"state": event.state.value, "deploy": deploy}
        page = payload.get("page")
        self._answer(
            event,
            str(payload["response_url"]) if payload.get("response_url") else None,
            page if isinstance(page, int) and not isinstance(page, bool) else 0,
        )
        return {"state": event.state.value}

    def _perform(self, event: CycleEvent) -> _Result:
        cyclr = self.services.cyclr
        account, cycle_id = event.account_id, event.cycle_id
        try:
            cycle = cyclr.get_cycle(account, cycle_id)
        except CyclrNotFound:
            name = self.services.accounts.name_of(account)
            return _Result(CycleEventState.FAILED, f"That cycle is no longer in {name}.")
        except CyclrAPIError as error:
            if isinstance(error, CyclrServerError | CyclrRateLimited):
                raise
            return _Result(CycleEventState.FAILED, f"Cyclr refused: {error.user_message}")
        name = cycle.name
        if event.action is CycleAction.PAUSE:
            if not cycle.is_active:
                return _Result(CycleEventState.UNCHANGED, name=name)
            try:
                cyclr.deactivate_cycle(account, cycle_id)
            except CyclrAPIError as error:
                if isinstance(error, CyclrServerError | CyclrRateLimited):
                    raise
                return _Result(
                    CycleEventState.FAILED, f"Cyclr would not pause {name}: {error.user_message}", name
                )
            return _Result(CycleEventState.DONE, name=name)
        interval = event.interval
        if event.action is CycleAction.RESUME:
            interval = self.services.store.last_intervals(account, [cycle_id]).get(cycle_id)
            if interval is None:
                return _Result(
                    CycleEventState.FAILED,
                    f"I don't know how often {name} ran before. Use Activate and choose an interval.",
                    name,
                )
        if interval is None:  # pragma: no cover - the submission always carries one
            return _Result(CycleEventState.FAILED, "No interval was chosen.", name)
        if cycle.is_active:
            return _Result(CycleEventState.UNCHANGED, name=name, interval=interval)
        try:
            remaining = cyclr.cycle_prerequisites(account, cycle_id)
            if remaining:
                return _Result(CycleEventState.FAILED, prerequisite_words(cycle, remaining), name, interval)
            cyclr.activate_cycle(account, cycle_id, interval=interval, run_once=event.run_once)
        except CyclrConflict as error:
            return _Result(CycleEventState.FAILED, f"{name}: {error.user_message}", name, interval)
        except CyclrAPIError as error:
            if isinstance(error, CyclrServerError | CyclrRateLimited):
                raise
            return _Result(
                CycleEventState.FAILED, f"Cyclr would not start {name}: {error.user_message}", name, interval
            )
        return _Result(CycleEventState.DONE, name=name, interval=interval)

    # -- telling the person who asked ------------------------------------------------------------

    def _notice(self, event: CycleEvent) -> str:
        """The outcome as the listing's first line (mrkdwn, escaped)."""
        name = escape_clip(event.cycle_name or event.cycle_id, 80)
        every = interval_label(event.interval).lower() if event.interval else ""
        if event.state is CycleEventState.FAILED:
            return ":warning: " + escape_clip(event.reason or "That did not work.", 1500)
        if event.state is CycleEventState.UNCHANGED:
            was = "paused" if event.action is CycleAction.PAUSE else "running"
            return f":information_source: *{name}* was already {was}; nothing changed."
        if event.state is CycleEventState.PENDING:
            return f":hourglass_flowing_sand: Working on *{name}*…"
        if event.action is CycleAction.PAUSE:
            return f":double_vertical_bar: Paused *{name}*."
        if event.action is CycleAction.RESUME:
            return f":white_check_mark: Resumed *{name}*: it runs {every} again."
        if event.run_once:
            return f":white_check_mark: Activated *{name}*: it runs once, then pauses."
        return f":white_check_mark: Activated *{name}*: it runs {every}."

    def _answer(self, event: CycleEvent, response_url: str | None, page: int) -> None:
        """The listing the request came from, updated in place and led by the outcome."""
        notice = self._notice(event)
        try:
            answer = cycles_page(self.services, event.account_id, page=page, notice=notice)
        except CyclrError as error:
            log.info("cycles of %s not listed after a change (%s)", event.account_id, type(error).__name__)
            answer = message(notice, [section(notice)], sandbox=self.sandbox)
        self.messenger.respond(
            response_url, answer, user_id=event.user_id, channel_id=event.channel_id, replace_original=True
        )

    # -- telling the team ------------------------------------------------------------------------

    def tell(self, job: Job) -> Outcome:
        """Post (or bring up to date) the team channel's line about a change that was made."""
        store = self.services.store
        event = store.get_cycle_event(int(job.payload["event"]))
        if event is None or event.state is not CycleEventState.DONE:
            return None
        channel = event.notify_channel or self.services.settings.notify_channel
        if not channel:
            return {"told": False}
        note = blocks.cycle_event_notification(
            event, account_name=self.services.accounts.name_of(event.account_id), sandbox=self.sandbox
        )
        client = self.messenger.client
        if event.notify_channel and event.notify_ts:
            client.chat_update(
                channel=event.notify_channel, ts=event.notify_ts, text=note.text, blocks=note.blocks
            )
            return {"updated": True}
        response = client.chat_postMessage(
            channel=channel, text=note.text, blocks=note.blocks, unfurl_links=False, unfurl_media=False
        )
        store.set_cycle_event_message(
            event.id, notify_channel=str(response["channel"]), notify_ts=str(response["ts"])
        )
        return {"told": True}
