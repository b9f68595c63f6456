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
    "ALERT_DETAILS",
    "ALERT_DETAILS_CALLBACK",
    "ALERT_PAUSE",
    "ACTIVATE_CALLBACK",
    "CREDENTIALS_CALLBACK",
    "CYCLES_PAGE",
    "DEPLOY_AUTHORISE",
    "DEPLOY_CALLBACK",
    "DEPLOY_CREDENTIALS",
    "HOME_DEPLOY",
    "TEMPLATE",
    "TEMPLATE_DEPLOY",
    "CYCLE_ACTIVATE",
    "CYCLE_PAUSE",
    "CYCLE_RESUME",
    "INTERVAL",
    "RUN_ONCE",
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
ACTIVATE_CALLBACK = "cyclr_activate"  #: the activate modal's callback_id
DEPLOY_CALLBACK = "cyclr_deploy"  #: the deploy modal's callback_id
CREDENTIALS_CALLBACK = "cyclr_credentials"  #: the credentials modal (Enter key / Enter login)

# Deploy modal inputs: block_id == action_id (its account input is ACCOUNT).
TEMPLATE = "template"  #: external_select of the template library

# Activate modal inputs: block_id == action_id.
INTERVAL = "interval"  #: static_select; option values are minutes (CYCLE_INTERVALS)
RUN_ONCE = "run_once"  #: static_select: keep running, or run once then pause

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
CYCLES_PAGE = "cycles_page"  #: value {"a": account_id, "p": page}
CYCLE_ACTIVATE = "cycle_activate"  #: value {"a": account_id, "cy": cycle_id, "n": name, "p": page}
CYCLE_PAUSE = "cycle_pause"  #: value {"a": account_id, "cy": cycle_id, "p": page}
CYCLE_RESUME = "cycle_resume"  #: value {"a": account_id, "cy": cycle_id, "p": page}
ALERT_PAUSE = "alert_pause"  #: *Pause cycle* on an alert; value {"a": account_id, "cy": cycle_id}
ALERT_DETAILS = "alert_details"  #: *Details* on an alert; value {"a": account_id, "e": event id}
ALERT_DETAILS_CALLBACK = "cyclr_alert_details"  #: the details modal (no inputs)
TEMPLATE_DEPLOY = "template_deploy"  #: value {"a": account_id, "t": template_id}
HOME_DEPLOY = "home_deploy"
#: A deploy checklist's buttons, sealed for the requester: {"a", "ac", "d": deploy id, ...}.
DEPLOY_AUTHORISE = "deploy_authorise"
DEPLOY_CREDENTIALS = "deploy_credentials"  #: value adds "k": "key" or "login"

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
