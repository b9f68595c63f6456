"""Fault suite over real HTTP: a failing Cyclr, a rate-limiting Slack, a bot killed and restarted.

Every run ends with the same audit (see :mod:`tests.faults.audit`): each submission in a
definite recorded state, the requester and the team told, no install made twice, none
lost, no secret in a log line or a Slack message. The seeds are fixed so a failure can be
replayed; ``CYCLR_BOT_FAULT_SEED`` overrides them.
"""

from __future__ import annotations

import io
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from bot.cyclr.models import AuthKind
from bot.cyclr.sandbox import FAULT_KINDS, CyclrSandbox, Fault
from bot.jobs import JobRejected
from bot.logs import configure_logging
from bot.playground import payloads as sr
from bot.playground.standin import SlackStandin
from bot.runtime import Maintenance
from bot.store import InstallRecord, InstallState, Store
from tests.e2e.harness import BOT_TOKEN, NOTIFY_CHANNEL, Bot, running_bot
from tests.faults import audit as A
from tests.faults.audit import Submission
from tests.faults.proc import BOT_TOKEN as BOT_TOKEN_PROC
from tests.faults.proc import BotProcess, bot_env, group_alive

SOAK = bool(os.environ.get("CYCLR_BOT_SOAK"))
soak_only = pytest.mark.skipif(not SOAK, reason="a soak run: `make soak` (CYCLR_BOT_SOAK=1) runs it")
SEED = int(os.environ.get("CYCLR_BOT_FAULT_SEED", "20240611"))
ACK_LIMIT = 3.0  # Slack's deadline for answering a request


# -- running submissions against an in-process bot ------------------------------------------------


def warm_up(bot: Bot) -> str:
    """Add the test users; load the catalogue and the account list (the usual state); the account."""
    for user in A.USERS:
        bot.slack.add_user(user)
    account = bot.services.accounts.default_account_id
    bot.services.catalogue.get(account, timeout=30)
    bot.services.accounts.all()
    return account


def open_modal(bot: Bot, submission: Submission) -> None:
    """``/cyclr install`` as the submission's user; remembers the modal the bot opened."""
    before = len(bot.slack.calls("views.open"))
    response = bot.command("install", user_id=submission.user_id)
    assert response.status_code == 200, response.text
    call = bot.slack.wait_for("views.open", count=before + 1, timeout=10)[before]
    assert call.ok, call.summary()
    submission.view_id = call.response["view"]["id"]
    submission.view = bot.slack.view(submission.view_id)


def submit(bot: Bot, submission: Submission) -> float:
    """Submit the modal once; record how the bot acked; the seconds the ack took."""
    values = sr.state_values(A.state_inputs(bot.sandbox, submission))
    view = sr.view_payload(submission.view, values=values, view_id=submission.view_id)
    started = time.monotonic()
    response = bot.post(sr.view_submission_request(view, user_id=submission.user_id))
    took = time.monotonic() - started
    submission.acks.append(A.classify_ack(response.status_code, response.text))
    return took


def rate_limit_bursts(bot: Bot, bursts: int, gap: float = 0.5) -> None:
    """Slack answers 429 (Retry-After: 1) to two chat.postMessage calls, ``bursts`` times.

    A burst is armed ``gap`` seconds after the previous one was used up; with no gap, one
    post may meet more 429s than slack_sdk's three retries absorb, and the messenger's own
    retry takes over (see test_a_post_rate_limited_beyond_the_retries_is_still_delivered).
    """
    for n in range(1, bursts + 1):
        bot.slack.fail_next("chat.postMessage", count=2, status=429, retry_after=1)
        used = A.wait_until(
            lambda n=n: sum(c.status == 429 for c in bot.slack.calls("chat.postMessage")) >= 2 * n,
            timeout=60,
        )
        if not used:
            return
        time.sleep(gap)  # pacing the bursts, not waiting for anything


@dataclass
class Run:
    """What a fault run left behind, for the tests to judge."""

    seed: int
    submissions: list[Submission]
    rows: list[InstallRecord]
    audit: A.Audit
    figures: dict[str, Any]
    settled: bool
    waiting: list[str]
    ack_times: list[float] = field(default_factory=list)
    logs: str = ""
    slack_text: str = ""
    db_text: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    job_failures: int = 0
    seconds: float = 0.0
    posts: list[Any] = field(default_factory=list)  # the ok chat.postMessage calls

    def report(self) -> str:
        reasons = Counter(r.reason for r in self.rows if r.state is InstallState.FAILED)
        lines = [
            f"seed {self.seed}; {len(self.submissions)} submissions; settled={self.settled}"
            f" in {self.seconds:.1f}s; faults {self.figures}",
            self.audit.summary(),
            *(f"    failed x{n}: {reason}" for reason, n in reasons.most_common()),
        ]
        if self.waiting:
            lines.append(f"still waiting: {self.waiting[:10]}")
        return "\n".join(lines)


