"""Fixed Slack identifiers (callback, block and action ids) and button-value packing.

The install modal's ids are part of the outside interface (INTERFACE.md): each input's
``action_id`` equals its ``block_id``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ACCOUNT",
    "API_KEY",
    "AUTHORISE",
    "CONNECTOR",
    "DESCRIPTION",
    "HOME_INSTALL",
    "INSTALL_CALLBACK",
    "NAME",
    "NEW_LINK",
    "NO_OPTION",
    "OPEN_LINK",
    "PASSWORD",
    "PROPERTY_PREFIX",
    "SEARCH_INSTALL",
    "SHORTCUT",
    "UNINSTALL",
    "USERNAME",
    "decode_value",
    "encode_value",
    "property_id",
    "slack_id",
]

# Views and shortcuts.
INSTALL_CALLBACK = "cyclr_install"  #: the install modal's callback_id
SHORTCUT = "cyclr_install"  #: the global shortcut's callback_id

# Install modal inputs: block_id == action_id.
CONNECTOR = "connector"  #: external_select of the catalogue (dispatch_action on)
ACCOUNT = "account"  #: external_select of the allowed accounts
NAME = "name"
DESCRIPTION = "description"
API_KEY = "api_key"
USERNAME = "username"
PASSWORD = "password"
PROPERTY_PREFIX = "prop:"  #: + a required property's TargetName

# Buttons.
SEARCH_INSTALL = "search_install"  #: value {"a": account_id, "c": connector_id}
HOME_INSTALL = "home_install"
AUTHORISE = "authorise"  #: value {"a": account_id, "ac": account_connector_id}
NEW_LINK = "new_link"  #: value chosen by the caller (a link ref or JSON)
OPEN_LINK = "open_link"  #: URL button; its action (value {"l": link id}) arms the bot's page
UNINSTALL = "uninstall"  #: value {"a": account_id, "ac": account_connector_id}

#: Value of the explanatory option returned while loading or when nothing matches.
NO_OPTION = "none"

_MAX_ID = 255


_SLACK_ID = re.compile(r"[A-Z0-9]{1,32}")


def slack_id(value: object) -> str:
    """A Slack id (team, user, channel) as sent, or ``""`` for anything not shaped like one."""
    return value if isinstance(value, str) and _SLACK_ID.fullmatch(value) else ""


def property_id(target_name: str) -> str | None:
    """``prop:<TargetName>``; None when the id would pass Slack's 255-char limit."""
    ident = PROPERTY_PREFIX + target_name
    return ident if target_name and len(ident) <= _MAX_ID else None


def encode_value(data: Mapping[str, Any]) -> str:
    """Compact JSON for a button value, e.g. ``{"a":"acc","ac":12}``."""
    return json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False)


def decode_value(value: str | None) -> dict[str, Any]:
    """The object packed by :func:`encode_value`; ``{}`` for anything else."""
    try:
        data = json.loads(value or "")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
