"""Everything the Slack and web layers need, built once per process by :mod:`bot.runtime`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.cyclr import CyclrClient
from bot.jobs import JobRunner
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

    @property
    def sandbox(self) -> bool:
        return self.settings.sandbox

    def close(self) -> None:
        self.links.watcher.stop()
        self.jobs.shutdown(wait=False)
        self.cyclr.close()
        self.store.close()