def rows_of(bot: Bot) -> list[InstallRecord]:
    return bot.services.store.recent_installs(sr.TEAM_ID, limit=100_000)


def database_text(bot: Bot) -> str:
    with bot.services.store.engine.connect() as conn:
        return "\n".join(
            str(tuple(row))
            for table in ("cyclr_installs", "cyclr_channel_bindings", "cyclr_link_refs")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )


@pytest.fixture(scope="module")
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the in-process runs, through the bot's own redacting handler."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    configure_logging("DEBUG", "text", stream=stream)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
        logging.getLogger("urllib3").setLevel(logging.WARNING)


def cyclr_fault_run(
    tmp_path: Path,
    logs: io.StringIO,
    *,
    count: int,
    doubles: int,
    seed: int,
    slack_429_bursts: int = 0,
    workers: int = 8,
    install_latency: float = 0.0,
    settle_timeout: float = 60.0,
) -> Run:
    """``count`` installs (``doubles`` of them submitted twice) while 30 % of Cyclr requests fail."""
    rng = random.Random(seed)
    started = time.monotonic()
    mark = logs.tell()
    with running_bot(
        tmp_path, cyclr_timeout=(1.0, 0.5), reconcile_grace=2.0, reconcile_every=0.5, workers=workers
    ) as bot:
        bot.sandbox.install_latency = install_latency
        warm_up(bot)
        maintenance = Maintenance(bot.services, every=0.5).start()
        try:
            submissions = A.make_submissions(count, tag=f"c{seed % 1000}", rng=rng)
            for submission in submissions:
                open_modal(bot, submission)
            # 503 and 429 (both with Retry-After: 1), read timeouts (a 1 s stall against a
            # 0.5 s read timeout, before or after the request is applied) and dropped
            # connections (before or after), on every path: token, listings and installs.
            bot.sandbox.faults.random(rate=0.3, seed=seed, statuses=(503,), retry_after=1, delay=1.0)
            # Whatever the seed draws, each kind hits the install POST itself at least twice.
            for kind in FAULT_KINDS:
                bot.sandbox.faults.add(
                    Fault(
                        kind,
                        count=2,
                        status=503,
                        retry_after=1,
                        delay=1.0,
                        method="POST",
                        path_prefix="/v1.0/connectors/",
                    )
                )
            rng.shuffle(order := submissions + rng.sample(submissions, doubles))
            with ThreadPoolExecutor(16) as pool:
                # Slack rate-limits chat.postMessage now and then while the installs are under way.
                bursts = pool.submit(rate_limit_bursts, bot, slack_429_bursts)
                ack_times = list(pool.map(lambda s: submit(bot, s), order))
                bursts.result()
            # Faults stay on while the jobs and the reconciler work through the backlog...
            A.wait_until(
                lambda: (
                    bot.services.jobs.pending == 0 and not any(not r.state.is_final for r in rows_of(bot))
                ),
                timeout=settle_timeout,
            )
            bot.sandbox.faults.clear()
            # ...then whatever is left must settle against a healthy Cyclr.
            settled = A.wait_until(
                lambda: bot.services.jobs.pending == 0 and not A.unsettled(rows_of(bot), bot.slack),
                timeout=settle_timeout,
            )
        finally:
            maintenance.stop()
        rows = rows_of(bot)
        # A key the bot learnt from a modal, logged on purpose: the capture must mask it.
        canary = next(s for s in submissions if s.auth == "api_key").inputs["api_key"]
        logging.getLogger("tests.faults").warning("canary %s", canary)
        result = Run(
            seed=seed,
            submissions=submissions,
            rows=rows,
            audit=A.audit(
                submissions=submissions,
                rows=rows,
                sandbox=bot.sandbox,
                slack=bot.slack,
                notify_channel=NOTIFY_CHANNEL,
            ),
            figures=A.fault_figures(bot.sandbox, rows),
            settled=settled,
            waiting=A.unsettled(rows, bot.slack),
            ack_times=ack_times,
            slack_text=A.slack_bodies(bot.slack),
            db_text=database_text(bot),
            secrets={
                **A.all_secrets(submissions),
                **A.access_tokens(bot.sandbox),
                "Cyclr client secret": bot.sandbox.client_secret,
                "Slack bot token": BOT_TOKEN,
                "Slack signing secret": sr.SIGNING_SECRET,
            },
            job_failures=bot.services.jobs.failures,
        )
        server_errors = bot.sandbox.server_errors
    assert not server_errors, "the Cyclr sandbox failed inside:\n" + "\n".join(server_errors)
    result.logs = logs.getvalue()[mark:]
    result.seconds = time.monotonic() - started
    print(result.report())
    return result


