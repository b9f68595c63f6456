"""Fault suite over real HTTP: a failing Cyclr, a rate-limiting Slack, processes killed and restarted.

Every run ends with the same audit (see :mod:`tests.faults.audit`): each submission in a
definite recorded state, the requester and the team told, no install made twice, none
lost, no message posted twice, no secret in a log line or a Slack message. Deploys
(``/cyclr templates`` → *Deploy*) run alongside the installs in the Cyclr-fault run and
the PostgreSQL kill/restart run, with their own audit: every deploy row deployed (one new
cycle of its own in Cyclr) or failed with a reason (none), the checklist DM and the team
message telling the outcome, once. The seeds are
fixed so a failure can be replayed; ``CYCLR_BOT_FAULT_SEED`` overrides them.

Three kinds of run:

* Cyclr faults (the sandbox's :data:`FAULT_KINDS` on every path, each on the install POST
  itself) and Slack 429s, against one in-process bot (intake and a worker's consumer);
* Slack rate limits beyond slack_sdk's retries, and a full after-ack pool;
* SIGKILLs on PostgreSQL, where intake (``cyclr-bot run --no-worker``) and workers
  (``cyclr-bot worker``) are separate processes: the worker mid-install (twice), intake
  while it acks, and both at once (the whole bot). Skipped without
  ``CYCLR_BOT_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import secrets as secrets_module
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from bot.after_ack import JobRejected
from bot.cyclr.models import AuthKind
from bot.cyclr.sandbox import FAULT_KINDS, CyclrSandbox, Fault
from bot.logs import configure_logging
from bot.playground import payloads as sr
from bot.playground.standin import SlackStandin
from bot.services.installs import InstallCall, InstallService
from bot.slack.jobs import INSTALL
from bot.store import Deploy, DeployState, InstallRecord, InstallState, Store
from bot.worker import timed
from tests.e2e.harness import NOTIFY_CHANNEL, Bot, running_bot
from tests.faults import audit as A
from tests.faults.audit import DeploySubmission, Submission
from tests.faults.proc import BOT_TOKEN as BOT_TOKEN_PROC
from tests.faults.proc import BotProcess, bot_env, group_alive

SOAK = bool(os.environ.get("CYCLR_BOT_SOAK"))
soak_only = pytest.mark.skipif(not SOAK, reason="a soak run: `make soak` (CYCLR_BOT_SOAK=1) runs it")
SEED = int(os.environ.get("CYCLR_BOT_FAULT_SEED", "20240611"))
ACK_LIMIT = 3.0  # Slack's deadline for answering a request
#: In-process runs reconcile rows left pending this long (the bot's own is 30 s).
FAST_RECONCILE_AFTER = timedelta(seconds=1)


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
    """Slack answers 429 (Retry-After: 1) to two chat.postMessage calls, ``bursts`` times."""
    for n in range(1, bursts + 1):
        bot.slack.fail_next("chat.postMessage", count=2, status=429, retry_after=1)
        used = A.wait_until(
            lambda n=n: sum(c.status == 429 for c in bot.slack.calls("chat.postMessage")) >= 2 * n,
            timeout=60,
        )
        if not used:
            return
        time.sleep(gap)  # pacing the bursts, not waiting for anything


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for block in message.get("blocks") or []:
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "button":
            found.append(accessory)
        found.extend(e for e in block.get("elements") or [] if e.get("type") == "button")
    return found


def open_deploy_modal(
    target: Bot | BotProcess, slack: SlackStandin, sandbox: CyclrSandbox, submission: DeploySubmission
) -> None:
    """``/cyclr templates`` as the submission's user, then its template's *Deploy* button:
    remembers the ``cyclr_deploy`` modal the bot opened."""
    hook = f"deploy-{submission.index}-{secrets_module.token_hex(4)}"
    words = submission.template.split(":")[0].replace(">", "")
    response = target.post(
        sr.slash_command_request(
            f"templates {words}",
            user_id=submission.user_id,
            trigger_id=slack.new_trigger_id(submission.user_id),
            response_url=slack.response_url(hook),
        )
    )
    assert response.status_code == 200, response.text
    listed = slack.wait_for(None, timeout=15, predicate=lambda c: c.hook == hook)[0].args
    wanted = sandbox.template_by_name(submission.template)["Id"]
    button = next(
        b
        for b in _buttons(dict(listed))
        if b["text"]["text"] == "Deploy" and json.loads(b["value"])["t"] == wanted
    )
    trigger = slack.new_trigger_id(submission.user_id)
    response = target.post(
        sr.block_actions_request(
            button["action_id"],
            element=button,
            user_id=submission.user_id,
            trigger_id=trigger,
            response_url=slack.response_url(hook + "-click"),
        )
    )
    assert response.status_code == 200, response.text
    call = slack.wait_for("views.open", timeout=10, predicate=lambda c: c.args["trigger_id"] == trigger)[0]
    assert call.ok, call.summary()
    assert call.args["view"]["callback_id"] == "cyclr_deploy", call.summary()
    submission.view_id = call.response["view"]["id"]
    submission.view = slack.view(submission.view_id)


def submit_deploy(
    target: Bot | BotProcess,
    sandbox: CyclrSandbox,
    submission: DeploySubmission,
    account: str,
    think: float = 0.0,
) -> float:
    """Submit the deploy modal once (after ``think`` seconds); record the ack; its seconds."""
    values = sr.state_values(A.deploy_inputs(sandbox, submission, account))
    view = sr.view_payload(submission.view, values=values, view_id=submission.view_id)
    if think:
        time.sleep(think)
    started = time.monotonic()
    try:
        response = target.post(sr.view_submission_request(view, user_id=submission.user_id))
    except requests.RequestException as error:  # killed while answering: Slack shows an error
        submission.acks.append(f"no answer ({type(error).__name__})")
        return time.monotonic() - started
    took = time.monotonic() - started
    submission.acks.append(A.classify_ack(response.status_code, response.text))
    return took


def deploys_of(store: Store) -> list[Deploy]:
    """Every deploy row (the run's database holds only the run's)."""
    try:
        with store.engine.connect() as conn:
            ids = [int(row[0]) for row in conn.execute(text("SELECT id FROM cyclr_deploys ORDER BY id"))]
    except Exception:  # the schema is created by the first bot process
        return []
    return [d for d in (store.get_deploy(i) for i in ids) if d is not None]


def mid_install(deploy: Deploy) -> bool:
    """Marked attempted, not final: its template install POST sent, its answer not taken."""
    return deploy.attempted_at is not None and not deploy.state.is_final


def template_posts(sandbox: CyclrSandbox) -> int:
    return sandbox.count("POST", path_prefix="/v1.0/templates/")


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
    deploy_submissions: list[DeploySubmission] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)
    deploy_audit: A.Audit = field(default_factory=lambda: A.Audit(Counter(), {}))

    def report(self) -> str:
        reasons = Counter(r.reason for r in self.rows if r.state is InstallState.FAILED)
        lines = [
            f"seed {self.seed}; {len(self.submissions)} submissions; settled={self.settled}"
            f" in {self.seconds:.1f}s; figures {self.figures}",
            self.audit.summary(),
            self.deploy_audit.summary(),
            *(f"    failed x{n}: {reason}" for reason, n in reasons.most_common()),
        ]
        if self.waiting:
            lines.append(f"still waiting: {self.waiting[:10]}")
        return "\n".join(lines)


def rows_of(bot: Bot) -> list[InstallRecord]:
    return bot.services.store.recent_installs(sr.TEAM_ID, limit=100_000)


def failed_jobs(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        found = conn.execute(text("SELECT kind, key, last_error FROM cyclr_jobs WHERE state = 'failed'"))
        return [dict(row._mapping) for row in found]


def database_text(store: Store) -> str:
    with store.engine.connect() as conn:
        return "\n".join(
            str(tuple(row))
            for table in (
                "cyclr_installs",
                "cyclr_deploys",
                "cyclr_channel_bindings",
                "cyclr_link_refs",
                "cyclr_jobs",
            )
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )


def quiet(bot: Bot) -> bool:
    """Nothing left to do: no after-ack work, no job due or running, every row final and told."""
    return (
        bot.services.after_ack.pending == 0
        and bot.services.queue.idle()
        and not A.unsettled(rows_of(bot), bot.slack)
        and not A.unsettled_deploys(deploys_of(bot.services.store), bot.slack)
    )


@pytest.fixture
def fast_reconcile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timed, "RECONCILE_AFTER", FAST_RECONCILE_AFTER)


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


# -- 1: Cyclr failing on every path, Slack rate-limiting, one in-process bot --------------------------


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
    deploys: int = 0,
    deploy_doubles: int = 0,
) -> Run:
    """``count`` installs (``doubles`` of them submitted twice) and ``deploys`` deploys
    (``deploy_doubles`` submitted twice) while 30 % of Cyclr requests fail."""
    rng = random.Random(seed)
    started = time.monotonic()
    mark = logs.tell()
    with (
        pytest.MonkeyPatch.context() as patch,
        running_bot(
            tmp_path, cyclr_timeout=(1.0, 0.5), reconcile_grace=2.0, reconcile_every=0.5, workers=workers
        ) as bot,
    ):
        patch.setattr(timed, "RECONCILE_AFTER", FAST_RECONCILE_AFTER)
        bot.sandbox.install_latency = install_latency
        account = warm_up(bot)
        cycles_before = [str(c["Id"]) for c in bot.sandbox.cycles(account)]
        submissions = A.make_submissions(count, tag=f"c{seed % 1000}", rng=rng)
        for submission in submissions:
            open_modal(bot, submission)
        deploy_submissions = A.make_deploys(deploys, rng=rng)
        for deploy in deploy_submissions:
            open_deploy_modal(bot, bot.slack, bot.sandbox, deploy)
        # 503 and 429 (both with Retry-After: 1), read timeouts (a 1 s stall against a 0.5 s
        # read timeout, before or after the request is applied) and dropped connections
        # (before or after), on every path: token, listings and installs.
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
            if deploy_submissions:  # and the template install POST (a deploy's one call)
                bot.sandbox.faults.add(
                    Fault(
                        kind,
                        status=503,
                        retry_after=1,
                        delay=1.0,
                        method="POST",
                        path_prefix="/v1.0/templates/",
                    )
                )
        order: list[Submission | DeploySubmission] = [
            *submissions,
            *rng.sample(submissions, doubles),
            *deploy_submissions,
            *rng.sample(deploy_submissions, deploy_doubles),
        ]
        rng.shuffle(order)

        def send(one: Submission | DeploySubmission) -> float:
            if isinstance(one, DeploySubmission):
                return submit_deploy(bot, bot.sandbox, one, account)
            return submit(bot, one)

        with ThreadPoolExecutor(16) as pool:
            # Slack rate-limits chat.postMessage now and then while the installs are under way.
            bursts = pool.submit(rate_limit_bursts, bot, slack_429_bursts)
            ack_times = list(pool.map(send, order))
            bursts.result()
        # Faults stay on while the jobs and the reconciler work through the backlog...
        A.wait_until(
            lambda: (
                all(r.state.is_final for r in rows_of(bot))
                and all(d.state.is_final for d in deploys_of(bot.services.store))
            ),
            timeout=settle_timeout,
        )
        bot.sandbox.faults.clear()
        # ...then whatever is left must settle against a healthy Cyclr.
        settled = A.wait_until(lambda: quiet(bot), timeout=settle_timeout)
        rows = rows_of(bot)
        deploy_rows = deploys_of(bot.services.store)
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
            waiting=A.unsettled(rows, bot.slack) + A.unsettled_deploys(deploy_rows, bot.slack),
            ack_times=ack_times,
            deploy_submissions=deploy_submissions,
            deploys=deploy_rows,
            deploy_audit=A.audit_deploys(
                submissions=deploy_submissions,
                deploys=deploy_rows,
                sandbox=bot.sandbox,
                slack=bot.slack,
                notify_channel=NOTIFY_CHANNEL,
                account_id=account,
                cycles_before=cycles_before,
            ),
            slack_text=A.slack_bodies(bot.slack),
            db_text=database_text(bot.services.store),
            posts=[c for c in bot.slack.calls("chat.postMessage") if c.ok],
            job_failures=len(failed_jobs(bot.services.store)),
            secrets={
                **A.all_secrets(submissions),
                **A.access_tokens(bot.sandbox),
                "Cyclr client secret": bot.sandbox.client_secret,
                "Slack signing secret": sr.SIGNING_SECRET,
            },
        )
        server_errors = bot.sandbox.server_errors
    assert not server_errors, "the Cyclr sandbox failed inside:\n" + "\n".join(server_errors)
    logs.seek(mark)
    result.logs = logs.read()
    result.seconds = time.monotonic() - started
    print(result.report())
    return result


@pytest.fixture(scope="module")
def cyclr_run(tmp_path_factory: pytest.TempPathFactory, captured_logs: io.StringIO) -> Run:
    return cyclr_fault_run(
        tmp_path_factory.mktemp("cyclr-faults"),
        captured_logs,
        count=25,
        doubles=5,
        seed=SEED,
        slack_429_bursts=2,
        deploys=10,
        deploy_doubles=3,
    )


def test_cyclr_faults_every_kind_met_the_install_post(cyclr_run: Run) -> None:
    """The run did what it is for: every fault kind hit the install POST, and other paths too."""
    assert set(cyclr_run.figures["install POST"]) == set(FAULT_KINDS), cyclr_run.report()
    assert cyclr_run.figures["other"], cyclr_run.report()
    assert len(cyclr_run.submissions) + 5 == sum(len(s.acks) for s in cyclr_run.submissions)


def test_cyclr_faults_acks_are_fast_and_every_submission_recorded(cyclr_run: Run) -> None:
    assert max(cyclr_run.ack_times) < ACK_LIMIT, sorted(cyclr_run.ack_times)[-5:]
    assert all(set(s.acks) == {"update"} for s in cyclr_run.submissions), [
        s.acks for s in cyclr_run.submissions
    ]
    for category in (A.NOT_RECORDED, A.EXTRA_ROW, A.NOT_DEFINITE):
        assert not cyclr_run.audit.of(category), cyclr_run.report()


def test_cyclr_faults_no_install_made_twice_or_lost(cyclr_run: Run) -> None:
    for category in (A.POSTED_TWICE, A.DUPLICATE_NAME, A.LOST, A.INSTALLED_MISSING, A.ORPHAN, A.MISMATCH):
        assert not cyclr_run.audit.of(category), cyclr_run.report()


def test_cyclr_faults_everyone_told_once(cyclr_run: Run) -> None:
    assert cyclr_run.settled, cyclr_run.report()
    for category in (A.NOT_TOLD, A.EXTRA_DM, A.TEAM_NOT_TOLD, A.TEAM_TWICE):
        assert not cyclr_run.audit.of(category), cyclr_run.report()
    assert cyclr_run.job_failures == 0, cyclr_run.report()


def test_cyclr_faults_deploys_met_every_fault_kind_and_were_recorded(cyclr_run: Run) -> None:
    """Deploys ran alongside the installs, every fault kind hit the template install POST
    itself, and every deploy submission (double submits too) was acked and recorded once."""
    assert set(cyclr_run.figures["template install POST"]) == set(FAULT_KINDS), cyclr_run.report()
    deploys = cyclr_run.deploy_submissions
    assert len(deploys) == 10 and sum(len(d.acks) for d in deploys) == 13, cyclr_run.report()
    assert all(set(d.acks) == {"update"} for d in deploys), [d.acks for d in deploys]
    assert len(cyclr_run.deploys) == len(deploys), cyclr_run.report()
    for category in (A.D_NOT_RECORDED, A.D_EXTRA_ROW, A.D_NOT_DEFINITE):
        assert not cyclr_run.deploy_audit.of(category), cyclr_run.report()


def test_cyclr_faults_every_deploy_final_in_cyclr_once_and_told_once(cyclr_run: Run) -> None:
    """Deployed rows each own one new cycle of their template, failed ones none (no template
    installed twice); the requester's checklist DM and the team's line tell the outcome, once."""
    assert cyclr_run.settled, cyclr_run.report()
    outcomes = cyclr_run.deploy_audit.outcomes
    assert outcomes["deploy deployed"] and sum(outcomes.values()) == 10, cyclr_run.report()
    for category in A.DEPLOY_CATEGORIES:
        assert not cyclr_run.deploy_audit.of(category), cyclr_run.report()


def test_cyclr_faults_no_secret_in_logs_slack_or_database(cyclr_run: Run) -> None:
    assert "canary" in cyclr_run.logs  # the capture worked
    places = {
        "the logs": cyclr_run.logs,
        "a Slack message": cyclr_run.slack_text,
        "the database": cyclr_run.db_text,
    }
    found = A.leaks(cyclr_run.secrets, places)
    assert not found, found


def test_a_lost_install_under_a_name_already_in_use_is_not_reported_installed(
    tmp_path: Path, fast_reconcile: None
) -> None:
    """The default name is the connector's name, so installing Webhook twice reuses "Webhook".
    Were the POST sent and lost (a dropped connection), reconciliation would find the first
    Webhook by name and tell the requester it is theirs. The name is checked before the POST:
    the install fails as "in use", and nothing is sent (regression: the check had gone)."""
    with running_bot(tmp_path, cyclr_timeout=(1.0, 0.5), reconcile_grace=1.0, reconcile_every=0.5) as bot:
        account = warm_up(bot)
        hook = bot.sandbox.connector_by_name("Webhook")
        existing = bot.services.cyclr.install_connector(account, hook["Id"], name="Webhook")
        bot.sandbox.faults.add(Fault("drop_before", method="POST", path_prefix="/v1.0/connectors/"))
        [submission] = A.make_submissions(1, tag="n", rng=random.Random(SEED))
        submission.inputs["name"] = "Webhook"
        open_modal(bot, submission)
        submit(bot, submission)
        settled = A.wait_until(lambda: quiet(bot), timeout=15)
        row = bot.services.store.install_by_key(submission.view_id)
        posts = install_posts(bot.sandbox)
        assert [i["Id"] for i in bot.sandbox.installed()] == [existing.id]  # nothing new in Cyclr
    assert settled
    assert posts == 1  # the test's own install of the first Webhook
    assert row is not None and row.state is InstallState.FAILED, row
    assert "in use" in (row.reason or ""), row.reason


# -- 2: Slack answering 429 on chat.postMessage; a full after-ack pool ------------------------------


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
        settled = A.wait_until(lambda: quiet(bot), timeout=60)
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
        failures = failed_jobs(bot.services.store)
    assert max(ack_times) < ACK_LIMIT
    assert len(limited) == 6, [c.summary() for c in limited]  # Slack really did refuse six posts
    assert settled, result.summary()
    for category in (A.NOT_DEFINITE, A.NOT_TOLD, A.EXTRA_DM, A.TEAM_NOT_TOLD, A.TEAM_TWICE):
        assert not result.of(category), result.summary()
    assert not failures, failures
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
    """A post still rate-limited after slack_sdk's retries fails its tell-install job, and the
    queue runs the job again after its back-off: the DM is delivered, once."""
    with running_bot(tmp_path) as bot:
        warm_up(bot)
        bot.sandbox.install_latency = 0.5
        [submission] = A.make_submissions(1, tag="r", rng=random.Random(SEED))
        open_modal(bot, submission)
        submit(bot, submission)
        # The team notification of the pending install went out; the next post is the DM.
        bot.slack.wait_for("chat.postMessage", timeout=5, predicate=lambda c: c.ok)
        bot.slack.fail_next("chat.postMessage", count=4, status=429, retry_after=1)
        settled = A.wait_until(lambda: quiet(bot), timeout=15)
        failures = failed_jobs(bot.services.store)
        limited = [c for c in bot.slack.calls("chat.postMessage") if c.status == 429]
        result = A.audit(
            submissions=[submission],
            rows=rows_of(bot),
            sandbox=bot.sandbox,
            slack=bot.slack,
            notify_channel=NOTIFY_CHANNEL,
        )
    assert len(limited) == 4 and all(c.args["channel"].startswith("D") for c in limited)
    assert settled and not failures, result.summary()
    for category in (A.NOT_TOLD, A.EXTRA_DM, A.TEAM_NOT_TOLD, A.TEAM_TWICE):
        assert not result.of(category), result.summary()


def test_a_full_after_ack_pool_never_makes_the_ack_wait_on_slack(tmp_path: Path) -> None:
    """An install with an API key runs in the intake's after-ack pool; with the pool full it
    is failed as "busy" at once, and its messages are queued jobs, never posted inside the ack."""
    with running_bot(tmp_path) as bot:
        warm_up(bot)
        submission = next(
            s for s in A.make_submissions(5, tag="b", rng=random.Random(SEED)) if s.auth == "api_key"
        )
        open_modal(bot, submission)
        release = threading.Event()
        pool = bot.services.after_ack
        try:
            while True:  # every thread busy, every slot taken
                pool.submit("hold", release.wait, 30)
        except JobRejected:
            pass
        bot.slack.delay_next("chat.postMessage", seconds=3.5)  # Slack is slow today
        took = submit(bot, submission)
        release.set()
        told = A.wait_until(lambda: quiet(bot), timeout=30)
        row = bot.services.store.install_by_key(submission.view_id)
        posts = bot.sandbox.count("POST", path_prefix="/v1.0/connectors/")
    assert took < ACK_LIMIT, f"the ack took {took:.2f}s"
    assert submission.acks == ["update"]
    assert row is not None and row.state is InstallState.FAILED and "busy" in (row.reason or "")
    assert posts == 0
    assert told  # the requester still hears that nothing was installed


def test_an_install_job_that_finds_its_row_final_still_tells_the_requester(tmp_path: Path) -> None:
    """What a worker killed right after recording an outcome leaves: a final row, no DM, no
    tell-install job, and its install job still running under a lease that ran out. The next
    worker that claims the install job must have the requester and the team told."""
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
    store.mark_attempted(record.id)
    store.finish_install(record.id, InstallState.FAILED, reason="Cyclr had an internal error.")
    from bot.store.queue import JobQueue

    queue = JobQueue(store.engine)
    payload = {"install": record.id, "account": "acme-prod", "connector": 5607, "name": "Orders hook"}
    job = queue.hold(INSTALL, payload, key=f"{INSTALL}:{record.id}", owner="dead:1:x", lease=0.0)
    assert job is not None
    store.close()
    with running_bot(tmp_path) as bot:  # the same database file
        dm = bot.slack.wait_for(
            "chat.postMessage", timeout=10, predicate=lambda c: c.ok and c.args["channel"] == "DU0001"
        )[0]
        A.wait_until(lambda: quiet(bot), timeout=10)
        row = bot.services.store.get_install(record.id)
        posts = bot.sandbox.count("POST", path_prefix="/v1.0/connectors/")
    assert "Could not install" in dm.args["text"]
    assert row is not None and row.dm_ts and row.notify_ts
    assert posts == 0  # a final row is never installed again


def test_the_deploy_audit_finds_a_second_cycle_a_second_team_post_and_an_untold_requester(
    tmp_path: Path,
) -> None:
    """The audit can fail: one clean deploy passes it; then a second install of its template
    behind the bot's back, a second team message and a lost DM are each caught."""
    from slack_sdk import WebClient

    from tests.e2e.harness import BOT_TOKEN

    with running_bot(tmp_path) as bot:
        account = warm_up(bot)
        deploy = A.make_deploys(1, rng=random.Random(1))[0]
        open_deploy_modal(bot, bot.slack, bot.sandbox, deploy)
        submit_deploy(bot, bot.sandbox, deploy, account)
        assert A.wait_until(lambda: quiet(bot), timeout=15)

        def audit() -> A.Audit:
            return A.audit_deploys(
                submissions=[deploy],
                deploys=deploys_of(bot.services.store),
                sandbox=bot.sandbox,
                slack=bot.slack,
                notify_channel=NOTIFY_CHANNEL,
                account_id=account,
            )

        clean = audit()
        assert clean.outcomes == Counter({"deploy deployed": 1}) and not clean.problems, clean.summary()
        row = deploys_of(bot.services.store)[0]
        bot.services.cyclr.install_template(account, row.template_id)
        assert audit().of(A.D_ORPHAN) and audit().of(A.D_POSTED_TWICE), audit().summary()
        note = bot.slack.message(str(row.notify_channel), str(row.notify_ts))
        WebClient(token=BOT_TOKEN, base_url=bot.slack.api_url).chat_postMessage(
            channel=NOTIFY_CHANNEL, text=note["text"]
        )
        assert audit().of(A.D_TEAM_TWICE), audit().summary()
        bot.services.store.set_deploy_messages(row.id, dm=(str(row.dm_channel), "1.000001"))
        assert audit().of(A.D_NOT_TOLD) and audit().of(A.D_EXTRA_DM), audit().summary()


