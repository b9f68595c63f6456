"""Watches an installed connector after a sign-in link went out, until Cyclr says it is
authenticated (then the DM, the team notification and the audit row are updated) or the
time runs out (then the DM offers a new link). One watcher per connector, bounded in time,
backing off between checks; :meth:`AuthWatcher.check_now` wakes it at once (the browser
came back to ``/authorised/<ref>``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.cyclr import CyclrClient
from bot.cyclr.errors import CyclrError, CyclrNotFound

__all__ = ["AuthWatcher"]

log = logging.getLogger(__name__)

Key = tuple[str, int]


class AuthWatcher:
    """Polls ``GET /account/connectors/{id}`` with back-off for at most ``max_wait`` seconds.

    Args:
        on_authenticated: called once with (account_id, account_connector_id).
        on_timeout: called when ``max_wait`` passes without authentication.
    """

    def __init__(
        self,
        cyclr: CyclrClient,
        *,
        on_authenticated: Callable[[str, int], None],
        on_timeout: Callable[[str, int], None],
        max_wait: float = 15 * 60,
        first_delay: float = 3.0,
        max_delay: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cyclr = cyclr
        self._on_authenticated = on_authenticated
        self._on_timeout = on_timeout
        self.max_wait = max_wait
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._clock = clock
        self._lock = threading.Lock()
        self._watching: dict[Key, threading.Event] = {}
        self._stopping = threading.Event()
        self.checks = 0

    def watching(self) -> list[Key]:
        with self._lock:
            return list(self._watching)

    def watch(self, account_id: str, account_connector_id: int) -> bool:
        """Start watching unless already watched; True when a new watcher started."""
        key = (account_id, account_connector_id)
        with self._lock:
            if key in self._watching or self._stopping.is_set():
                return False
            wake = threading.Event()
            self._watching[key] = wake
        threading.Thread(
            target=self._run, args=(key, wake), name=f"auth-watch-{account_connector_id}", daemon=True
        ).start()
        return True

    def check_now(self, account_id: str, account_connector_id: int) -> bool:
        """Check once, right now; True when authenticated (and settled)."""
        key = (account_id, account_connector_id)
        if self._check(key):
            self._settle(key)
            return True
        with self._lock:
            wake = self._watching.get(key)
        if wake is not None:
            wake.set()
        return False

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for wake in self._watching.values():
                wake.set()

    # -- internals --------------------------------------------------------------------------

    def _run(self, key: Key, wake: threading.Event) -> None:
        deadline = self._clock() + self.max_wait
        delay = self.first_delay
        try:
            while not self._stopping.is_set():
                remaining = deadline - self._clock()
                if remaining <= 0:
                    self._timeout(key)
                    return
                wake.wait(min(delay, remaining))
                wake.clear()
                if self._stopping.is_set():
                    return
                with self._lock:
                    if key not in self._watching:
                        return  # settled by check_now meanwhile
                if self._check(key):
                    self._settle(key)
                    return
                delay = min(delay * 2, self.max_delay)
        finally:
            with self._lock:
                if self._watching.get(key) is wake:
                    del self._watching[key]

    def _check(self, key: Key) -> bool:
        self.checks += 1
        try:
            return self._cyclr.get_account_connector(*key).authenticated
        except CyclrNotFound:
            log.info("connector %s was uninstalled while waiting for authorisation", key[1])
            with self._lock:
                self._watching.pop(key, None)
            return False
        except CyclrError as error:
            log.warning("checking connector %s failed (%s); will check again", key[1], type(error).__name__)
            return False

    def _settle(self, key: Key) -> None:
        with self._lock:
            self._watching.pop(key, None)
        try:
            self._on_authenticated(*key)
        except Exception:
            log.exception("updating after authorisation of connector %s failed", key[1])

    def _timeout(self, key: Key) -> None:
        try:
            self._on_timeout(*key)
        except Exception:
            log.exception("updating after the authorisation wait of connector %s ran out failed", key[1])
