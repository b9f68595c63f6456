"""Everything the bot posts outside an ack: DMs, team notifications, response_url answers.

Each install state change becomes a ``tell-install`` job (:mod:`bot.slack.jobs`) that
re-reads the row and brings the team notification (one message per install, updated in
place) and the requester's DM up to date. Re-reading makes the jobs order-free: whichever
runs last shows the latest state.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.webhook import WebhookClient

from bot.cache import BoundedCache
from bot.services.container import Services
from bot.slack import blocks
from bot.slack.sealed import Sealer
from bot.store import InstallRecord, InstallState, LinkRef

__all__ = ["SlackMessenger", "ViewChanged"]

log = logging.getLogger(__name__)

#: Where a ``response_url`` may point besides the configured Slack API host (see
#: :meth:`SlackMessenger.respond`): Slack's own hooks, over HTTPS.
SLACK_HOOKS = ("https", "hooks.slack.com", 443)
#: The most users whose IM channel id is remembered (least recently used dropped first).
MAX_DM_CHANNELS = 10_000
#: Seconds an IM channel id is remembered (conversations.open is cheap to repeat).
DM_CHANNEL_TTL = 24 * 3600.0

class ViewChanged(Exception):
    """``views.update`` with a ``hash`` met a view that was changed meanwhile."""


class SlackMessenger:
    """Posts and updates the bot's messages with one Web API client."""

    def __init__(
        self, client: WebClient, services: Services, sealer: Sealer, *, max_dm_channels: int = MAX_DM_CHANNELS
    ) -> None:
        self.client = client
        self.services = services
        #: Seals the values of the buttons the bot puts in DMs (see :mod:`bot.slack.sealed`).
        self.sealer = sealer
        api = _origin(services.settings.slack_api_url)
        self._response_hosts = frozenset({SLACK_HOOKS} | ({api} if api else set()))
        # user id -> IM channel id: bounded, and one conversations.open per user however many
        # threads want the channel at once.
        self._dm_channels: BoundedCache[str, str] = BoundedCache(max_dm_channels, ttl=DM_CHANNEL_TTL)

    @property
    def cached_dm_channels(self) -> int:
        return len(self._dm_channels)

    @property
    def sandbox(self) -> bool:
        return self.services.sandbox

    # -- install state -------------------------------------------------------------------------

    def sync_install_messages(self, install_id: int) -> None:
        """Bring the team notification and the requester's DM in line with the stored row.

        Run by the install's ``tell-install`` job, one at a time per install (the queue's
        key): it re-reads the row and reuses the stored message ts, so a retry updates what
        was already posted instead of posting it twice. A Slack failure raises, and the
        queue tries again with back-off.
        """
        record = self.services.store.get_install(install_id)
        if record is None:
            return
        account_name = self.services.accounts.name_of(record.account_id)
        self._sync_notification(record, account_name)
        if record.state is not InstallState.PENDING:
            self._sync_dm(record, account_name)

    def _sync_notification(self, record: InstallRecord, account_name: str) -> None:
        channel = record.notify_channel or self.services.settings.notify_channel
        if not channel:
            return
        message = blocks.team_notification(record, account_name=account_name, sandbox=self.sandbox)
        if record.notify_ts and record.notify_channel:
            self.client.chat_update(
                channel=record.notify_channel, ts=record.notify_ts, text=message.text, blocks=message.blocks
            )
            return
        response = self.client.chat_postMessage(
            channel=channel, text=message.text, blocks=message.blocks, unfurl_links=False, unfurl_media=False
        )
        self.services.store.set_messages(
            record.id, notify_channel=str(response["channel"]), notify_ts=str(response["ts"])
        )

    def _sync_dm(self, record: InstallRecord, account_name: str) -> None:
        if record.dm_ts and record.dm_channel:
            message = blocks.install_dm(
                record, account_name=account_name, sandbox=self.sandbox, button_value=self._dm_value(record)
            )
            self.client.chat_update(
                channel=record.dm_channel, ts=record.dm_ts, text=message.text, blocks=message.blocks
            )
            return
        links = self.services.links
        link = None
        if links.public and record.needs_authorisation and record.account_connector_id is not None:
            link = links.create_ref(
                team_id=record.team_id,
                user_id=record.user_id,
                account_id=record.account_id,
                account_connector_id=record.account_connector_id,
                connector_name=record.connector_name,
                install_id=record.id,
            )
        message = blocks.install_dm(
            record,
            account_name=account_name,
            sandbox=self.sandbox,
            page_url=links.page_url(link) if link else None,
            page_link_id=link.id if link else None,
            page_expires_at=link.expires_at if link else None,
            button_value=self._dm_value(record),
        )
        channel, ts = self.dm(record.user_id, message)
        self.services.store.set_messages(record.id, dm_channel=channel, dm_ts=ts)
        if link is not None:
            links.attach_message(link, dm_channel=channel, dm_ts=ts)

    # -- links -------------------------------------------------------------------------------------

    def links_authorised(self, links: list[LinkRef]) -> None:
        """Replace every link DM of a now-authorised connector with "authorised"."""
        for link in links:
            if not (link.dm_channel and link.dm_ts) or self._is_install_dm(link):
                continue  # the install's own DM is updated with the install
            message = blocks.authorised_message(
                connector_name=link.connector_name,
                account_name=self.services.accounts.name_of(link.account_id),
                sandbox=self.sandbox,
            )
            self.update(link.dm_channel, link.dm_ts, message)

    def links_timed_out(self, links: list[LinkRef]) -> None:
        """The wait for authorisation ran out: the DMs offer a new link instead."""
        for link in links:
            if not (link.dm_channel and link.dm_ts):
                continue
            message = blocks.link_expired_message(
                connector_name=link.connector_name,
                account_name=self.services.accounts.name_of(link.account_id),
                new_link_value=self.link_value(link.user_id, link.account_id, link.account_connector_id),
                sandbox=self.sandbox,
            )
            self.update(link.dm_channel, link.dm_ts, message)

    def link_value(self, user_id: str, account_id: str, account_connector_id: int) -> str:
        """The value of an *Authorise* or *Get a new link* button in ``user_id``'s DM: sealed
        for them, so it works on its account whichever channel the install came from."""
        return self.sealer.button_value(user_id, {"a": account_id, "ac": account_connector_id})

    def _dm_value(self, record: InstallRecord) -> str | None:
        if record.account_connector_id is None:
            return None
        return self.link_value(record.user_id, record.account_id, record.account_connector_id)

    def _is_install_dm(self, link: LinkRef) -> bool:
        if link.install_id is None:
            return False
        record = self.services.store.get_install(link.install_id)
        return record is not None and record.dm_ts == link.dm_ts and record.dm_channel == link.dm_channel

    # -- plain posting ---------------------------------------------------------------------------

    def dm_channel(self, user_id: str) -> str:
        """The IM channel with ``user_id`` (conversations.open, remembered)."""

        def open_channel() -> str:
            return str(self.client.conversations_open(users=user_id)["channel"]["id"])

        return self._dm_channels.get_or_load(user_id, open_channel)

    def dm(self, user_id: str, message: blocks.Message) -> tuple[str, str]:
        """Send a direct message; ``(channel, ts)``. Links in it are never unfurled."""
        channel = self.dm_channel(user_id)
        response = self.client.chat_postMessage(
            channel=channel, text=message.text, blocks=message.blocks, unfurl_links=False, unfurl_media=False
        )
        return str(response["channel"]), str(response["ts"])

    def update(self, channel: str, ts: str, message: blocks.Message) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)

    def respond(
        self,
        response_url: str | None,
        message: blocks.Message,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
        replace_original: bool = False,
    ) -> None:
        """Answer a command or a button privately: response_url first, else an ephemeral, else a DM.

        A ``response_url`` is posted to only on Slack's hooks host or the configured Slack API
        host (``SLACK_API_URL``, for tests and proxies): it comes in the request body, and the
        bot must not be made to post its messages anywhere else.
        """
        if response_url and _origin(response_url) not in self._response_hosts:
            log.warning("ignoring a response_url that is not on Slack's hooks host")
            response_url = None
        if response_url:
            try:
                result = WebhookClient(response_url, timeout=10).send(
                    text=message.text,
                    blocks=message.blocks,
                    response_type="ephemeral",
                    replace_original=replace_original,
                )
            except (SlackRequestError, ValueError, OSError) as error:  # not a URL, unreachable, timed out
                log.warning("response_url failed (%s); falling back to a direct post", type(error).__name__)
            else:
                if result.status_code == 200:
                    return
                log.warning("response_url answered %s; falling back to a direct post", result.status_code)
        if channel_id and user_id and not channel_id.startswith("D"):
            try:
                self.client.chat_postEphemeral(
                    channel=channel_id, user=user_id, text=message.text, blocks=message.blocks
                )
                return
            except SlackApiError as error:  # e.g. the bot is not in that channel
                log.info("ephemeral post failed (%s); sending a DM instead", error.response.get("error"))
        if user_id:
            self.dm(user_id, message)

    def update_view(self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None) -> str | None:
        """``views.update``; the new hash, or None when the view is gone (closed by the user).

        Raises:
            ViewChanged: ``view_hash`` was given and the view changed since.
        """
        try:
            kwargs: dict[str, Any] = {"view_id": view_id, "view": view}
            if view_hash:
                kwargs["hash"] = view_hash
            response = self.client.views_update(**kwargs)
        except SlackApiError as error:
            code = error.response.get("error")
            if code == "hash_conflict":
                raise ViewChanged(view_id) from error
            if code in ("not_found", "view_not_found"):
                log.info("views.update of %s skipped: %s", view_id, code)
                return None
            raise
        new_view = response.get("view") or {}
        return str(new_view.get("hash")) if new_view.get("hash") else ""


def _origin(url: object) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL with a host; None for anything else."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # e.g. an unclosed IPv6 bracket, a port that is not a number
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)
