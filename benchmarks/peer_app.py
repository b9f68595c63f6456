"""The peer: ``/cyclr install`` written the straightforward way, as Bolt's docs show it.

This is the baseline ``make bench`` compares the bot with, so it is deliberately plain:
Bolt's defaults (its 5-thread listener pool, ``ack()`` then the work inside the listener),
Cyclr called with ``requests`` as a quick script would (a fresh token and the whole
catalogue for every command and every options request, no cache), and gunicorn with its
own defaults (one sync worker) in front of ``slack_bolt.adapter.flask``::

    gunicorn benchmarks.peer_app:web

Settings come from the same environment variables as the bot's: ``SLACK_BOT_TOKEN``,
``SLACK_SIGNING_SECRET``, ``SLACK_API_URL``, ``CYCLR_API_URL``, ``CYCLR_CLIENT_ID``,
``CYCLR_CLIENT_SECRET`` and ``CYCLR_ACCOUNT_ID``. The modal uses the bot's block ids
(``connector``, ``name``) so the benchmark sends both apps the same payloads.
"""

from __future__ import annotations

import os
from typing import Any

import requests
from flask import Flask, Response, request
from slack_bolt import Ack, App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient

CYCLR_API_URL = os.environ["CYCLR_API_URL"].rstrip("/")
CYCLR_CLIENT_ID = os.environ["CYCLR_CLIENT_ID"]
CYCLR_CLIENT_SECRET = os.environ["CYCLR_CLIENT_SECRET"]
CYCLR_ACCOUNT_ID = os.environ["CYCLR_ACCOUNT_ID"]
TIMEOUT = 10

app = App(
    client=WebClient(
        token=os.environ["SLACK_BOT_TOKEN"],
        base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
    ),
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
)


# -- Cyclr, the quick way ---------------------------------------------------------------------


def cyclr_token() -> str:
    response = requests.post(
        f"{CYCLR_API_URL}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CYCLR_CLIENT_ID,
            "client_secret": CYCLR_CLIENT_SECRET,
        },
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def cyclr_connectors() -> list[dict[str, Any]]:
    """The whole catalogue, page by page."""
    headers = {"Authorization": f"Bearer {cyclr_token()}", "X-Cyclr-Account": CYCLR_ACCOUNT_ID}
    connectors: list[dict[str, Any]] = []
    page = 1
    while True:
        response = requests.get(
            f"{CYCLR_API_URL}/v1.0/connectors",
            params={"page": page, "pageSize": 100},
            headers=headers,
            timeout=TIMEOUT,
        )
        response.raise_for_status()
        items = response.json()
        connectors.extend(items)
        if len(items) < 100:
            return connectors
        page += 1


def cyclr_install(connector_id: str, name: str) -> dict[str, Any]:
    response = requests.post(
        f"{CYCLR_API_URL}/v1.0/connectors/{connector_id}/install",
        json={"Name": name},
        headers={"Authorization": f"Bearer {cyclr_token()}", "X-Cyclr-Account": CYCLR_ACCOUNT_ID},
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


# -- Slack ------------------------------------------------------------------------------------------


def install_modal(count: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "cyclr_install",
        "title": {"type": "plain_text", "text": "Install a connector"},
        "submit": {"type": "plain_text", "text": "Install"},
        "blocks": [
            {
                "type": "input",
                "block_id": "connector",
                "label": {"type": "plain_text", "text": f"Connector ({count} available)"},
                "element": {"type": "external_select", "action_id": "connector", "min_query_length": 1},
            },
            {
                "type": "input",
                "block_id": "name",
                "label": {"type": "plain_text", "text": "Name"},
                "element": {"type": "plain_text_input", "action_id": "name"},
            },
        ],
    }


@app.command("/cyclr")
def cyclr_command(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    if body.get("text", "").strip().startswith("install"):
        connectors = cyclr_connectors()
        client.views_open(trigger_id=body["trigger_id"], view=install_modal(len(connectors)))


@app.options("connector")
def connector_options(ack: Ack, payload: dict[str, Any]) -> None:
    typed = payload.get("value", "").lower()
    matches = [c for c in cyclr_connectors() if typed in c["Name"].lower()]
    ack(
        options=[
            {"text": {"type": "plain_text", "text": c["Name"][:75]}, "value": str(c["Id"])}
            for c in matches[:100]
        ]
    )


@app.view("cyclr_install")
def install_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
    ack()
    values = view["state"]["values"]
    connector = values["connector"]["connector"]["selected_option"]
    name = values["name"]["name"]["value"]
    cyclr_install(connector["value"], name)
    user_id = body["user"]["id"]
    dm = client.conversations_open(users=user_id)
    client.chat_postMessage(
        channel=dm["channel"]["id"], text=f"Installed {connector['text']['text']} as {name}."
    )


# -- web -------------------------------------------------------------------------------------------

web = Flask(__name__)
handler = SlackRequestHandler(app)


@web.route("/slack/events", methods=["POST"])
def slack_events() -> Response:
    response: Response = handler.handle(request)
    return response


@web.route("/healthz")
def healthz() -> str:
    return "ok"
