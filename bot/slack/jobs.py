"""The job kinds that end in Slack: installs (with their modal), install messages, link DMs
and authorisation watches. Each is a small function of its job's payload; the queue retries
one that raises (:mod:`bot.worker.consumer`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.after_ack import JobRejected
from bot.services.container import Services
from bot.services.installs import InstallCall
from bot.services.notifier import TELL_INSTALL, TELL_LINKS, WATCH_AUTH
from bot.slack import blocks
from bot.slack.messenger import SlackMessenger, ViewChanged
from bot.store import InstallRecord
from bot.store.queue import Job
from bot.worker.registry import Later, Outcome, Registry

__all__ = ["INSTALL", "HeldInstalls", "SlackJobs"]

log = logging.getLogger(__name__)

INSTALL = "install"
#: Seconds between looks at an install whose call was lost with its process, while Cyclr
#: may still be working on it (the reconciliation's grace period decides).
RECONCILE_AGAIN = 15.0
#: Longest pause between two checks of a connector waiting for authorisation.
WATCH_MAX_DELAY = 60.0


class SlackJobs:
    """Runs the Slack-facing kinds with one process's services and messenger."""

    def __init__(self, services: Services, messenger: SlackMessenger) -> None:
        self.services = services
        self.messenger = messenger
        # Calls carrying credentials, by install id: only in the memory of the process that
        # took the submission, which runs their (held) job itself.
        self._held: dict[int, InstallCall] = {}
        self._held_lock = threading.Lock()

    def register(self, registry: Registry) -> None:
        registry.add(INSTALL, self.install, attempts=5)
        registry.add(TELL_INSTALL, self.tell_install, attempts=10)
        registry.add(TELL_LINKS, self.tell_links, attempts=10)
        registry.add(WATCH_AUTH, self.watch_authorisation, attempts=1000)

    # -- installs ------------------------------------------------------------------------------

    def keep_call(self, call: InstallCall) -> None:
        """Hold a secret-bearing call until its held job runs in this process."""
        with self._held_lock:
            self._held[call.install_id] = call

    def forget(self, install_id: int) -> None:
        with self._held_lock:
            self._held.pop(install_id, None)

    def install(self, job: Job) -> Outcome:
        """Call Cyclr once for a PENDING install and show the outcome in its modal.

        A row already attempted (its process died during the call), or a secret call whose
        process is gone, is never called again: it is reconciled against the account.
        """
        payload = job.payload
        install_id = int(payload["install"])
        view_id = payload.get("view")
        with self._held_lock:
            held = self._held.pop(install_id, None)
        record = self.services.store.get_install(install_id)
        if record is None:
            return {"missing": True}
        if record.state.is_final:
            # A worker that recorded the outcome may have died before it queued the job that
            # tells the requester and the team (this job's lease ran out): queue it again. It
            # is keyed per install and edits the messages it stored, so this is harmless.
            self.services.notifier.install_changed(record)
            return {"state": record.state.value}
        call = held or (None if payload.get("secret") else InstallCall.from_payload(payload))
        if call is None or record.attempted_at is not None:
            settled = self.services.installs.reconcile(record)
            if not settled.state.is_final:
                return Later(RECONCILE_AGAIN)
            self._show_outcome(view_id, settled, None)
            return {"state": settled.state.value, "reconciled": True}
        view_hash = self._show_progress(view_id, record)
        outcome = self.services.installs.perform(record, call)
        self._show_outcome(view_id, outcome.record, view_hash, duplicate_name=outcome.duplicate_name)
        return {"state": outcome.record.state.value}

    def _show_progress(self, view_id: Any, record: InstallRecord) -> str | None:
        if not view_id:
            return None
        progress = blocks.install_progress_view(
            connector_name=record.connector_name,
            account_name=self.services.accounts.name_of(record.account_id),
            sandbox=self.services.sandbox,
        )
        # Our own progress update gives a hash; if Slack applies the submission's ack after it,
        # the hash no longer matches and the outcome is sent again without it.
        try:
            return self.messenger.update_view(str(view_id), progress)
        except Exception as error:  # the modal is a courtesy: the DM tells the outcome anyway
            log.info("progress of install %s not shown in its modal (%s)", record.id, type(error).__name__)
            return None

    def _show_outcome(
        self, view_id: Any, record: InstallRecord, view_hash: str | None, *, duplicate_name: bool = False
    ) -> None:
        if not view_id:
            return
        view = blocks.install_outcome_view(
            record,
            account_name=self.services.accounts.name_of(record.account_id),
            sandbox=self.services.sandbox,
            duplicate_name=duplicate_name,
        )
        try:
            try:
                self.messenger.update_view(str(view_id), view, view_hash=view_hash or None)
            except ViewChanged:
                self.messenger.update_view(str(view_id), view)
        except Exception as error:  # closed or gone: the DM tells the outcome
            log.info("outcome of install %s not shown in its modal (%s)", record.id, type(error).__name__)

    # -- messages ------------------------------------------------------------------------------

    def tell_install(self, job: Job) -> Outcome:
        self.messenger.sync_install_messages(int(job.payload["install"]))
        return None

    def tell_links(self, job: Job) -> Outcome:
        links = self.services.store.links_by_ids(int(i) for i in job.payload.get("links") or [])
        if job.payload.get("what") == "authorised":
            self.messenger.links_authorised(links)
            from bot.slack.deploys import tell_deploys_of_connector  # checklists follow sign-ins

            for account_id, connector_id in {(link.account_id, link.account_connector_id) for link in links}:
                tell_deploys_of_connector(self.services, account_id, connector_id)
        else:
            self.messenger.links_timed_out(links)
        return {"links": len(links)}

    # -- authorisation watches -----------------------------------------------------------------

    def watch_authorisation(self, job: Job) -> Outcome:
        """One look at a connector waiting for OAuth; again later with back-off, until it is
        authorised, gone, or the wait (``until``) ran out."""
        payload: Mapping[str, Any] = job.payload
        account_id, connector_id = str(payload["account"]), int(payload["connector"])
        result = self.services.links.check_authorisation(account_id, connector_id)
        if result is not False:
            return {"authorised": bool(result)}
        until = datetime.fromisoformat(str(payload["until"]))
        if datetime.now(UTC) >= until:
            self.services.links.watch_ran_out(account_id, connector_id)
            return {"timed_out": True}
        delay = min(WATCH_MAX_DELAY, 3.0 * 2 ** min(job.attempt - 1, 10))
        return Later(min(delay, max(0.5, (until - datetime.now(UTC)).total_seconds())))


class HeldInstalls:
    """Runs, in this intake process, the install jobs whose calls carry credentials."""

    def __init__(self, services: Services, messenger: SlackMessenger) -> None:
        from bot.worker.consumer import run_job

        self.services = services
        self._jobs = SlackJobs(services, messenger)
        self._registry = Registry()
        self._jobs.register(self._registry)
        self._run_job = run_job

    def start(self, call: InstallCall, *, view_id: str) -> bool:
        """Hold the install's job for this process and run it just after the ack; False when
        the after-ack pool is full (the caller fails the install as "busy")."""
        services = self.services
        job = services.queue.hold(
            INSTALL,
            {"install": call.install_id, "view": view_id, "secret": True},
            key=f"{INSTALL}:{call.install_id}",
            owner=services.owner,
            lease=services.settings.job_lease,
        )
        if job is None:  # already under way (a repeat of the same submission)
            return True
        self._jobs.keep_call(call)
        try:
            services.after_ack.submit(INSTALL, self._run_job, services.queue, self._registry, job)
        except JobRejected:
            self._jobs.forget(call.install_id)
            services.queue.complete(job, {"rejected": True})
            return False
        return True
