"""Timed jobs: each runs once per period across every process (:meth:`JobQueue.due_periods`)."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.services.container import Services
from bot.store.queue import Job
from bot.worker.registry import Outcome, Registry

__all__ = ["HEALTH", "INCIDENTS", "PRUNE_JOBS", "PRUNE_LINKS", "RECONCILE", "register_timed", "schedule_for"]

log = logging.getLogger(__name__)

RECONCILE = "reconcile"
PRUNE_LINKS = "prune-links"
#: A PENDING row is reconciled once it is this old: younger ones have their install job
#: under way (or queued) and settle by themselves.
RECONCILE_AFTER = timedelta(seconds=30)
PRUNE_JOBS = "prune-jobs"
HEALTH = "health"
INCIDENTS = "incidents"
PRUNE_EVERY = 3600.0
#: Finished jobs are kept this long, for diagnosis, then deleted.
KEEP_FINISHED = timedelta(days=7)


def schedule_for(services: Services) -> dict[str, float]:
    """Seconds between runs of each timed kind."""
    every = {RECONCILE: services.settings.reconcile_every, PRUNE_LINKS: PRUNE_EVERY, PRUNE_JOBS: PRUNE_EVERY}
    if services.settings.health_every > 0:
        every[HEALTH] = services.settings.health_every
    # With a public URL Cyclr pushes incidents at once; polling still runs, to catch what a
    # push missed (raised before the webhook was set, or sent while the bot was down).
    if services.settings.incidents_every > 0:
        every[INCIDENTS] = services.settings.incidents_every
    return every


def register_timed(registry: Registry, services: Services) -> None:
    def reconcile(job: Job) -> Outcome:
        from bot.slack.deploys import reconcile_deploys  # the deploy kinds live with Slack's

        settled = services.installs.reconcile_pending(older_than=RECONCILE_AFTER)
        if settled:
            log.info("reconciled %d pending install(s)", len(settled))
        deploys = reconcile_deploys(services)
        if deploys:
            log.info("handed %d pending deploy(s) back to their job", deploys)
        return {"settled": len(settled), "deploys": deploys}

    def prune_links(job: Job) -> Outcome:
        return {"pruned": services.links.prune()}

    def prune_jobs(job: Job) -> Outcome:
        return {"pruned": services.queue.prune(older_than=KEEP_FINISHED)}

    def health(job: Job) -> Outcome:
        report = services.health.sweep()
        if report.lost:
            log.info("health: %d lost login(s), %d told now", len(report.lost), report.told)
        return {"accounts": report.accounts, "failed": len(report.failed), "lost": len(report.lost)}

    def incidents(job: Job) -> Outcome:
        report = services.alerts.poll()
        if report.new:
            log.info("alerts: %d new incident(s) from %d account(s)", report.new, report.accounts)
        return {"accounts": report.accounts, "failed": report.failed, "new": report.new}

    registry.add(RECONCILE, reconcile, attempts=1)
    registry.add(INCIDENTS, incidents, attempts=1)
    registry.add(HEALTH, health, attempts=1)
    registry.add(PRUNE_JOBS, prune_jobs, attempts=1)
    registry.add(PRUNE_LINKS, prune_links, attempts=1)
