"""Direct messages to the requester: the install outcome and the OAuth sign-in links.

A sign-in URL only ever goes into a URL button, never into text (the fallback included).
"""

from __future__ import annotations

from datetime import datetime

from bot.cyclr.models import AuthKind
from bot.slack import ids
from bot.slack.blocks.common import (
    Block,
    Message,
    actions,
    button,
    context,
    escape_clip,
    message,
    one_line,
    section,
    slack_date,
    version_label,
)
from bot.store.records import InstallRecord, InstallState

__all__ = [
    "authorise_link_message",
    "authorise_page_link_message",
    "authorised_message",
    "install_dm",
    "link_expired_message",
]

_NAME = 80
LINK_BLOCK_ID = "signin_link"


def _name(text: str | None, fallback: str) -> str:
    return escape_clip(one_line(text, fallback), _NAME)


def _authorise_button(connector_name: str, value: str) -> Block:
    label = f"Authorise {one_line(connector_name, 'connector')}"
    return button(label, ids.AUTHORISE, value=value, style="primary")


def install_dm(
    record: InstallRecord,
    *,
    account_name: str,
    sandbox: bool = False,
    page_url: str | None = None,
    page_link_id: int | None = None,
    page_expires_at: datetime | None = None,
    button_value: str | None = None,
) -> Message:
    """The requester's DM about one install, updated in place as the install moves on.

    For an OAuth connector waiting for authorisation, ``page_url`` (the bot's own sign-in
    page, link ``page_link_id``) replaces the *Authorise* action button with a URL button
    and *Get a new link*. ``button_value`` is those buttons' value (the messenger seals it for
    the requester); by default the plain account and account connector.
    """
    connector = _name(record.connector_name, "the connector")
    version = version_label(record.connector_version)
    label = f"*{connector}*" + (f" {escape_clip(version, 30)}" if version else "")
    account = f"*{_name(account_name, record.account_id)}*"
    as_name = _name(record.name, record.connector_name)
    done = f":white_check_mark: {label} is installed in {account} as *{as_name}*"
    blocks: list[Block]
    if record.state is InstallState.PENDING:
        text = f":hourglass_flowing_sand: Installing {label} into {account}…"
        blocks = [section(text)]
    elif record.state is InstallState.FAILED:
        reason = escape_clip(one_line(record.reason, "Cyclr did not say why."), 1500)
        text = f":x: Could not install {label} into {account}: {reason}"
        blocks = [section(text), context("Fix what it says and try again with `/cyclr install`.")]
    elif record.state is InstallState.UNINSTALLED:
        text = f":wastebasket: {label} (*{as_name}*) was uninstalled from {account}."
        blocks = [section(text)]
    elif record.state is InstallState.AUTHENTICATED:
        state = "authorised" if record.auth_kind is AuthKind.OAUTH else "authenticated"
        text = f"{done}, {state} and ready."
        blocks = [section(text)]
    elif record.auth_kind is AuthKind.OAUTH:
        text = f":key: {label} is installed in {account} as *{as_name}*. Sign in to authorise it."
        blocks = [section(text)]
        value = button_value or ids.encode_value({"a": record.account_id, "ac": record.account_connector_id})
        if record.account_connector_id is not None and page_url and page_link_id is not None:
            label = f"Authorise {one_line(record.connector_name, 'connector')}"
            open_button = _page_button(label, page_url, page_link_id)
            new_button = button("Get a new link", ids.NEW_LINK, value=value)
            blocks.append(actions(open_button, new_button, block_id=LINK_BLOCK_ID))
            blocks.append(context(_page_note(page_expires_at)))
        elif record.account_connector_id is not None:
            blocks.append(actions(_authorise_button(record.connector_name, value)))
            blocks.append(context("A one-time sign-in link is minted when you click; it is valid for about "
                                  "5 minutes."))
        else:
            blocks.append(context("Use `/cyclr list` to get the *Authorise* button."))
    elif record.auth_kind is AuthKind.NONE:
        text = f"{done}; no authentication needed."
        blocks = [section(text)]
    elif record.auth_kind is AuthKind.UNKNOWN:
        text = f"{done}."
        note = "Finish its authentication in Cyclr: this auth type is not supported in Slack."
        blocks = [section(text), context(note)]
    else:
        text = (f":warning: {label} is installed in {account} as *{as_name}*, "
                "but Cyclr did not confirm the credentials.")
        blocks = [section(text), context("Check them in Cyclr, or uninstall it and install it again.")]
    return message(text, blocks, sandbox=sandbox)


