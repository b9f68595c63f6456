"""The install modal and the views that replace it (progress, outcome).

Input ids are fixed by INTERFACE.md (see :mod:`bot.slack.ids`): each input's ``block_id``
equals its ``action_id``. Labels, hints and placeholders are ``plain_text`` (no escaping);
every ``mrkdwn`` line escapes what users or Cyclr wrote.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from bot.cyclr.models import Account, AuthKind, Connector, ConnectorProperty
from bot.slack import ids
from bot.slack.blocks.common import (
    MAX_VIEW_BLOCKS,
    Block,
    clip,
    context,
    escape_clip,
    one_line,
    plain,
    section,
    version_label,
    view_blocks,
)
from bot.slack.blocks.options import MAX_OPTION_VALUE, MAX_OPTIONS, account_option, connector_option
from bot.store.records import InstallRecord, InstallState

__all__ = [
    "AUTH_NOTES",
    "MODAL_TITLE",
    "install_modal",
    "install_outcome_view",
    "install_progress_view",
]

MODAL_TITLE = "Install a connector"
MAX_TITLE = 24
MAX_METADATA = 3000
MAX_LABEL = 2000
MAX_INITIAL_VALUE = 3000
PROPERTY_LABEL = 150  #: how much of a property's name makes its label
PROPERTY_HINT = 500  #: how much of its description makes its hint
PROPERTY_BYTES = 150_000  #: JSON budget for property inputs; a view is refused past 250 kB
_NAME = 80  # how much of a name goes into a sentence

#: What the modal says instead of auth inputs, per auth kind.
AUTH_NOTES: dict[AuthKind, str] = {
    AuthKind.OAUTH: ":key: You will get a sign-in link by direct message after the install.",
    AuthKind.NONE: "This connector needs no authentication.",
    AuthKind.UNKNOWN: (
        "Finish authentication in Cyclr after the install "
        "(this connector's auth type is not supported in Slack)."
    ),
}


def _modal(*, title: str, blocks: list[Block], metadata: str = "", submit: str | None = None,
           close: str = "Close", sandbox: bool = False) -> dict[str, Any]:
    if len(metadata) > MAX_METADATA:
        raise ValueError(f"private_metadata is {len(metadata)} characters; the limit is {MAX_METADATA}")
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": ids.INSTALL_CALLBACK,
        "title": plain(title, MAX_TITLE),
        "close": plain(close, MAX_TITLE),
        "blocks": view_blocks(blocks, sandbox=sandbox),
    }
    if submit:
        view["submit"] = plain(submit, MAX_TITLE)
    if metadata:
        view["private_metadata"] = metadata
    return view


def _input(
    block_id: str,
    label: str,
    element: Block,
    *,
    hint: str | None = None,
    optional: bool = False,
    dispatch_action: bool = False,
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, MAX_LABEL),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, MAX_LABEL)
    if dispatch_action:
        block["dispatch_action"] = True
    return block


def _text_input(action_id: str, *, placeholder: str | None = None, initial: str | None = None,
                multiline: bool = False) -> Block:
    el: Block = {"type": "plain_text_input", "action_id": action_id}
    if placeholder:
        el["placeholder"] = plain(placeholder, 150)
    if initial:
        el["initial_value"] = clip(initial, MAX_INITIAL_VALUE)
    if multiline:
        el["multiline"] = True
    return el


def _connector_input(connector: Connector | None) -> Block:
    el: Block = {
        "type": "external_select",
        "action_id": ids.CONNECTOR,
        "placeholder": plain("Type to search the catalogue"),
        "min_query_length": 0,
    }
    if connector is not None:
        el["initial_option"] = connector_option(connector)
    return _input(ids.CONNECTOR, "Connector", el, dispatch_action=True)


def _account_input(account: Account | None) -> Block:
    el: Block = {
        "type": "external_select",
        "action_id": ids.ACCOUNT,
        "placeholder": plain("Choose the Cyclr account"),
        "min_query_length": 0,
    }
    if account is not None:
        with contextlib.suppress(ValueError):  # an id too long for an option: the user picks
            el["initial_option"] = account_option(account)
    return _input(ids.ACCOUNT, "Account", el)


def _auth_blocks(connector: Connector | None) -> list[Block]:
    if connector is None:
        return [context("Pick a connector to see what it needs for authentication.")]
    kind = connector.auth_kind
    if kind is AuthKind.API_KEY:
        return [_input(ids.API_KEY, "API key", _text_input(ids.API_KEY, placeholder="Paste the API key"),
                       hint="Sent to Cyclr only; this bot never stores or shows it.")]
    if kind is AuthKind.BASIC:
        return [
            _input(ids.USERNAME, "Username", _text_input(ids.USERNAME)),
            _input(ids.PASSWORD, "Password", _text_input(ids.PASSWORD),
                   hint="Slack shows what you type. It is sent to Cyclr only; this bot never stores it."),
        ]
    return [context(AUTH_NOTES[kind])]


def _property_element(prop: ConnectorProperty, action_id: str) -> Block:
    values = list(dict.fromkeys(v for v in prop.values if v))
    if values and len(values) <= MAX_OPTIONS and all(len(v) <= MAX_OPTION_VALUE for v in values):
        return {
            "type": "static_select",
            "action_id": action_id,
            "placeholder": plain("Choose a value"),
            "options": [{"text": plain(one_line(v, v), 75), "value": v} for v in values],
        }
    return _text_input(action_id)


def _property_hint(prop: ConnectorProperty) -> str | None:
    parts = [one_line(prop.description)] if prop.description else []
    if prop.is_sensitive:
        parts.append("Sensitive: stored in Cyclr only, never by this bot.")
    return clip(" ".join(parts), PROPERTY_HINT) if parts else None


def _property_blocks(connector: Connector | None, room: int) -> list[Block]:
    """Inputs for the required properties, within ``room`` blocks; the rest named in a note."""
    if connector is None:
        return []
    chosen: list[tuple[str, ConnectorProperty]] = []
    left_out: list[ConnectorProperty] = []
    seen: set[str] = set()
    for prop in connector.required_properties:
        ident = ids.property_id(prop.target_name)
        if ident is None or ident in seen:
            left_out.append(prop)
        else:
            seen.add(ident)
            chosen.append((ident, prop))
    blocks: list[Block] = []
    size = 0
    for n, (ident, prop) in enumerate(chosen):
        block = _input(ident, clip(one_line(prop.name, prop.target_name), PROPERTY_LABEL),
                       _property_element(prop, ident), hint=_property_hint(prop))
        size += len(json.dumps(block, ensure_ascii=False).encode())
        last = n == len(chosen) - 1
        if size > PROPERTY_BYTES or len(blocks) + (1 if left_out or not last else 0) >= room:
            left_out.extend(p for _, p in chosen[n:])
            break
        blocks.append(block)
    if left_out and room > len(blocks):
        names = ", ".join(one_line(p.name or p.target_name, "?") for p in left_out)
        note = f"Set these required properties in Cyclr after the install: {names}"
        blocks.append(context(escape_clip(note, 2000)))
    return blocks


def install_modal(
    *,
    metadata: str,
    connector: Connector | None = None,
    account: Account | None = None,
    show_account: bool = False,
    name: str | None = None,
    notice: str | None = None,
    sandbox: bool = False,
) -> dict[str, Any]:
    """The install view: connector picker, account picker (when ``show_account``), name,
    description, then the auth inputs and required properties of ``connector``.

    ``notice`` is plain words shown on a context line (escaped here). ``metadata`` goes
    into ``private_metadata`` as is; over 3000 characters raises ValueError.
    """
    blocks: list[Block] = []
    if notice:
        blocks.append(context(escape_clip(one_line(notice), 2000), block_id="notice"))
    blocks.append(_connector_input(connector))
    if show_account:
        blocks.append(_account_input(account))
    elif account is not None:
        blocks.append(context(f"Account: *{escape_clip(one_line(account.name, account.id), 200)}*"))
    initial_name = name if name is not None else (connector.name if connector else None)
    blocks.append(_input(ids.NAME, "Name", _text_input(ids.NAME, initial=initial_name,
                                                       placeholder="The name it gets in the account")))
    blocks.append(_input(ids.DESCRIPTION, "Description",
                         _text_input(ids.DESCRIPTION, multiline=True), optional=True))
    blocks.extend(_auth_blocks(connector))
    room = MAX_VIEW_BLOCKS - len(blocks) - (1 if sandbox else 0)
    blocks.extend(_property_blocks(connector, room))
    return _modal(title=MODAL_TITLE, blocks=blocks, metadata=metadata, submit="Install", close="Cancel",
                  sandbox=sandbox)


def install_progress_view(*, connector_name: str, account_name: str, sandbox: bool = False) -> dict[str, Any]:
    """The modal while Cyclr works: no submit button, only *Close*."""
    connector = escape_clip(one_line(connector_name, "the connector"), _NAME)
    account = escape_clip(one_line(account_name, "the account"), _NAME)
    blocks = [
        section(f":hourglass_flowing_sand: Installing *{connector}* into *{account}*…"),
        context("You can close this window: I will send you the outcome by direct message."),
    ]
    return _modal(title=MODAL_TITLE, blocks=blocks, sandbox=sandbox)


def _next_step(record: InstallRecord) -> str:
    kind = record.auth_kind
    if record.state is InstallState.AUTHENTICATED:
        return "It is authenticated and ready to use in your integrations."
    if kind is AuthKind.OAUTH:
        return ":key: Next: check your DMs for the sign-in link to authorise it."
    if kind is AuthKind.UNKNOWN:
        return "Next: finish its authentication in Cyclr (this auth type is not supported in Slack)."
    if kind is AuthKind.NONE:
        return "It needs no authentication and is ready to use."
    return ("Cyclr did not confirm the credentials yet. Check them in Cyclr, "
            "or uninstall it and install again with the right ones.")


def install_outcome_view(
    record: InstallRecord,
    *,
    account_name: str,
    sandbox: bool = False,
    detail: str | None = None,
    duplicate_name: bool = False,
) -> dict[str, Any]:
    """The modal after Cyclr answered: what was installed and what next, or why it failed."""
    connector = escape_clip(one_line(record.connector_name, "the connector"), _NAME)
    version = version_label(record.connector_version)
    label = f"*{connector}*" + (f" {escape_clip(version, 30)}" if version else "")
    account = f"*{escape_clip(one_line(account_name, record.account_id), _NAME)}*"
    installed_as = escape_clip(one_line(record.name, record.connector_name), _NAME)
    blocks: list[Block]
    if record.state in (InstallState.INSTALLED, InstallState.AUTHENTICATED):
        title = "Connector installed"
        blocks = [section(f":white_check_mark: Installed {label} into {account} as *{installed_as}*."),
                  section(_next_step(record))]
    elif record.state is InstallState.PENDING:
        title = MODAL_TITLE
        blocks = [section(f":hourglass_flowing_sand: Still installing {label} into {account}…"),
                  context("I will send you the outcome by direct message.")]
    elif record.state is InstallState.UNINSTALLED:
        title = "Connector uninstalled"
        blocks = [section(f":wastebasket: {label} was installed into {account}, then uninstalled.")]
    else:
        title = "Install failed"
        reason = escape_clip(one_line(record.reason, "Cyclr did not say why."), 1500)
        if duplicate_name:
            todo = (f"The name *{installed_as}* is already used in {account}. "
                    "Choose another name and try again with `/cyclr install`.")
        else:
            todo = ("Check the details and try again with `/cyclr install`. "
                    f"If it keeps failing, give your admin the reference `install-{record.id}`.")
        blocks = [section(f":x: Could not install {label} into {account}.\n{reason}"), section(todo)]
    if detail:
        blocks.append(context(escape_clip(one_line(detail), 2000)))
    return _modal(title=title, blocks=blocks, sandbox=sandbox)
