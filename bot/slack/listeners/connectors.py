"""Installed connectors: authorisation links, ``/cyclr auth``, ``/cyclr uninstall``.

Who may do each is decided before these run, by the access middleware.

Links are minted only when a person asks (a click on *Authorise* or *Get a new link*, or
``/cyclr auth``) and only ever go to that person's DM, replacing the old link in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.cyclr.errors import CyclrError, CyclrNotFound
from bot.cyclr.models import AccountConnector, AuthKind
from bot.slack import blocks
from bot.slack.ids import AUTHORISE, NEW_LINK, OPEN_LINK, UNINSTALL, decode_value, slack_id
from bot.slack.listeners.background import Surface

__all__ = ["ConnectorActions", "register"]

log = logging.getLogger(__name__)


class ConnectorActions(Surface):
    """Authorise and uninstall installed connectors."""

    # -- links -----------------------------------------------------------------------------------

    def send_link(
        self,
        *,
        team_id: str,
        user_id: str,
        account_id: str,
        account_connector_id: int,
        connector_name: str | None = None,
        replace: tuple[str, str] | None = None,
    ) -> bool:
        """Put a fresh link in ``user_id``'s DM (in place of the message ``replace``).

        With a public URL the link is the bot's page (nothing minted yet); without one a
        sign-in token is minted now, since the person just asked for it. Without
        ``connector_name`` the connector is looked up first, and when it is already
        authenticated no link is made (it could mint nothing): the message ``replace`` says
        so instead, and the result is False.
        """
        links = self.services.links
        account_name = self.services.accounts.name_of(account_id)
        if connector_name is None:
            current = self.services.cyclr.get_account_connector(account_id, account_connector_id)
            if current.authenticated:
                if replace:
                    done = blocks.authorised_message(
                        connector_name=current.name, account_name=account_name, sandbox=self.sandbox
                    )
                    self.messenger.update(replace[0], replace[1], done)
                return False
            connector_name = current.name
        channel = replace[0] if replace else self.messenger.dm_channel(user_id)
        if replace:
            links.replace_links_in(*replace)
        link = links.create_ref(
            team_id=team_id,
            user_id=user_id,
            account_id=account_id,
            account_connector_id=account_connector_id,
            connector_name=connector_name,
        )
        new_link_value = self.messenger.link_value(user_id, account_id, account_connector_id)
        if links.public:
            message = blocks.authorise_page_link_message(
                connector_name=connector_name,
                account_name=account_name,
                page_url=links.page_url(link),
                link_id=link.id,
                expires_at=link.expires_at,
                new_link_value=new_link_value,
                sandbox=self.sandbox,
            )
        else:
            signin = links.mint(
                account_id=account_id,
                account_connector_id=account_connector_id,
                team_id=team_id,
                user_id=user_id,
                target_origin=links.slack_return_url(team_id=team_id, channel_id=channel),
            )
            message = blocks.authorise_link_message(
                connector_name=connector_name,
                account_name=account_name,
                url=signin.url,
                expires_at=signin.expires_at,
                new_link_value=new_link_value,
                sandbox=self.sandbox,
            )
        if replace:
            self.messenger.update(replace[0], replace[1], message)
            channel, ts = replace
        else:
            channel, ts = self.messenger.dm(user_id, message)
        links.attach_message(link, dm_channel=channel, dm_ts=ts)
        return True

    def _button_target(self, action: dict[str, Any]) -> tuple[str, int] | None:
        """(account_id, account_connector_id) from a button's value, if it names a real account."""
        value = decode_value(action.get("value"))
        account_id, ac_id = value.get("a"), value.get("ac")
        if (
            not isinstance(ac_id, int)
            or isinstance(ac_id, bool)
            or not self.services.accounts.is_known(account_id)
        ):
            return None
        return str(account_id), ac_id

    def authorise_clicked(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        team_id = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
        user_id = str((body.get("user") or {}).get("id") or "")
        target = self._button_target(action)
        if target is None:
            self._reply(
                body.get("response_url"),
                user_id,
                None,
                "That button is out of date. Use `/cyclr auth <connector>` for a fresh link.",
            )
            return
        account_id, ac_id = target
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        # A DM message of the bot's is updated in place. An ephemeral one (say, `/cyclr list`
        # run in the DM) cannot be updated with chat.update: the link goes in a new DM.
        replace = (
            (channel, ts)
            if isinstance(channel, str)
            and channel.startswith("D")
            and isinstance(ts, str)
            and container.get("is_ephemeral") is not True
            else None
        )
        in_dm = replace is not None
        try:
            sent = self.send_link(
                team_id=team_id,
                user_id=user_id,
                account_id=account_id,
                account_connector_id=ac_id,
                replace=replace,
            )
        except CyclrNotFound:
            self._reply(
                body.get("response_url"),
                user_id,
                None,
                f"That connector is no longer installed in {self.services.accounts.name_of(account_id)}."
                " See `/cyclr list`.",
            )
            return
        if not in_dm:
            text = (
                "I sent you a fresh sign-in link by direct message."
                if sent
                else "That connector is already authorised: there is nothing to sign in to."
            )
            self.messenger.respond(
                body.get("response_url"),
                blocks.notice_message(text, sandbox=self.sandbox),
                user_id=user_id,
                channel_id=channel if isinstance(channel, str) else None,
            )

    def link_opened(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A click on a link to the bot's page: if the clicking user owns the link, its page
        may mint once, shortly (see :meth:`LinkService.arm`). Slack signs the click, so this
        is the proof that the link's owner, not whoever else saw the URL, is at the page."""
        link_id = decode_value(action.get("value")).get("l")
        team_id = slack_id((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id"))
        user_id = slack_id((body.get("user") or {}).get("id"))
        if not isinstance(link_id, int) or isinstance(link_id, bool) or not 0 < link_id < 2**31:
            return  # not a value the bot wrote (the Cyclr URL button of a link without a page has none)
        if team_id and user_id:
            self.services.links.arm(link_id, team_id=team_id, user_id=user_id)

    def auth_command(
        self,
        team_id: str,
        user_id: str,
        account_id: str,
        query: str,
        response_url: str | None,
        channel_id: str | None,
    ) -> None:
        found = self._find_one(account_id, query, response_url, user_id, channel_id)
        if found is None:
            return
        if found.authenticated:
            account_name = self.services.accounts.name_of(account_id)
            self._reply(
                response_url, user_id, channel_id, f"{found.name} is already authorised in {account_name}."
            )
            return
        if found.auth_kind is not AuthKind.OAUTH:
            kind = found.auth_kind.label
            self._reply(
                response_url,
                user_id,
                channel_id,
                f"{found.name} does not use a sign-in link ({kind}). Update its credentials in Cyclr.",
            )
            return
        self.send_link(
            team_id=team_id,
            user_id=user_id,
            account_id=account_id,
            account_connector_id=found.id,
            connector_name=found.name,
        )
        self._reply(
            response_url,
            user_id,
            channel_id,
            f"I sent you a fresh sign-in link for {found.name} by direct message.",
        )

    # -- uninstall -------------------------------------------------------------------------------

    def uninstall_command(
        self, account_id: str, query: str, response_url: str | None, user_id: str, channel_id: str | None
    ) -> None:
        found = self._find_one(account_id, query, response_url, user_id, channel_id)
        if found is None:
            return
        message = blocks.uninstall_confirm_message(
            found,
            account_id=account_id,
            account_name=self.services.accounts.name_of(account_id),
            sandbox=self.sandbox,
        )
        self.messenger.respond(
            response_url, message, user_id=user_id, channel_id=channel_id, replace_original=True
        )

    def uninstall_clicked(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        user_id = str((body.get("user") or {}).get("id") or "")
        team_id = str((body.get("team") or {}).get("id") or "")
        response_url = body.get("response_url")
        target = self._button_target(action)
        if target is None:
            self._reply(
                response_url, user_id, None, "That button is out of date. Run `/cyclr uninstall` again."
            )
            return
        account_id, ac_id = target
        try:
            current = self.services.cyclr.get_account_connector(account_id, ac_id)
        except CyclrNotFound:
            self._reply(response_url, user_id, None, "That connector is already uninstalled.")
            return
        record = self.services.installs.uninstall(
            account_id,
            ac_id,
            team_id=team_id,
            user_id=user_id,
            name=current.name,
            connector=current.connector,
        )
        self._reply(
            response_url,
            user_id,
            None,
            f"Uninstalled {record.name} from {self.services.accounts.name_of(account_id)}.",
            replace_original=True,
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _find_one(
        self, account_id: str, query: str, response_url: str | None, user_id: str, channel_id: str | None
    ) -> AccountConnector | None:
        try:
            found = self.services.installs.find_installed(account_id, query)
        except CyclrError as error:
            self._reply(response_url, user_id, channel_id, f"Cyclr did not answer: {error.user_message}")
            return None
        account_name = self.services.accounts.name_of(account_id)
        if not found:
            self._reply(
                response_url,
                user_id,
                channel_id,
                f"No installed connector in {account_name} matches “{query}”. See `/cyclr list`.",
            )
            return None
        if len(found) > 1:
            names = ", ".join(f"{c.name} (id {c.id})" for c in found[:10])
            self._reply(
                response_url,
                user_id,
                channel_id,
                f"“{query}” matches several installed connectors: {names}. Use the exact name or the id.",
            )
            return None
        return found[0]

    def _reply(
        self,
        response_url: str | None,
        user_id: str,
        channel_id: str | None,
        text: str,
        *,
        replace_original: bool = True,
    ) -> None:
        self.messenger.respond(
            response_url,
            blocks.notice_message(text, sandbox=self.sandbox),
            user_id=user_id,
            channel_id=channel_id,
            replace_original=replace_original,
        )


def register(app: App, actions: ConnectorActions) -> None:
    def background(name: str, body: dict[str, Any], fn: Callable[[], None]) -> None:
        user = body.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        actions.later(name, fn, response_url=body.get("response_url"), user_id=user_id)

    @app.action(AUTHORISE)
    def authorise(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        background("authorise", body, lambda: actions.authorise_clicked(body, action))
        ack()

    @app.action(NEW_LINK)
    def new_link(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        background("new-link", body, lambda: actions.authorise_clicked(body, action))
        ack()

    @app.action(OPEN_LINK)
    def open_link(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        # A URL button: Slack opens the browser itself. Armed before the ack, so that the
        # page's POST, which follows the person's press of Continue, finds it armed.
        actions.link_opened(body, action)
        ack()

    @app.action(UNINSTALL)
    def uninstall(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        background("uninstall", body, lambda: actions.uninstall_clicked(body, action))
        ack()