def _page_button(label: str, page_url: str, link_id: int) -> Block:
    """A URL button to the bot's page. Its click also reaches the bot (a signed ``block_actions``
    naming the link), and that is what lets the page mint once, if the clicker owns the link."""
    value = ids.encode_value({"l": link_id})
    return button(label, ids.OPEN_LINK, url=page_url, value=value, style="primary")


def _page_note(expires_at: datetime | None) -> str:
    until = f" until {slack_date(expires_at)}" if expires_at else ""
    return (f"The link works{until}, only for you and only right after you press the button here: "
            "each press allows one fresh one-time Cyclr sign-in.")


def _link_message(*, lead: str, open_button: Block, expiry: str, new_link_value: str,
                  sandbox: bool) -> Message:
    new_button = button("Get a new link", ids.NEW_LINK, value=new_link_value)
    blocks = [section(lead), actions(open_button, new_button, block_id=LINK_BLOCK_ID), context(expiry)]
    return message(lead, blocks, sandbox=sandbox)


def _sign_in_lead(connector_name: str, account_name: str) -> str:
    return (f":key: Sign in to authorise *{_name(connector_name, 'the connector')}* "
            f"in *{_name(account_name, 'the account')}*.")


def authorise_link_message(
    *,
    connector_name: str,
    account_name: str,
    url: str,
    expires_at: datetime,
    new_link_value: str,
    sandbox: bool = False,
) -> Message:
    """A one-time Cyclr sign-in link (about 5 minutes) as a button, with *Get a new link*."""
    lead = _sign_in_lead(connector_name, account_name)
    expiry = (f"Link expires at {slack_date(expires_at, '{time}', with_date=False)}. "
              "It works once; press *Get a new link* for another.")
    open_button = button("Open Cyclr sign-in", ids.OPEN_LINK, url=url, style="primary")
    return _link_message(lead=lead, open_button=open_button, expiry=expiry,
                         new_link_value=new_link_value, sandbox=sandbox)


def authorise_page_link_message(
    *,
    connector_name: str,
    account_name: str,
    page_url: str,
    link_id: int,
    expires_at: datetime,
    new_link_value: str,
    sandbox: bool = False,
) -> Message:
    """A link to the bot's own sign-in page, which mints a fresh Cyclr link after each press."""
    lead = _sign_in_lead(connector_name, account_name)
    open_button = _page_button("Open Cyclr sign-in", page_url, link_id)
    return _link_message(lead=lead, open_button=open_button, expiry=_page_note(expires_at),
                         new_link_value=new_link_value, sandbox=sandbox)


def authorised_message(*, connector_name: str, account_name: str, sandbox: bool = False) -> Message:
    """What replaces the link once the connector is authenticated."""
    text = (f":white_check_mark: *{_name(connector_name, 'The connector')}* is authorised in "
            f"*{_name(account_name, 'the account')}*.")
    return message(text, [section(text)], sandbox=sandbox)


def link_expired_message(*, connector_name: str, account_name: str, new_link_value: str,
                         sandbox: bool = False) -> Message:
    """What replaces a link that expired or was used: offers *Get a new link*."""
    text = (f":hourglass: The sign-in link for *{_name(connector_name, 'the connector')}* in "
            f"*{_name(account_name, 'the account')}* has expired or was used.")
    blocks = [section(text),
              actions(button("Get a new link", ids.NEW_LINK, value=new_link_value, style="primary"),
                      block_id=LINK_BLOCK_ID)]
    return message(text, blocks, sandbox=sandbox)
