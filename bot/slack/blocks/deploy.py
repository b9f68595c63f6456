"""Templates to running cycles: the ``/cyclr templates`` answer, the deploy and credentials
modals, the requester's checklist DM and the team's line about a deploy."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.cyclr.models import Account, AuthKind, Template, interval_label
from bot.slack import ids
from bot.slack.blocks.common import (
    Block,
    Message,
    actions,
    button,
    context,
    escape,
    escape_clip,
    first_sentence,
    mention,
    message,
    one_line,
    plain,
    section,
    view_blocks,
)
from bot.slack.blocks.options import account_option
from bot.store.records import CycleEvent, CycleEventState, Deploy, DeployState

__all__ = [
    "ChecklistItem",
    "ItemState",
    "credentials_modal",
    "deploy_checklist",
    "deploy_modal",
    "deploy_notification",
    "deploy_outcome_view",
    "deploy_progress_view",
    "template_option",
    "templates_list",
]

MAX_TEMPLATES = 10
_NAME = 120
_TITLE = "Deploy a template"


def _template_name(template: Template) -> str:
    return escape_clip(one_line(template.name, template.id), _NAME)


def _uses(template: Template) -> str:
    names = list(dict.fromkeys(template.connector_names))
    return ", ".join(names) if names else "no connectors"


def templates_list(
    query: str,
    templates: Sequence[Template],
    *,
    account_id: str,
    account_name: str,
    sandbox: bool = False,
) -> Message:
    """The best-matching templates (at most 10), each with what it uses and *Deploy*."""
    account = escape_clip(one_line(account_name, account_id), 100)
    words = escape_clip(one_line(query, ""), 100)
    if not templates:
        text = f"No templates match *{words}*." if words else "The template library is empty."
        tip = "Try `/cyclr templates` with other words, or with none to see them all."
        return message(text, [section(f":mag: {text}"), context(tip)], sandbox=sandbox)
    head = f":package: Templates matching *{words}*" if words else ":package: Templates"
    blocks: list[Block] = [section(f"{head} to deploy into *{account}*:")]
    for template in templates[:MAX_TEMPLATES]:
        text = f"*{_template_name(template)}*\nUses: {escape_clip(_uses(template), 300)}"
        summary = first_sentence(template.description, 150)
        if summary:
            text += f"\n{escape(summary)}"
        value = ids.encode_value({"a": account_id, "t": template.id, "n": one_line(template.name)[:75]})
        blocks.append(
            section(text, accessory=button("Deploy", ids.TEMPLATE_DEPLOY, value=value, style="primary"))
        )
    blocks.append(
        context("*Deploy* installs the template as a new, paused cycle; I then DM you what it needs.")
    )
    names = ", ".join(one_line(t.name) for t in templates[:3])
    return message(f"Templates: {escape(names)}", blocks, sandbox=sandbox)


def template_option(template: Template) -> Block:
    """An option of the deploy modal's picker: the name, and the connectors it uses."""
    option: Block = {
        "text": plain(one_line(template.name, template.id), 75),
        "value": template.id[:150],
    }
    uses = _uses(template)
    if uses:
        option["description"] = plain(uses, 75)
    return option


def _modal(
    callback_id: str,
    *,
    title: str,
    blocks: list[Block],
    metadata: str = "",
    submit: str | None = None,
    sandbox: bool = False,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "close": plain("Close" if submit is None else "Cancel", 24),
        "blocks": view_blocks(blocks, sandbox=sandbox),
    }
    if submit:
        view["submit"] = plain(submit, 24)
    if metadata:
        view["private_metadata"] = metadata
    return view


def deploy_modal(
    *, template: Template | None, account: Account | None, metadata: str, sandbox: bool = False
) -> dict[str, Any]:
    """The deploy form: the template (typeahead) and the account."""
    picker: Block = {
        "type": "external_select",
        "action_id": ids.TEMPLATE,
        "placeholder": plain("Type to search the template library"),
        "min_query_length": 0,
    }
    if template is not None:
        picker["initial_option"] = template_option(template)
    account_el: Block = {
        "type": "external_select",
        "action_id": ids.ACCOUNT,
        "placeholder": plain("Choose the Cyclr account"),
        "min_query_length": 0,
    }
    if account is not None:
        with contextlib.suppress(ValueError):
            account_el["initial_option"] = account_option(account)
    blocks = [
        {"type": "input", "block_id": ids.TEMPLATE, "label": plain("Template"), "element": picker},
        {"type": "input", "block_id": ids.ACCOUNT, "label": plain("Account"), "element": account_el},
        context("The template becomes a new cycle, paused. I will DM you a checklist of what it needs."),
    ]
    return _modal(
        ids.DEPLOY_CALLBACK, title=_TITLE, blocks=blocks, metadata=metadata, submit="Deploy", sandbox=sandbox
    )


