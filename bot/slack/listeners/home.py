"""App Home: the default account, recent installs and an *Install a connector* button."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.services.container import Services
from bot.slack import blocks

__all__ = ["register"]


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event.get("user")
        if not isinstance(user_id, str) or not user_id:
            return  # nothing to publish to
        team_id = str(body.get("team_id") or "")
        account_id = services.accounts.default_account_id
        view = blocks.app_home(
            default_account_name=services.accounts.name_of(account_id),
            default_account_id=account_id,
            recent=services.store.recent_installs(team_id, limit=10),
            sandbox=services.sandbox,
        )
        client.views_publish(user_id=user_id, view=view)