@pytest.fixture(scope="module")
def cyclr_run(tmp_path_factory: pytest.TempPathFactory, captured_logs: io.StringIO) -> Run:
    return cyclr_fault_run(
        tmp_path_factory.mktemp("cyclr-faults"),
        captured_logs,
        count=50,
        doubles=10,
        seed=SEED,
        # A slow Cyclr and a small job pool, so that submissions wait in the queue for longer
        # than the reconciliation grace period, as they do on a busy day; yet enough of them
        # reach Cyclr within it for every forced fault to hit an install POST.
        workers=6,
        install_latency=0.2,
    )


# -- test 1: Cyclr failing 30 % of requests ---------------------------------------------------------


def test_cyclr_faults_were_injected_of_every_kind(cyclr_run: Run) -> None:
    on_installs = cyclr_run.figures["install POST"]
    assert all(on_installs.get(kind, 0) >= 2 for kind in FAULT_KINDS), cyclr_run.report()
    assert sum(cyclr_run.figures["other"].values()) >= 5, cyclr_run.report()  # token, listings


def test_cyclr_faults_each_outcome_matches_what_cyclr_did(cyclr_run: Run) -> None:
    """Installed exactly when Cyclr applied the POST (also after a drop or a stall after it)."""
    assert not cyclr_run.audit.of(A.MISMATCH), cyclr_run.report()


def test_cyclr_faults_every_submission_acked_in_time_and_recorded(cyclr_run: Run) -> None:
    assert max(cyclr_run.ack_times) < ACK_LIMIT, f"slowest ack {max(cyclr_run.ack_times):.2f}s"
    refused = [(s.name, s.acks) for s in cyclr_run.submissions if set(s.acks) != {"update"}]
    assert not refused, refused
    assert not cyclr_run.audit.of(A.NOT_RECORDED) and not cyclr_run.audit.of(A.EXTRA_ROW)
    assert len(cyclr_run.rows) == len(cyclr_run.submissions), cyclr_run.report()


def test_cyclr_faults_every_submission_ends_definite(cyclr_run: Run) -> None:
    assert not cyclr_run.audit.of(A.NOT_DEFINITE), cyclr_run.report()
    assert cyclr_run.settled, cyclr_run.report()


def test_cyclr_faults_no_install_made_twice(cyclr_run: Run) -> None:
    for category in (A.POSTED_TWICE, A.DUPLICATE_NAME):
        assert not cyclr_run.audit.of(category), cyclr_run.report()


def test_cyclr_faults_no_install_lost(cyclr_run: Run) -> None:
    for category in (A.LOST, A.INSTALLED_MISSING, A.ORPHAN):
        assert not cyclr_run.audit.of(category), cyclr_run.report()


def test_cyclr_faults_requester_and_team_told_once(cyclr_run: Run) -> None:
    for category in (A.NOT_TOLD, A.EXTRA_DM, A.TEAM_NOT_TOLD, A.TEAM_TWICE):
        assert not cyclr_run.audit.of(category), cyclr_run.report()
    assert cyclr_run.job_failures == 0, cyclr_run.report()


def test_cyclr_faults_no_secret_in_logs_slack_or_database(cyclr_run: Run) -> None:
    # The capture saw the run (urllib3 included), and its redaction is live: a key the bot
    # learnt from a modal, logged on purpose at the end of the run, came out masked.
    assert "/install" in cyclr_run.logs and "canary [redacted]" in cyclr_run.logs
    assert len([k for k in cyclr_run.secrets if k.startswith("Cyclr access token")]) >= 1
    places = {
        "the logs": cyclr_run.logs,
        "a Slack message": cyclr_run.slack_text,
        "the database": cyclr_run.db_text,
    }
    found = A.leaks(cyclr_run.secrets, places)
    assert not found, found


