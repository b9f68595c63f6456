"""``/cyclr cycles`` buttons and the activate modal.

The access middleware has checked, before any of these runs, that the user may operate
cycles (installers and admins) on the account the button or the modal names, from where they
are; the account a listener uses is that checked one (:attr:`Access.account`), and team and
user come from the signed request body. Each listener records what was asked and queues a
job (:mod:`bot.slack.cycles`) before it acks; nothing here calls Cyclr.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.cyclr.models import CYCLE_INTERVALS
from bot.slack import blocks
from bot.slack.blocks.cycles import RUN_ONCE_VALUE
from bot.slack.cycles import enqueue_cycle_job
from bot.slack.forms import input_value, state_values
from bot.slack.ids import (
    ACTIVATE_CALLBACK,
    CYCLE_ACTIVATE,
    CYCLE_PAUSE,
    CYCLE_RESUME,
    CYCLES_PAGE,
    INTERVAL,
    RUN_ONCE,
    decode_value,
)
from bot.slack.listeners.background import Surface
from bot.slack.middleware import ACCESS, Access
from bot.slack.replies import REPLY, Asked
from bot.slack.sealed import ActivateMeta
from bot.store import CycleAction

__all__ = ["CycleActions", "register"]

log = logging.getLogger(__name__)

_OUT_OF_DATE = "That button is out of date. Run `/cyclr cycles` again."
_MAX_CYCLE_ID = 255


def _cycle_id(value: dict[str, Any]) -> str | None:
    cycle = value.get("cy")
    if not isinstance(cycle, str) or not 0 < len(cycle) <= _MAX_CYCLE_ID:
        return None
    return cycle if cycle.isprintable() and cycle.strip() == cycle else None


def _page(value: dict[str, Any]) -> int:
    page = value.get("p")
    return page if isinstance(page, int) and not isinstance(page, bool) and 0 <= page < 10_000 else 0


class CycleActions(Surface):
    """Paging, *Activate* (the modal), *Pause* and *Resume*."""

    def _out_of_date(self, body: dict[str, Any], access: Access) -> None:
        response_url = body.get("response_url")
        message = blocks.notice_message(_OUT_OF_DATE, sandbox=self.sandbox)
        self.later(
            "cycles-out-of-date",
            lambda: self.messenger.respond(
                response_url, message, user_id=access.user_id, channel_id=access.channel_id
            ),
            response_url=response_url,
            user_id=access.user_id,
        )

    def page(self, body: dict[str, Any], action: dict[str, Any], access: Access) -> None:
        """*More*: the next page of the same listing, answered by a ``reply`` job."""
        if access.account is None:
            return self._out_of_date(body, access)
        asked = Asked(
            command="cycles",
            team_id=access.team_id,
            user_id=access.user_id,
            channel_id=access.channel_id,
            account_id=access.account,
            args="",
            response_url=body.get("response_url"),
            page=_page(decode_value(action.get("value"))),
        )
        self.services.queue.enqueue(REPLY, asked.to_payload())
        return None

    def change(self, body: dict[str, Any], action: dict[str, Any], access: Access, what: CycleAction) -> None:
        """*Pause* or *Resume* (confirmed in Slack's dialog): record it, queue its job."""
        value = decode_value(action.get("value"))
        cycle_id = _cycle_id(value)
        if access.account is None or cycle_id is None:
            return self._out_of_date(body, access)
        # One row per click: Slack's retry of the same request finds it again.
        container = body.get("container") or {}
        key = ":".join(
            str(part)[:60]
            for part in (what.value, access.user_id, container.get("message_ts"), action.get("action_ts"))
        )
        event, created = self.services.store.begin_cycle_event(
            request_key=key,
            team_id=access.team_id,
            user_id=access.user_id,
            channel_id=access.channel_id,
            account_id=access.account,
            cycle_id=cycle_id,
            action=what,
        )
        if created:
            enqueue_cycle_job(self.services, event, response_url=body.get("response_url"), page=_page(value))
        return None

    def open_activate(
        self, client: WebClient, body: dict[str, Any], action: dict[str, Any], access: Access
    ) -> None:
        """*Activate*: the modal that asks for the interval, sealed for this user."""
        value = decode_value(action.get("value"))
        cycle_id = _cycle_id(value)
        if access.account is None or cycle_id is None:
            return self._out_of_date(body, access)
        name = value.get("n") if isinstance(value.get("n"), str) else None
        deploy_id = (
            value.get("d")
            if isinstance(value.get("d"), int) and not isinstance(value.get("d"), bool)
            else None
        )
        channel_id = access.channel_id
        if deploy_id is not None:  # a deploy checklist's: its outcome goes to the checklist
            deploy = self.services.store.get_deploy(deploy_id)
            if deploy is None or deploy.account_id != access.account or deploy.cycle_id != cycle_id:
                return self._out_of_date(body, access)
            channel_id = deploy.channel_id  # where it was deployed from, whose account it is
        meta = ActivateMeta(
            channel_id=channel_id,
            account_id=access.account,
            cycle_id=cycle_id,
            page=_page(value),
            response_url=None
            if deploy_id is not None
            else body.get("response_url")
            if isinstance(body.get("response_url"), str)
            else None,
            deploy_id=deploy_id,
        )
        view = blocks.activate_modal(
            cycle_name=name or cycle_id,  # a label only: the job names the cycle from Cyclr
            account_name=self.services.accounts.name_of(access.account),
            metadata=meta.dumps(self.messenger.sealer, access.user_id),
            sandbox=self.sandbox,
        )
        client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        return None

    def submit(self, ack: Ack, view: dict[str, Any], access: Access) -> None:
        """The activate modal's submission: an interval Cyclr accepts, then one job."""
        meta, account = access.activate, access.account
        if meta is None or account is None:  # the middleware refuses these; never trust a body
            ack(
                response_action="errors",
                errors={INTERVAL: "This form is out of date. Run /cyclr cycles again."},
            )
            return
        values = state_values(view)
        raw = input_value(values, INTERVAL)
        interval = int(raw) if raw is not None and raw.isdigit() else None
        if interval not in CYCLE_INTERVALS:
            ack(response_action="errors", errors={INTERVAL: "Choose how often the cycle runs."})
            return
        run_once = input_value(values, RUN_ONCE) == RUN_ONCE_VALUE
        event, created = self.services.store.begin_cycle_event(
            request_key=f"view:{view.get('id')}",  # a double submit is the same view
            team_id=access.team_id,
            user_id=access.user_id,
            channel_id=meta.channel_id,
            account_id=account,
            cycle_id=meta.cycle_id,
            action=CycleAction.ACTIVATE,
            interval=interval,
            run_once=run_once,
        )
        if created:
            enqueue_cycle_job(
                self.services, event, response_url=meta.response_url, page=meta.page, deploy=meta.deploy_id
            )
        ack()


def register(app: App, actions: CycleActions) -> None:
    @app.view(ACTIVATE_CALLBACK)
    def activate_submitted(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
        actions.submit(ack, view, context[ACCESS])

    @app.action(CYCLES_PAGE)
    def page(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
        actions.page(body, action, context[ACCESS])
        ack()

    @app.action(CYCLE_PAUSE)
    def pause(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
        actions.change(body, action, context[ACCESS], CycleAction.PAUSE)
        ack()

    @app.action(CYCLE_RESUME)
    def resume(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
        actions.change(body, action, context[ACCESS], CycleAction.RESUME)
        ack()

    @app.action(CYCLE_ACTIVATE)
    def activate(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        access = context[ACCESS]
        ack()
        actions.later(
            "activate-modal",
            lambda: actions.open_activate(client, body, action, access),
            response_url=body.get("response_url"),
            user_id=access.user_id,
        )
