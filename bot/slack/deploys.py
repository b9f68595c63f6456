"""Templates to running cycles: the ``deploy`` and ``tell-deploy`` job kinds.

Intake records a pending :class:`~bot.store.Deploy` (one per deploy modal: a double submit
finds the same row) and queues one ``deploy`` job, keyed by the row. The job marks the row
*attempted* with a compare-and-set just before the one ``POST /templates/{id}/install``; a job
that finds the row attempted already (its process died, or Cyclr's answer was lost) never
calls again: it looks for the cycle in the account instead, by template id and creation
time, and settles the row as deployed (the cycle found) or, once the grace period is over,
failed. The timed ``reconcile`` job queues the ``deploy`` job again for rows left pending.

``tell-deploy`` brings the requester's checklist DM and the team channel's message up to
date, editing the messages whose ``ts`` it stored: one line per connector of the new cycle
with its state and its way to authorise, what only the console can fix, and *Activate* once
nothing blocks. It runs again whenever something changes: a sign-in through a link, a key or
login entered, an activation.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cyclr.errors import CyclrAPIError, CyclrError, CyclrNotFound, CyclrRateLimited, CyclrServerError
from bot.cyclr.models import AuthKind, Cycle
from bot.services.container import Services
from bot.slack import blocks
from bot.slack.blocks.deploy import ChecklistItem
from bot.slack.messenger import SlackMessenger, ViewChanged
from bot.store import Deploy, DeployState
from bot.store.queue import Job
from bot.worker.registry import Later, Outcome, Registry

__all__ = [
    "CREDENTIALS",
    "DEPLOY",
    "TELL_DEPLOY",
    "DeployJobs",
    "enqueue_deploy",
    "reconcile_deploys",
    "tell_deploy",
    "tell_deploys_of_connector",
]

log = logging.getLogger(__name__)

DEPLOY = "deploy"
TELL_DEPLOY = "tell-deploy"
#: The job held by the intake process that took a credentials modal (the value stays in its
#: memory); a worker that takes it over, its process gone, asks for the value again.
CREDENTIALS = "credentials"
#: Seconds between looks for the cycle of a deploy whose answer was lost.
RECONCILE_AGAIN = 5.0
#: A cycle created this long before the attempt still counts (clocks differ).
CLOCK_SLACK = timedelta(seconds=120)
#: A pending deploy row is handed to its job again by the timed reconcile once this old.
RECONCILE_AFTER = timedelta(seconds=30)
#: Checklists of deploys this recent follow their connectors' sign-ins.
FOLLOW_FOR = timedelta(days=2)


def _wake(services: Services) -> None:
    wake = services.notifier.wake
    if wake is not None:
        wake()


def enqueue_deploy(services: Services, deploy: Deploy, *, view_id: str | None = None) -> None:
    """Queue the deploy's job (keyed by the row); ``view_id``: the modal that shows its outcome."""
    payload: dict[str, Any] = {"deploy": deploy.id}
    if view_id:
        payload["view"] = view_id
    services.queue.enqueue(DEPLOY, payload, key=f"{DEPLOY}:{deploy.id}")
    _wake(services)


def tell_deploy(services: Services, deploy_id: int, *, notice: str | None = None) -> None:
    """Queue the job that brings the deploy's checklist and team message up to date."""
    payload: dict[str, Any] = {"deploy": deploy_id}
    if notice:
        payload["notice"] = notice[:500]  # plain words about an outcome; never a credential
    services.queue.enqueue(TELL_DEPLOY, payload, key=f"{TELL_DEPLOY}:{deploy_id}")
    _wake(services)


def tell_deploys_of_connector(services: Services, account_id: str, account_connector_id: int) -> int:
    """A connector of ``account_id`` was authorised: re-render the recent checklists it is on."""
    told = 0
    for deploy in services.store.open_deploys(account_id, since=FOLLOW_FOR):
        if deploy.dm_ts:  # only checklists already shown; the cycle is re-read when told
            tell_deploy(services, deploy.id)
            told += 1
    return told


def reconcile_deploys(services: Services) -> int:
    """The timed pass: pending deploys older than :data:`RECONCILE_AFTER` get their job again
    (keyed: one already queued is not doubled); the job reconciles an attempted row."""
    pending = services.store.pending_deploys(older_than=RECONCILE_AFTER)
    for deploy in pending:
        enqueue_deploy(services, deploy)
    return len(pending)