def test_an_install_waiting_past_the_grace_period_is_never_lost(tmp_path: Path) -> None:
    """Regression: the reconciler gave up on rows whose Cyclr call was queued or under way.

    One job worker and a Cyclr that takes 1.5 s per install, with a 1 s grace: the first
    install is still in Cyclr's hands, and the others still in the bot's queue, when the
    reconciler looks at them. It used to fail them ("not installed") and the jobs then
    installed them anyway: the requester was told "failed" about a connector in the account.
    """
    with running_bot(
        tmp_path, cyclr_timeout=(1.0, 3.0), reconcile_grace=1.0, reconcile_every=0.5, workers=1
    ) as bot:
        warm_up(bot)
        bot.sandbox.install_latency = 1.5
        maintenance = Maintenance(bot.services, every=0.5).start()
        try:
            submissions = A.make_submissions(3, tag="q", rng=random.Random(SEED))
            for submission in submissions:
                open_modal(bot, submission)
            for submission in submissions:  # one after the other: the job queue keeps this order
                submit(bot, submission)
            settled = A.wait_until(
                lambda: bot.services.jobs.pending == 0 and not A.unsettled(rows_of(bot), bot.slack),
                timeout=30,
            )
        finally:
            maintenance.stop()
        rows = rows_of(bot)
        result = A.audit(
            submissions=submissions,
            rows=rows,
            sandbox=bot.sandbox,
            slack=bot.slack,
            notify_channel=NOTIFY_CHANNEL,
        )
        assert settled, result.summary()
        for category in (A.LOST, A.ORPHAN, A.INSTALLED_MISSING, A.NOT_DEFINITE, A.NOT_TOLD, A.POSTED_TWICE):
            assert not result.of(category), result.summary()
        # The install Cyclr was working on when the grace period ran out is recorded as installed.
        first = bot.services.store.install_by_key(submissions[0].view_id)
        assert first is not None and first.state in A.INSTALLED_STATES, result.summary()


def test_a_lost_install_under_a_name_already_in_use_is_not_reported_installed(tmp_path: Path) -> None:
    """The default name is the connector's name, so installing Webhook twice reuses "Webhook".
    Cyclr refuses the second (400: name in use); when the request is lost on the way instead,
    reconciliation finds the first one by name and tells the requester it is theirs."""
    with running_bot(tmp_path, cyclr_timeout=(1.0, 0.5), reconcile_grace=1.0) as bot:
        account = warm_up(bot)
        hook = bot.sandbox.connector_by_name("Webhook")
        existing = bot.services.cyclr.install_connector(account, hook["Id"], name="Webhook")
        bot.sandbox.faults.add(Fault("drop_before", method="POST", path_prefix="/v1.0/connectors/"))
        [submission] = A.make_submissions(1, tag="n", rng=random.Random(SEED))
        submission.inputs["name"] = "Webhook"
        open_modal(bot, submission)
        submit(bot, submission)
        maintenance = Maintenance(bot.services, every=0.5).start()
        try:
            A.wait_until(lambda: all(r.state.is_final for r in rows_of(bot)), timeout=15)
        finally:
            maintenance.stop()
        row = bot.services.store.install_by_key(submission.view_id)
        assert [i["Id"] for i in bot.sandbox.installed()] == [existing.id]  # nothing new in Cyclr
    assert row is not None and row.state is InstallState.FAILED, row


# -- test 2: Slack answering 429 on chat.postMessage ------------------------------------------------


def test_slack_rate_limits_on_post_message_still_tell_everyone_exactly_once(tmp_path: Path) -> None:
    with running_bot(tmp_path) as bot:
        warm_up(bot)
        submissions = A.make_submissions(15, tag="s", rng=random.Random(SEED))
        for submission in submissions:
            open_modal(bot, submission)
        # Two bursts of three 429s (Retry-After: 1): one meets the first team notifications,
        # the other the DMs of the outcomes. No single post meets more than slack_sdk's retries.
        bot.slack.fail_next("chat.postMessage", count=3, status=429, retry_after=1)
        with ThreadPoolExecutor(8) as pool:
            ack_times = list(pool.map(lambda s: submit(bot, s), submissions))
        bot.slack.wait_for("chat.postMessage", count=8, timeout=15, predicate=lambda c: c.ok)
        bot.slack.fail_next("chat.postMessage", count=3, status=429, retry_after=1)
        settled = A.wait_until(
            lambda: bot.services.jobs.pending == 0 and not A.unsettled(rows_of(bot), bot.slack), timeout=60
        )
        rows = rows_of(bot)
        result = A.audit(
            submissions=submissions,
            rows=rows,
            sandbox=bot.sandbox,
            slack=bot.slack,
            notify_channel=NOTIFY_CHANNEL,
        )
        posts = bot.slack.calls("chat.postMessage")
        limited = [c for c in posts if c.status == 429]
        failures = bot.services.jobs.failures
    assert max(ack_times) < ACK_LIMIT
    assert len(limited) == 6, [c.summary() for c in limited]  # Slack really did refuse six posts
    assert settled, result.summary()
    for category in (A.NOT_DEFINITE, A.NOT_TOLD, A.EXTRA_DM, A.TEAM_NOT_TOLD, A.TEAM_TWICE):
        assert not result.of(category), result.summary()
    assert failures == 0
    # Each refused post was sent again after the Retry-After, and went through.
    for call in limited:
        again = [
            c
            for c in posts
            if c.ok
            and c.args.get("channel") == call.args.get("channel")
            and c.args.get("text") == call.args.get("text")
        ]
        assert len(again) == 1, call.summary()
        assert again[0].time - call.time >= 0.9, "retried before Retry-After"


