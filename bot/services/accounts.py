"""The partner's Cyclr accounts, and which one a Slack channel works on."""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence

from bot.cyclr.models import Account
from bot.store import Store

__all__ = ["ACK_WAIT", "AccountDirectory"]

#: Seconds an ack may wait for a first account list before answering with what is known.
ACK_WAIT = 1.5

#: An account API id: a GUID or the partner's own printable ASCII id.
_WELL_FORMED = re.compile(r"[!-~](?:[ -~]{0,253}[!-~])?")

log = logging.getLogger(__name__)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isalnum()).casefold()


class _Flight:
    """One background fetch of the list, which any number of callers may wait on."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


class AccountDirectory:
    """Cached account list (one fetch in flight) plus channel bindings from the store.

    On an ack's clock use :meth:`listed` (stale-while-revalidate: never waits on Cyclr for a
    list it holds, however old); :meth:`all` waits for a fresh one (jobs, workers).

    Args:
        fetch: lists the partner's accounts (the Cyclr client's ``list_accounts``).
        store: holds channel → account bindings.
        default_account_id: ``CYCLR_ACCOUNT_ID``, used where a channel has no binding.
        ttl: seconds the list stays fresh.
    """

    def __init__(
        self,
        fetch: Callable[[], Sequence[Account]],
        store: Store,
        *,
        default_account_id: str,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._store = store
        self.default_account_id = default_account_id
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._accounts: tuple[Account, ...] | None = None
        self._fetched_at = 0.0
        self.fetches = 0
        self._flight_lock = threading.Lock()
        self._flight: _Flight | None = None

    def listed(self, *, wait: float = ACK_WAIT) -> tuple[Account, ...]:
        """The list held now, however old, refreshed in the background (by one fetch, however
        many callers) when stale. With nothing held, waits up to ``wait`` seconds for it.

        Raises:
            TimeoutError: nothing held yet and the fetch is still running.
            Exception: the fetch's own error, when it failed with nothing held.
        """
        accounts = self._accounts
        if accounts is not None:
            if self._clock() - self._fetched_at >= self._ttl:
                self.refresh()
            return accounts
        flight = self.refresh()
        if not flight.done.wait(wait):
            raise TimeoutError("the account list is still loading")
        if self._accounts is not None:
            return self._accounts
        if flight.error is not None:
            raise flight.error
        raise TimeoutError("the account list is still loading")  # pragma: no cover - cleared meanwhile

    def refresh(self) -> _Flight:
        """Start fetching the list in the background unless a fetch is running; its flight."""
        with self._flight_lock:
            flight = self._flight
            if flight is None:
                flight = self._flight = _Flight()
                threading.Thread(target=self._fly, args=(flight,), name="account-list", daemon=True).start()
            return flight

    def _fly(self, flight: _Flight) -> None:
        try:
            self.all()
        except Exception as error:
            flight.error = error
            log.warning("fetching the account list failed", exc_info=True)
        finally:
            with self._flight_lock:
                self._flight = None
            flight.done.set()

    def all(self) -> tuple[Account, ...]:
        """Every account; fetched when missing or stale (callers wait for one fetch)."""
        with self._lock:
            if self._accounts is not None and self._clock() - self._fetched_at < self._ttl:
                return self._accounts
            self.fetches += 1
            try:
                accounts = tuple(self._fetch())
            except Exception:
                if self._accounts is not None:
                    log.warning("refreshing the account list failed; serving the cached copy", exc_info=True)
                    self._fetched_at = self._clock() - self._ttl / 2
                    return self._accounts
                raise
            self._accounts = accounts
            self._fetched_at = self._clock()
            return accounts

    def cached(self) -> tuple[Account, ...] | None:
        """The list held now, however old; never fetches."""
        return self._accounts

    def get(self, account_id: str) -> Account | None:
        return next((a for a in self.all() if a.id == account_id), None)

    def is_known(self, account_id: object, *, fetch: bool = True) -> bool:
        """Whether ``account_id`` (from a form or a button value) is one of the partner's accounts.

        With ``fetch=False`` (on an ack's clock) an uncached list is not fetched, and only the
        default account is known until it is: an id is never taken on trust.
        """
        if fetch and self.known(account_id) is None:
            self.all()
        return self.known(account_id) is True

    def known(self, account_id: object) -> bool | None:
        """Like :meth:`is_known` without fetching; None when only the list could tell."""
        if not isinstance(account_id, str) or not _WELL_FORMED.fullmatch(account_id):
            return False
        if account_id == self.default_account_id:
            return True
        accounts = self._accounts
        return None if accounts is None else any(a.id == account_id for a in accounts)

    def name_of(self, account_id: str) -> str:
        """The account's name from the cached list, else its id; never fetches."""
        for account in self._accounts or ():
            if account.id == account_id:
                return account.name
        return account_id

    def fetch_name(self, account_id: str) -> str:
        """The account's name, fetching the list if needed; its id when Cyclr cannot say."""
        try:
            account = self.get(account_id)
        except Exception:
            log.warning("could not fetch the account list to name %s", account_id, exc_info=True)
            return self.name_of(account_id)
        return account.name if account else account_id

    def find(self, query: str, *, wait: float | None = None) -> list[Account]:
        """Accounts whose id matches exactly, else whose name or id contains the words.

        With ``wait`` (on an ack's clock) the list is :meth:`listed`, else a fresh :meth:`all`.
        """
        text = query.strip()
        accounts = self.all() if wait is None else self.listed(wait=wait)
        exact = [a for a in accounts if a.id == text or a.id.casefold() == text.casefold()]
        if exact:
            return exact
        folded = _fold(text)
        if not folded:
            return list(accounts)
        named = [a for a in accounts if _fold(a.name) == folded]
        if named:
            return named
        return [a for a in accounts if folded in _fold(a.name) or folded in _fold(a.id)]

    def for_channel(self, *, team_id: str, channel_id: str | None) -> tuple[str, bool]:
        """``(account_id, bound)``: the channel's bound account, else the default."""
        if channel_id:
            binding = self._store.channel_binding(team_id=team_id, channel_id=channel_id)
            if binding is not None:
                return binding.account_id, True
        return self.default_account_id, False
