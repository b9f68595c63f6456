"""``cyclr-bot playground``: the Cyclr sandbox, a Slack stand-in and the bot, in one process.

:func:`start_playground` is the one place that puts them together; when the bot's runtime
changes (how its web app and its background work are started), this is what to re-point.
Everything listens on 127.0.0.1 and needs no setting: the bot's Slack token and signing
secret are made up at start, its database is a SQLite file in a temporary directory, and
its public URL is the playground's own address, so the authorisation link pages work.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bot.config import Settings
from bot.cyclr.sandbox import CyclrSandbox
from bot.logs import register_secret
from bot.playground.page import Person, create_page_app
from bot.playground.standin import BOT_USER_ID, SlackStandin
from bot.playground.workspace import Workspace
from bot.services.container import Services

__all__ = ["PEOPLE", "TEAM_CHANNEL", "TEAM_CHANNEL_NAME", "Playground", "start_playground"]

log = logging.getLogger(__name__)

TEAM_CHANNEL = "C0TEAM"
TEAM_CHANNEL_NAME = "integrations"
#: The people of the playground's workspace: one of each kind the access rules tell apart.
PEOPLE = (
    Person("U0ADA", "ada", "Ada Admin", "admin"),
    Person("U0IAN", "ian", "Ian Installer", "installer"),
    Person("U0GUS", "gus", "Gus Guest", "guest", restricted=True),
)

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class Playground:
    """A running playground; :meth:`close` stops every part."""

    url: str  #: ``http://127.0.0.1:PORT/``
    sandbox: CyclrSandbox
    slack: SlackStandin
    workspace: Workspace
    services: Services
    _stop_background: Callable[[], None] = field(repr=False)
    _server: BaseWSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _data_dir: Path | None = field(repr=False, default=None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        from bot.runtime import wait_idle

        wait_idle(self.services, 5)
        self._stop_background()
        self.services.close()
        self.workspace.close()
        self.slack.close()
        self.sandbox.stop()
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)


class _QuietHandler(WSGIRequestHandler):
    """No line per request: the page polls, and the bot logs what matters itself."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def start_playground(port: int = 3000, *, data_dir: Path | None = None) -> Playground:
    """Start the sandbox, the Slack stand-in and the bot on 127.0.0.1:``port`` (0: any free).

    The page (``/``) and the bot's web app (``/slack/events``, the link pages, ``/healthz``)
    share the port. ``data_dir`` holds the database; by default a temporary directory,
    removed on close. Raises OSError when the port is taken.
    """
    holder: dict[str, Wsgi] = {}

    def router(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "")
        name = "page" if path == "/" or path.startswith("/_playground/") else "bot"
        app = holder.get(name)
        if app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "1")])
            return [b"starting"]
        return app(environ, start_response)

    # Bound here so a taken port is an OSError (werkzeug would print and exit by itself).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listening:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(("127.0.0.1", port))
        listening.listen(128)
        bound = int(listening.getsockname()[1])
        server = make_server(
            "127.0.0.1", bound, router, threaded=True, request_handler=_QuietHandler, fd=listening.fileno()
        )
    started: list[Callable[[], None]] = [server.server_close]
    try:
        return _start(server, holder, data_dir, started)
    except BaseException:
        for stop in reversed(started):
            stop()
        raise


def _start(
    server: BaseWSGIServer, holder: dict[str, Wsgi], data_dir: Path | None, started: list[Callable[[], None]]
) -> Playground:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    temporary = data_dir is None
    data = data_dir or Path(tempfile.mkdtemp(prefix="cyclr-playground-"))
    if temporary:
        started.append(lambda: shutil.rmtree(data, ignore_errors=True))
    sandbox = CyclrSandbox().start()
    started.append(sandbox.stop)
    _seed_cycles(sandbox)
    slack = _seeded_slack().start()
    started.append(slack.close)
    token = "xoxb-playground-" + secrets.token_hex(16)
    signing_secret = secrets.token_hex(32)
    for secret in (token, signing_secret, sandbox.client_secret):
        register_secret(secret)
    settings = Settings(
        slack_bot_token=token,
        slack_signing_secret=signing_secret,
        slack_api_url=slack.api_url,
        cyclr_api_url=sandbox.api_url,
        cyclr_client_id=sandbox.client_id,
        cyclr_client_secret=sandbox.client_secret,
        cyclr_account_id=sandbox.default_account_id,
        cyclr_service_url=sandbox.service_url,
        notify_channel=TEAM_CHANNEL,
        database_url=f"sqlite:///{data / 'playground.db'}",
        public_url=url,
        admins=tuple(p.user_id for p in PEOPLE if p.role == "admin"),
        port=server.server_address[1],
        sandbox=True,
    )

    # The bot itself: intake as `cyclr-bot run --http` builds it in a web worker, and the
    # worker's consumer on a thread of this process (one process keeps the playground light).
    from bot.runtime import build_services, build_worker
    from bot.slack.app import create_app
    from bot.web.app import create_web_app

    services = build_services(settings)
    started.append(services.close)
    bolt_app, messenger = create_app(services)
    consumer = build_worker(services, messenger).start()
    started.append(consumer.stop)
    holder["bot"] = create_web_app(services, bolt_app)

    workspace = Workspace(slack, f"{url}/slack/events", signing_secret)
    holder["page"] = create_page_app(
        workspace, sandbox, people=PEOPLE, team_channel=TEAM_CHANNEL, health_sweep=services.health.sweep
    )
    thread = threading.Thread(target=server.serve_forever, name="playground-web", daemon=True)
    thread.start()
    log.info("playground on %s (Slack stand-in %s, Cyclr sandbox %s)", url, slack.base_url, sandbox.api_url)
    return Playground(
        url=url + "/",
        sandbox=sandbox,
        slack=slack,
        workspace=workspace,
        services=services,
        _stop_background=consumer.stop,
        _server=server,
        _thread=thread,
        _data_dir=data if temporary else None,
    )


#: Templates installed into the default account at start, so `/cyclr cycles` has cycles to
#: show: one that can start at once, one waiting for its connectors to be authorised.
PLAYGROUND_CYCLES = ("Webhook > HTTP: forward events", "Greenhouse > BambooHR: new hires")


def _seed_cycles(sandbox: CyclrSandbox) -> None:
    for name in PLAYGROUND_CYCLES:
        try:
            template = sandbox.template_by_name(name)
        except KeyError:  # a sandbox with another template library
            continue
        sandbox.state.install_template(sandbox.default_account_id, str(template["Id"]))


def _seeded_slack() -> SlackStandin:
    slack = SlackStandin(default_users=False)
    slack.add_user(BOT_USER_ID, name="cyclr", real_name="Cyclr", is_bot=True)
    for person in PEOPLE:
        slack.add_user(
            person.user_id, name=person.name, real_name=person.real_name, is_restricted=person.restricted
        )
    slack.add_channel(TEAM_CHANNEL, TEAM_CHANNEL_NAME)
    return slack
