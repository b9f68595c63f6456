"""The bot running for real on loopback: Flask app on a real HTTP server, the Cyclr sandbox,
the Slack Web API stand-in and a SQLite store. Tests talk to it only over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from bot.config import Settings
from bot.cyclr.sandbox import CyclrSandbox
from bot.playground import payloads as sr
from bot.playground.standin import SlackStandin
from bot.runtime import build_services, build_worker, wait_idle
from bot.services.container import Services
from bot.slack.app import create_app
from bot.web.app import create_web_app

BOT_TOKEN = "xoxb-test-0001-bot-token"
NOTIFY_CHANNEL = "CNOTIFY01"


class Bot:
    """A running bot and handles on both platforms' stand-ins."""

    def __init__(self, services: Services, sandbox: CyclrSandbox, slack: SlackStandin, url: str) -> None:
        self.services = services
        self.sandbox = sandbox
        self.slack = slack
        self.url = url
        self.http = requests.Session()
        self.last_trigger = ""  #: the trigger id of the last command or action sent

    # -- raw requests ------------------------------------------------------------------------------

    def post(
        self, request: tuple[bytes, Mapping[str, str]], path: str = "/slack/events"
    ) -> requests.Response:
        body, headers = request
        return self.http.post(self.url + path, data=body, headers=dict(headers), timeout=10)

    def command(self, text: str, **fields: Any) -> requests.Response:
        fields.setdefault("response_url", self.slack.response_url())
        fields.setdefault("trigger_id", self.slack.new_trigger_id(fields.get("user_id", sr.DEFAULT_USER_ID)))
        self.last_trigger = fields["trigger_id"]
        return self.post(sr.slash_command_request(text, **fields))

    def action(self, action_id: str, **kw: Any) -> requests.Response:
        kw.setdefault("trigger_id", self.slack.new_trigger_id(kw.get("user_id", sr.DEFAULT_USER_ID)))
        kw.setdefault("response_url", self.slack.response_url())
        self.last_trigger = kw["trigger_id"]
        return self.post(sr.block_actions_request(action_id, **kw))

    def options(
        self,
        value: str,
        view: Mapping[str, Any],
        action_id: str = "connector",
        values: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        v = sr.view_payload(view, values=values or {}, view_id=view["id"])
        response = self.post(sr.block_suggestion_request(value, action_id=action_id, view=v, **kw))
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def submit(self, view: Mapping[str, Any], values: Mapping[str, Any], **kw: Any) -> requests.Response:
        v = sr.view_payload(view, values=sr.state_values(values), view_id=view["id"])
        return self.post(sr.view_submission_request(v, **kw))

    # -- reading the stand-ins ---------------------------------------------------------------------

    def opened_view(self, trigger_id: str | None = None) -> dict[str, Any]:
        """The view the bot opened with ``trigger_id`` (default: the last command's or action's),
        as it now is in the stand-in. The bot opens it just after its ack, so this waits."""
        trigger = trigger_id or self.last_trigger
        call = self.slack.wait_for("views.open", predicate=lambda c: c.args["trigger_id"] == trigger)[0]
        assert call.ok, call.summary()
        view_id = call.response["view"]["id"]
        return self.slack.view(view_id)

    def wait_idle(self) -> None:
        assert wait_idle(self.services, 15), "background jobs did not finish"

    def response_texts(self, url_name: str) -> list[str]:
        return [json.dumps(c.args) for c in self.slack.response_posts(url_name)]


@contextmanager
def running_bot(tmp_path: Path, *, public: bool = False, **overrides: Any) -> Iterator[Bot]:
    """The bot on a real HTTP server; ``public=True`` sets CYCLR_BOT_PUBLIC_URL to that server."""
    sandbox = CyclrSandbox(page_headers=True).start()
    slack = SlackStandin().start()
    slack.add_user("UADMIN01", name="admin")
    holder: dict[str, Any] = {}

    def wsgi(environ: Any, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=sr.SIGNING_SECRET,
        slack_api_url=slack.api_url,
        cyclr_api_url=sandbox.api_url,
        cyclr_client_id=sandbox.client_id,
        cyclr_client_secret=sandbox.client_secret,
        cyclr_account_id=sandbox.default_account_id,
        cyclr_service_url=sandbox.service_url,
        notify_channel=NOTIFY_CHANNEL,
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        public_url=url if public else None,
        sandbox=True,
        admins=("UADMIN01",),
    )
    settings = replace(settings, **overrides)
    services = build_services(settings)
    app, messenger = create_app(services)
    consumer = build_worker(services, messenger).start()
    holder["app"] = create_web_app(services, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bot = Bot(services, sandbox, slack, url)
    try:
        yield bot
    finally:
        server.shutdown()
        wait_idle(services, 10)
        consumer.stop()
        services.close()
        slack.close()
        sandbox.stop()
