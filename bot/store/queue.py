"""The job queue: one table of work to do after the ack, shared by every process.

A job is a kind, a JSON payload (never a secret) and an optional key. At most one job per
key is queued or running at a time: enqueuing a key that is queued gives the queued job
the new payload and time, and enqueuing one that is running marks it to run once more,
with the new payload, when it finishes. So a job per key never runs twice at once, and
its last run sees the last payload.

Workers claim due jobs with one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
RETURNING`` (on SQLite the statement is atomic by itself) and hold them for a lease; a job
whose worker died is claimed again once its lease has run out. A held job is enqueued
already claimed by the process that enqueued it (work that needs what only that process
has in memory, such as credentials a user typed); if that process dies, a worker takes it
over when the lease runs out, without them.

The schedule table runs each timed job once per period across every process: the process
that moves ``next_run_at`` on enqueues it.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.store import tables
from bot.store.clock import Clock, aware, utcnow
from bot.store.transaction import begin, connect

__all__ = ["Job", "JobQueue", "process_id"]


QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"


def process_id() -> str:
    """A name for this process in ``claimed_by``: host, pid and a random suffix."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed job. ``attempt`` fences its completion: a worker whose lease ran out and
    whose job was claimed again cannot complete it."""

    id: int
    kind: str
    key: str | None
    payload: Mapping[str, Any] = field(repr=False)
    attempt: int
    created_at: datetime


class JobQueue:
    """Enqueue, claim and settle jobs over the store's engine."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        self._scheduled: set[str] = set()  #: timed kinds known to have a schedule row

    # -- enqueue -------------------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        delay: float = 0.0,
    ) -> bool:
        """Queue a job; False when a job with ``key`` was already queued or running (it then
        takes this payload, and a running one runs once more when it finishes)."""
        now = self._clock()
        values = self._values(kind, payload, key, run_at=now + timedelta(seconds=delay), now=now)
        with begin(self.engine) as conn:
            if key is None:
                conn.execute(insert(tables.jobs).values(values))
                return True
            inserted = conn.execute(self._insert_keyed(values)).first()
            if inserted is not None:
                return True
            c = tables.jobs.c
            conn.execute(
                update(tables.jobs)
                .where(c.key == key, c.state.in_((QUEUED, RUNNING)))
                .values(
                    payload=values["payload"],
                    run_at=values["run_at"],
                    rerun=c.state == RUNNING,
                    updated_at=now,
                )
            )
            return False

    def hold(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        key: str | None,
        owner: str,
        lease: float,
    ) -> Job | None:
        """Queue a job already claimed by ``owner`` (this process), which runs it itself;
        None when ``key`` is queued or running already."""
        now = self._clock()
        values = self._values(kind, payload, key, run_at=now, now=now)
        values.update(state=RUNNING, claimed_by=owner, lease_until=now + timedelta(seconds=lease), attempts=1)
        with begin(self.engine) as conn:
            if key is None:
                row = conn.execute(insert(tables.jobs).values(values).returning(*tables.jobs.c)).first()
            else:
                row = conn.execute(self._insert_keyed(values)).first()
        return None if row is None else _job(row)

    @staticmethod
    def _values(
        kind: str, payload: Mapping[str, Any] | None, key: str | None, *, run_at: datetime, now: datetime
    ) -> dict[str, Any]:
        return {
            "kind": kind,
            "key": key,
            "payload": json.dumps(dict(payload or {}), separators=(",", ":")),
            "state": QUEUED,
            "run_at": run_at,
            "attempts": 0,
            "rerun": False,
            "created_at": now,
            "updated_at": now,
        }

    def _insert_keyed(self, values: dict[str, Any]) -> Any:
        live = tables.jobs.c.state.in_((QUEUED, RUNNING))
        dialect = postgresql if self._postgres else sqlite
        return (
            dialect.insert(tables.jobs)
            .values(values)
            .on_conflict_do_nothing(index_elements=["key"], index_where=live)
            .returning(*tables.jobs.c)
        )

    # -- claim and settle ----------------------------------------------------------------------

    def claim(self, owner: str, *, limit: int, lease: float, kinds: Iterable[str] | None = None) -> list[Job]:
        """Take up to ``limit`` due jobs (queued and due, or running with their lease run out)."""
        if limit <= 0:
            return []
        now = self._clock()
        c = tables.jobs.c
        due = or_(
            and_(c.state == QUEUED, c.run_at <= now),
            and_(c.state == RUNNING, c.lease_until < now),
        )
        if kinds is not None:
            due = and_(due, c.kind.in_(list(kinds)))
        chosen = select(c.id).where(due).order_by(c.run_at).limit(limit).with_for_update(skip_locked=True)
        claim = (
            update(tables.jobs)
            .where(c.id.in_(chosen.scalar_subquery()))
            .values(
                state=RUNNING,
                claimed_by=owner,
                lease_until=now + timedelta(seconds=lease),
                attempts=c.attempts + 1,
                updated_at=now,
            )
            .returning(*tables.jobs.c)
        )
        with begin(self.engine) as conn:
            rows = conn.execute(claim).all()
        return sorted((_job(row) for row in rows), key=lambda job: job.id)

    def complete(self, job: Job, outcome: Mapping[str, Any] | None = None) -> bool:
        """Record the job done (queued again at once if it was asked for while running)."""
        now = self._clock()
        c = tables.jobs.c
        return self._settle(
            job,
            state=case((c.rerun, QUEUED), else_=DONE),
            run_at=now,
            rerun=False,
            outcome=None if outcome is None else json.dumps(dict(outcome), separators=(",", ":")),
            lease_until=None,
            updated_at=now,
        )

    def retry(self, job: Job, *, delay: float, error: str | None = None) -> bool:
        """Queue the job again after ``delay`` seconds (a retry, or a check to make later)."""
        now = self._clock()
        values: dict[str, Any] = {
            "state": QUEUED,
            "run_at": now + timedelta(seconds=delay),
            "rerun": False,
            "lease_until": None,
            "updated_at": now,
        }
        if error is not None:
            values["last_error"] = error[:2000]
        return self._settle(job, **values)

    def fail(self, job: Job, error: str) -> bool:
        """Give up on the job for good."""
        now = self._clock()
        return self._settle(job, state=FAILED, last_error=error[:2000], lease_until=None, updated_at=now)

    def _settle(self, job: Job, **values: Any) -> bool:
        c = tables.jobs.c
        with begin(self.engine) as conn:
            result = conn.execute(
                update(tables.jobs)
                .where(c.id == job.id, c.state == RUNNING, c.attempts == job.attempt)
                .values(**values)
            )
        return bool(result.rowcount)

    def prune(self, *, older_than: timedelta) -> int:
        """Delete done and failed jobs last changed more than ``older_than`` ago; the count."""
        c = tables.jobs.c
        cutoff = self._clock() - older_than
        with begin(self.engine) as conn:
            result = conn.execute(
                tables.jobs.delete().where(c.state.in_((DONE, FAILED)), c.updated_at < cutoff)
            )
        return int(result.rowcount or 0)

    # -- the schedule --------------------------------------------------------------------------

    def due_periods(self, every: Mapping[str, float]) -> list[str]:
        """The timed kinds this process should enqueue now: for each kind whose period is
        due, the one process that moves its ``next_run_at`` on gets it."""
        now = self._clock()
        c = tables.schedule.c
        won: list[str] = []
        dialect = postgresql if self._postgres else sqlite
        new = [kind for kind in every if kind not in self._scheduled]
        if new:
            with begin(self.engine) as conn:
                for kind in new:
                    conn.execute(
                        dialect.insert(tables.schedule)
                        .values(kind=kind, next_run_at=now)
                        .on_conflict_do_nothing(index_elements=["kind"])
                    )
            self._scheduled.update(new)
        for kind, seconds in every.items():
            with begin(self.engine) as conn:
                moved = conn.execute(
                    update(tables.schedule)
                    .where(c.kind == kind, c.next_run_at <= now)
                    .values(next_run_at=now + timedelta(seconds=seconds))
                )
            if moved.rowcount:
                won.append(kind)
        return won

    # -- reading (tests, healthz, the CLI) -----------------------------------------------------

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        c = tables.jobs.c
        with connect(self.engine) as conn:
            rows = conn.execute(select(c.state, func.count().label("n")).group_by(c.state))
            return {row.state: row.n for row in rows}

    def find(self, *, kind: str | None = None, key: str | None = None) -> list[dict[str, Any]]:
        """Jobs (newest last) as plain dicts, for tests and diagnostics."""
        c = tables.jobs.c
        query = select(tables.jobs).order_by(c.id)
        if kind is not None:
            query = query.where(c.kind == kind)
        if key is not None:
            query = query.where(c.key == key)
        with connect(self.engine) as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def idle(self) -> bool:
        """No job queued and due, and none running."""
        now = self._clock()
        c = tables.jobs.c
        busy = or_(and_(c.state == QUEUED, c.run_at <= now), c.state == RUNNING)
        with connect(self.engine) as conn:
            return conn.execute(select(func.count()).select_from(tables.jobs).where(busy)).scalar_one() == 0


def _job(row: Any) -> Job:
    created = aware(row.created_at)
    assert created is not None
    return Job(
        id=row.id,
        kind=row.kind,
        key=row.key,
        payload=json.loads(row.payload),
        attempt=row.attempts,
        created_at=created,
    )
