"""``cyclr-bot``: the command line, and the only place that reads ``.env``.

``cyclr-bot run [--http] [--host H] [--port N] [--sandbox] [--no-worker]`` starts the bot
(intake, and a worker process unless ``--no-worker``); ``cyclr-bot worker`` runs only the
work after the ack, for scale-out;
``cyclr-bot check [--sandbox]`` validates the configuration and both platforms;
``cyclr-bot db upgrade|current`` upgrades or prints the store's schema version (it reads
only ``CYCLR_BOT_DATABASE_URL``);
``cyclr-bot playground [--port N]`` runs the bot with the Cyclr sandbox and a local Slack
stand-in and its page, needing no setting at all.
A malformed or missing setting exits with code 2 and one message naming every problem.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import islice
from typing import Any, Literal, TextIO

from bot import __version__
from bot.config import ConfigError, Settings
from bot.logs import configure_logging, redact, register_secret

__all__ = ["main"]

log = logging.getLogger("bot.cli")

EXIT_CONFIG = 2
SANDBOX_ENV = "CYCLR_BOT_SANDBOX"
PLAYGROUND_PORT = 3000
NO_SLACK = (
    "No Slack settings (SLACK_BOT_TOKEN) in the environment or {env_file}: starting the playground,"
    " a local stand-in for Slack. To connect a real workspace, copy .env.example to .env and fill in"
    " the Slack settings (README: Create the Slack app)."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyclr-bot",
        description="Cyclr for Slack: search, install and authorise Cyclr connectors from Slack.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--env-file", default=".env", help="read settings from this file too (default .env)")
    sub = parser.add_subparsers(dest="command", metavar="{run,worker,check,db,playground}")

    run = sub.add_parser("run", help="start the bot (Socket Mode with SLACK_APP_TOKEN, else HTTP)")
    run.add_argument("--http", action="store_true", help="HTTP mode even when SLACK_APP_TOKEN is set")
    run.add_argument("--host", default="0.0.0.0", help="HTTP mode: address to listen on (default 0.0.0.0)")
    run.add_argument("--port", type=int, default=None, help="HTTP mode: port (default $PORT or 3000)")
    run.add_argument("--sandbox", action="store_true", help="talk to the built-in Cyclr sandbox")
    run.add_argument(
        "--no-worker",
        action="store_true",
        help="intake only: leave the work after the ack to `cyclr-bot worker` processes",
    )
    run.add_argument(
        "--playground-if-no-slack",
        action="store_true",
        help="start the playground instead when SLACK_BOT_TOKEN is in neither the environment nor .env",
    )

    sub.add_parser("worker", help="run only the work after the ack (jobs), beside `run --no-worker` replicas")

    check = sub.add_parser("check", help="validate the configuration, Cyclr and Slack; exit 0 if all pass")
    check.add_argument("--sandbox", action="store_true", help="check against the built-in Cyclr sandbox")

    db = sub.add_parser("db", help="the store's schema: upgrade it, or print its version")
    db.add_argument(
        "action", choices=("upgrade", "current"), help="upgrade: to this version; current: print it"
    )

    playground = sub.add_parser(
        "playground", help="the bot, the Cyclr sandbox and a local Slack page on 127.0.0.1; no settings"
    )
    playground.add_argument(
        "--port", type=int, default=PLAYGROUND_PORT, help=f"port (default {PLAYGROUND_PORT})"
    )
    return parser


def load_settings(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    """Read ``.env`` (without overriding the real environment) and build the settings."""
    from dotenv import load_dotenv

    if environ is None:
        if args.env_file and os.path.exists(args.env_file):
            load_dotenv(args.env_file, override=False)
        environ = dict(os.environ)
    mode: Literal["http"] | None = "http" if getattr(args, "http", False) else None
    # A worker started by `run --sandbox` is told where that sandbox is (bot.runtime.WorkerProcess).
    sandbox_child = args.command == "worker" and environ.get(SANDBOX_ENV) == "1"
    settings = Settings.from_env(environ, mode=mode, sandbox=bool(getattr(args, "sandbox", False)))
    return replace(settings, sandbox=True) if sandbox_child else settings


def _hide_from_bolt() -> None:
    """Keep what Bolt would read by itself out of its sight once the settings hold it.

    With SLACK_CLIENT_ID/SECRET, Bolt switches to OAuth with file storage; with
    SLACK_BOT_TOKEN beside the client the bot passes, it warns that the token is unused.
    """
    for key in [k for k in os.environ if k.startswith("SLACK_CLIENT_") or k == "SLACK_BOT_TOKEN"]:
        del os.environ[key]


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    out = out or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(out)
        return EXIT_CONFIG
    if args.command == "playground":
        return run_playground(args.port, out=out)
    if args.command == "db":
        return run_db(args, out=out)
    if args.command == "run" and args.playground_if_no_slack and not _slack_configured(args.env_file):
        print(NO_SLACK.format(env_file=args.env_file), file=out, flush=True)
        return run_playground(PLAYGROUND_PORT if args.port is None else args.port, out=out)
    try:
        settings = load_settings(args)
    except ConfigError as error:
        print(redact(f"cyclr-bot: {error}"), file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    for secret in settings.secrets:
        register_secret(secret)  # for as long as the process runs
    for warning in settings.warnings:
        log.warning("%s", warning)
    _hide_from_bolt()

    if args.command == "check":
        return run_checks(settings, out=out)
    if args.command == "worker":
        from bot.runtime import run_worker

        return run_worker(settings)
    if args.port is not None:
        settings = replace(settings, port=args.port)
    from bot.runtime import run_bot

    return run_bot(
        settings, http=bool(args.http), host=args.host, worker=not args.no_worker, env_file=args.env_file
    )


def _slack_configured(env_file: str) -> bool:
    """Whether SLACK_BOT_TOKEN is set (not empty) in the environment or ``env_file``."""
    from dotenv import dotenv_values

    if os.environ.get("SLACK_BOT_TOKEN", "").strip():
        return True
    if env_file and os.path.exists(env_file):
        return bool((dotenv_values(env_file).get("SLACK_BOT_TOKEN") or "").strip())
    return False


# -- db -----------------------------------------------------------------------------------------


def run_db(args: argparse.Namespace, *, out: TextIO) -> int:
    """``db upgrade`` / ``db current``: needs only ``CYCLR_BOT_DATABASE_URL`` (or its default)."""
    from dotenv import dotenv_values
    from sqlalchemy.exc import SQLAlchemyError

    from bot.config import DEFAULT_DATABASE_URL, normalise_database_url
    from bot.store import Store, schema

    configure_logging("WARNING", "text")
    file_values = dotenv_values(args.env_file) if args.env_file and os.path.exists(args.env_file) else {}
    raw = os.environ.get("CYCLR_BOT_DATABASE_URL") or file_values.get("CYCLR_BOT_DATABASE_URL")
    url = normalise_database_url(raw or DEFAULT_DATABASE_URL)
    store = Store(url)
    shown = store.engine.url.render_as_string(hide_password=True)
    try:
        if args.action == "current":
            version = schema.current(store.engine)
            shown_version = version or "none (empty, or made before migrations)"
            print(f"{shown_version} (this code: {schema.head()})", file=out)
            return 0
        before = schema.upgrade(store.engine)
        print(f"{shown}: schema at {schema.head()} (was {before})", file=out)
        return 0
    except SQLAlchemyError as error:
        problem = f"cyclr-bot: the database {shown} did not answer: {type(error).__name__}"
        print(redact(problem), file=sys.stderr)
        return 1
    finally:
        store.close()


# -- playground -------------------------------------------------------------------------------


def run_playground(port: int, *, out: TextIO) -> int:
    """Start the playground, print its URL and serve until Ctrl-C or SIGTERM."""
    import signal
    import threading

    from bot.playground.compose import start_playground

    if not 0 <= port <= 65535:
        print(f"cyclr-bot: --port must be between 0 and 65535, got {port}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging("INFO", "text")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        playground = start_playground(port)
    except OSError as error:
        print(f"cyclr-bot: cannot listen on 127.0.0.1:{port} ({error.strerror or error});"
              " choose another port with --port N", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(
        "Cyclr for Slack playground: the bot, the Cyclr sandbox and a stand-in for Slack, all on this"
        " machine (nothing leaves it).",
        file=out,
    )
    print(f"Open {playground.url}  (Ctrl-C stops it)", file=out, flush=True)
    stop.wait()
    playground.close()
    return 0


# -- check ------------------------------------------------------------------------------------

Check = Callable[[], str]


def run_checks(settings: Settings, *, out: TextIO) -> int:
    """Print one line per check; 0 only when every check passes.

    Each line goes through the log's redaction: an error text may quote what a platform
    answered, and that may hold a secret.
    """
    from bot.runtime import cyclr_context

    failures = 0

    def say(line: str) -> None:
        print(redact(line), file=out)

    def report(name: str, check: Check) -> bool:
        nonlocal failures
        try:
            detail = check()
        except Exception as error:  # each check reports its own failure and the next one runs
            failures += 1
            say(f"FAIL  {name}: {_describe(error)}")
            return False
        say(f"ok    {name}: {detail}")
        return True

    say(f"ok    configuration: {settings.mode} mode{', Cyclr sandbox' if settings.sandbox else ''}")
    with cyclr_context(settings) as (cyclr_settings, client):

        def token() -> str:
            client.fetch_token()
            return f"token issued by {cyclr_settings.cyclr_api_url}"

        def catalogue() -> str:
            first_page = list(
                islice(client.iter_connectors(cyclr_settings.cyclr_account_id, page_size=50), 50)
            )
            if not first_page:
                raise RuntimeError(f"the catalogue of account {cyclr_settings.cyclr_account_id!r} is empty")
            return (
                f"{len(first_page)} connectors on the first page for account"
                f" {cyclr_settings.cyclr_account_id!r}"
            )

        if report("Cyclr token", token):
            report("Cyclr catalogue", catalogue)
        else:
            failures += 1
            say("skip  Cyclr catalogue: needs a token")
    report("Slack auth.test", lambda: _slack_auth_test(settings))
    return 0 if failures == 0 else 1


def _slack_auth_test(settings: Settings) -> str:
    from slack_sdk import WebClient

    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)
    response = client.auth_test()
    return f"bot {response.get('user_id')} in team {response.get('team')} ({response.get('team_id')})"


def _describe(error: Exception) -> str:
    from slack_sdk.errors import SlackApiError

    if isinstance(error, SlackApiError):
        return f"Slack answered {error.response.get('error')!r}"
    return str(error) or type(error).__name__