def test_a_reconciling_deploy_leaves_a_cycle_to_the_deploy_still_awaiting_its_answer(tmp_path: Path) -> None:
    """Two deploys of one template: A's install POST was lost before Cyclr made anything, B's
    reached Cyclr (the cycle exists) and its answer is still on its way. A reconciles and finds
    B's cycle, unclaimed as yet. A must not take it (regression: the fault suite found two
    deploy rows sharing one cycle); B's answer claims it, and A ends failed, its grace over."""
    from bot.slack.deploys import reconcile_deploys

    with running_bot(tmp_path, reconcile_grace=30.0) as bot:
        account = warm_up(bot)
        store = bot.services.store
        template = bot.sandbox.template_by_name(A.TEMPLATES[1])
        rows = []
        for key in ("view:V-lost", "view:V-in-flight"):
            row, _ = store.begin_deploy(
                request_key=key,
                team_id=sr.TEAM_ID,
                user_id=A.USERS[0],
                channel_id="C0001",
                account_id=account,
                template_id=str(template["Id"]),
                template_name=str(template["Name"]),
            )
            assert store.mark_deploy_attempted(row.id)
            rows.append(row)
        lost, in_flight = rows
        made = bot.services.cyclr.install_template(account, str(template["Id"]))  # B's, in Cyclr
        with store.engine.begin() as conn:  # A is old enough for the timed pass; B is not
            conn.execute(
                text(
                    "UPDATE cyclr_deploys SET created_at = datetime(created_at, '-1 minute') WHERE id = :id"
                ),
                {"id": lost.id},
            )
        assert reconcile_deploys(bot.services) == 1
        bot.wait_idle()
        a = store.get_deploy(lost.id)
        assert a is not None and a.cycle_id is None and not a.state.is_final, a
        # B's answer arrives: the cycle is B's.
        b = store.finish_deploy(in_flight.id, DeployState.DEPLOYED, cycle_id=made.id, cycle_name=made.name)
        assert b is not None and b.state.value == "deployed" and b.cycle_id == made.id, b
        # A's grace is over: its next look finds nothing of its own and it fails, told.
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE cyclr_deploys SET attempted_at = datetime(attempted_at, '-1 minute'),"
                    " updated_at = datetime(updated_at, '-1 minute') WHERE id = :id"
                ),
                {"id": lost.id},
            )
        assert A.wait_until(lambda: store.get_deploy(lost.id).state.is_final, timeout=15)  # type: ignore[union-attr]
        a = store.get_deploy(lost.id)
        assert a is not None and a.state.value == "failed" and a.cycle_id is None and a.reason, a
        assert [d.id for d in store.deploys_of_cycle(account, made.id)] == [in_flight.id]
        assert len([c for c in bot.sandbox.cycles(account) if c["TemplateId"] == template["Id"]]) == 1


