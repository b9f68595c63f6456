"""Cyclr authorisation links: always fresh, only for the requester, and closing the loop.

Cyclr's sign-in tokens are single-use and live five minutes, and Slack may fetch a URL in a
message to unfurl it. So a token is minted only when the person acts:

* with ``CYCLR_BOT_PUBLIC_URL``, the DM links to the bot's own page ``/authorise/<ref>``; the
  page's POST mints the token and redirects to Cyclr. A ref is 256 random bits, kept in the
  store only as its SHA-256, and mints only while it is *live* (not expired, revoked,
  replaced, or its connector authenticated) and *armed*: the DM's URL button also sends the
  bot a signed ``block_actions`` carrying the clicking user, and a click by the ref's owner
  allows exactly one mint within :data:`ARM_WINDOW`. A ref seen by anyone else (a proxy,
  a log, browser history) is therefore useless to them. Cyclr sends the browser back to
  ``/authorised/<return id>``, a separate random id (also stored hashed) that never mints;
* without it, the DM's *Authorise* button mints the token when clicked and the DM is updated
  in place with a URL button valid until the token expires.

After a token is minted the notifier is asked to watch the connector (a job that checks it
with back-off, see :meth:`LinkService.check_authorisation`); when Cyclr says it is
authenticated the install row, the DM and the team notification are updated through the
notifier; when the wait runs out the connector's live refs are revoked.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.cyclr import CyclrClient, build_oauth_url
from bot.cyclr.errors import CyclrError, CyclrNotFound
from bot.logs import register_secret
from bot.services.installs import InstallService
from bot.services.notifier import Notifier, SilentNotifier
from bot.store import LinkRef, Store

__all__ = [
    "ARM_WINDOW",
    "IssuedLink",
    "LinkProblem",
    "LinkService",
    "LinkUnavailable",
    "SignInLink",
    "digest",
]

log = logging.getLogger(__name__)

#: Seconds a sign-in token (and its URL) stays masked in the log after Cyclr's expiry.
SIGNIN_TOKEN_MARGIN = 300.0

#: How long the owner's click in Slack allows the page's one mint.
ARM_WINDOW = timedelta(minutes=3)
#: How long ``/authorised/<return id>`` answers after its mint; then "no longer valid".
RETURN_WINDOW = timedelta(minutes=30)
#: Dead links are deleted once dead for this long.
PRUNE_AFTER = timedelta(days=1)


def digest(value: str) -> str:
    """The SHA-256 (hex) under which a ref or a return id is stored."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SignInLink:
    """Cyclr's authorisation URL for one installed connector; the URL embeds a live token."""

    url: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedLink:
    """A link just created: its row and the raw ref, which exists only here and in the DM."""

    link: LinkRef
    ref: str = field(repr=False)

    @property
    def id(self) -> int:
        return self.link.id

    @property
    def expires_at(self) -> datetime:
        return self.link.expires_at