def deploy_progress_view(
    *, template_name: str, account_name: str, detail: str | None = None, sandbox: bool = False
) -> dict[str, Any]:
    """The deploy modal once submitted: what happens next (the outcome comes by DM)."""
    template = escape_clip(one_line(template_name, "the template"), _NAME)
    account = escape_clip(one_line(account_name, "the account"), _NAME)
    blocks = [
        section(f":hourglass_flowing_sand: Deploying *{template}* into *{account}*…"),
        context("You can close this window: I will DM you a checklist of what the new cycle needs."),
    ]
    if detail:
        blocks.append(context(escape_clip(one_line(detail), 500)))
    return _modal(ids.DEPLOY_CALLBACK, title=_TITLE, blocks=blocks, sandbox=sandbox)


def deploy_outcome_view(deploy: Deploy, *, account_name: str, sandbox: bool = False) -> dict[str, Any]:
    """The deploy modal once Cyclr answered: deployed (the checklist is in the DMs) or why not."""
    template = escape_clip(one_line(deploy.template_name, "the template"), _NAME)
    account = escape_clip(one_line(account_name, deploy.account_id), _NAME)
    if deploy.state is DeployState.DEPLOYED:
        blocks = [
            section(f":white_check_mark: Deployed *{template}* into *{account}* as a paused cycle."),
            section(":clipboard: Next: your DMs have a checklist of what it needs before it can run."),
        ]
        return _modal(ids.DEPLOY_CALLBACK, title="Template deployed", blocks=blocks, sandbox=sandbox)
    if deploy.state is DeployState.FAILED:
        reason = escape_clip(one_line(deploy.reason, "Cyclr did not say why."), 1500)
        blocks = [
            section(f":x: Could not deploy *{template}* into *{account}*.\n{reason}"),
            context(f"Reference: `deploy-{deploy.id}`"),
        ]
        return _modal(ids.DEPLOY_CALLBACK, title="Deploy failed", blocks=blocks, sandbox=sandbox)
    return deploy_progress_view(
        template_name=deploy.template_name, account_name=account_name, sandbox=sandbox
    )


def credentials_modal(
    *, connector_name: str, login: bool, metadata: str, sandbox: bool = False
) -> dict[str, Any]:
    """*Enter key* / *Enter login*: the value goes to Cyclr and nowhere else."""
    name = escape_clip(one_line(connector_name, "the connector"), _NAME)

    def field(action_id: str, label: str) -> Block:
        return {
            "type": "input",
            "block_id": action_id,
            "label": plain(label),
            "element": {"type": "plain_text_input", "action_id": action_id},
        }

    blocks: list[Block] = [section(f"Credentials for *{name}*. They go to Cyclr only; I keep no copy.")]
    if login:
        blocks += [field(ids.USERNAME, "Username"), field(ids.PASSWORD, "Password")]
    else:
        blocks.append(field(ids.API_KEY, "API key"))
    return _modal(
        ids.CREDENTIALS_CALLBACK,
        title="Enter login" if login else "Enter key",
        blocks=blocks,
        metadata=metadata,
        submit="Save",
        sandbox=sandbox,
    )


class ItemState(enum.Enum):
    READY = "ready"  #: authenticated, or needs no authentication
    OAUTH = "oauth"  #: waiting for a sign-in through a link
    KEY = "key"  #: waiting for an API key
    LOGIN = "login"  #: waiting for a username and password
    CONSOLE = "console"  #: only the Cyclr console can authenticate it


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    """One connector of the new cycle."""

    name: str
    account_connector_id: int | None
    state: ItemState

    @classmethod
    def of(
        cls, name: str, account_connector_id: int | None, authenticated: bool, kind: AuthKind
    ) -> ChecklistItem:
        if authenticated or kind is AuthKind.NONE:
            return cls(name, account_connector_id, ItemState.READY)
        if account_connector_id is None:
            return cls(name, None, ItemState.CONSOLE)
        state = {
            AuthKind.OAUTH: ItemState.OAUTH,
            AuthKind.API_KEY: ItemState.KEY,
            AuthKind.BASIC: ItemState.LOGIN,
        }.get(kind, ItemState.CONSOLE)
        return cls(name, account_connector_id, state)


#: Seals a button value for the checklist's owner.
Seal = Callable[[Mapping[str, Any]], str]


def _item_block(item: ChecklistItem, deploy: Deploy, seal: Seal) -> Block:
    name = escape_clip(one_line(item.name, "Connector"), _NAME)
    base: dict[str, Any] = {"a": deploy.account_id, "ac": item.account_connector_id, "d": deploy.id}
    if item.state is ItemState.READY:
        return section(f":white_check_mark: *{name}*: ready")
    if item.state is ItemState.OAUTH:
        return section(
            f":key: *{name}*: needs a sign-in",
            accessory=button("Authorise", ids.DEPLOY_AUTHORISE, value=seal(base), style="primary"),
        )
    if item.state is ItemState.KEY:
        return section(
            f":key: *{name}*: needs an API key",
            accessory=button(
                "Enter key",
                ids.DEPLOY_CREDENTIALS,
                value=seal({**base, "k": "key", "n": one_line(item.name)[:80]}),
            ),
        )
    if item.state is ItemState.LOGIN:
        return section(
            f":key: *{name}*: needs a username and password",
            accessory=button(
                "Enter login",
                ids.DEPLOY_CREDENTIALS,
                value=seal({**base, "k": "login", "n": one_line(item.name)[:80]}),
            ),
        )
    return section(f":warning: *{name}*: its authentication can only be set in the Cyclr console")


