"""``make bench``: the bot in HTTP mode under concurrent Slack load, next to a plain Bolt peer.

    python -m benchmarks.run [--quick] [--apps ours,peer] [--concurrency 10,20,50] ...

For each app in turn (ours, then the peer in :mod:`benchmarks.peer_app`), in a fresh Cyclr
sandbox and Slack Web API stand-in running in this process:

1. start it as gunicorn would run it in production (ours: ``cyclr-bot run --http``, its
   default gthread workers; the peer: plain ``gunicorn``, one sync worker) and time the
   start-up to a 200 on ``/healthz``;
2. warm up with one ``/cyclr install`` and one options request (this gives the modal the
   later payloads are built from);
3. typeahead: the search micro-benchmark's varied queries as signed options requests over
   the whole sandbox catalogue;
4. for each concurrency: that many users run ``/cyclr install`` at the same moment (ack
   latency, modals opened), then submit their modal at the same moment (ack latency, and
   the time until the stand-in receives the DM, minus the sandbox's install latency);
5. ours only (the peer has no deploys): ``/cyclr templates`` once for the *Deploy* button of
   :attr:`Config.template` (no connector of it needs auth, so a deploy is the deploy alone);
   then for each concurrency that many users click *Deploy* at the same moment (the bot opens
   each a ``cyclr_deploy`` modal) and submit it at the same moment (ack latency, cycles made
   in the sandbox, checklist DMs, Cyclr calls per deploy);
6. read the Cyclr call counts from the sandbox and the server's RSS from /proc.

Then run the search micro-benchmark and :mod:`benchmarks.socket_mode` (slack_sdk's Socket
Mode client and ours across refreshes and drops; ``--no-socket-mode`` skips it) and
:mod:`benchmarks.health_sweep` (what a connector health sweep costs), print the
table (ours, peer, peer/ours), check the targets, and write ``docs/benchmarks.md`` with
``docs/benchmarks.png`` (and both in-process benchmarks).
Every subprocess is stopped on the way out, including on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks import health_sweep, search_bench
from benchmarks import socket_mode as socket_mode_bench
from benchmarks.load import LoadGenerator, Sample, Target, closed_loop
from benchmarks.procs import Memory, ServerProcess, free_port
from benchmarks.report import Report, load_average, machine_info, print_report, write_docs
from bot.cyclr.sandbox import CyclrSandbox
from bot.playground import payloads as sr
from bot.playground.standin import DEFAULT_USER_ID, SlackStandin

__all__ = ["AppRun", "Config", "DeployPhase", "InstallPhase", "main", "run_app"]

ROOT = Path(__file__).resolve().parent.parent
BOT_TOKEN = "xoxb-bench-0001-bot-token"
NOTIFY_CHANNEL = "CBENCH01"
APPS = {"ours": "Cyclr for Slack", "peer": "Bolt peer"}
_NAME = re.compile(r"bench-[a-z]+-c\d+-\d{4}")


@dataclass(frozen=True, slots=True)
class Config:
    concurrencies: tuple[int, ...] = (10, 20, 50)
    install_latency: float = 1.5
    api_latency: float = 0.0  #: added to every Cyclr call, as a round trip to a real Cyclr would be
    typeahead_queries: int = 200
    typeahead_concurrency: int = 1
    timeout: float = 10.0  #: client timeout per request
    drain: float = 120.0  #: longest wait for an app to finish a phase's background work
    connector: str = "Webhook"  #: installed by every submission (it needs no credentials)
    template: str = "Webhook > HTTP: forward events"  #: deployed by ours (no connector needs auth)
    ours_env: tuple[tuple[str, str], ...] = ()  #: extra settings for our bot (experiments)
    ours_workers: int = 0  #: ``cyclr-bot worker`` processes to start beside ours (a shared database)


@dataclass(slots=True)
class InstallPhase:
    """One concurrency level: N users run ``/cyclr install``, then N submit their modal."""

    concurrency: int
    commands: list[Sample] = field(default_factory=list)
    modals_opened: int = 0
    modal_delays: list[float] = field(default_factory=list)  #: command sent → views.open received, s
    submissions: list[Sample] = field(default_factory=list)
    dm_delays: list[float] = field(default_factory=list)  #: seconds, install latency taken off


@dataclass(slots=True)
class DeployPhase:
    """One concurrency level (ours only): N users click *Deploy*, then N submit their modal."""

    concurrency: int
    clicks: list[Sample] = field(default_factory=list)
    modals_opened: int = 0
    submissions: list[Sample] = field(default_factory=list)
    accepted: int = 0  #: submissions answered ``response_action: update`` (no errors)
    made: int = 0  #: cycles of the template the sandbox gained
    checklists: int = 0  #: checklist DMs posted


@dataclass(slots=True)
class AppRun:
    """Everything measured for one app."""

    key: str
    label: str
    startup: float = 0.0
    typeahead: list[Sample] = field(default_factory=list)
    typeahead_catalogue_gets: int = 0
    phases: list[InstallPhase] = field(default_factory=list)
    install_cyclr_calls: int = 0
    installs_submitted: int = 0
    installs_made: int = 0
    token_calls: int = 0
    cyclr_calls: int = 0
    catalogue_size: int = 0
    catalogue_pages: int = 1
    memory: Memory | None = None
    deploy_phases: list[DeployPhase] = field(default_factory=list)
    deploy_cyclr_calls: int = 0  #: every Cyclr call from the first *Deploy* click to the last DM
    deploys_submitted: int = 0
    deploys_made: int = 0

    @property
    def catalogue_fetches_per_100(self) -> float:
        """Whole-catalogue fetches per 100 typeahead requests (GET pages / pages per catalogue)."""
        if not self.typeahead:
            return 0.0
        return self.typeahead_catalogue_gets / self.catalogue_pages * 100 / len(self.typeahead)

    @property
    def cyclr_calls_per_install(self) -> float:
        return self.install_cyclr_calls / self.installs_submitted if self.installs_submitted else 0.0

    @property
    def cyclr_calls_per_deploy(self) -> float:
        """Cyclr calls of the deploy phases per deploy made (NaN when none was made)."""
        return self.deploy_cyclr_calls / self.deploys_made if self.deploys_made else math.nan


# -- the two apps ----------------------------------------------------------------------------------


def _clean_environ() -> dict[str, str]:
    """This process's environment without any Slack, Cyclr or server settings of the user's."""
    prefixes = ("SLACK_", "CYCLR_", "WEB_", "GUNICORN_", "PORT", "LOG_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def _app_env(sandbox: CyclrSandbox, slack: SlackStandin, workdir: Path) -> dict[str, str]:
    return _clean_environ() | {
        "PYTHONUNBUFFERED": "1",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": sr.SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "CYCLR_API_URL": sandbox.api_url,
        "CYCLR_CLIENT_ID": sandbox.client_id,
        "CYCLR_CLIENT_SECRET": sandbox.client_secret,
        "CYCLR_ACCOUNT_ID": sandbox.default_account_id,
        "CYCLR_SERVICE_URL": sandbox.service_url,
        "CYCLR_NOTIFY_CHANNEL": NOTIFY_CHANNEL,
        "CYCLR_BOT_DATABASE_URL": f"sqlite:///{workdir / 'bot.db'}",
        "LOG_LEVEL": "WARNING",
    }


def _executable(name: str) -> str | None:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else None


def server_for(
    key: str, sandbox: CyclrSandbox, slack: SlackStandin, workdir: Path, config: Config
) -> ServerProcess:
    port = free_port()
    if key == "ours":
        entry = _executable("cyclr-bot")
        argv = [entry] if entry else [sys.executable, "-m", "bot"]
        argv += ["--env-file", os.devnull, "run", "--http", "--host", "127.0.0.1", "--port", str(port)]
    else:
        argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "benchmarks.peer_app:web"]
    env = _app_env(sandbox, slack, workdir)
    if key == "ours":
        env.update(config.ours_env)
    return ServerProcess(key, argv, env=env, cwd=ROOT, port=port, log=workdir / f"{key}.log")


def extra_worker(server: ServerProcess, number: int, workdir: Path) -> ServerProcess:
    """One more ``cyclr-bot worker`` beside ours, with its settings (it serves no port)."""
    entry = _executable("cyclr-bot")
    argv = ([entry] if entry else [sys.executable, "-m", "bot"]) + ["--env-file", os.devnull, "worker"]
    name = f"worker-{number}"
    return ServerProcess(name, argv, env=server.env, cwd=ROOT, port=server.port, log=workdir / f"{name}.log")


# -- driving one app -------------------------------------------------------------------------------


class Driver:
    """Sends one app signed requests and reads what it did from the two stand-ins."""

    def __init__(
        self,
        run: AppRun,
        server: ServerProcess,
        sandbox: CyclrSandbox,
        slack: SlackStandin,
        config: Config,
        load: LoadGenerator,
    ) -> None:
        self.run = run
        self.load = load
        self.server = server
        self.sandbox = sandbox
        self.slack = slack
        self.config = config
        self.target = Target.from_url(server.url)
        self.connector_id = str(sandbox.connector_by_name(config.connector)["Id"])
        self.template: dict[str, Any] = {}
        self.deploy_button: dict[str, Any] = {}
        self.deploy_template_id = ""
        self._trigger_users: dict[str, str] = {}

    # -- waiting -----------------------------------------------------------------------------

    def _activity(self) -> tuple[int, int]:
        return len(self.slack.calls()), self.sandbox.count()

    def settle(self, done: Callable[[], bool], *, quiet: float = 4.0) -> bool:
        """Wait until ``done()``, or until neither stand-in has heard from the app for ``quiet``
        seconds (it dropped work), or :attr:`Config.drain` passed; then wait for one quiet
        second so the next phase starts on an idle app. True when ``done()`` came true."""
        deadline = time.monotonic() + self.config.drain
        finished = False
        last, changed = self._activity(), time.monotonic()
        while time.monotonic() < deadline:
            if done():
                finished = True
                break
            time.sleep(0.05)
            now = self._activity()
            if now != last:
                last, changed = now, time.monotonic()
            elif time.monotonic() - changed > quiet:
                break
        self.quiesce()
        return finished

    def quiesce(self, quiet: float = 1.0) -> None:
        deadline = time.monotonic() + self.config.drain
        last, changed = self._activity(), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - changed < quiet:
            time.sleep(0.05)
            now = self._activity()
            if now != last:
                last, changed = now, time.monotonic()

    # -- requests ------------------------------------------------------------------------------

    def _command(self, user_id: str) -> tuple[bytes, dict[str, str]]:
        trigger_id = self.slack.new_trigger_id(user_id)  # valid for 3 s from now, as Slack's are
        self._trigger_users[trigger_id] = user_id
        return sr.slash_command_request(
            "install", user_id=user_id, trigger_id=trigger_id, response_url=self.slack.response_url()
        )

    def _opened_views(self, since: int) -> dict[str, tuple[dict[str, Any], float]]:
        """Views opened by ``views.open`` calls after call number ``since``, and when the
        stand-in received each call, by user."""
        opened = {}
        for call in self.slack.calls()[since:]:
            if call.method == "views.open" and call.ok:
                user = self._trigger_users.get(str(call.args.get("trigger_id")))
                if user is not None:
                    opened[user] = (self.slack.view(call.response["view"]["id"]), call.time)
        return opened

    def _views_open_calls(self, since: int) -> int:
        return sum(1 for c in self.slack.calls()[since:] if c.method == "views.open")

    # -- phases --------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """One command and one options request; keeps the opened modal as the payload template."""
        since = len(self.slack.calls())
        command = self._command(DEFAULT_USER_ID)
        sample = self.load.burst(self.target, [command], timeout=self.config.timeout)[0]
        self.settle(lambda: self._views_open_calls(since) >= 1)
        opened = self._opened_views(since)
        if DEFAULT_USER_ID not in opened:
            raise RuntimeError(
                f"{self.run.label} opened no modal on /cyclr install (HTTP {sample.status}):\n"
                f"{self.server.log_tail()}"
            )
        self.template = opened[DEFAULT_USER_ID][0]
        self.typeahead(["sales"])
        self.quiesce()

    def typeahead(self, queries: Sequence[str]) -> list[Sample]:
        view = sr.view_payload(self.template)
        makers = [
            partial(sr.block_suggestion_request, query, action_id="connector", view=view)
            for query in queries
        ]
        return closed_loop(
            self.target, makers, concurrency=self.config.typeahead_concurrency, timeout=self.config.timeout
        )

    def install_phase(self, concurrency: int) -> InstallPhase:
        phase = InstallPhase(concurrency)
        users = [f"UB{concurrency:03d}{i:04d}" for i in range(concurrency)]
        for user in users:
            self.slack.add_user(user)

        since = len(self.slack.calls())
        commands = [self._command(u) for u in users]
        phase.commands = self.load.burst(self.target, commands, timeout=self.config.timeout)
        self.settle(lambda: self._views_open_calls(since) >= concurrency)
        opened_at = self._opened_views(since)
        opened = {user: view for user, (view, _) in opened_at.items()}
        phase.modals_opened = len(opened)
        for user, sample in zip(users, phase.commands, strict=True):
            if user in opened_at:
                phase.modal_delays.append(opened_at[user][1] - sample.sent)

        since = len(self.slack.calls())
        names = [f"bench-{self.run.key}-c{concurrency}-{i:04d}" for i in range(concurrency)]
        requests = []
        for i, (user, name) in enumerate(zip(users, names, strict=True)):
            # A user whose modal never opened submits a copy of the warm-up modal (own view id).
            view = opened.get(user) or dict(self.template, id=f"VB{concurrency:03d}{i:06d}", root_view_id="")
            values = {
                "connector": sr.select_input(sr.option(self.connector_id, self.config.connector)),
                "name": name,
            }
            requests.append(sr.view_submission_request(sr.view_payload(view, values=values), user_id=user))
        phase.submissions = self.load.burst(self.target, requests, timeout=self.config.timeout)
        self.settle(lambda: len(self._dms(since)) >= concurrency)
        dms = self._dms(since)
        for name, sample in zip(names, phase.submissions, strict=True):
            if name in dms:
                phase.dm_delays.append(dms[name] - sample.sent - self.config.install_latency)
        return phase

    # -- deploys (ours only) ----------------------------------------------------------------------

    def deploy_warm_up(self) -> None:
        """``/cyclr templates`` once: keeps the *Deploy* button of :attr:`Config.template`."""
        found = self.sandbox.template_by_name(self.config.template)
        self.deploy_template_id = str(found["Id"])
        hook = "bench-templates"
        words = re.sub(r"[^a-z ]+", " ", self.config.template.lower().split(":")[0])
        command = sr.slash_command_request(
            f"templates {' '.join(words.split())}",
            user_id=DEFAULT_USER_ID,
            trigger_id=self.slack.new_trigger_id(DEFAULT_USER_ID),
            response_url=self.slack.response_url(hook),
        )
        sample = self.load.burst(self.target, [command], timeout=self.config.timeout)[0]
        self.settle(lambda: bool(self.slack.response_posts(hook)))
        for post in self.slack.response_posts(hook):
            for button in _buttons(post.args):
                value = json.loads(str(button.get("value") or "{}"))
                labelled = button.get("text", {}).get("text") == "Deploy"
                if labelled and value.get("t") == self.deploy_template_id:
                    self.deploy_button = button
        if not self.deploy_button:
            raise RuntimeError(
                f"{self.run.label} listed no Deploy button for {self.config.template!r} on"
                f" /cyclr templates (HTTP {sample.status}):\n{self.server.log_tail()}"
            )
        self.quiesce()

    def _cycles(self) -> int:
        return sum(1 for c in self.sandbox.cycles() if c.get("TemplateId") == self.deploy_template_id)

    def _checklists(self, since: int) -> int:
        return sum(
            1
            for c in self.slack.calls()[since:]
            if c.method == "chat.postMessage"
            and c.ok
            and str(c.response.get("channel", "")).startswith("D")
            and "Deployed" in json.dumps(c.args)
        )

    def deploy_phase(self, concurrency: int) -> DeployPhase:
        phase = DeployPhase(concurrency)
        users = [f"UD{concurrency:03d}{i:04d}" for i in range(concurrency)]
        for user in users:
            self.slack.add_user(user)

        since = len(self.slack.calls())
        clicks = []
        for user in users:
            trigger_id = self.slack.new_trigger_id(user)  # valid for 3 s from now
            self._trigger_users[trigger_id] = user
            clicks.append(sr.block_actions_request(
                str(self.deploy_button["action_id"]), element=self.deploy_button, user_id=user,
                trigger_id=trigger_id, response_url=self.slack.response_url(),
            ))
        phase.clicks = self.load.burst(self.target, clicks, timeout=self.config.timeout)
        self.settle(lambda: self._views_open_calls(since) >= concurrency)
        opened = {user: view for user, (view, _) in self._opened_views(since).items()}
        phase.modals_opened = sum(1 for v in opened.values() if v.get("callback_id") == "cyclr_deploy")

        account = str(json.loads(str(self.deploy_button["value"]))["a"])
        values = {
            "template": sr.select_input(sr.option(self.deploy_template_id, self.config.template)),
            "account": sr.select_input(sr.option(account, account)),
        }
        since = len(self.slack.calls())
        cycles_before = self._cycles()
        requests = [
            # A user whose modal never opened submits nothing the bot sealed for them: refused.
            sr.view_submission_request(sr.view_payload(view, values=values), user_id=user)
            for user, view in opened.items()
        ]
        phase.submissions = self.load.burst(self.target, requests, timeout=self.config.timeout)
        for sample in phase.submissions:
            try:
                answer = json.loads(sample.body or b"{}")
            except ValueError:
                continue
            if isinstance(answer, dict) and answer.get("response_action") == "update":
                phase.accepted += 1
        self.settle(
            lambda: self._cycles() - cycles_before >= len(requests)
            and self._checklists(since) >= len(requests)
        )
        phase.made = self._cycles() - cycles_before
        phase.checklists = self._checklists(since)
        return phase

    def _dms(self, since: int) -> dict[str, float]:
        """When each benchmark install's DM reached the stand-in, by install name."""
        found: dict[str, float] = {}
        for call in self.slack.calls()[since:]:
            if call.method != "chat.postMessage" or not call.ok:
                continue
            if not str(call.response.get("channel", "")).startswith("D"):
                continue
            for name in _NAME.findall(json.dumps(call.args)):
                found.setdefault(name, call.time)
        return found


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The buttons of a message's blocks (accessories and actions)."""
    found = []
    for block in message.get("blocks") or []:
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "button":
            found.append(accessory)
        found.extend(e for e in block.get("elements") or [] if e.get("type") == "button")
    return found