def test_a_deploy_whose_job_waited_past_the_grace_still_finds_its_slow_cycle(tmp_path: Path) -> None:
    """The job ran long after its row was written (a backlog), and Cyclr made the cycle a
    moment after the install's answer was lost. The grace runs from the lost answer, not
    from the row's writing (regression: the fault suite, under load, found the deploy told
    failed and its cycle in Cyclr)."""
    from bot.slack.deploys import enqueue_deploy

    with running_bot(tmp_path, cyclr_timeout=(1.0, 0.5), reconcile_grace=3.0) as bot:
        account = warm_up(bot)
        store = bot.services.store
        template = bot.sandbox.template_by_name(A.TEMPLATES[1])
        row, _ = store.begin_deploy(
            request_key="view:V-backlog",
            team_id=sr.TEAM_ID,
            user_id=A.USERS[0],
            channel_id="C0001",
            account_id=account,
            template_id=str(template["Id"]),
            template_name=str(template["Name"]),
        )
        with store.engine.begin() as conn:  # written a minute ago; its job runs only now
            conn.execute(
                text(
                    "UPDATE cyclr_deploys SET created_at = datetime(created_at, '-1 minute'),"
                    " updated_at = datetime(updated_at, '-1 minute') WHERE id = :id"
                ),
                {"id": row.id},
            )
        # Cyclr takes 1 s before making the cycle; the bot stops waiting after 0.5 s.
        bot.sandbox.faults.add(
            Fault("delay_before", count=1, delay=1.0, method="POST", path_prefix="/v1.0/templates/")
        )
        enqueue_deploy(bot.services, row)
        assert A.wait_until(lambda: store.get_deploy(row.id).state.is_final, timeout=20)  # type: ignore[union-attr]

        def made() -> list[dict[str, Any]]:
            return [c for c in bot.sandbox.cycles(account) if c["TemplateId"] == template["Id"]]

        assert A.wait_until(lambda: bool(made()), timeout=5)  # Cyclr made it, answer or not
        [cycle] = made()
        done = store.get_deploy(row.id)
        assert done is not None and (done.state.value, done.cycle_id) == ("deployed", str(cycle["Id"])), done


