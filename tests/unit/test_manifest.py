"""manifest.yml is valid YAML and matches what the code registers and calls."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.slack.ids import SHORTCUT

ROOT = Path(__file__).resolve().parents[2]


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return data


def source() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py"))


def test_commands_shortcut_and_events_match_the_code() -> None:
    m = manifest()
    commands = [c["command"] for c in m["features"]["slash_commands"]]
    assert commands == ["/cyclr"]
    assert '@app.command("/cyclr")' in source()
    command = m["features"]["slash_commands"][0]
    assert len(command["usage_hint"]) <= 1000 and command["should_escape"] is True
    shortcuts = m["features"]["shortcuts"]
    assert [(s["type"], s["callback_id"]) for s in shortcuts] == [("global", SHORTCUT)]
    assert m["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert '@app.event("app_home_opened")' in source()
    assert m["features"]["app_home"]["home_tab_enabled"] is True
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["interactivity"]["message_menu_options_url"].endswith("/slack/events")
    assert m["settings"]["socket_mode_enabled"] is True
    assert len(m["display_information"]["name"]) <= 35
    assert 174 <= len(m["display_information"]["long_description"]) <= 4000


# Web API method → the bot scope it needs.
SCOPE_FOR = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "conversations_open": "im:write",
    "users_info": "users:read",
    "usergroups_users_list": "usergroups:read",
}


def test_scopes_are_exactly_those_the_code_uses() -> None:
    code = source()
    used = {name for name in SCOPE_FOR if re.search(rf"\.{name}\(", code)}
    needed = {SCOPE_FOR[name] for name in used} | {"commands"}
    assert set(manifest()["oauth_config"]["scopes"]["bot"]) == needed
    assert "user" not in manifest()["oauth_config"]["scopes"]
    # Every Web API method the code calls is one INTERFACE.md allows.
    allowed = {
        "auth_test",
        "chat_postMessage",
        "chat_postEphemeral",
        "chat_update",
        "conversations_open",
        "views_open",
        "views_update",
        "views_publish",
        "users_info",
        "usergroups_users_list",
    }
    families = "chat|conversations|views|users|usergroups|auth|apps|team|reactions|files|pins|dnd|bots"
    called = set(re.findall(rf"client\.((?:{families})_\w+)\(", code))
    assert {"chat_postMessage", "views_open", "views_publish"} <= called
    assert called <= allowed, called - allowed
