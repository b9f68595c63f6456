"""What a fault run must end with, read back from the store, the Cyclr sandbox and Slack.

A run submits :class:`Submission` s through the install modal; :func:`audit` then compares
the install rows with what the sandbox holds and what the Slack stand-in was sent, and
sorts every discrepancy into a named category so a test can assert each one on its own.
:func:`audit_deploys` does the same for :class:`DeploySubmission` s (the ``cyclr_deploy``
modal) against the deploy rows, the account's cycles and the messages.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.cyclr.sandbox import CyclrSandbox
from bot.playground import payloads as sr
from bot.playground.standin import SlackStandin
from bot.store import Deploy, DeployState, InstallRecord, InstallState

#: The connectors a run installs, one of each kind of authentication the modal handles.
CONNECTORS: tuple[tuple[str, str], ...] = (
    ("Webhook", "none"),
    ("Stripe", "api_key"),
    ("Calendly", "api_key"),
    ("Jira", "basic"),
    ("Salesforce", "oauth"),
)
USERS: tuple[str, ...] = ("U0001", "UFAULT02", "UFAULT03", "UFAULT04", "UFAULT05")
NAME_PREFIX = "Fault "  #: every install a run submits is named so
INSTALLED_STATES = frozenset({InstallState.INSTALLED, InstallState.AUTHENTICATED})

# Problem categories (the keys of Audit.problems).
NOT_RECORDED = "acked as submitted but no install row"
EXTRA_ROW = "install row for no submission"
NOT_DEFINITE = "row still pending"
INSTALLED_MISSING = "row says installed, Cyclr has no such connector"
LOST = "row says failed, yet the connector is in Cyclr"
ORPHAN = "connector in Cyclr that no installed row accounts for"
DUPLICATE_NAME = "connector name installed more than once"
POSTED_TWICE = "install POST sent to Cyclr more than once for one name"
NOT_TOLD = "requester not told the outcome"
EXTRA_DM = "DM not attributable to exactly one install (duplicate or stray)"
TEAM_NOT_TOLD = "team notification missing or not showing the outcome"
TEAM_TWICE = "team notification posted more than once"
MISMATCH = "recorded outcome differs from what Cyclr did with the install POST"
CATEGORIES = (
    NOT_RECORDED,
    EXTRA_ROW,
    NOT_DEFINITE,
    INSTALLED_MISSING,
    LOST,
    ORPHAN,
    DUPLICATE_NAME,
    POSTED_TWICE,
    NOT_TOLD,
    EXTRA_DM,
    TEAM_NOT_TOLD,
    TEAM_TWICE,
    MISMATCH,
)


@dataclass
class Submission:
    """One install a user submits through the modal (possibly several times)."""

    index: int
    user_id: str
    connector: str
    auth: str
    name: str
    inputs: dict[str, Any] = field(repr=False)
    secrets: dict[str, str] = field(repr=False)
    view_id: str = ""
    view: dict[str, Any] = field(default_factory=dict, repr=False)
    acks: list[str] = field(default_factory=list)

    @property
    def recorded(self) -> bool:
        """The bot acked a submission with the progress (or outcome) view: a row exists."""
        return "update" in self.acks


def make_submissions(count: int, *, tag: str, rng: random.Random) -> list[Submission]:
    """``count`` installs with unique names over every connector kind and a few users."""
    found: list[Submission] = []
    for i in range(count):
        connector, auth = CONNECTORS[i % len(CONNECTORS)]
        user = USERS[rng.randrange(len(USERS))]
        name = f"{NAME_PREFIX}{tag} {i:03d} {connector}"
        inputs: dict[str, Any] = {"name": name}
        hidden: dict[str, str] = {}
        if auth == "api_key":
            key = f"sk_live_{tag}{i:03d}x{secrets.token_hex(10)}"
            inputs["api_key"] = key
            hidden[f"api key of {name}"] = key
        elif auth == "basic":
            username, password = f"ops{i:03d}", f"Pw-{secrets.token_hex(8)}!{i}"
            inputs.update(username=username, password=password)
            hidden[f"password of {name}"] = password
            basic = base64.b64encode(f"{username}:{password}".encode()).decode()
            hidden[f"basic auth value of {name}"] = basic
        found.append(Submission(i, user, connector, auth, name, inputs, hidden))
    return found


def state_inputs(sandbox: CyclrSandbox, submission: Submission) -> dict[str, Any]:
    """The modal's state values as Slack would send them for this submission."""
    connector = sandbox.connector_by_name(submission.connector)
    option = sr.option(str(connector["Id"]), submission.connector)
    return {"connector": sr.select_input(option), **submission.inputs}


