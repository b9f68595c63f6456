"""App Home: what each person may see. Installers and admins get the default account, the
recent installs into the accounts they may use and an *Install a connector* button; anyone
else (guests, other organisations' users, people not on the installers list) a short card
without accounts, installs or people."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.after_ack import JobRejected
from bot.services.access import Role
from bot.services.container import Services
from bot.slack import blocks
from bot.slack.middleware import ACCESS, Access, Refusal

__all__ = ["HOME_RECENT", "home_view", "register"]

log = logging.getLogger(__name__)

HOME_RECENT = 10  #: installs shown; `/cyclr history` shows more


def home_view(services: Services, access: Access | None, user_id: str) -> dict[str, Any]:
    """The Home view for ``user_id``, from the request's access (none or another user's: the
    short card)."""
    if access is None or access.user_id != user_id:
        return blocks.app_home_help(reason="I could not tell who you are.", sandbox=services.sandbox)
    user = access.standing()
    if isinstance(user, Refusal) or user.role is Role.NONE:
        return blocks.app_home_help(reason=user.reason, sandbox=services.sandbox)
    grant = access.grant()  # outside a channel: the default account, unless all are allowed
    recent = services.store.recent_installs(
        access.team_id, limit=HOME_RECENT, account_ids=None if grant.every else grant.accounts
    )
    changes = services.store.recent_cycle_events(
        access.team_id, limit=HOME_RECENT, account_ids=None if grant.every else grant.accounts
    )
    account_id = services.accounts.default_account_id
    accounts = {r.account_id for r in recent} | {e.account_id for e in changes}
    return blocks.app_home(
        default_account_name=services.accounts.name_of(account_id),
        default_account_id=account_id,
        recent=recent,
        account_names={a: services.accounts.name_of(a) for a in accounts},
        cycle_events=changes,
        sandbox=services.sandbox,
    )


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event.get("user")
        if not isinstance(user_id, str) or not user_id:
            return  # nothing to publish to
        access = context.get(ACCESS)

        def publish() -> None:
            client.views_publish(user_id=user_id, view=home_view(services, access, user_id))

        # After the ack: a slow store or Slack's 429 on views.publish (its client waits out
        # Retry-After) must not hold the event's ack.
        try:
            services.after_ack.submit("app-home", publish)
        except JobRejected:
            log.warning("after-ack pool full: App Home not published for %s", user_id)