_ID = re.compile(r"/(?:\d+|[0-9a-f]{8}-[0-9a-f-]{27,})(?=/|$)")


def _call_mix(requests: Sequence[Any]) -> str:
    """``METHOD /path ×n`` for the recorded requests, ids written ``{id}``, most frequent first."""
    counts = Counter(f"{r.method} {_ID.sub('/{id}', r.path)}" for r in requests)
    return ", ".join(f"{what} ×{n}" for what, n in counts.most_common()) or "none"


def run_app(
    key: str, config: Config, workdir: Path, log: Callable[[str], None], load: LoadGenerator
) -> AppRun:
    """Start one app against fresh stand-ins, run every phase (bursts sent by ``load``), stop it."""
    run = AppRun(key, APPS[key])
    with ExitStack() as stack:
        sandbox = CyclrSandbox(install_latency=config.install_latency, api_latency=config.api_latency).start()
        stack.callback(sandbox.stop)
        slack = SlackStandin().start()
        stack.callback(slack.close)
        server = server_for(key, sandbox, slack, workdir, config)
        stack.callback(server.stop)
        server.start()
        run.startup = server.wait_healthy()
        log(f"{run.label}: healthy after {run.startup:.2f} s (pid {server.pid}, {server.url})")
        if key == "ours":
            for number in range(1, config.ours_workers + 1):
                worker = extra_worker(server, number, workdir)
                stack.callback(worker.stop)
                worker.start()
                log(f"{run.label}: started {worker.name} (pid {worker.pid})")
        driver = Driver(run, server, sandbox, slack, config, load)
        driver.warm_up()
        run.catalogue_size = len(sandbox.state.connectors())
        run.catalogue_pages = max(1, -(-run.catalogue_size // 100))

        gets = sandbox.count("GET", path="/v1.0/connectors")
        queries = search_bench.query_mix(config.typeahead_queries)
        run.typeahead = driver.typeahead(queries)
        run.typeahead_catalogue_gets = sandbox.count("GET", path="/v1.0/connectors") - gets
        driver.quiesce()
        log(f"{run.label}: typeahead done ({len(queries)} queries)")

        calls_before = sandbox.count()
        installed_before = len(sandbox.installed())
        for concurrency in config.concurrencies:
            phase = driver.install_phase(concurrency)
            run.phases.append(phase)
            log(
                f"{run.label}: c={concurrency}: {phase.modals_opened}/{concurrency} modals, "
                f"{len(phase.dm_delays)}/{concurrency} DMs"
            )
        run.install_cyclr_calls = sandbox.count() - calls_before
        run.installs_submitted = sum(len(p.submissions) for p in run.phases)
        run.installs_made = len(sandbox.installed()) - installed_before
        # Counted before the deploys, so that both apps' runs did the same work.
        run.token_calls = sandbox.count("POST", path="/oauth/token")
        run.cyclr_calls = sandbox.count()
        if key == "ours":
            driver.deploy_warm_up()
            calls_before = sandbox.count()
            for concurrency in config.concurrencies:
                deploy = driver.deploy_phase(concurrency)
                run.deploy_phases.append(deploy)
                log(
                    f"{run.label}: deploys c={concurrency}: {deploy.modals_opened}/{concurrency} modals, "
                    f"{deploy.accepted}/{len(deploy.submissions)} accepted, {deploy.made} cycles, "
                    f"{deploy.checklists} checklists"
                )
            run.deploy_cyclr_calls = sandbox.count() - calls_before
            log(f"{run.label}: deploy phases' Cyclr calls: {_call_mix(sandbox.requests[calls_before:])}")
            run.deploys_submitted = sum(len(p.submissions) for p in run.deploy_phases)
            run.deploys_made = sum(p.made for p in run.deploy_phases)
        run.memory = server.memory()
        errors = sandbox.server_errors
        if errors:
            log(f"{run.label}: the sandbox reported {len(errors)} internal error(s); first:\n{errors[0]}")
    return run


# -- entry point -----------------------------------------------------------------------------------


def _ints(text: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers")
    return values


def _apps(text: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [v for v in values if v not in APPS]
    if not values or unknown:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(APPS)}")
    return values


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("KEY=VALUE")
    return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="The bot and a plain Bolt peer in HTTP mode under concurrent signed Slack requests.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small phases (concurrency 5,10; 40 queries); writes docs/ only with --docs")
    parser.add_argument("--apps", type=_apps, default=None, help="ours,peer (default both)")
    parser.add_argument("--concurrency", type=_ints, default=None, help="default 10,20,50")
    parser.add_argument("--queries", type=int, default=None, help="typeahead requests (default 200)")
    parser.add_argument("--typeahead-concurrency", type=int, default=1)
    parser.add_argument("--install-latency", type=float, default=1.5, help="sandbox install latency, s")
    parser.add_argument("--api-latency", type=float, default=0.0,
                        help="a round trip added to every Cyclr call, s (default 0: answered at once)")
    parser.add_argument("--ours-env", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for our bot only, e.g. WEB_CONCURRENCY=2 (repeatable)")
    parser.add_argument("--ours-workers", type=int, default=0, metavar="N",
                        help="start N more `cyclr-bot worker` processes beside ours (with a"
                        " CYCLR_BOT_DATABASE_URL they share, e.g. PostgreSQL)")
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout per request, s")
    parser.add_argument("--docs", type=Path, default=None,
                        help="Markdown report to write (default docs/benchmarks.md; the plot beside it)")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the servers' logs here")
    parser.add_argument("--no-socket-mode", action="store_true",
                        help="skip the Socket Mode benchmark (benchmarks.socket_mode)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so the clean-up below runs for it too."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _search_microbenchmark(quick: bool) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        search_bench.main(["--rounds", "2" if quick else "5"])
    return out.getvalue().rstrip()


def _socket_mode_benchmark(quick: bool) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        socket_mode_bench.main(["--quick"] if quick else [])
    return out.getvalue().rstrip()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    quick = bool(args.quick)
    config = Config(
        concurrencies=args.concurrency or ((5, 10) if quick else (10, 20, 50)),
        install_latency=args.install_latency,
        api_latency=max(0.0, args.api_latency),
        typeahead_queries=args.queries or (40 if quick else 200),
        typeahead_concurrency=max(1, args.typeahead_concurrency),
        timeout=args.timeout,
        ours_env=tuple(args.ours_env),
        ours_workers=args.ours_workers,
    )
    apps = args.apps or tuple(APPS)
    docs: Path | None = None
    if not args.no_docs and (args.docs is not None or not quick):
        docs = args.docs or ROOT / "docs" / "benchmarks.md"

    def log(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    started = time.monotonic()
    load_before = load_average()
    runs: dict[str, AppRun] = {}
    with (
        _sigterm_as_interrupt(),
        tempfile.TemporaryDirectory(prefix="cyclr-bench-") as tmp,
        LoadGenerator() as load,
    ):
        try:
            for key in apps:
                workdir = Path(tmp) / key
                workdir.mkdir()
                log(f"starting {APPS[key]}")
                runs[key] = run_app(key, config, workdir, log, load)
        except KeyboardInterrupt:
            log("interrupted; every server was stopped")
            return 130
        finally:
            if args.keep_logs is not None:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log_file in Path(tmp).glob("*/*.log"):
                    (args.keep_logs / log_file.name).write_bytes(log_file.read_bytes())
        log("search micro-benchmark")
        search = _search_microbenchmark(quick)
        socket_mode = ""
        if not args.no_socket_mode:
            log("Socket Mode: refreshes and drops, slack_sdk's client and ours")
            socket_mode = _socket_mode_benchmark(quick)
        log("connector health sweep")
        health = "\n".join(health_sweep.sweep_costs(20 if quick else 100, 50))

    report = Report(
        runs=[runs[key] for key in apps],
        config=config,
        machine=machine_info() | {"load average, start → end": f"{load_before} → {load_average()}"},
        date=datetime.now(UTC),
        command=" ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]),
        duration=time.monotonic() - started,
        search=search,
        socket_mode=socket_mode,
        health=health,
    )
    missed = print_report(report)
    if docs is not None:
        write_docs(report, docs)
        log(f"wrote {docs.relative_to(ROOT) if docs.is_relative_to(ROOT) else docs} and its plot")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
