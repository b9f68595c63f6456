"""Everything the Slack, web and worker layers need, built once per process by :mod:`bot.runtime`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.after_ack import AfterAck
from bot.config import Settings
from bot.cyclr import CyclrClient
from bot.services.accounts import AccountDirectory
from bot.services.alerts import AlertService
from bot.services.catalogue import CatalogueCache
from bot.services.health import HealthService
from bot.services.installs import InstallService
from bot.services.links import LinkService
from bot.services.notifier import QueueNotifier
from bot.services.templates import TemplateLibrary
from bot.store import Store
from bot.store.queue import JobQueue

__all__ = ["Services"]


@dataclass(slots=True)
class Services:
    """The bot's use cases and infrastructure, wired together."""

    settings: Settings
    cyclr: CyclrClient
    store: Store
    #: The durable queue of the work after the ack (jobs run by a worker process).
    queue: JobQueue
    catalogue: CatalogueCache
    #: The template library per account (``/cyclr templates``, the deploy modal).
    templates: TemplateLibrary
    accounts: AccountDirectory
    installs: InstallService
    links: LinkService
    #: Connector health: lost logins found by a timed sweep, and ``/cyclr health``.
    health: HealthService
    #: Alerts from running cycles: subscriptions, incidents polled or pushed by Cyclr.
    alerts: AlertService
    #: How the services' reports become jobs (its timings are adjustable for trials).
    notifier: QueueNotifier
    #: This process's own short work after an ack (see :mod:`bot.after_ack`).
    after_ack: AfterAck
    #: This process's name in the queue's ``claimed_by`` (held jobs are claimed by it).
    owner: str

    @property
    def sandbox(self) -> bool:
        return self.settings.sandbox

    def close(self) -> None:
        self.after_ack.shutdown(wait=False)
        self.cyclr.close()
        self.store.close()