def classify_ack(status: int, body: str) -> str:
    """``update`` (recorded), ``errors:<text>`` (refused in the modal) or ``http <status>``."""
    if status != 200:
        return f"http {status}"
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return f"not json: {body[:80]}"
    action = data.get("response_action")
    if action == "update":
        return "update"
    if action == "errors":
        return "errors:" + json.dumps(data.get("errors"), ensure_ascii=False)
    return f"other: {body[:80]}"


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# -- reading Slack ------------------------------------------------------------------------------


def _ok_posts(slack: SlackStandin) -> list[Any]:
    return [c for c in slack.calls("chat.postMessage") if c.ok]


def _told(record: InstallRecord, text: str) -> bool:
    """Whether a DM's current text tells ``record``'s final outcome."""
    if record.state is InstallState.FAILED:
        return "Could not install" in text
    if record.state in INSTALLED_STATES:
        return "is installed in" in text and record.name in text
    return False


def _team_told(record: InstallRecord, text: str) -> bool:
    if record.name not in text:
        return False
    if record.state is InstallState.FAILED:
        return "tried to install" in text
    return " installed " in text and "is installing" not in text


def unsettled(rows: Sequence[InstallRecord], slack: SlackStandin) -> list[str]:
    """Why the run is not over yet: pending rows, or messages not yet showing the outcome."""
    waiting: list[str] = []
    for row in rows:
        if not row.state.is_final:
            waiting.append(f"{row.name}: pending")
        elif not (row.dm_channel and row.dm_ts):
            waiting.append(f"{row.name}: no DM yet")
        elif not (row.notify_channel and row.notify_ts):
            waiting.append(f"{row.name}: no team notification yet")
        else:
            try:
                dm = slack.message(row.dm_channel, row.dm_ts)["text"]
                note = slack.message(row.notify_channel, row.notify_ts)["text"]
            except KeyError:
                waiting.append(f"{row.name}: a stored message ts the stand-in does not know")
                continue
            if not _told(row, dm) or not _team_told(row, note):
                waiting.append(f"{row.name}: messages not updated to {row.state} yet")
    return waiting


# -- the audit ------------------------------------------------------------------------------------


@dataclass
class Audit:
    outcomes: Counter[str]
    problems: dict[str, list[str]]

    def of(self, category: str) -> list[str]:
        return self.problems.get(category, [])

    def summary(self) -> str:
        lines = [f"outcomes: {dict(self.outcomes)}"]
        for category, items in self.problems.items():
            if items:
                lines.append(f"{category}: {len(items)}")
                lines += [f"    {item}" for item in items[:15]]
        return "\n".join(lines)


