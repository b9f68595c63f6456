"""Everything the Slack and web layers need, built once per process by :mod:`bot.runtime`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.cyclr import CyclrClient
from bot.jobs import Foreground, JobRunner
from bot.services.accounts import AccountDirectory
from bot.services.catalogue import CatalogueCache
from bot.services.installs import InstallService
from bot.services.links import LinkService
from bot.store import Store

__all__ = ["Services"]


@dataclass(slots=True)
class Services:
    """The bot's use cases and infrastructure, wired together."""

    settings: Settings
    cyclr: CyclrClient
    store: Store
    catalogue: CatalogueCache
    accounts: AccountDirectory
    installs: InstallService
    links: LinkService
    jobs: JobRunner
    #: A separate small lane for calls Slack must get within seconds of the ack (``views.open``
    #: with its 3-s trigger): they never wait behind installs in :attr:`jobs`.
    urgent: JobRunner
    #: The Slack requests being answered; both runners let them finish first.
    foreground: Foreground

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until neither runner has work (tests and shutdown); True if both are idle."""
        return self.urgent.wait_idle(timeout) and self.jobs.wait_idle(timeout)

    @property
    def sandbox(self) -> bool:
        return self.settings.sandbox

    def close(self) -> None:
        self.links.watcher.stop()
        self.urgent.shutdown(wait=False)
        self.jobs.shutdown(wait=False)
        self.cyclr.close()
        self.store.close()
