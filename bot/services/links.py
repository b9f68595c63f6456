"""Cyclr authorisation links: always fresh, only for the requester, and closing the loop.

Cyclr's sign-in tokens are single-use and live five minutes, and Slack may fetch a URL in a
message to unfurl it. So a token is minted only when the person acts:

* with ``CYCLR_BOT_PUBLIC_URL``, the DM links to the bot's own page ``/authorise/<ref>``; the
  page's POST mints the token and redirects to Cyclr. A ref is an opaque random id with an
  expiry, revocable, never holding a token;
* without it, the DM's *Authorise* button mints the token when clicked and the DM is updated
  in place with a URL button valid until the token expires.

After a token is minted the :class:`~bot.services.watcher.AuthWatcher` watches the connector;
when Cyclr says it is authenticated the install row, the DM and the team notification are
updated through the listeners.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.config import Settings
from bot.cyclr import CyclrClient, build_oauth_url
from bot.cyclr.errors import CyclrNotFound
from bot.logs import register_secret
from bot.services.installs import InstallService
from bot.services.watcher import AuthWatcher
from bot.store import LinkRef, Store

__all__ = ["LinkListener", "LinkProblem", "LinkService", "LinkUnavailable", "SignInLink"]

log = logging.getLogger(__name__)

#: Seconds a sign-in token (and its URL) stays masked in the log after Cyclr's expiry.
SIGNIN_TOKEN_MARGIN = 300.0


@dataclass(frozen=True, slots=True)
class SignInLink:
    """Cyclr's authorisation URL for one installed connector; the URL embeds a live token."""

    url: str = field(repr=False)
    expires_at: datetime


class LinkProblem(enum.StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    GONE = "gone"  #: the connector was uninstalled


class LinkUnavailable(Exception):
    """A ref that cannot be used; :attr:`problem` says why and :attr:`link` is it, if known."""

    def __init__(self, problem: LinkProblem, link: LinkRef | None = None) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.link = link


class LinkListener(Protocol):
    """Told when a connector behind links got authorised, or the wait for it ran out."""

    def links_authorised(self, links: list[LinkRef]) -> None: ...

    def links_timed_out(self, links: list[LinkRef]) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LinkService:
    """Link refs, sign-in tokens and Cyclr's ``updateaccountconnectoroauth`` URLs."""

    def __init__(
        self,
        cyclr: CyclrClient,
        settings: Settings,
        store: Store,
        installs: InstallService,
        *,
        clock: Callable[[], datetime] = _utcnow,
        watch_for: float = 15 * 60,
    ) -> None:
        self._cyclr = cyclr
        self._settings = settings
        self._store = store
        self._installs = installs
        self._clock = clock
        self.listener: LinkListener | None = None
        self.watcher = AuthWatcher(
            cyclr, on_authenticated=self.settle_authenticated, on_timeout=self._timed_out, max_wait=watch_for
        )

    @property
    def public(self) -> bool:
        """Links point to the bot's own page (``CYCLR_BOT_PUBLIC_URL`` is set)."""
        return bool(self._settings.public_url)

    # -- refs ------------------------------------------------------------------------------------

    def create_ref(
        self,
        *,
        team_id: str,
        user_id: str,
        account_id: str,
        account_connector_id: int,
        connector_name: str,
        install_id: int | None = None,
        ttl: timedelta | None = None,
    ) -> LinkRef:
        return self._store.create_link(
            team_id=team_id,
            user_id=user_id,
            account_id=account_id,
            account_connector_id=account_connector_id,
            connector_name=connector_name,
            install_id=install_id,
            ttl=ttl or timedelta(hours=self._settings.link_ttl_hours),
        )

    def page_url(self, link: LinkRef) -> str:
        return f"{self._settings.public_url}/authorise/{link.ref}"

    def usable(self, ref: str) -> LinkRef:
        """The ref if it may still be used, else :class:`LinkUnavailable` saying why."""
        link = self._store.get_link(ref)
        if link is None:
            raise LinkUnavailable(LinkProblem.UNKNOWN)
        if link.revoked_at is not None:
            raise LinkUnavailable(LinkProblem.REVOKED, link)
        if link.expires_at <= self._clock():
            raise LinkUnavailable(LinkProblem.EXPIRED, link)
        return link

    def attach_message(self, link: LinkRef, *, dm_channel: str, dm_ts: str) -> None:
        self._store.set_link_message(link.ref, dm_channel=dm_channel, dm_ts=dm_ts)

    def replace_links_in(self, dm_channel: str, dm_ts: str) -> None:
        """The message is about to show a new link: the old ones stop working."""
        self._store.revoke_links_for_message(dm_channel, dm_ts)

    # -- tokens ----------------------------------------------------------------------------------

    def mint(
        self, *, account_id: str, account_connector_id: int, team_id: str, user_id: str, target_origin: str
    ) -> SignInLink:
        """A fresh token for the requester's Cyclr user, the URL that spends it; starts watching."""
        username = self._settings.signin_username_for(team_id=team_id, user_id=user_id)
        token = self._cyclr.mint_signin_token(account_id, username)
        # Masked while Cyclr accepts it, and a margin more (a line written late, clocks apart).
        ttl = (token.expires_at - self._clock()).total_seconds() + SIGNIN_TOKEN_MARGIN
        register_secret(token.token, ttl=ttl)
        url = build_oauth_url(
            self._settings.cyclr_service_url,
            account_connector_id=account_connector_id,
            token=token.token,
            target_origin=target_origin,
        )
        register_secret(url, ttl=ttl)
        self.watcher.watch(account_id, account_connector_id)
        return SignInLink(url=url, expires_at=token.expires_at)

    def mint_for_ref(self, ref: str) -> SignInLink:
        """The page's POST: check the ref, mint, and send the browser back to ``/authorised/<ref>``."""
        link = self.usable(ref)
        try:
            return self.mint(
                account_id=link.account_id,
                account_connector_id=link.account_connector_id,
                team_id=link.team_id,
                user_id=link.user_id,
                target_origin=f"{self._settings.public_url}/authorised/{link.ref}",
            )
        except CyclrNotFound as error:
            raise LinkUnavailable(LinkProblem.GONE, link) from error

    def slack_return_url(self, *, team_id: str, channel_id: str | None) -> str:
        """Where Cyclr sends the browser when done, without a public URL: back to the DM."""
        return self._settings.return_url_for(team_id=team_id, channel_id=channel_id)

    # -- closing the loop ----------------------------------------------------------------------

    def confirm(self, ref: str) -> tuple[LinkRef | None, bool]:
        """The browser came back: check Cyclr at once. ``(link, authenticated)``."""
        link = self._store.get_link(ref)
        if link is None:
            return None, False
        if link.authenticated_at is not None:
            return link, True
        return link, self.watcher.check_now(link.account_id, link.account_connector_id)

    def settle_authenticated(self, account_id: str, account_connector_id: int) -> None:
        """Cyclr says the connector is authenticated: audit row, DMs and team notification."""
        self._installs.mark_authenticated(account_id, account_connector_id)
        links = list(self._store.mark_links_authenticated(account_id, account_connector_id))
        log.info("connector %s in %s is authorised", account_connector_id, account_id)
        if links and self.listener is not None:
            self.listener.links_authorised(links)

    def _timed_out(self, account_id: str, account_connector_id: int) -> None:
        links = [
            link
            for link in self._store.links_for_connector(account_id, account_connector_id)
            if link.authenticated_at is None and link.revoked_at is None and link.dm_ts
        ]
        if links and self.listener is not None:
            self.listener.links_timed_out(links)
