"""Builds the running bot from settings: services, the Slack app, and the chosen mode.

This is the composition root; nothing below it reads the environment.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.config import Settings
from bot.cyclr import CyclrClient
from bot.jobs import Foreground, JobRunner
from bot.services.accounts import AccountDirectory
from bot.services.catalogue import CatalogueCache
from bot.services.container import Services
from bot.services.installs import InstallService
from bot.services.links import LinkService
from bot.store import Store

__all__ = ["Maintenance", "build_services", "cyclr_context", "run_bot", "start_sandbox"]

log = logging.getLogger(__name__)

#: How often pending installs are reconciled, and how old a row must be first.
RECONCILE_EVERY = 60.0
RECONCILE_AFTER = timedelta(seconds=30)
#: The urgent lane (``views.open`` after an ack): each call takes milliseconds, so a few
#: threads keep up with a burst; a backlog this deep would outlast the 3-s triggers anyway.
URGENT_WORKERS = 8
URGENT_BACKLOG = 200
#: Longest a job waits for the acks in flight to go out first (see :mod:`bot.jobs`); the
#: urgent lane's is shorter, since its trigger is already ticking, and so is the quiet it
#: waits for after the last ack (the jobs' is the foreground's 50 ms): a lone user's modal
#: opens at most 20 ms after their ack.
JOB_YIELD = 0.5
URGENT_YIELD = 0.3
URGENT_SETTLE = 0.02


def start_sandbox(settings: Settings) -> tuple[Settings, Any]:
    """Start the built-in Cyclr sandbox and point the settings at it."""
    from bot.cyclr.sandbox import CyclrSandbox

    sandbox = CyclrSandbox().start()
    settings = replace(
        settings,
        cyclr_api_url=sandbox.api_url,
        cyclr_service_url=sandbox.service_url,
        cyclr_client_id=sandbox.client_id,
        cyclr_client_secret=sandbox.client_secret,
        cyclr_account_id=settings.cyclr_account_id or sandbox.default_account_id,
        sandbox=True,
    )
    log.info("Cyclr sandbox running at %s (default account %s)", sandbox.api_url, settings.cyclr_account_id)
    return settings, sandbox


def make_cyclr_client(settings: Settings) -> CyclrClient:
    return CyclrClient(
        api_url=settings.cyclr_api_url,
        client_id=settings.cyclr_client_id,
        client_secret=settings.cyclr_client_secret,
        timeout=settings.cyclr_timeout,
        pool_size=settings.workers + 8,  # every job thread, plus catalogue and watcher threads
    )


@contextmanager
def cyclr_context(settings: Settings) -> Iterator[tuple[Settings, CyclrClient]]:
    """A Cyclr client for ``settings`` (starting the sandbox first when asked), closed after."""
    sandbox = None
    if settings.sandbox:
        settings, sandbox = start_sandbox(settings)
    client = make_cyclr_client(settings)
    try:
        yield settings, client
    finally:
        client.close()
        if sandbox is not None:
            sandbox.stop()


def build_services(
    settings: Settings, *, cyclr: CyclrClient | None = None, store: Store | None = None
) -> Services:
    """Wire the services; creates the database schema."""
    cyclr = cyclr or make_cyclr_client(settings)
    store = store or Store(settings.database_url)
    store.create_schema()
    installs = InstallService(cyclr, store, grace=timedelta(seconds=settings.reconcile_grace))
    foreground = Foreground()
    return Services(
        settings=settings,
        cyclr=cyclr,
        store=store,
        catalogue=CatalogueCache(
            lambda account_id: cyclr.list_connectors(account_id), ttl=settings.catalogue_ttl
        ),
        accounts=AccountDirectory(
            cyclr.list_accounts,
            store,
            default_account_id=settings.cyclr_account_id,
            ttl=settings.catalogue_ttl,
        ),
        installs=installs,
        links=LinkService(cyclr, settings, store, installs),
        jobs=JobRunner(workers=settings.workers, foreground=foreground, yield_for=JOB_YIELD),
        urgent=JobRunner(
            workers=URGENT_WORKERS,
            max_pending=URGENT_BACKLOG,
            name="cyclr-urgent",
            foreground=foreground,
            yield_for=URGENT_YIELD,
            settle=URGENT_SETTLE,
        ),
        foreground=foreground,
    )


class Maintenance:
    """Start-up warm-up and the reconciliation timer, on one daemon thread."""

    def __init__(self, services: Services, *, every: float = RECONCILE_EVERY) -> None:
        self.services = services
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cyclr-maintenance", daemon=True)

    def start(self) -> Maintenance:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        services = self.services
        services.catalogue.prime(services.accounts.default_account_id)
        first = True
        while not self._stop.is_set():
            try:
                if services.accounts.cached() is None:
                    services.accounts.all()
                settled = services.installs.reconcile_pending(
                    older_than=timedelta(0) if first else min(RECONCILE_AFTER, timedelta(seconds=self.every))
                )
                if settled:
                    log.info("reconciled %d pending install(s)", len(settled))
                retold = services.installs.retell(older_than=timedelta(0) if first else timedelta(seconds=5))
                if retold:
                    log.info("re-sent the messages of %d install(s)", retold)
            except Exception:
                log.warning("maintenance pass failed; will try again", exc_info=True)
            first = False
            self._stop.wait(self.every)


def build_bot(settings: Settings) -> tuple[Services, Any, Any]:
    """Services, Bolt app and messenger for one process, with maintenance running."""
    from bot.slack.app import create_app

    services = build_services(settings)
    app, messenger = create_app(services)
    Maintenance(services, every=settings.reconcile_every).start()
    return services, app, messenger


def run_bot(settings: Settings, *, http: bool, host: str = "0.0.0.0") -> int:
    """Start in Socket Mode or HTTP mode and block until stopped."""
    sandbox = None
    owner = os.getpid()
    if settings.sandbox:
        settings, sandbox = start_sandbox(settings)
    try:
        if http or settings.mode == "http":
            return _run_http(settings, host)
        return _run_socket(settings, host)
    finally:
        # A gunicorn worker is forked inside _run_http and leaves through this frame too; the
        # sandbox's server thread lives only in the parent, so stopping it there would hang.
        if sandbox is not None and os.getpid() == owner:
            sandbox.stop()


def _run_http(settings: Settings, host: str) -> int:
    from bot.web.app import create_web_app
    from bot.web.server import GunicornServer, server_options

    def load() -> Any:
        services, app, _ = build_bot(settings)
        return create_web_app(services, app)

    log.info("HTTP mode on %s:%d (POST /slack/events, GET /healthz)", host, settings.port)
    options = server_options(host, settings.port, workers=settings.web_workers, threads=settings.web_threads)
    GunicornServer(load, options).run()
    return 0


def _run_socket(settings: Settings, host: str) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    if settings.public_url:
        # The link pages need a web server: gunicorn serves them, and its worker holds the
        # Socket Mode connection too (no /slack/events: Slack talks over the socket).
        from bot.web.app import create_web_app
        from bot.web.server import GunicornServer, server_options

        def load() -> Any:
            services, app, _ = build_bot(settings)
            handler = SocketModeHandler(app, app_token=settings.slack_app_token)
            handler.connect()  # type: ignore[no-untyped-call]
            log.info("Socket Mode connected; link pages on %s:%d", host, settings.port)
            return create_web_app(services, None, socket_connected=handler.client.is_connected)

        options = server_options(host, settings.port, workers=1, threads=settings.web_threads)
        GunicornServer(load, options).run()
        return 0

    from bot.web.server import freeze_startup_heap

    services, app, _ = build_bot(settings)
    handler = SocketModeHandler(app, app_token=settings.slack_app_token)
    freeze_startup_heap()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    handler.connect()  # type: ignore[no-untyped-call]
    log.info("Socket Mode connected")
    stop.wait()
    handler.close()  # type: ignore[no-untyped-call]
    services.close()
    return 0