def audit(
    *,
    submissions: Sequence[Submission],
    rows: Sequence[InstallRecord],
    sandbox: CyclrSandbox,
    slack: SlackStandin,
    notify_channel: str,
    account_id: str | None = None,
) -> Audit:
    problems: dict[str, list[str]] = {}

    def problem(category: str, text: str) -> None:
        problems.setdefault(category, []).append(text)

    by_key = {row.submission_key: row for row in rows}
    views = {s.view_id: s for s in submissions}
    for s in submissions:
        if s.recorded and s.view_id not in by_key:
            problem(NOT_RECORDED, f"{s.name} (view {s.view_id}, acks {s.acks})")
    for row in rows:
        if row.submission_key not in views:
            problem(EXTRA_ROW, f"{row.name} (key {row.submission_key})")

    # The connectors a run's installs made (every one is named "Fault ..."): a deploy's
    # template installs the connectors it needs too, under their own names.
    installed = [c for c in sandbox.installed(account_id) if str(c["Name"]).startswith(NAME_PREFIX)]
    names_in_cyclr = Counter(c["Name"] for c in installed)
    by_name = {c["Name"]: c for c in installed}
    for name, count in names_in_cyclr.items():
        if count > 1:
            problem(DUPLICATE_NAME, f"{name} x{count}")
    installed_rows = {row.name for row in rows if row.state in INSTALLED_STATES}
    for name in names_in_cyclr:
        if name not in installed_rows:
            problem(ORPHAN, name)
    install_posts = [
        r
        for r in sandbox.requests
        if r.method == "POST"
        and "/connectors/" in r.path
        and r.path.endswith("/install")
        and isinstance(r.json, dict)
    ]
    posts = Counter(r.json.get("Name") for r in install_posts)
    for name, count in posts.items():
        if count > 1:
            problem(POSTED_TWICE, f"{name} x{count}")
    by_row_name = {row.name: row for row in rows}
    for r in install_posts:
        row = by_row_name.get(r.json.get("Name"))
        if row is None or not row.state.is_final:
            continue
        applied = r.status == 200 and r.fault in (None, "drop_after", "delay_after", "delay_before")
        if applied != (row.state in INSTALLED_STATES):
            problem(MISMATCH, f"{row.name}: POST {r.status} fault={r.fault}, recorded {row.state}")

    outcomes: Counter[str] = Counter()
    dm_ts = set()
    for row in rows:
        outcomes[row.state.value] += 1
        if not row.state.is_final:
            problem(NOT_DEFINITE, f"{row.name} (created {row.created_at:%H:%M:%S.%f})")
        found = by_name.get(row.name)
        if row.state in INSTALLED_STATES and (found is None or found["Id"] != row.account_connector_id):
            problem(INSTALLED_MISSING, f"{row.name}: row id {row.account_connector_id}, Cyclr {found}")
        if row.state is InstallState.FAILED and found is not None:
            problem(LOST, f"{row.name}: Cyclr id {found['Id']}; told: {row.reason}")
        if row.state.is_final:
            text = None
            if row.dm_channel and row.dm_ts:
                dm_ts.add((row.dm_channel, row.dm_ts))
                try:
                    text = slack.message(row.dm_channel, row.dm_ts)["text"]
                except KeyError:
                    text = None
            if text is None or not _told(row, text) or row.dm_channel != f"D{row.user_id}":
                problem(NOT_TOLD, f"{row.name} ({row.state}) DM {row.dm_channel}/{row.dm_ts}: {text!r}")
            note = None
            if row.notify_channel and row.notify_ts:
                try:
                    note = slack.message(row.notify_channel, row.notify_ts)["text"]
                except KeyError:
                    note = None
            if note is None or not _team_told(row, note):
                problem(TEAM_NOT_TOLD, f"{row.name} ({row.state}): {note!r}")

    posts_ok = _ok_posts(slack)
    for call in posts_ok:
        channel = str(call.args.get("channel", ""))
        if is_deploy_text(str(call.args.get("text", ""))):
            continue  # a deploy's: judged by audit_deploys
        if channel.startswith("D") and (call.response["channel"], call.response["ts"]) not in dm_ts:
            problem(EXTRA_DM, f"{channel}: {str(call.args.get('text'))[:160]!r}")
    team_posts = Counter(
        row.name
        for call in posts_ok
        if call.args.get("channel") == notify_channel
        for row in rows
        if f"*{row.name}*" in str(call.args.get("text", ""))
    )
    for name, count in team_posts.items():
        if count > 1:
            problem(TEAM_TWICE, f"{name} x{count}")
    return Audit(outcomes, problems)