def test_two_deploys_never_claim_one_cycle(tmp_path: Path) -> None:
    """The store refuses a second claim on a cycle: the row stays pending (migration 0010)."""
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    try:
        ids = []
        for key in ("view:V1", "view:V2"):
            row, _ = store.begin_deploy(
                request_key=key,
                team_id=sr.TEAM_ID,
                user_id="U0001",
                channel_id="C0001",
                account_id="acme-prod",
                template_id="t-1",
                template_name="T",
            )
            ids.append(row.id)
        first = store.finish_deploy(ids[0], DeployState.DEPLOYED, cycle_id="cy-1", cycle_name="T")
        second = store.finish_deploy(ids[1], DeployState.DEPLOYED, cycle_id="cy-1", cycle_name="T")
        assert first is not None and first.state is DeployState.DEPLOYED
        assert second is not None and second.state is DeployState.PENDING and second.cycle_id is None
        # Failed rows carry no cycle and are not limited.
        assert store.finish_deploy(ids[1], DeployState.FAILED, reason="no").state is DeployState.FAILED  # type: ignore[union-attr]
    finally:
        store.close()


def test_an_install_run_twice_at_once_posts_once(tmp_path: Path) -> None:
    """A worker presumed dead (its lease ran out while it was still running the install job)
    and the worker that claimed the job after it run the same install at the same time. Only
    one of them may POST: the other finds the row already attempted and leaves it to that one.
    Each worker is its own InstallService here, as each process has its own."""
    with running_bot(tmp_path) as bot:
        account = warm_up(bot)
        hook = bot.sandbox.connector_by_name("Webhook")
        record, _ = bot.services.store.begin_install(
            submission_key="V-twice",
            team_id=sr.TEAM_ID,
            user_id="U0001",
            channel_id="C0001",
            account_id=account,
            connector_id=hook["Id"],
            connector_name="Webhook",
            connector_version=None,
            auth_kind=AuthKind.NONE,
            name="Twice hook",
        )
        call = InstallCall(
            install_id=record.id, account_id=account, connector_id=hook["Id"], name="Twice hook"
        )
        other = InstallService(bot.services.cyclr, bot.services.store, grace=timedelta(seconds=30))
        bot.sandbox.install_latency = 1.0
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(bot.services.installs.perform, record, call)
            time.sleep(0.3)  # the first is in Cyclr's hands
            second = pool.submit(other.perform, record, call)
            outcomes = [first.result(timeout=10), second.result(timeout=10)]
        row = bot.services.store.get_install(record.id)
        posts = install_posts(bot.sandbox)
        in_cyclr = [c for c in bot.sandbox.installed() if c["Name"] == "Twice hook"]
    assert posts == 1, [o.record.state for o in outcomes]
    assert len(in_cyclr) == 1
    assert (
        row is not None and row.state in A.INSTALLED_STATES and row.account_connector_id == in_cyclr[0]["Id"]
    )