def test_a_post_rate_limited_beyond_the_retries_is_still_delivered(tmp_path: Path) -> None:
    """Regression: a post still rate-limited after slack_sdk's three retries was dropped (the
    install-messages job failed and nothing sent the DM later); the messenger now queues the
    sync again after the Retry-After."""
    with running_bot(tmp_path) as bot:
        warm_up(bot)
        bot.sandbox.install_latency = 0.5
        [submission] = A.make_submissions(1, tag="r", rng=random.Random(SEED))
        open_modal(bot, submission)
        submit(bot, submission)
        # The team notification of the pending install went out; the next post is the DM.
        bot.slack.wait_for("chat.postMessage", timeout=5, predicate=lambda c: c.ok)
        bot.slack.fail_next("chat.postMessage", count=4, status=429, retry_after=1)
        settled = A.wait_until(
            lambda: bot.services.jobs.pending == 0 and not A.unsettled(rows_of(bot), bot.slack), timeout=8
        )
        failures = bot.services.jobs.failures
        limited = [c for c in bot.slack.calls("chat.postMessage") if c.status == 429]
        result = A.audit(
            submissions=[submission],
            rows=rows_of(bot),
            sandbox=bot.sandbox,
            slack=bot.slack,
            notify_channel=NOTIFY_CHANNEL,
        )
    assert len(limited) == 4 and all(c.args["channel"].startswith("D") for c in limited)
    assert settled and failures == 0, result.summary()
    for category in (A.NOT_TOLD, A.EXTRA_DM, A.TEAM_NOT_TOLD, A.TEAM_TWICE):
        assert not result.of(category), result.summary()


def test_a_full_job_queue_never_makes_the_ack_wait_on_slack(tmp_path: Path) -> None:
    """Regression: with the job queue full, the messages of a submission (its "installing"
    notification, then its "too busy" outcome) were posted inline, inside the ack, so a slow or
    rate-limiting Slack made the ack miss its 3 seconds. They now wait on a timer for a slot."""
    with running_bot(tmp_path, workers=1) as bot:
        warm_up(bot)
        [submission] = A.make_submissions(1, tag="b", rng=random.Random(SEED))
        open_modal(bot, submission)
        release = threading.Event()
        jobs = bot.services.jobs
        try:
            while True:  # every worker busy, every queue slot taken
                jobs.submit("hold", release.wait, 30)
        except JobRejected:
            pass
        bot.slack.delay_next("chat.postMessage", seconds=3.5)  # Slack is slow today
        took = submit(bot, submission)
        release.set()
        told = A.wait_until(
            lambda: jobs.pending == 0 and not A.unsettled(rows_of(bot), bot.slack), timeout=30
        )
        row = bot.services.store.install_by_key(submission.view_id)
    assert took < ACK_LIMIT, f"the ack took {took:.2f}s"
    assert submission.acks == ["update"]
    assert row is not None and row.state is InstallState.FAILED and "busy" in (row.reason or "")
    assert told  # the requester still hears that nothing was installed


# -- test 3: the bot process killed at random points and restarted ----------------------------------


def open_modal_remote(bot: BotProcess, slack: SlackStandin, submission: Submission) -> None:
    trigger = slack.new_trigger_id(submission.user_id)
    response = bot.post(
        sr.slash_command_request(
            "install", user_id=submission.user_id, trigger_id=trigger, response_url=slack.response_url()
        )
    )
    assert response.status_code == 200, response.text
    call = slack.wait_for("views.open", timeout=10, predicate=lambda c: c.args["trigger_id"] == trigger)[0]
    assert call.ok, call.summary()
    submission.view_id = call.response["view"]["id"]
    submission.view = slack.view(submission.view_id)


def submit_remote(bot: BotProcess, sandbox: CyclrSandbox, submission: Submission, think: float = 0.0) -> None:
    """Submit the modal to the bot process after ``think`` seconds (users do not click at once)."""
    values = sr.state_values(A.state_inputs(sandbox, submission))
    view = sr.view_payload(submission.view, values=values, view_id=submission.view_id)
    if think:
        time.sleep(think)
    try:
        response = bot.post(sr.view_submission_request(view, user_id=submission.user_id))
    except requests.RequestException as error:  # killed while answering: Slack shows an error
        submission.acks.append(f"no answer ({type(error).__name__})")
        return
    submission.acks.append(A.classify_ack(response.status_code, response.text))


def install_posts(sandbox: CyclrSandbox) -> int:
    return sandbox.count("POST", path_prefix="/v1.0/connectors/")