def _activation_line(event: CycleEvent | None) -> str | None:
    if event is None:
        return None
    if event.state is CycleEventState.DONE or event.state is CycleEventState.UNCHANGED:
        every = interval_label(event.interval).lower() if event.interval else ""
        if event.run_once:
            return ":large_green_circle: Activated: it runs once, then pauses."
        return (
            f":large_green_circle: Activated: it runs {every}."
            if every
            else ":large_green_circle: Activated."
        )
    if event.state is CycleEventState.PENDING:
        return ":hourglass_flowing_sand: Activating…"
    return ":warning: " + escape_clip(one_line(event.reason, "Activation failed."), 1000)


def deploy_checklist(
    deploy: Deploy,
    *,
    account_name: str,
    items: Sequence[ChecklistItem],
    console: Sequence[str] = (),
    running: bool = False,
    activation: CycleEvent | None = None,
    seal: Seal,
    notice: str | None = None,
    sandbox: bool = False,
) -> Message:
    """The requester's DM: the deploy's outcome, then one line per connector with its way to
    authorise, what only the console can fix, and *Activate* once nothing blocks."""
    template = escape_clip(one_line(deploy.template_name, deploy.template_id), _NAME)
    account = escape_clip(one_line(account_name, deploy.account_id), _NAME)
    if deploy.state is DeployState.PENDING:
        text = f":hourglass_flowing_sand: Deploying *{template}* into *{account}*…"
        return message(text, [section(text)], sandbox=sandbox)
    if deploy.state is DeployState.FAILED:
        reason = escape_clip(one_line(deploy.reason, "Cyclr did not say why."), 1500)
        text = f":x: Could not deploy *{template}* into *{account}*.\n{reason}"
        return message(text, [section(text), context(f"Reference: `deploy-{deploy.id}`")], sandbox=sandbox)
    cycle = escape_clip(one_line(deploy.cycle_name, template), _NAME)
    head = f":package: Deployed *{template}* into *{account}* as the cycle *{cycle}* (paused)."
    blocks: list[Block] = [section(head)]
    if notice:
        blocks.append(section(escape_clip(one_line(notice), 1000)))
    blocks.extend(_item_block(item, deploy, seal) for item in items[:40])
    for words in list(dict.fromkeys(console))[:5]:
        blocks.append(
            section(f":warning: {escape_clip(one_line(words), 500)} (only the Cyclr console can fix that)")
        )
    done = _activation_line(activation)
    blocking = bool(console) or any(item.state is not ItemState.READY for item in items)
    if running and done is None:
        done = ":large_green_circle: The cycle is running."
    if done is not None and (
        running or activation is not None and activation.state is not CycleEventState.FAILED
    ):
        blocks.append(section(done))
    elif blocking:
        if done is not None:
            blocks.append(section(done))
        blocks.append(context("*Activate* appears here once nothing blocks the cycle."))
    else:
        if done is not None:
            blocks.append(section(done))
        value = seal(
            {
                "a": deploy.account_id,
                "cy": deploy.cycle_id or "",
                "n": one_line(deploy.cycle_name, "")[:80],
                "d": deploy.id,
            }
        )
        blocks.append(section("Nothing blocks it any more: choose how often it runs."))
        blocks.append(actions(button("Activate", ids.CYCLE_ACTIVATE, value=value, style="primary")))
    return message(f"Deployed {template} into {account}", blocks, sandbox=sandbox)


def deploy_notification(
    deploy: Deploy, *, account_name: str, activation: CycleEvent | None = None, sandbox: bool = False
) -> Message:
    """The team channel's one message about a deploy (and its activation), edited in place."""
    template = escape_clip(one_line(deploy.template_name, deploy.template_id), _NAME)
    account = escape_clip(one_line(account_name, deploy.account_id), _NAME)
    who = mention(deploy.user_id)
    if deploy.state is DeployState.PENDING:
        line = f":hourglass_flowing_sand: {who} is deploying *{template}* into *{account}*…"
    elif deploy.state is DeployState.FAILED:
        line = f":x: {who} could not deploy *{template}* into *{account}*."
    else:
        line = f":package: {who} deployed *{template}* into *{account}* (paused)."
        done = _activation_line(activation)
        if done is not None and activation is not None and activation.state is not CycleEventState.FAILED:
            line = f":package: {who} deployed *{template}* into *{account}*. {done}"
    return message(line, [section(line)], sandbox=sandbox)