# -- 3: processes SIGKILLed and restarted (PostgreSQL: intake and workers apart) -------------------


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
    """Submit the modal to the intake process after ``think`` seconds (users do not click at once)."""
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


#: What each round SIGKILLs, and when: the worker while installs are in Cyclr's hands (twice),
#: intake while it is acking submissions, and both at once while installs are in Cyclr.
KILLS = ("worker", "worker", "intake", "whole bot")


def wait_settled(waiting: Callable[[], list[str]], timeout: float, stall: float = 40.0) -> bool:
    """Poll ``waiting()`` (a list of reasons) until it is empty; give up after ``timeout``
    seconds, or after ``stall`` seconds without any change (nothing is moving any more)."""
    deadline = time.monotonic() + timeout
    last: list[str] | None = None
    since = time.monotonic()
    while True:
        now = waiting()
        if not now:
            return True
        if now != last:
            last, since = now, time.monotonic()
        if time.monotonic() >= deadline or time.monotonic() - since >= stall:
            return False
        time.sleep(0.2)


def kill_run(
    workdir: Path,
    database_url: str,
    *,
    roles: tuple[str, ...] = ("intake", "worker"),
    kills: tuple[str, ...],
    per_round: int,
    seed: int,
    settle_timeout: float = 90.0,
    deploys_per_round: int = 0,
) -> Run:
    """For each of ``kills``: submit a batch, SIGKILL that process mid-flight, start it again.
    Then let everything settle and audit it.

    With ``deploys_per_round``, each batch holds that many deploys too, and a round that
    kills a worker waits for a template install POST to be in Cyclr's (slow) hands as well.

    ``roles``: the processes that make up the bot, ``("intake", "worker")`` (PostgreSQL:
    ``run --no-worker`` and ``worker``) or ``("bot",)`` (``cyclr-bot run``, whose worker is
    its child: SQLite, one machine). A "whole bot" kill SIGKILLs every one of them at once.

    A submission that got no answer (intake died under it) is submitted again after the
    restart, as the user would click Submit again; a few answered ones are submitted again
    too (a double submit across a restart).
    """
    rng = random.Random(seed)
    started = time.monotonic()
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
        CYCLR_BOT_JOB_LEASE="5",  # a killed worker's jobs are taken over 5 s later
        CYCLR_BOT_WORKERS="4",
        LOG_LEVEL="DEBUG",
    )
    submissions = A.make_submissions(len(kills) * per_round, tag=f"k{seed % 1000}", rng=rng)
    deploy_submissions = A.make_deploys(len(kills) * deploys_per_round, rng=rng)
    account = sandbox.default_account_id
    processes: list[BotProcess] = []
    rounds: list[dict[str, Any]] = []
    store = Store(database_url)
    live: dict[str, BotProcess] = {}

    def start(role: str) -> BotProcess:
        process = BotProcess(env, workdir, len(processes), role=role)
        processes.append(process)
        process.wait_healthy()
        live[role] = process
        return process

    def rows() -> list[InstallRecord]:
        try:
            return store.recent_installs(sr.TEAM_ID, limit=100_000)
        except Exception:  # the schema is created by the first bot process
            return []

    def unsettled() -> list[str]:
        return A.unsettled(rows(), slack) + A.unsettled_deploys(deploys_of(store), slack)

    server_errors: list[str] = []
    try:
        for role in roles:
            start(role)
        for round_no, victim in enumerate(kills):
            batch = submissions[round_no * per_round : (round_no + 1) * per_round]
            for submission in batch:
                open_modal_remote(live.get("intake") or live["bot"], slack, submission)
            dbatch = deploy_submissions[round_no * deploys_per_round : (round_no + 1) * deploys_per_round]
            for deploy in dbatch:
                open_deploy_modal(live.get("intake") or live["bot"], slack, sandbox, deploy)
            earlier = submissions[: round_no * per_round]
            again = [s for s in earlier if not s.recorded]
            again += rng.sample([s for s in earlier if s.recorded], min(2, len(earlier)))
            dearlier = deploy_submissions[: round_no * deploys_per_round]
            dagain = [d for d in dearlier if not d.recorded]
            dagain += rng.sample([d for d in dearlier if d.recorded], min(1, len(dearlier)))
            order: list[Submission | DeploySubmission] = [*batch, *again, *dbatch, *dagain]
            rng.shuffle(order)
            sandbox.install_latency = rng.uniform(0.5, 1.0)  # the template install's too
            posts_before = install_posts(sandbox)
            deploy_posts_before = template_posts(sandbox)
            acks_before = sum(len(s.acks) for s in [*submissions, *deploy_submissions])
            intake = live.get("intake") or live["bot"]

            def send(one: Submission | DeploySubmission, think: float, intake: BotProcess = intake) -> None:
                if isinstance(one, DeploySubmission):
                    submit_deploy(intake, sandbox, one, account, think)
                else:
                    submit_remote(intake, sandbox, one, think)

            with ThreadPoolExecutor(len(order)) as pool:
                # The deploys are submitted amid the installs: a worker round kills once a
                # template install is in Cyclr's hands while an install is still pending.
                futures = [
                    pool.submit(send, s, rng.uniform(0.3, 0.8) if s in dbatch else rng.uniform(0.0, 1.5))
                    for s in order
                ]
                if victim == "intake":
                    target = acks_before + rng.randint(1, max(1, len(order) // 2))
                    landed = A.wait_until(
                        lambda t=target: sum(len(s.acks) for s in [*submissions, *deploy_submissions]) >= t,
                        timeout=15,
                        interval=0.005,
                    )
                else:
                    target = posts_before + rng.randint(1, max(1, len(batch) // 2))
                    landed = A.wait_until(
                        lambda t=target, deploying=bool(dbatch) and victim == "worker": (
                            any(mid_install(d) for d in deploys_of(store))
                            and any(not r.state.is_final for r in rows())
                            if deploying  # a deploy and an install in the bot's hands at once
                            else install_posts(sandbox) >= t
                        ),
                        timeout=20,
                        interval=0.02,
                    )
                    pause = rng.uniform(0.0, sandbox.install_latency / 2)
                    time.sleep(0.0 if dbatch and victim == "worker" else pause)  # inside Cyclr's work
                deploy_snapshot = deploys_of(store)
                killed_at = time.time()
                snapshot = rows()
                for role in roles if victim == "whole bot" else (victim,):
                    live.pop(role).kill()
                for future in futures:
                    future.result()
            rounds.append(
                {
                    "killed": victim,
                    "at": killed_at,
                    "landed": landed,
                    "install POSTs": install_posts(sandbox) - posts_before,
                    "pending rows": sum(not r.state.is_final for r in snapshot),
                    "unanswered submissions": sum(1 for s in order if s.acks[-1].startswith("no answer")),
                    "template POSTs": template_posts(sandbox) - deploy_posts_before,
                    "deploys mid-install": sum(mid_install(d) for d in deploy_snapshot),
                }
            )
            for role in roles:
                if role not in live:
                    start(role)
        intake = live.get("intake") or live["bot"]
        for _attempt in range(5):
            left = [s for s in submissions if not s.recorded]
            dleft = [d for d in deploy_submissions if not d.recorded]
            if not left and not dleft:
                break
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda s: submit_remote(intake, sandbox, s), left))
                list(pool.map(lambda d: submit_deploy(intake, sandbox, d, account), dleft))
            if any(not s.recorded for s in [*submissions, *deploy_submissions]):
                time.sleep(1.0)  # a user clicking Submit again a moment later
        settled = wait_settled(unsettled, timeout=settle_timeout)
        final_rows = rows()
        final_deploys = deploys_of(store)
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
            figures={"rounds": rounds, "starts": len(processes)},
            settled=settled,
            waiting=unsettled(),
            deploy_submissions=deploy_submissions,
            deploys=final_deploys,
            deploy_audit=A.audit_deploys(
                submissions=deploy_submissions,
                deploys=final_deploys,
                sandbox=sandbox,
                slack=slack,
                notify_channel=NOTIFY_CHANNEL,
                account_id=account,
            ),
            slack_text=A.slack_bodies(slack),
            posts=[c for c in slack.calls("chat.postMessage") if c.ok],
            job_failures=len(failed_jobs(store)),
            secrets={
                **A.all_secrets(submissions),
                **A.access_tokens(sandbox),
                "Cyclr client secret": sandbox.client_secret,
                "Slack bot token": BOT_TOKEN_PROC,
                "Slack signing secret": sr.SIGNING_SECRET,
            },
        )
        exit_codes = [live[role].stop() for role in roles]
        result.logs = "\n".join(p.output() for p in processes)
        result.db_text = database_text(store)
        server_errors = sandbox.server_errors
    finally:
        for process in processes:
            process.kill()
        store.close()
        slack.close()
        sandbox.stop()
    assert not server_errors, "the Cyclr sandbox failed inside:\n" + "\n".join(server_errors)
    for process in processes:
        assert not group_alive(process.proc.pid), f"process group {process.proc.pid} outlived the test"
    result.figures["exit codes of the last, SIGTERMed starts"] = exit_codes
    result.seconds = time.monotonic() - started
    print(result.report())
    return result


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    from tests.fixtures.store import PG_ENV, pg_url

    base = pg_url()
    if base is None:
        pytest.skip(f"{PG_ENV} is not set: intake and workers apart need PostgreSQL (CI sets it)")
    schema, admin = _pg_schema(base)
    try:
        yield kill_run(
            tmp_path_factory.mktemp("kill-restart"),
            _schema_url(base, schema),
            kills=KILLS,
            per_round=8,
            seed=SEED,
            deploys_per_round=2,
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _pg_schema(base: str) -> tuple[str, Any]:
    import secrets

    from sqlalchemy import create_engine

    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return schema, admin


def _schema_url(base: str, schema: str) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


def test_kill_restart_kills_landed_where_meant(killed_run: Run) -> None:
    """The scenario did what it is for: the worker killed twice with installs in Cyclr's
    hands, intake killed with submissions unanswered, then both at once."""
    rounds = killed_run.figures["rounds"]
    assert [r["killed"] for r in rounds] == list(KILLS), killed_run.report()
    assert all(r["landed"] for r in rounds), killed_run.report()
    for r in rounds:
        if r["killed"] in ("worker", "whole bot"):
            assert r["pending rows"] and r["install POSTs"], killed_run.report()
    assert any(r["unanswered submissions"] for r in rounds if r["killed"] == "intake"), killed_run.report()
    assert killed_run.figures["exit codes of the last, SIGTERMed starts"] == [0, 0], killed_run.report()


def test_kill_restart_every_submission_recorded_and_definite(killed_run: Run) -> None:
    unrecorded = [(s.name, s.acks) for s in killed_run.submissions if not s.recorded]
    assert not unrecorded, unrecorded
    for category in (A.NOT_RECORDED, A.EXTRA_ROW, A.NOT_DEFINITE):
        assert not killed_run.audit.of(category), killed_run.report()


def test_kill_restart_no_install_made_twice_or_lost(killed_run: Run) -> None:
    for category in (A.POSTED_TWICE, A.DUPLICATE_NAME, A.LOST, A.INSTALLED_MISSING, A.ORPHAN, A.MISMATCH):
        assert not killed_run.audit.of(category), killed_run.report()


def test_kill_restart_requester_and_team_told(killed_run: Run) -> None:
    assert killed_run.settled, killed_run.report()
    for category in (A.NOT_TOLD, A.TEAM_NOT_TOLD):
        assert not killed_run.audit.of(category), killed_run.report()
    assert killed_run.job_failures == 0, killed_run.report()


#: A post that reached Slack this close before a SIGKILL may have been sent by a process that
#: died before it could store the message's ts: the next worker then posts again. Slack's
#: chat.postMessage has no idempotency key, so that one window is at-least-once by nature.
POST_THEN_KILLED = 0.5


def stored_posts(run: Run) -> set[tuple[str | None, str | None]]:
    """The messages (channel, ts) some install or deploy row stored as its own."""
    rows: list[InstallRecord | Deploy] = [*run.rows, *run.deploys]
    return {(r.notify_channel, r.notify_ts) for r in rows} | {(r.dm_channel, r.dm_ts) for r in rows}


def unexplained_posts(run: Run) -> list[str]:
    """Posts whose ts no row stored, that no kill explains."""
    kills = [r["at"] for r in run.figures["rounds"]]
    stored = stored_posts(run)
    return [
        f"{c.args['channel']} {c.args.get('text', '')[:100]!r}"
        for c in run.posts
        if (c.response["channel"], c.response["ts"]) not in stored
        and not any(-POST_THEN_KILLED <= c.time - at <= 0.1 for at in kills)
    ]


def test_kill_restart_nothing_posted_twice_except_in_flight_at_a_kill(killed_run: Run) -> None:
    assert not unexplained_posts(killed_run), unexplained_posts(killed_run)
    stored = stored_posts(killed_run)
    strays = sum(1 for c in killed_run.posts if (c.response["channel"], c.response["ts"]) not in stored)
    # Every duplicate the audits found is one of those explained posts.
    duplicates = sum(
        len(audit.of(category))
        for audit, category in (
            (killed_run.audit, A.EXTRA_DM),
            (killed_run.audit, A.TEAM_TWICE),
            (killed_run.deploy_audit, A.D_EXTRA_DM),
            (killed_run.deploy_audit, A.D_TEAM_TWICE),
        )
    )
    assert duplicates <= strays, killed_run.report()


def test_kill_restart_no_secret_in_process_output_slack_or_database(killed_run: Run) -> None:
    assert "worker running" in killed_run.logs and "HTTP mode" in killed_run.logs  # the output was captured
    places = {
        "the bots' output": killed_run.logs,
        "a Slack message": killed_run.slack_text,
        "the database": killed_run.db_text,
    }
    found = A.leaks(killed_run.secrets, places)
    assert not found, found


def test_kill_restart_a_kill_landed_while_a_deploy_was_in_cyclrs_hands(killed_run: Run) -> None:
    """The deploys took part: a worker (or the whole bot) was SIGKILLed while a deploy row
    was marked attempted and its (slowed) template install POST was under way (the rounds
    that kill a worker wait for one; the report shows how many each kill caught)."""
    rounds = killed_run.figures["rounds"]
    assert len(killed_run.deploy_submissions) == 2 * len(KILLS), killed_run.report()
    assert any(r["deploys mid-install"] and r["template POSTs"] for r in rounds if r["killed"] != "intake"), (
        killed_run.report()
    )


def test_kill_restart_every_deploy_final_in_cyclr_once_and_told(killed_run: Run) -> None:
    """Every deploy submission recorded; every deploy row deployed (one new cycle of its
    own) or failed with a reason (no cycle); no template installed twice; the requester and
    the team told (a duplicate post only as in-flight at a kill: judged above)."""
    unrecorded = [(d.name, d.acks) for d in killed_run.deploy_submissions if not d.recorded]
    assert not unrecorded, unrecorded
    assert killed_run.settled, killed_run.report()
    assert len(killed_run.deploys) == len(killed_run.deploy_submissions), killed_run.report()
    for category in A.DEPLOY_CATEGORIES:
        if category not in (A.D_EXTRA_DM, A.D_TEAM_TWICE):  # judged with the kill times
            assert not killed_run.deploy_audit.of(category), killed_run.report()


#: ``cyclr-bot run`` on one machine (SQLite): intake and its worker child, killed together.
WHOLE_BOT_KILLS = ("whole bot", "whole bot")


@pytest.fixture(scope="module")
def whole_bot_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    workdir = tmp_path_factory.mktemp("whole-bot")
    return kill_run(
        workdir,
        f"sqlite:///{workdir / 'bot.db'}",
        roles=("bot",),
        kills=WHOLE_BOT_KILLS,
        per_round=8,
        seed=SEED + 3,
    )


def test_whole_bot_killed_on_sqlite_kills_landed_mid_install(whole_bot_run: Run) -> None:
    rounds = whole_bot_run.figures["rounds"]
    assert [r["killed"] for r in rounds] == list(WHOLE_BOT_KILLS), whole_bot_run.report()
    assert all(r["landed"] and r["pending rows"] and r["install POSTs"] for r in rounds), (
        whole_bot_run.report()
    )
    assert whole_bot_run.figures["exit codes of the last, SIGTERMed starts"] == [0], whole_bot_run.report()


def test_whole_bot_killed_on_sqlite_every_install_final_once_and_told(whole_bot_run: Run) -> None:
    assert all(s.recorded for s in whole_bot_run.submissions), whole_bot_run.report()
    assert whole_bot_run.settled, whole_bot_run.report()
    for category in A.CATEGORIES:
        if category not in (A.EXTRA_DM, A.TEAM_TWICE):  # judged with the kill times below
            assert not whole_bot_run.audit.of(category), whole_bot_run.report()
    assert not unexplained_posts(whole_bot_run), unexplained_posts(whole_bot_run)
    assert whole_bot_run.job_failures == 0, whole_bot_run.report()
    places = {"the bot's output": whole_bot_run.logs, "a Slack message": whole_bot_run.slack_text}
    assert not A.leaks(whole_bot_run.secrets, places)


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
def test_soak_twelve_kills_and_restarts(
    tmp_path: Path, pg_schema: str, pg_schema_url: Callable[[str], str]
) -> None:
    run = kill_run(
        tmp_path, pg_schema_url(pg_schema), kills=KILLS * 3, per_round=20, seed=SEED + 2, settle_timeout=180
    )
    assert all(s.recorded for s in run.submissions), run.report()
    assert run.settled, run.report()
    for category in A.CATEGORIES:
        if category not in (A.EXTRA_DM, A.TEAM_TWICE):  # judged with the kill times below
            assert not run.audit.of(category), run.report()
    assert not unexplained_posts(run), unexplained_posts(run)
    places = {"the bots' output": run.logs, "a Slack message": run.slack_text, "the database": run.db_text}
    assert not A.leaks(run.secrets, places)
