"""What the services tell the outside world, as one interface.

The services never call Slack: they report what happened to a :class:`Notifier`, and the
one the bot runs with (:class:`QueueNotifier`) turns each report into a job in the queue
that brings Slack up to date (the Slack layer runs those jobs: :mod:`bot.slack.jobs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.store import InstallRecord, LinkRef
from bot.store.queue import JobQueue

__all__ = [
    "TELL_INSTALL",
    "TELL_LINKS",
    "TELL_LOGIN_LOST",
    "WATCH_AUTH",
    "Notifier",
    "QueueNotifier",
    "SilentNotifier",
]


class Notifier(Protocol):
    def install_changed(self, record: InstallRecord, *, duplicate_name: bool = False) -> None:
        """An install's state changed: its DM and team notification must show it."""

    def links_authorised(self, links: Sequence[LinkRef]) -> None:
        """The connector behind these links was authorised: their DMs must say so."""

    def links_timed_out(self, links: Sequence[LinkRef]) -> None:
        """The wait for authorisation ran out: these DMs must offer a new link."""

    def watch_authorisation(self, account_id: str, account_connector_id: int) -> None:
        """A sign-in link went out: watch the connector until it is authorised, or time runs out."""

    def login_lost(self, account_id: str, account_connector_id: int, connector_name: str) -> None:
        """An installed connector is no longer authenticated: its installer and channel must know."""


class SilentNotifier:
    """Tells nobody (a service used on its own, in a script or a test)."""

    def install_changed(self, record: InstallRecord, *, duplicate_name: bool = False) -> None:
        return None

    def links_authorised(self, links: Sequence[LinkRef]) -> None:
        return None

    def links_timed_out(self, links: Sequence[LinkRef]) -> None:
        return None

    def watch_authorisation(self, account_id: str, account_connector_id: int) -> None:
        return None

    def login_lost(self, account_id: str, account_connector_id: int, connector_name: str) -> None:
        return None


TELL_INSTALL = "tell-install"
TELL_LINKS = "tell-links"
WATCH_AUTH = "watch-auth"
TELL_LOGIN_LOST = "tell-login-lost"

#: Seconds before the first check of a connector whose sign-in link just went out.
FIRST_CHECK = 3.0


class QueueNotifier:
    """Enqueues the job that brings Slack up to date; ``wake`` nudges this process's consumer."""

    def __init__(
        self,
        queue: JobQueue,
        *,
        watch_for: float = 15 * 60,
        wake: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.queue = queue
        #: Seconds a connector is watched after its sign-in link went out, and before the
        #: first look (attributes, so tests and trials need not wait).
        self.watch_for = watch_for
        self.first_check = FIRST_CHECK
        self.wake = wake
        self._clock = clock

    def install_changed(self, record: InstallRecord, *, duplicate_name: bool = False) -> None:
        # One job per install: whichever state it reads when it runs is the latest.
        self._enqueue(TELL_INSTALL, {"install": record.id}, key=f"{TELL_INSTALL}:{record.id}")

    def links_authorised(self, links: Sequence[LinkRef]) -> None:
        self._enqueue(TELL_LINKS, {"links": [link.id for link in links], "what": "authorised"})

    def links_timed_out(self, links: Sequence[LinkRef]) -> None:
        self._enqueue(TELL_LINKS, {"links": [link.id for link in links], "what": "timed-out"})

    def watch_authorisation(self, account_id: str, account_connector_id: int) -> None:
        until = self._clock() + timedelta(seconds=self.watch_for)
        payload = {"account": account_id, "connector": account_connector_id, "until": until.isoformat()}
        key = f"{WATCH_AUTH}:{account_id}:{account_connector_id}"
        self.queue.enqueue(WATCH_AUTH, payload, key=key, delay=self.first_check)

    def login_lost(self, account_id: str, account_connector_id: int, connector_name: str) -> None:
        payload = {"account": account_id, "connector": account_connector_id, "name": connector_name}
        self._enqueue(TELL_LOGIN_LOST, payload, key=f"{TELL_LOGIN_LOST}:{account_id}:{account_connector_id}")

    def _enqueue(self, kind: str, payload: dict[str, object], *, key: str | None = None) -> None:
        self.queue.enqueue(kind, payload, key=key)
        if self.wake is not None:
            self.wake()