#: Where a kill lands, by round: while submissions are being acked; while installs are in
#: Cyclr's hands; just after an outcome was recorded, before its messages went out.
KILL_MOMENTS = ("during acks", "install in Cyclr", "outcome before messages")


def wait_settled(waiting: Any, timeout: float, stall: float = 10.0) -> bool:
    """Poll ``waiting()`` (a list of reasons) until it is empty; give up after ``timeout``
    seconds, or after ``stall`` seconds without any change (nothing is moving any more)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        now = waiting()
        if not now:
            return True
        if now != last:
            last, since = now, time.monotonic()
        if time.monotonic() >= deadline or time.monotonic() - since >= stall:
            return False
        time.sleep(0.1)


def kill_run(workdir: Path, *, rounds: int, per_round: int, seed: int, settle_timeout: float = 60.0) -> Run:
    """``rounds`` times: start the bot, submit a batch, SIGKILL it mid-flight. Then let it settle.

    A submission that got no answer (the bot died under it) is submitted again after the
    restart, as the user would click Submit again; a few answered ones are submitted again
    too (a double submit across a restart). ``figures["stranded"]`` names the rows that were
    final but had no DM when a kill landed.
    """
    rng = random.Random(seed)
    started = time.monotonic()
    database_url = f"sqlite:///{workdir / 'bot.db'}"
    sandbox = CyclrSandbox(page_headers=True).start()
    slack = SlackStandin().start()
    for user in A.USERS:
        slack.add_user(user)
    env = bot_env(
        sandbox,
        slack,
        database_url,
        CYCLR_BOT_RECONCILE_GRACE="2",
        CYCLR_BOT_RECONCILE_EVERY="0.5",
        CYCLR_BOT_WORKERS="2",  # a small job pool: kills find work queued, in Cyclr and just done
        LOG_LEVEL="DEBUG",
    )
    submissions = A.make_submissions(rounds * per_round, tag=f"k{seed % 1000}", rng=rng)
    processes: list[BotProcess] = []
    kills: list[dict[str, Any]] = []
    stranded: set[str] = set()
    store = Store(database_url)

    def start() -> BotProcess:
        process = BotProcess(env, workdir, len(processes))
        processes.append(process)
        process.wait_healthy()
        return process

    def rows() -> list[InstallRecord]:
        try:
            return store.recent_installs(sr.TEAM_ID, limit=100_000)
        except Exception:  # the schema is created by the first bot process
            return []

    def outcome_without_messages() -> bool:
        return any(r.state.is_final and not r.dm_ts and r.name not in stranded for r in rows())

    try:
        for round_no in range(rounds):
            bot = start()
            batch = submissions[round_no * per_round : (round_no + 1) * per_round]
            for submission in batch:
                open_modal_remote(bot, slack, submission)
            earlier = submissions[: round_no * per_round]
            again = [s for s in earlier if not s.recorded]
            again += rng.sample([s for s in earlier if s.recorded], min(2, len(earlier)))
            order = batch + again
            rng.shuffle(order)
            sandbox.install_latency = rng.uniform(0.3, 1.0)
            posts_before = install_posts(sandbox)
            acks_before = sum(len(s.acks) for s in submissions)
            moment = KILL_MOMENTS[round_no % len(KILL_MOMENTS)]
            with ThreadPoolExecutor(len(order)) as pool:
                futures = [pool.submit(submit_remote, bot, sandbox, s, rng.uniform(0.0, 1.5)) for s in order]
                if moment == "during acks":
                    target = acks_before + rng.randint(1, max(1, len(order) // 2))
                    landed = A.wait_until(
                        lambda t=target: sum(len(s.acks) for s in submissions) >= t,
                        timeout=15,
                        interval=0.005,
                    )
                elif moment == "install in Cyclr":
                    target = posts_before + rng.randint(1, max(1, len(batch) // 2))
                    landed = A.wait_until(
                        lambda t=target: install_posts(sandbox) >= t, timeout=15, interval=0.01
                    )
                    time.sleep(rng.uniform(0.0, sandbox.install_latency))  # somewhere inside Cyclr's work
                else:
                    landed = A.wait_until(outcome_without_messages, timeout=15, interval=0.005)
                killed_at = time.time()
                bot.kill()
                for future in futures:
                    future.result()
            snapshot = rows()
            stranded |= {r.name for r in snapshot if r.state.is_final and not r.dm_ts}
            kills.append(
                {
                    "round": round_no,
                    "at": killed_at,
                    "moment": moment if landed else f"{moment} (not reached; killed at the deadline)",
                    "install POSTs": install_posts(sandbox) - posts_before,
                    "pending rows": sum(not r.state.is_final for r in snapshot),
                    "final rows without a DM": sum(r.state.is_final and not r.dm_ts for r in snapshot),
                    "unanswered submissions": sum(1 for s in order if s.acks[-1].startswith("no answer")),
                }
            )
        bot = start()
        for _attempt in range(5):
            left = [s for s in submissions if not s.recorded]
            if not left:
                break
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda s: submit_remote(bot, sandbox, s), left))
            if any(not s.recorded for s in submissions):
                time.sleep(1.0)  # a user clicking Submit again a moment later (catalogue loading)
        A.wait_until(lambda: all(r.state.is_final for r in rows()), timeout=settle_timeout)
        settled = wait_settled(lambda: A.unsettled(rows(), slack), timeout=settle_timeout)
        final_rows = rows()
        result = Run(
            seed=seed,
            submissions=submissions,
            rows=final_rows,
            audit=A.audit(
                submissions=submissions,
                rows=final_rows,
                sandbox=sandbox,
                slack=slack,
                notify_channel=NOTIFY_CHANNEL,
            ),
            figures={"kills": kills, "starts": len(processes), "stranded": sorted(stranded)},
            settled=settled,
            waiting=A.unsettled(final_rows, slack),
            slack_text=A.slack_bodies(slack),
            posts=[c for c in slack.calls("chat.postMessage") if c.ok],
            secrets={
                **A.all_secrets(submissions),
                **A.access_tokens(sandbox),
                "Cyclr client secret": sandbox.client_secret,
                "Slack bot token": BOT_TOKEN_PROC,
                "Slack signing secret": sr.SIGNING_SECRET,
            },
        )
        exit_code = bot.stop()
        result.logs = "\n".join(p.output() for p in processes)
        with store.engine.connect() as conn:
            result.db_text = "\n".join(
                str(tuple(row))
                for table in ("cyclr_installs", "cyclr_channel_bindings", "cyclr_link_refs")
                for row in conn.execute(text(f"SELECT * FROM {table}"))
            )
        server_errors = sandbox.server_errors
    finally:
        for process in processes:
            process.kill()
        store.close()
        slack.close()
        sandbox.stop()
    assert not server_errors, "the Cyclr sandbox failed inside:\n" + "\n".join(server_errors)
    for process in processes:
        assert not group_alive(process.proc.pid), f"bot process group {process.proc.pid} outlived the test"
    result.figures["exit code of the last, SIGTERMed start"] = exit_code
    result.seconds = time.monotonic() - started
    print(result.report())
    return result


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return kill_run(tmp_path_factory.mktemp("kill-restart"), rounds=3, per_round=12, seed=SEED)


def names_in(problems: list[str]) -> set[str]:
    return {p.split(" (", 1)[0] for p in problems}


def test_kill_restart_kills_landed_at_every_stage(killed_run: Run) -> None:
    """The scenario did what it is for: kills with submissions unanswered, installs pending
    in Cyclr, and outcomes recorded but not yet told."""
    kills = killed_run.figures["kills"]
    assert [k["moment"] for k in kills] == list(KILL_MOMENTS), killed_run.report()
    assert any(k["unanswered submissions"] for k in kills), killed_run.report()
    assert any(k["pending rows"] for k in kills), killed_run.report()
    assert killed_run.figures["stranded"], killed_run.report()
    assert killed_run.figures["exit code of the last, SIGTERMed start"] == 0


def test_kill_restart_every_submission_recorded_and_definite(killed_run: Run) -> None:
    unrecorded = [(s.name, s.acks) for s in killed_run.submissions if not s.recorded]
    assert not unrecorded, unrecorded
    for category in (A.NOT_RECORDED, A.EXTRA_ROW, A.NOT_DEFINITE):
        assert not killed_run.audit.of(category), killed_run.report()


def test_kill_restart_no_install_made_twice_or_lost(killed_run: Run) -> None:
    for category in (A.POSTED_TWICE, A.DUPLICATE_NAME, A.LOST, A.INSTALLED_MISSING, A.ORPHAN):
        assert not killed_run.audit.of(category), killed_run.report()


def test_kill_restart_requester_and_team_told(killed_run: Run) -> None:
    """Everyone is told, including about outcomes recorded just before a kill."""
    for category in (A.NOT_TOLD, A.TEAM_NOT_TOLD):
        assert not killed_run.audit.of(category), killed_run.report()


def test_kill_restart_outcome_recorded_just_before_a_kill_is_told_after_restart(killed_run: Run) -> None:
    stranded = set(killed_run.figures["stranded"])
    assert stranded  # see test_kill_restart_kills_landed_at_every_stage
    for category in (A.NOT_TOLD, A.TEAM_NOT_TOLD):
        assert not names_in(killed_run.audit.of(category)) & stranded, killed_run.report()
    assert killed_run.settled, killed_run.report()


#: A post that reached Slack this close before a SIGKILL may have been sent by a process that
#: died before it could store the message's ts: the restarted bot then posts again. Slack's
#: chat.postMessage has no idempotency key, so that one window is at-least-once by nature.
POST_THEN_KILLED = 0.5


def test_kill_restart_nothing_posted_twice_except_in_flight_at_a_kill(killed_run: Run) -> None:
    kills = [k["at"] for k in killed_run.figures["kills"]]
    stored = {(r.notify_channel, r.notify_ts) for r in killed_run.rows} | {
        (r.dm_channel, r.dm_ts) for r in killed_run.rows
    }
    unexplained = [
        f"{c.args['channel']} {c.args.get('text', '')[:100]!r}"
        for c in killed_run.posts
        if (c.response["channel"], c.response["ts"]) not in stored
        and not any(-POST_THEN_KILLED <= c.time - at <= 0.1 for at in kills)
    ]
    assert not unexplained, unexplained
    # Every duplicate the audit found is one of those explained posts.
    explained = len(killed_run.audit.of(A.EXTRA_DM)) + len(killed_run.audit.of(A.TEAM_TWICE))
    assert explained <= sum(
        1 for c in killed_run.posts if (c.response["channel"], c.response["ts"]) not in stored
    ), killed_run.report()


def test_outcome_recorded_just_before_a_crash_is_told_after_the_restart(tmp_path: Path) -> None:
    """The minimal reproduction: what a bot killed right after recording an outcome leaves
    behind (a final row, no DM, no final team notification), then a fresh start."""
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    record, _ = store.begin_install(
        submission_key="V-killed",
        team_id=sr.TEAM_ID,
        user_id="U0001",
        channel_id="C0001",
        account_id="acme-prod",
        connector_id=5607,
        connector_name="Webhook",
        connector_version=None,
        auth_kind=AuthKind.NONE,
        name="Orders hook",
    )
    store.finish_install(record.id, InstallState.FAILED, reason="Cyclr had an internal error.")
    store.close()
    with running_bot(tmp_path) as bot:  # the same database file
        maintenance = Maintenance(bot.services, every=0.5).start()
        try:
            dm = bot.slack.wait_for(
                "chat.postMessage", timeout=5, predicate=lambda c: c.ok and c.args["channel"] == "DU0001"
            )[0]
        finally:
            maintenance.stop()
    assert "Could not install" in dm.args["text"]


def test_kill_restart_no_secret_in_process_output_slack_or_database(killed_run: Run) -> None:
    assert "/slack/events" in killed_run.logs or "HTTP mode" in killed_run.logs  # the output was captured
    places = {
        "the bot's output": killed_run.logs,
        "a Slack message": killed_run.slack_text,
        "the database": killed_run.db_text,
    }
    found = A.leaks(killed_run.secrets, places)
    assert not found, found


# -- soak variants (make soak) -----------------------------------------------------------------------


@pytest.mark.slow
@soak_only
def test_soak_300_installs_with_cyclr_and_slack_faults(tmp_path: Path, captured_logs: io.StringIO) -> None:
    run = cyclr_fault_run(
        tmp_path,
        captured_logs,
        count=300,
        doubles=60,
        seed=SEED + 1,
        slack_429_bursts=12,
        workers=4,
        install_latency=0.2,
        settle_timeout=300,
    )
    assert max(run.ack_times) < ACK_LIMIT
    assert all(set(s.acks) == {"update"} for s in run.submissions)
    assert run.settled, run.report()
    for category in A.CATEGORIES:
        assert not run.audit.of(category), run.report()
    assert run.job_failures == 0, run.report()
    places = {"the logs": run.logs, "a Slack message": run.slack_text, "the database": run.db_text}
    assert not A.leaks(run.secrets, places)


@pytest.mark.slow
@soak_only
def test_soak_nine_kills_and_restarts(tmp_path: Path) -> None:
    run = kill_run(tmp_path, rounds=9, per_round=20, seed=SEED + 2, settle_timeout=120)
    assert all(s.recorded for s in run.submissions), run.report()
    for category in A.CATEGORIES:
        if category not in (A.EXTRA_DM, A.TEAM_TWICE):  # judged with the kill times below
            assert not run.audit.of(category), run.report()
    kills = [k["at"] for k in run.figures["kills"]]
    stored = {(r.notify_channel, r.notify_ts) for r in run.rows} | {(r.dm_channel, r.dm_ts) for r in run.rows}
    for call in run.posts:
        if (call.response["channel"], call.response["ts"]) not in stored:
            assert any(-POST_THEN_KILLED <= call.time - at <= 0.1 for at in kills), call.summary()
    places = {"the bot's output": run.logs, "a Slack message": run.slack_text, "the database": run.db_text}
    assert not A.leaks(run.secrets, places)
