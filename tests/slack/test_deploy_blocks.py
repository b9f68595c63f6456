"""The deploy checklist's lines and buttons, from its inputs alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.cyclr.models import AuthKind
from bot.slack.blocks.deploy import ChecklistItem, ItemState, deploy_checklist, deploy_notification
from bot.store.records import Deploy, DeployState


def deploy(state: DeployState = DeployState.DEPLOYED, **kw: Any) -> Deploy:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "id": 7,
        "request_key": "view:V1",
        "team_id": "T1",
        "user_id": "U0001",
        "channel_id": "C1",
        "account_id": "acme",
        "template_id": "t-1",
        "template_name": "A > B: sync",
        "state": state,
        "reason": None,
        "cycle_id": "cy-1",
        "cycle_name": "A > B: sync",
        "attempted_at": now,
        "created_at": now,
        "updated_at": now,
    }
    return Deploy(**(fields | kw))


def labels(message: Any) -> list[str]:
    found = []
    for block in message.blocks:
        if isinstance(block.get("accessory"), dict):
            found.append(block["accessory"]["text"]["text"])
        found.extend(e["text"]["text"] for e in block.get("elements") or [] if e.get("type") == "button")
    return found


def seal(value: Any) -> str:
    return json.dumps(dict(value))


def test_each_auth_kind_gets_its_way_to_authorise() -> None:
    items = [
        ChecklistItem.of("Salesforce", 1, False, AuthKind.OAUTH),
        ChecklistItem.of("Stripe", 2, False, AuthKind.API_KEY),
        ChecklistItem.of("Jira", 3, False, AuthKind.BASIC),
        ChecklistItem.of("S3", 4, False, AuthKind.UNKNOWN),
        ChecklistItem.of("Webhook", None, False, AuthKind.NONE),
    ]
    assert [i.state for i in items] == [
        ItemState.OAUTH,
        ItemState.KEY,
        ItemState.LOGIN,
        ItemState.CONSOLE,
        ItemState.READY,
    ]
    message = deploy_checklist(deploy(), account_name="Acme", items=items, seal=seal)
    assert labels(message) == ["Authorise", "Enter key", "Enter login"]
    assert "Cyclr console" in json.dumps(message.blocks)


def test_activate_only_when_nothing_blocks() -> None:
    ready = [ChecklistItem.of("Webhook", 1, True, AuthKind.OAUTH)]
    assert labels(deploy_checklist(deploy(), account_name="Acme", items=ready, seal=seal)) == ["Activate"]
    console = deploy_checklist(
        deploy(), account_name="Acme", items=ready, console=["A > B: a mapping"], seal=seal
    )
    assert labels(console) == []
    running = deploy_checklist(deploy(), account_name="Acme", items=ready, running=True, seal=seal)
    assert labels(running) == [] and "running" in json.dumps(running.blocks)


def test_failed_and_pending_deploys_say_so_without_buttons() -> None:
    failed = deploy_checklist(
        deploy(DeployState.FAILED, reason="Cyclr refused: <b>no</b>", cycle_id=None),
        account_name="Acme",
        items=(),
        seal=seal,
    )
    assert (
        "Could not deploy" in failed.text and "&lt;b&gt;" in json.dumps(failed.blocks) and not labels(failed)
    )
    assert "deploy-7" in json.dumps(failed.blocks)
    pending = deploy_checklist(deploy(DeployState.PENDING), account_name="Acme", items=(), seal=seal)
    assert "Deploying" in pending.text
    assert "deployed" in deploy_notification(deploy(), account_name="Acme").text