def fault_figures(sandbox: CyclrSandbox, rows: Sequence[InstallRecord] = ()) -> dict[str, Any]:
    """Faults applied, by kind (on install POSTs and on everything else), and the recorded
    outcome of the installs whose POST met each kind of fault."""
    figures: dict[str, Counter[str]] = {
        "install POST": Counter(),
        "template install POST": Counter(),
        "other": Counter(),
    }
    for hit in sandbox.faults.hits:
        where = "other"
        if hit.method == "POST" and hit.path.endswith("/install"):
            where = "template install POST" if "/templates/" in hit.path else "install POST"
        figures[where][hit.kind] += 1
    states = {row.name: row.state.value for row in rows}
    outcomes: dict[str, Counter[str]] = {}
    for r in sandbox.requests:
        if (
            r.method == "POST"
            and "/connectors/" in r.path
            and r.path.endswith("/install")
            and isinstance(r.json, dict)
        ):
            outcome = states.get(r.json.get("Name"), "no row")
            outcomes.setdefault(r.fault or "no fault", Counter())[outcome] += 1
    return {
        **{k: dict(v) for k, v in figures.items()},
        "outcome by install POST fault": {k: dict(v) for k, v in sorted(outcomes.items())},
    }


def leaks(hidden: Mapping[str, str], places: Mapping[str, str]) -> list[str]:
    """``"<secret name> in <place>"`` for every secret value found in a place's text."""
    return [
        f"{name} in {where}"
        for name, value in hidden.items()
        if value
        for where, text in places.items()
        if value in text
    ]


def access_tokens(sandbox: CyclrSandbox) -> dict[str, str]:
    tokens = {
        r.header("Authorization").split(" ", 1)[-1] for r in sandbox.requests if r.header("Authorization")
    }
    return {f"Cyclr access token {i}": t for i, t in enumerate(sorted(tokens))}


def slack_bodies(slack: SlackStandin) -> str:
    """Every body the bot sent to Slack (Web API arguments and response_url posts)."""
    return "\n".join(json.dumps(c.args, default=str, ensure_ascii=False) for c in slack.calls())


def all_secrets(submissions: Iterable[Submission]) -> dict[str, str]:
    found: dict[str, str] = {}
    for s in submissions:
        found.update(s.secrets)
    return found


# -- deploys ------------------------------------------------------------------------------------

#: The templates a run deploys (several deploys share one: reconciliation must tell them apart).
TEMPLATES: tuple[str, ...] = (
    "Stripe > Mailchimp: customers",
    "Webhook > Slack: alerts",
    "Jira > Slack: issue updates",
)

D_NOT_RECORDED = "deploy acked as submitted but no deploy row"
D_EXTRA_ROW = "deploy row for no submission"
D_NOT_DEFINITE = "deploy row not final (pending, failed without a reason, deployed without a cycle)"
D_CYCLE_MISSING = "deploy row says deployed, Cyclr has no such cycle of its template"
D_CYCLE_SHARED = "one cycle claimed by more than one deploy row"
D_ORPHAN = (
    "new cycle in Cyclr that no deployed row accounts for (a template installed twice, or a lost deploy)"
)
D_POSTED_TWICE = "more template install POSTs than deploy rows of that template"
D_NOT_TOLD = "deploy requester not told the outcome"
D_EXTRA_DM = "deploy DM not attributable to exactly one deploy (duplicate or stray)"
D_TEAM_NOT_TOLD = "deploy team message missing or not showing the outcome"
D_TEAM_TWICE = "deploy team message posted more than once (or a stray)"
DEPLOY_CATEGORIES = (
    D_NOT_RECORDED,
    D_EXTRA_ROW,
    D_NOT_DEFINITE,
    D_CYCLE_MISSING,
    D_CYCLE_SHARED,
    D_ORPHAN,
    D_POSTED_TWICE,
    D_NOT_TOLD,
    D_EXTRA_DM,
    D_TEAM_NOT_TOLD,
    D_TEAM_TWICE,
)


