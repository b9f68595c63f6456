"""Connector health: which installed connectors lost their login since the last look.

The sweep lists each account the bot works on (the default and every bound one) once, keeps
what it saw in the store, and reports a connector that was authenticated and no longer is
(or an OAuth install of the bot's never authorised after its sign-in wait ended) to the
notifier, at most once per connector per :attr:`HealthService.tell_every`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.cyclr import CyclrClient
from bot.cyclr.errors import CyclrError
from bot.cyclr.models import AccountConnector, Cycle
from bot.services.notifier import Notifier
from bot.store import InstallState, Store
from bot.store.health import HealthLedger, SeenConnector

__all__ = ["AccountHealth", "HealthService", "LostLogin", "SweepReport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LostLogin:
    account_id: str
    account_connector_id: int
    connector_name: str


@dataclass(frozen=True, slots=True)
class SweepReport:
    accounts: int
    #: Accounts whose listing failed (they are looked at again next time).
    failed: tuple[str, ...]
    lost: tuple[LostLogin, ...]
    #: Lost logins told now (the others were told within the last day).
    told: int


@dataclass(frozen=True, slots=True)
class AccountHealth:
    """``/cyclr health``: the account's connectors and its cycles with errors."""

    account_id: str
    connectors: tuple[AccountConnector, ...]
    failing_cycles: tuple[Cycle, ...]


class HealthService:
    def __init__(
        self,
        cyclr: CyclrClient,
        store: Store,
        ledger: HealthLedger,
        notifier: Notifier,
        *,
        default_account_id: str,
        tell_every: timedelta = timedelta(days=1),
        abandon_after: timedelta = timedelta(minutes=15),
    ) -> None:
        self.cyclr = cyclr
        self.store = store
        self.ledger = ledger
        self.notifier = notifier
        self.default_account_id = default_account_id
        self.tell_every = tell_every
        #: An OAuth install of the bot's not authorised this long after it was made (its
        #: sign-in wait has ended) is told like a lost login.
        self.abandon_after = abandon_after

    def accounts(self) -> list[str]:
        """The default account, then every bound one, each once."""
        found = [self.default_account_id] if self.default_account_id else []
        for binding in self.store.bindings():
            if binding.account_id not in found:
                found.append(binding.account_id)
        return found

    def sweep(self) -> SweepReport:
        accounts = self.accounts()
        failed: list[str] = []
        lost: list[LostLogin] = []
        for account_id in accounts:
            try:
                lost.extend(self.check(account_id))
            except CyclrError as error:
                log.warning("health: listing account %s failed: %s", account_id, error.user_message)
                failed.append(account_id)
        told = 0
        for item in lost:
            if self.ledger.claim_telling(item.account_id, item.account_connector_id, every=self.tell_every):
                self.notifier.login_lost(item.account_id, item.account_connector_id, item.connector_name)
                told += 1
        return SweepReport(len(accounts), tuple(failed), tuple(lost), told)

    def check(self, account_id: str) -> list[LostLogin]:
        """One listing of the account; its connectors whose login is lost."""
        installed = self.cyclr.list_account_connectors(account_id)
        lost = self.ledger.record(
            account_id,
            (SeenConnector(c.id, c.name, c.authenticated, self._abandoned(account_id, c)) for c in installed),
        )
        return [LostLogin(account_id, c.account_connector_id, c.connector_name) for c in lost]

    def _abandoned(self, account_id: str, connector: AccountConnector) -> bool:
        if not connector.needs_oauth:
            return False
        record = self.store.install_for_account_connector(account_id, connector.id)
        return (
            record is not None
            and record.state is InstallState.INSTALLED
            and record.created_at < datetime.now(UTC) - self.abandon_after
        )

    def status(self, account_id: str) -> AccountHealth:
        """What ``/cyclr health`` shows: two Cyclr listings, nothing remembered."""
        connectors = self.cyclr.list_account_connectors(account_id)
        cycles = self.cyclr.list_cycles(account_id)
        failing = tuple(c for c in cycles if c.error_count)
        return AccountHealth(account_id, tuple(connectors), failing)
