"""Builds the running bot from settings: services, the Slack app, the worker, the processes.

This is the composition root; nothing below it reads the environment.

``cyclr-bot run`` is intake (Socket Mode or gunicorn's web workers: verify, check access,
ack, record what must happen) plus one worker process (``cyclr-bot worker``: every job in
the queue), started and restarted by the ``run`` process unless ``--no-worker``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.after_ack import AfterAck
from bot.config import Settings
from bot.cyclr import CyclrClient
from bot.services.accounts import AccountDirectory
from bot.services.alerts import AlertService
from bot.services.catalogue import CatalogueCache
from bot.services.container import Services
from bot.services.health import HealthService
from bot.services.installs import InstallService
from bot.services.links import LinkService
from bot.services.notifier import QueueNotifier
from bot.services.templates import TemplateLibrary
from bot.store import Store
from bot.store.alerts import AlertLedger
from bot.store.health import HealthLedger
from bot.store.queue import JobQueue, process_id
from bot.store.store import WORKER_TIMEOUT

__all__ = [
    "WorkerProcess",
    "build_services",
    "build_worker",
    "cyclr_context",
    "run_bot",
    "run_worker",
    "start_sandbox",
    "wait_idle",
]

log = logging.getLogger(__name__)

#: Threads for the short work an intake process does just after an ack (see bot.after_ack).
AFTER_ACK_THREADS = 16
#: Seconds a sign-in link's connector is watched for authorisation.
WATCH_FOR = 15 * 60.0
#: The environment variable that tells a worker child that its Cyclr is the parent's sandbox.
SANDBOX_ENV = "CYCLR_BOT_SANDBOX"


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
    """Wire the services; brings the database schema up to date."""
    cyclr = cyclr or make_cyclr_client(settings)
    store = store or Store(settings.database_url)
    store.create_schema()
    queue = JobQueue(store.engine)
    notifier = QueueNotifier(queue, watch_for=WATCH_FOR)
    installs = InstallService(
        cyclr, store, notifier=notifier, grace=timedelta(seconds=settings.reconcile_grace)
    )
    return Services(
        settings=settings,
        cyclr=cyclr,
        store=store,
        queue=queue,
        catalogue=CatalogueCache(
            lambda account_id: cyclr.list_connectors(account_id), ttl=settings.catalogue_ttl
        ),
        templates=TemplateLibrary(lambda account_id: cyclr.list_templates(account_id)),
        accounts=AccountDirectory(
            cyclr.list_accounts,
            store,
            default_account_id=settings.cyclr_account_id,
            ttl=settings.catalogue_ttl,
        ),
        installs=installs,
        links=LinkService(cyclr, settings, store, installs, notifier=notifier, watch_for=WATCH_FOR),
        health=HealthService(
            cyclr, store, HealthLedger(store.engine), notifier, default_account_id=settings.cyclr_account_id
        ),
        alerts=AlertService(cyclr, AlertLedger(store.engine), queue, settings),
        notifier=notifier,
        after_ack=AfterAck(threads=AFTER_ACK_THREADS),
        owner=process_id(),
    )


def build_worker(services: Services, messenger: Any = None) -> Any:
    """The consumer that runs every job kind, with the timed ones on their schedule."""
    from bot.slack.alerts import AlertJobs
    from bot.slack.app import make_messenger
    from bot.slack.cycles import CycleJobs
    from bot.slack.deploys import DeployJobs
    from bot.slack.health import HealthJobs
    from bot.slack.jobs import SlackJobs
    from bot.slack.replies import CommandReplies
    from bot.worker import Consumer, Registry
    from bot.worker.timed import register_timed, schedule_for

    registry = Registry()
    messenger = messenger or make_messenger(services)
    SlackJobs(services, messenger).register(registry)
    CommandReplies(services, messenger).register(registry)
    HealthJobs(services, messenger).register(registry)
    AlertJobs(services, messenger).register(registry)
    CycleJobs(services, messenger).register(registry)
    DeployJobs(services, messenger).register(registry)
    register_timed(registry, services)
    return Consumer(
        services.queue,
        registry,
        threads=services.settings.workers,
        lease=services.settings.job_lease,
        schedule=schedule_for(services),
        owner=services.owner,
    )


def build_bot(settings: Settings) -> tuple[Services, Any, Any]:
    """Services, Bolt app and messenger for one intake process."""
    from bot.slack.app import create_app

    services = build_services(settings)
    app, messenger = create_app(services)
    services.catalogue.prime(services.accounts.default_account_id)
    return services, app, messenger


#: Seconds a stopping worker lets its running jobs finish; what is left is claimed again by
#: another worker when its lease runs out.
WORKER_DRAIN = 20


def run_worker(settings: Settings) -> int:
    """``cyclr-bot worker``: run jobs until SIGTERM or SIGINT, then let running ones finish."""
    # Its jobs wait on nobody's 3 s: the store's waits are bounded more loosely than intake's.
    services = build_services(settings, store=Store(settings.database_url, timeout=WORKER_TIMEOUT))
    consumer = build_worker(services).start()
    log.info("worker running (%d threads)", settings.workers)
    _wait_for_signal()
    log.info("worker stopping: letting running jobs finish (up to %d s)", WORKER_DRAIN)
    consumer.stop(wait=WORKER_DRAIN)
    services.close()
    log.info("worker stopped")
    return 0


class WorkerProcess:
    """The ``cyclr-bot worker`` child of ``cyclr-bot run``, restarted when it dies."""

    def __init__(self, settings: Settings, *, env_file: str | None) -> None:
        self._env = dict(os.environ)
        if settings.sandbox:  # the child talks to this process's sandbox, and says so
            self._env.update(
                CYCLR_API_URL=settings.cyclr_api_url,
                CYCLR_SERVICE_URL=settings.cyclr_service_url,
                CYCLR_CLIENT_ID=settings.cyclr_client_id,
                CYCLR_CLIENT_SECRET=settings.cyclr_client_secret,
                CYCLR_ACCOUNT_ID=settings.cyclr_account_id,
                **{SANDBOX_ENV: "1"},
            )
        self._env.setdefault("SLACK_BOT_TOKEN", settings.slack_bot_token)
        self._command = [sys.executable, "-m", "bot"]
        if env_file:
            self._command += ["--env-file", env_file]
        self._command.append("worker")
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)

    def start(self) -> WorkerProcess:
        self._thread.start()
        return self

    def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            self._child = subprocess.Popen(self._command, env=self._env, stdin=subprocess.DEVNULL)
            code = self._child.wait()
            if self._stopping.is_set():
                return
            log.warning("the worker process exited (%s); starting another in %.0f s", code, delay)
            self._stopping.wait(delay)
            delay = min(delay * 2, 30.0)

    def stop(self, timeout: float = 25.0) -> None:
        self._stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()


def _wait_for_signal() -> None:
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Python runs signal handlers in the main thread only; a signal the kernel hands to one of
    # the other threads (sockets, jobs) does not wake a main thread blocked in an untimed wait.
    while not stop.wait(0.5):
        pass


def run_bot(
    settings: Settings,
    *,
    http: bool,
    host: str = "0.0.0.0",
    worker: bool = True,
    env_file: str | None = None,
) -> int:
    """Start intake in Socket Mode or HTTP mode (and a worker process unless ``worker`` is
    False), and block until stopped."""
    sandbox = None
    owner = os.getpid()
    if settings.sandbox:
        settings, sandbox = start_sandbox(settings)
    child = WorkerProcess(settings, env_file=env_file).start() if worker else None
    try:
        if http or settings.mode == "http":
            return _run_http(settings, host)
        return _run_socket(settings, host)
    finally:
        # A gunicorn worker is forked inside _run_http and leaves through this frame too; the
        # sandbox's server thread lives only in the parent, so stopping it there would hang.
        if os.getpid() == owner:
            if child is not None:
                log.info("stopping the worker process")
                child.stop()
            if sandbox is not None:
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
    from bot.slack.socket_mode import SocketModeClient

    app_token = settings.slack_app_token or ""
    if settings.public_url:
        # The link pages need a web server: gunicorn serves them, and its worker holds the
        # Socket Mode connections too (no /slack/events: Slack talks over the sockets).
        from bot.web.app import create_web_app
        from bot.web.server import GunicornServer, server_options

        def load() -> Any:
            services, app, _ = build_bot(settings)
            client = SocketModeClient(app, app_token).connect()
            log.info("Socket Mode connected; link pages on %s:%d", host, settings.port)
            return create_web_app(services, None, socket_connected=client.is_connected)

        options = server_options(host, settings.port, workers=1, threads=settings.web_threads)
        GunicornServer(load, options).run()
        return 0

    from bot.web.server import freeze_startup_heap

    services, app, _ = build_bot(settings)
    client = SocketModeClient(app, app_token)
    freeze_startup_heap()
    client.connect()
    log.info("Socket Mode connected (%d connections)", client.live_connections)
    _wait_for_signal()
    log.info("stopping: closing the Socket Mode connections")
    client.close()
    services.close()
    return 0


def wait_idle(services: Services, timeout: float = 10.0) -> bool:
    """Block until this process's after-ack work is done and no job is due or running (tests,
    the playground); True if so within ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if services.after_ack.pending == 0 and services.queue.idle():
            return True
        time.sleep(0.02)
    return False