@dataclass
class DeploySubmission:
    """One deploy a user submits through the ``cyclr_deploy`` modal (possibly several times)."""

    index: int
    user_id: str
    template: str
    view_id: str = ""
    view: dict[str, Any] = field(default_factory=dict, repr=False)
    acks: list[str] = field(default_factory=list)

    @property
    def recorded(self) -> bool:
        return "update" in self.acks

    @property
    def name(self) -> str:  # for reports
        return f"deploy {self.index} of {self.template}"


def make_deploys(count: int, *, rng: random.Random) -> list[DeploySubmission]:
    return [
        DeploySubmission(i, USERS[rng.randrange(len(USERS))], TEMPLATES[i % len(TEMPLATES)])
        for i in range(count)
    ]


def deploy_inputs(sandbox: CyclrSandbox, submission: DeploySubmission, account: str) -> dict[str, Any]:
    """The deploy modal's state values as Slack would send them."""
    template = sandbox.template_by_name(submission.template)
    return {
        "template": sr.select_input(sr.option(str(template["Id"]), submission.template)),
        "account": sr.select_input(sr.option(account, account)),
    }


def is_deploy_text(text: str) -> bool:
    """A message about a deploy (the checklist DM, the team line), not about an install."""
    lowered = text.casefold()
    return "deploy" in lowered


def _deploy_told(deploy: Deploy, text: str) -> bool:
    if deploy.state is DeployState.FAILED:
        return "Could not deploy" in text and bool(deploy.reason)
    if deploy.state is DeployState.DEPLOYED:
        return text.startswith(("[sandbox] Deployed ", "Deployed "))
    return False


def _checklist_told(deploy: Deploy, message: dict[str, Any]) -> bool:
    """The checklist DM (its text and its blocks) tells the deploy's outcome."""
    text = str(message.get("text", ""))
    if not _deploy_told(deploy, text):
        return False
    if deploy.state is DeployState.DEPLOYED:
        return "as the cycle *" in json.dumps(message.get("blocks") or [])
    return deploy.state is DeployState.FAILED


def _deploy_team_told(deploy: Deploy, text: str) -> bool:
    if deploy.state is DeployState.FAILED:
        return "could not deploy" in text
    if deploy.state is DeployState.DEPLOYED:
        return " deployed *" in text and "is deploying" not in text
    return False


def _message(slack: SlackStandin, channel: str | None, ts: str | None) -> dict[str, Any] | None:
    if not (channel and ts):
        return None
    try:
        return dict(slack.message(channel, ts))
    except KeyError:
        return None


def _message_text(slack: SlackStandin, channel: str | None, ts: str | None) -> str | None:
    found = _message(slack, channel, ts)
    return None if found is None else str(found.get("text", ""))


def unsettled_deploys(deploys: Sequence[Deploy], slack: SlackStandin) -> list[str]:
    """Why the deploys are not over yet: pending rows, or messages not showing the outcome."""
    waiting: list[str] = []
    for d in deploys:
        dm = _message(slack, d.dm_channel, d.dm_ts)
        note = _message_text(slack, d.notify_channel, d.notify_ts)
        if not d.state.is_final:
            waiting.append(f"deploy-{d.id}: pending")
        elif dm is None or not _checklist_told(d, dm):
            waiting.append(f"deploy-{d.id}: DM not showing {d.state.value} yet")
        elif note is None or not _deploy_team_told(d, note):
            waiting.append(f"deploy-{d.id}: team message not showing {d.state.value} yet")
    return waiting