class DeployJobs:
    """Runs the deploy kinds with one process's services and messenger."""

    def __init__(self, services: Services, messenger: SlackMessenger) -> None:
        self.services = services
        self.messenger = messenger

    def register(self, registry: Registry) -> None:
        registry.add(DEPLOY, self.deploy, attempts=20)
        registry.add(TELL_DEPLOY, self.tell, attempts=10)
        registry.add(CREDENTIALS, self.credentials_lost, attempts=1)

    def credentials_lost(self, job: Job) -> Outcome:
        """A credentials job whose process died before it reported: the value is gone with it."""
        deploy = job.payload.get("deploy")
        if isinstance(deploy, int):
            tell_deploy(
                self.services,
                deploy,
                notice="I could not confirm that the credentials you entered reached Cyclr. "
                "If the connector still needs them, please enter them again.",
            )
        return {"lost": True}

    @property
    def sandbox(self) -> bool:
        return self.services.sandbox

    # -- the deploy ------------------------------------------------------------------------------

    def deploy(self, job: Job) -> Outcome:
        """The deploy, and its modal brought along (progress with its hash, then the outcome;
        as the install modal is: :meth:`bot.slack.jobs.SlackJobs.install`)."""
        view_id = job.payload.get("view")
        if not isinstance(view_id, str) or not view_id:
            return self._deploy(job)
        deploy = self.services.store.get_deploy(int(job.payload["deploy"]))
        view_hash = self._show(view_id, deploy) if deploy is not None and not deploy.state.is_final else None
        outcome = self._deploy(job)
        deploy = self.services.store.get_deploy(int(job.payload["deploy"]))
        if deploy is not None and deploy.state.is_final:
            self._show(view_id, deploy, view_hash)
        return outcome

    def _show(self, view_id: str, deploy: Deploy, view_hash: str | None = None) -> str | None:
        """A courtesy: the checklist DM tells the outcome anyway."""
        view = blocks.deploy_outcome_view(
            deploy, account_name=self.services.accounts.name_of(deploy.account_id), sandbox=self.sandbox
        )
        try:
            try:
                return self.messenger.update_view(view_id, view, view_hash=view_hash or None)
            except ViewChanged:  # Slack applied the submission's own update after ours
                return self.messenger.update_view(view_id, view)
        except Exception as error:
            log.info("deploy %s not shown in its modal (%s)", deploy.id, type(error).__name__)
            return None

    def _deploy(self, job: Job) -> Outcome:
        store = self.services.store
        deploy = store.get_deploy(int(job.payload["deploy"]))
        if deploy is None:
            return {"missing": True}
        if deploy.state.is_final:
            tell_deploy(self.services, deploy.id)
            return {"state": deploy.state.value}
        if deploy.attempted_at is not None or not store.mark_deploy_attempted(deploy.id):
            return self._settle(deploy)
        try:
            cycle = self.services.cyclr.install_template(deploy.account_id, deploy.template_id)
        except CyclrAPIError as error:
            if isinstance(error, CyclrServerError | CyclrRateLimited):
                log.info("deploy %s: Cyclr answered %s; reconciling", deploy.id, type(error).__name__)
                store.touch_deploy(deploy.id)  # the grace for its cycle to show starts now
                return self._settle(deploy)
            reason = f"Cyclr refused: {error.user_message}"
            if isinstance(error, CyclrNotFound):
                reason = "That template is not in the library any more."
            store.finish_deploy(deploy.id, DeployState.FAILED, reason=reason)
            tell_deploy(self.services, deploy.id)
            return {"state": "failed"}
        except CyclrError as error:  # no answer: the cycle may exist; never call again
            log.info("deploy %s: no answer from Cyclr (%s); reconciling", deploy.id, type(error).__name__)
            store.touch_deploy(deploy.id)  # the grace for its cycle to show starts now
            return self._settle(deploy)
        done = store.finish_deploy(deploy.id, DeployState.DEPLOYED, cycle_id=cycle.id, cycle_name=cycle.name)
        if done is not None and done.state is DeployState.PENDING:  # a reconciling deploy took it
            return self._settle(done)
        tell_deploy(self.services, deploy.id)
        return {"state": "deployed"}

    def _settle(self, deploy: Deploy) -> Outcome:
        """Look for the deploy's cycle in its account instead of calling again.

        The grace runs from the row's last change: its attempt, or the answer that was lost
        (the row as this job first read it may be older than both: a job that waited in the
        queue longer than the grace must not give up on a cycle Cyclr is still making)."""
        store = self.services.store
        deploy = store.get_deploy(deploy.id) or deploy
        if deploy.state.is_final:
            tell_deploy(self.services, deploy.id)
            return {"state": deploy.state.value}
        try:
            found, others = self._find_cycle(deploy)
        except CyclrError as error:
            log.info("deploy %s: cycles not listed (%s); later", deploy.id, type(error).__name__)
            return Later(RECONCILE_AGAIN)
        since = deploy.updated_at  # its attempt, or the answer lost since (never before the attempt)
        in_grace = datetime.now(UTC) - since < timedelta(seconds=self.services.settings.reconcile_grace)
        if found is not None:
            if others and in_grace:  # the cycle may be theirs: let their answers claim theirs first
                return Later(RECONCILE_AGAIN)
            done = store.finish_deploy(
                deploy.id, DeployState.DEPLOYED, cycle_id=found.id, cycle_name=found.name
            )
            if done is not None and done.state is DeployState.PENDING:  # claimed meanwhile: look again
                return Later(RECONCILE_AGAIN)
            tell_deploy(self.services, deploy.id)
            return {"state": "deployed", "reconciled": True}
        if in_grace:
            return Later(RECONCILE_AGAIN)
        store.finish_deploy(
            deploy.id,
            DeployState.FAILED,
            reason="Cyclr did not confirm the deploy and no new cycle appeared, so nothing was deployed. "
            "Try again.",
        )
        tell_deploy(self.services, deploy.id)
        return {"state": "failed", "reconciled": True}

    def _find_cycle(self, deploy: Deploy) -> tuple[Cycle | None, bool]:
        """The oldest cycle of the deploy's template made since its attempt that no other
        deploy accounts for; whether other deploys of the template await their answers.

        Read in this order (cycles, deploys in flight, claimed cycles) so that a deploy
        whose cycle is listed is either seen in flight or has its cycle seen claimed."""
        cycles = list(self.services.cyclr.list_cycles(deploy.account_id))
        store = self.services.store
        others = [
            d.id for d in store.deploys_in_flight(deploy.account_id, deploy.template_id) if d.id != deploy.id
        ]
        claimed = store.claimed_cycles(deploy.account_id)
        since = (deploy.attempted_at or deploy.created_at) - CLOCK_SLACK
        candidates = [
            c
            for c in cycles
            if c.template_id == deploy.template_id
            and c.id not in claimed
            and (c.created_at is None or c.created_at >= since)
        ]
        candidates.sort(
            key=lambda c: c.created_at or datetime.max.replace(tzinfo=UTC)
        )
        return (candidates[0] if candidates else None), bool(others)

    # -- telling ---------------------------------------------------------------------------------

    def tell(self, job: Job) -> Outcome:
        deploy = self.services.store.get_deploy(int(job.payload["deploy"]))
        if deploy is None:
            return {"missing": True}
        notice = job.payload.get("notice")
        account_name = self.services.accounts.name_of(deploy.account_id)
        activation = (
            self.services.store.latest_cycle_event(deploy.account_id, deploy.cycle_id)
            if deploy.cycle_id
            else None
        )
        checklist = self._checklist(
            deploy, account_name, notice if isinstance(notice, str) else None, activation
        )
        if deploy.dm_channel and deploy.dm_ts:
            self.messenger.update(deploy.dm_channel, deploy.dm_ts, checklist)
        else:
            dm = self.messenger.dm(deploy.user_id, checklist)
            self.services.store.set_deploy_messages(deploy.id, dm=dm)
        self._tell_team(deploy, account_name, activation)
        return {"state": deploy.state.value}

    def _checklist(
        self, deploy: Deploy, account_name: str, notice: str | None, activation: Any
    ) -> blocks.Message:
        sealer = self.messenger.sealer

        def seal(data: Any) -> str:
            return sealer.button_value(deploy.user_id, data)

        if deploy.state is not DeployState.DEPLOYED or not deploy.cycle_id:
            return blocks.deploy_checklist(
                deploy, account_name=account_name, items=(), seal=seal, sandbox=self.sandbox
            )
        cyclr = self.services.cyclr
        cycle = cyclr.get_cycle(deploy.account_id, deploy.cycle_id)
        items: list[ChecklistItem] = []
        for connector in cycle.connectors:
            kind = AuthKind.UNKNOWN
            authenticated = connector.authenticated
            if connector.account_connector_id is not None and not authenticated:
                installed = cyclr.get_account_connector(deploy.account_id, connector.account_connector_id)
                kind, authenticated = installed.auth_kind, installed.authenticated
            items.append(
                ChecklistItem.of(connector.name, connector.account_connector_id, authenticated, kind)
            )
        items = list({(i.account_connector_id, i.name): i for i in items}.values())  # a connector once
        console: list[str] = []
        if not cycle.is_active:
            for item in cyclr.cycle_prerequisites(deploy.account_id, deploy.cycle_id):
                if not item.fixable_in_slack:
                    console.append(f"{cycle.name}: {item.description.rstrip('.')}")
        return blocks.deploy_checklist(
            deploy,
            account_name=account_name,
            items=items,
            console=console,
            running=cycle.is_active,
            activation=activation,
            seal=seal,
            notice=notice,
            sandbox=self.sandbox,
        )

    def _tell_team(self, deploy: Deploy, account_name: str, activation: Any) -> None:
        channel = deploy.notify_channel or self.services.settings.notify_channel
        if not channel:
            return
        note = blocks.deploy_notification(
            deploy, account_name=account_name, activation=activation, sandbox=self.sandbox
        )
        client = self.messenger.client
        if deploy.notify_channel and deploy.notify_ts:
            client.chat_update(
                channel=deploy.notify_channel, ts=deploy.notify_ts, text=note.text, blocks=note.blocks
            )
            return
        response = client.chat_postMessage(
            channel=channel, text=note.text, blocks=note.blocks, unfurl_links=False, unfurl_media=False
        )
        self.services.store.set_deploy_messages(
            deploy.id, notify=(str(response["channel"]), str(response["ts"]))
        )
