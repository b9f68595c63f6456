"""Handing work to the job runner after an ack, without ever raising past the ack.

Bolt loses an ack whose listener raises afterwards (the request then times out), so this
never raises: when the runner is full the user is told at once. Listeners call it *before*
acking where they can, so the job is queued by the time Slack has its answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.after_ack import JobRejected
from bot.services.container import Services
from bot.slack import blocks
from bot.slack.listeners.errors import user_job
from bot.slack.messenger import SlackMessenger

__all__ = ["BUSY", "Surface", "run_later"]

log = logging.getLogger(__name__)

BUSY = "I'm very busy right now and could not start that. Please try again in a minute."


def run_later(
    services: Services,
    messenger: SlackMessenger,
    name: str,
    fn: Callable[[], None],
    *,
    response_url: str | None = None,
    user_id: str | None = None,
    channel_id: str | None = None,
) -> bool:
    """Run ``fn`` just after the ack (:mod:`bot.after_ack`), telling the user about its own
    failure; False if refused."""
    try:
        services.after_ack.submit(
            name, user_job(messenger, fn, response_url=response_url, user_id=user_id, channel_id=channel_id)
        )
        return True
    except JobRejected:
        log.warning("after-ack pool full: %s refused", name)
    try:
        messenger.respond(
            response_url,
            blocks.notice_message(BUSY, sandbox=services.sandbox),
            user_id=user_id,
            channel_id=channel_id,
        )
    except Exception:
        log.exception("could not tell the user that %s was refused", name)
    return False


class Surface:
    """What every group of listeners holds: the services and the messenger."""

    def __init__(self, services: Services, messenger: SlackMessenger) -> None:
        self.services = services
        self.messenger = messenger

    @property
    def sandbox(self) -> bool:
        return self.services.sandbox

    def later(
        self,
        name: str,
        fn: Callable[[], None],
        *,
        response_url: str | None = None,
        user_id: str | None = None,
        channel_id: str | None = None,
    ) -> bool:
        """:func:`run_later` with this surface's services and messenger."""
        return run_later(
            self.services,
            self.messenger,
            name,
            fn,
            response_url=response_url,
            user_id=user_id,
            channel_id=channel_id,
        )