class LinkProblem(enum.StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    AUTHORISED = "authorised"  #: the connector is authenticated already
    GONE = "gone"  #: the connector was uninstalled
    NOT_ARMED = "not-armed"  #: no recent click on the link by its owner in Slack


class LinkUnavailable(Exception):
    """A ref that cannot be used; :attr:`problem` says why and :attr:`link` is it, if known."""

    def __init__(self, problem: LinkProblem, link: LinkRef | None = None) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.link = link


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
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = _utcnow,
        watch_for: float = 15 * 60,
    ) -> None:
        self._cyclr = cyclr
        self._settings = settings
        self._store = store
        self._installs = installs
        self._clock = clock
        self.arm_window = ARM_WINDOW
        self.return_window = RETURN_WINDOW
        self._notifier: Notifier = notifier or SilentNotifier()
        #: Seconds a connector is watched after a sign-in link went out.
        self.watch_for = watch_for

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
    ) -> IssuedLink:
        """A new link for ``user_id``; their older live links to the connector stop working."""
        # The log masks refs and return ids by their place in the pages' URLs (bot.logs), not
        # by registering each: one per link would fill its bounded registry of secrets.
        ref = secrets.token_urlsafe(32)
        link = self._store.create_link(
            ref_hash=digest(ref),
            team_id=team_id,
            user_id=user_id,
            account_id=account_id,
            account_connector_id=account_connector_id,
            connector_name=connector_name,
            install_id=install_id,
            ttl=ttl or timedelta(hours=self._settings.link_ttl_hours),
        )
        return IssuedLink(link, ref)

    def page_url(self, issued: IssuedLink) -> str:
        return f"{self._settings.public_url}/authorise/{issued.ref}"

    def usable(self, ref: str) -> LinkRef:
        """The ref's link if it may still be used, else :class:`LinkUnavailable` saying why."""
        link = self._store.link_by_hash(digest(ref))
        if link is None:
            raise LinkUnavailable(LinkProblem.UNKNOWN)
        if link.authenticated_at is not None:
            raise LinkUnavailable(LinkProblem.AUTHORISED, link)
        if link.revoked_at is not None:
            raise LinkUnavailable(LinkProblem.REVOKED, link)
        if link.expires_at <= self._clock():
            raise LinkUnavailable(LinkProblem.EXPIRED, link)
        return link

    def arm(self, link_id: int, *, team_id: str, user_id: str) -> bool:
        """The owner clicked the link in Slack (a signed ``block_actions``): allow one mint for
        :attr:`arm_window` (:data:`ARM_WINDOW`). False, and nothing armed, for anyone else or a
        dead link."""
        armed = self._store.arm_link(
            link_id, team_id=team_id, user_id=user_id, until=self._clock() + self.arm_window
        )
        if not armed:
            log.info("link %s not armed: not %s's, or no longer live", link_id, user_id)
        return armed

    def attach_message(self, issued: IssuedLink, *, dm_channel: str, dm_ts: str) -> None:
        self._store.set_link_message(issued.id, dm_channel=dm_channel, dm_ts=dm_ts)

    def replace_links_in(self, dm_channel: str, dm_ts: str) -> None:
        """The message is about to show a new link: the old ones stop working."""
        self._store.revoke_links_for_message(dm_channel, dm_ts)

    def revoke_for_connector(self, account_id: str, account_connector_id: int) -> list[LinkRef]:
        """Every live link to the connector stops working (uninstalled, or the wait ran out)."""
        return self._store.revoke_links_for_connector(account_id, account_connector_id)

    def prune(self) -> int:
        """Delete links dead for :data:`PRUNE_AFTER`; one timed job's worth of work."""
        return self._store.prune_links(self._clock() - PRUNE_AFTER)

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
        self._notifier.watch_authorisation(account_id, account_connector_id)
        return SignInLink(url=url, expires_at=token.expires_at)

    def mint_for_ref(self, ref: str) -> SignInLink:
        """The page's POST: a live ref, armed by its owner's click, spends that click on one
        token, after Cyclr confirms the connector still waits for authorisation. The browser
        is sent back to ``/authorised/<return id>``, a fresh id that is not a ref."""
        link = self.usable(ref)
        return_id = secrets.token_urlsafe(32)
        if not self._store.spend_arm(link.id, return_hash=digest(return_id)):
            raise LinkUnavailable(LinkProblem.NOT_ARMED, link)
        try:
            current = self._cyclr.get_account_connector(link.account_id, link.account_connector_id)
        except CyclrNotFound as error:
            self.revoke_for_connector(link.account_id, link.account_connector_id)
            raise LinkUnavailable(LinkProblem.GONE, link) from error
        if current.authenticated:
            self.settle_authenticated(link.account_id, link.account_connector_id)
            raise LinkUnavailable(LinkProblem.AUTHORISED, link)
        try:
            return self.mint(
                account_id=link.account_id,
                account_connector_id=link.account_connector_id,
                team_id=link.team_id,
                user_id=link.user_id,
                target_origin=f"{self._settings.public_url}/authorised/{return_id}",
            )
        except CyclrNotFound as error:
            self.revoke_for_connector(link.account_id, link.account_connector_id)
            raise LinkUnavailable(LinkProblem.GONE, link) from error

    def slack_return_url(self, *, team_id: str, channel_id: str | None) -> str:
        """Where Cyclr sends the browser when done, without a public URL: back to the DM."""
        return self._settings.return_url_for(team_id=team_id, channel_id=channel_id)

    # -- closing the loop ----------------------------------------------------------------------

    def returned(self, return_id: str) -> LinkRef | None:
        """The link a browser came back for, while its return id is valid (for
        :attr:`return_window` after its mint); None otherwise, unknown and dead alike."""
        link = self._store.link_by_return(digest(return_id))
        if link is None or link.minted_at is None or link.minted_at + self.return_window <= self._clock():
            return None
        return link

    def confirm(self, link: LinkRef) -> bool:
        """The browser came back: check Cyclr at once. True when authenticated."""
        if link.authenticated_at is not None:
            return True
        return self.check_authorisation(link.account_id, link.account_connector_id) is True

    def check_authorisation(self, account_id: str, account_connector_id: int) -> bool | None:
        """Ask Cyclr once: True (authenticated, now settled), False (not yet), None (the
        connector is gone, or Cyclr could not say: the caller tries again later or stops)."""
        try:
            current = self._cyclr.get_account_connector(account_id, account_connector_id)
        except CyclrNotFound:
            log.info("connector %s was uninstalled while waiting for authorisation", account_connector_id)
            self.revoke_for_connector(account_id, account_connector_id)
            return None
        except CyclrError as error:
            log.warning("checking connector %s failed (%s)", account_connector_id, type(error).__name__)
            return False
        if current.authenticated:
            self.settle_authenticated(account_id, account_connector_id)
            return True
        return False

    def settle_authenticated(self, account_id: str, account_connector_id: int) -> None:
        """Cyclr says the connector is authenticated: audit row, DMs and team notification."""
        self._installs.mark_authenticated(account_id, account_connector_id)
        links = list(self._store.mark_links_authenticated(account_id, account_connector_id))
        log.info("connector %s in %s is authorised", account_connector_id, account_id)
        if links:
            self._notifier.links_authorised(links)

    def watch_ran_out(self, account_id: str, account_connector_id: int) -> None:
        """Nobody authorised the connector in time: its links stop working, and their DMs
        offer a new one."""
        links = [link for link in self.revoke_for_connector(account_id, account_connector_id) if link.dm_ts]
        if links:
            self._notifier.links_timed_out(links)