def audit_deploys(
    *,
    submissions: Sequence[DeploySubmission],
    deploys: Sequence[Deploy],
    sandbox: CyclrSandbox,
    slack: SlackStandin,
    notify_channel: str,
    account_id: str,
    cycles_before: Iterable[str] = (),
) -> Audit:
    """The deploys' rows against the account's cycles in Cyclr and the messages Slack holds."""
    problems: dict[str, list[str]] = {}

    def problem(category: str, text: str) -> None:
        problems.setdefault(category, []).append(text)

    keys = {f"view:{s.view_id}" for s in submissions}
    by_key = {d.request_key: d for d in deploys}
    for s in submissions:
        if s.recorded and f"view:{s.view_id}" not in by_key:
            problem(D_NOT_RECORDED, f"{s.name} (view {s.view_id}, acks {s.acks})")
    for d in deploys:
        if d.request_key not in keys:
            problem(D_EXTRA_ROW, f"deploy-{d.id} ({d.request_key})")

    old = set(cycles_before)
    cycles = {str(c["Id"]): c for c in sandbox.cycles(account_id) if str(c["Id"]) not in old}
    claimed = Counter(d.cycle_id for d in deploys if d.state is DeployState.DEPLOYED and d.cycle_id)
    for cycle_id, count in claimed.items():
        if count > 1:
            problem(D_CYCLE_SHARED, f"cycle {cycle_id} x{count}")
    for cycle_id, cycle in cycles.items():
        if cycle_id not in claimed:
            problem(D_ORPHAN, f"cycle {cycle_id} {cycle.get('Name')!r} of template {cycle.get('TemplateId')}")
    posts = Counter(
        r.path.split("/templates/", 1)[1].split("/", 1)[0]
        for r in sandbox.requests
        if r.method == "POST" and "/templates/" in r.path and r.path.endswith("/install")
    )
    rows_per_template = Counter(d.template_id for d in deploys)
    for template_id, count in posts.items():
        if count > rows_per_template[template_id]:
            problem(
                D_POSTED_TWICE,
                f"template {template_id}: {count} POSTs, {rows_per_template[template_id]} rows",
            )

    outcomes: Counter[str] = Counter()
    dms: set[tuple[str, str]] = set()
    notes: set[tuple[str, str]] = set()
    for d in deploys:
        outcomes[f"deploy {d.state.value}"] += 1
        final = (d.state is DeployState.FAILED and bool(d.reason)) or (
            d.state is DeployState.DEPLOYED and bool(d.cycle_id)
        )
        if not final:
            problem(D_NOT_DEFINITE, f"deploy-{d.id} {d.state.value} reason={d.reason!r} cycle={d.cycle_id}")
        if d.state is DeployState.DEPLOYED:
            cycle = cycles.get(str(d.cycle_id))
            if cycle is None or str(cycle.get("TemplateId")) != d.template_id:
                problem(D_CYCLE_MISSING, f"deploy-{d.id}: cycle {d.cycle_id}, Cyclr {cycle}")
        if d.dm_channel and d.dm_ts:
            dms.add((d.dm_channel, d.dm_ts))
        if d.notify_channel and d.notify_ts:
            notes.add((d.notify_channel, d.notify_ts))
        if d.state.is_final:
            dm = _message(slack, d.dm_channel, d.dm_ts)
            if dm is None or not _checklist_told(d, dm) or d.dm_channel != f"D{d.user_id}":
                shown = None if dm is None else dm.get("text")
                problem(D_NOT_TOLD, f"deploy-{d.id} ({d.state.value}) DM {d.dm_channel}/{d.dm_ts}: {shown!r}")
            note = _message_text(slack, d.notify_channel, d.notify_ts)
            if note is None or not _deploy_team_told(d, note) or d.notify_channel != notify_channel:
                problem(D_TEAM_NOT_TOLD, f"deploy-{d.id} ({d.state.value}): {note!r}")

    for call in _ok_posts(slack):
        channel = str(call.args.get("channel", ""))
        text = str(call.args.get("text", ""))
        if not is_deploy_text(text):
            continue
        where = (call.response["channel"], call.response["ts"])
        if channel.startswith("D") and where not in dms:
            problem(D_EXTRA_DM, f"{channel}: {text[:160]!r}")
        if channel == notify_channel and where not in notes:
            problem(D_TEAM_TWICE, f"{text[:160]!r}")
    return Audit(outcomes, problems)
