"""The job queue: a transactional outbox in the app's own database (docs/JOBS.md).

A change that causes work outside the request (a mail) writes a job row in its
own transaction (enqueue), so the work exists exactly when the change does. A
worker (codes.jobs.worker, `flask jobs work`) claims ready jobs with a lease:
on PostgreSQL with SELECT ... FOR UPDATE SKIP LOCKED, on SQLite with a guarded
UPDATE in a short write transaction, so two workers never hold one job; a
worker that dies lets its lease run out and another takes the job. A failure is
retried with exponential backoff until the job's give-up time, then the job is
failed and shown to the organization's admins, who may queue it again.

Two kinds of handlers: one that acts outside the database (a mail, at least
once, its key making a repeat the same message), and a task that only writes to
the database, run in the transaction that marks it done (exactly once)."""

import json
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update

from .. import audit, database
from ..errors import DomainError
from ..extensions import db
from ..models import Job, Organization, User, utcnow

QUEUED, DONE, FAILED = "queued", "done", "failed"

# Defaults of the settings (codes/settings.py, docs/JOBS.md).
JOB_LEASE_SECONDS = 300
JOB_RETRY_SECONDS = 30
JOB_GIVE_UP_MINUTES = 24 * 60
# Backoff never waits longer than this between two tries.
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class Claimed:
    """A job a worker holds until lease_until."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    lease_until: datetime


# kind -> deliver(batch, done), for work outside the database (at least once).
DELIVERERS: dict[str, Callable[..., None]] = {}
# kind -> run(payload), for work that only writes to the database (exactly once).
TASKS: dict[str, Callable[[dict[str, Any]], None]] = {}


def register(kind: str, deliver: Callable[..., None]) -> None:
    DELIVERERS[kind] = deliver


def task(kind: str):
    def register_task(run: Callable[[dict[str, Any]], None]):
        TASKS[kind] = run
        return run

    return register_task


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def give_up_window() -> timedelta:
    return timedelta(minutes=_setting("JOB_GIVE_UP_MINUTES", JOB_GIVE_UP_MINUTES))


# One statement, built once: a job is written as a plain row, never an object.
_NEW_JOB = Job.__table__.insert()


def _new_job(kind: str, payload: dict[str, Any], org_id: int | None, run_after: datetime | None) -> dict:
    now = utcnow()
    return {
        "kind": kind,
        "key": secrets.token_hex(16),
        "org_id": org_id,
        "payload": json.dumps(payload, separators=(",", ":")),
        "status": QUEUED,
        "attempts": 0,
        "run_after": run_after or now,
        "created_at": now,
        "give_up_at": now + give_up_window(),
    }


def enqueue_on(connection: Any, kind: str, payload: dict[str, Any], org_id: int | None = None) -> None:
    """Add a job in the transaction of a connection other than the session's
    (database.run_apart): one INSERT, there once that transaction commits."""
    connection.execute(_NEW_JOB, _new_job(kind, payload, org_id, None))


def enqueue(
    kind: str, payload: dict[str, Any], org_id: int | None = None, run_after: datetime | None = None
) -> int:
    """Add a job to the session's transaction (never commits): one INSERT, now,
    on the session's connection (database.execute). It is there for a worker
    once, and only if, that transaction commits. Returns the job's id.

    A plain row rather than a Job object: making the object and the unit of
    work's flush of it cost a redemption that queues its welcome mail more than
    the INSERT itself (docs/PERFORMANCE.md, "Welcome mails on and off")."""
    return database.execute(_NEW_JOB, _new_job(kind, payload, org_id, run_after)).inserted_primary_key[0]


_jobs = Job.__table__.c


def _ready(now):
    return (
        _jobs.status == QUEUED,
        _jobs.run_after <= now,
        or_(_jobs.lease_until.is_(None), _jobs.lease_until < now),
    )


def claim(worker: str, limit: int, now: datetime | None = None) -> list[Claimed]:
    """Take up to `limit` ready jobs for `worker` until now + the lease, oldest
    first, and commit. PostgreSQL: the rows are picked FOR UPDATE SKIP LOCKED, so
    workers claiming at once take different jobs and wait for none. SQLite:
    first a read that takes no lock (an idle worker keeps the write lock free),
    then the guarded UPDATE under the one write lock; the guard is checked again
    on each row as it is written, so a job another worker took meanwhile is
    skipped."""
    now = now or utcnow()
    lease_until = now + timedelta(seconds=_setting("JOB_LEASE_SECONDS", JOB_LEASE_SECONDS))
    table = Job.__table__
    with database.reading_first():
        try:
            if db.session.execute(select(_jobs.id).where(*_ready(now)).limit(1)).first() is None:
                return []
            database.begin_writing(db.session)
            pick = (
                select(_jobs.id)
                .where(*_ready(now))
                .order_by(_jobs.run_after, _jobs.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = db.session.execute(
                update(table)
                .where(_jobs.id.in_(pick), *_ready(now))
                .values(lease_until=lease_until, worker=worker, attempts=_jobs.attempts + 1)
                .returning(_jobs.id, _jobs.kind, _jobs.key, _jobs.payload, _jobs.attempts)
            ).all()
            db.session.commit()
        finally:
            db.session.rollback()
    claimed = [Claimed(r.id, r.kind, r.key, json.loads(r.payload), r.attempts, lease_until) for r in rows]
    return sorted(claimed, key=lambda job: job.id)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the attempts-th failure: doubling from
    JOB_RETRY_SECONDS up to an hour, with jitter so that the jobs a mail
    server's outage failed together are not all tried again together."""
    base = _setting("JOB_RETRY_SECONDS", JOB_RETRY_SECONDS)
    wait = min(MAX_BACKOFF.total_seconds(), base * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=wait * random.uniform(0.5, 1.0))


def finished(job: Claimed, now: datetime | None = None) -> None:
    """The job's work is done: never tried again. (In the session's transaction,
    which a task's own writes share; the caller commits.)"""
    database.execute(
        update(Job.__table__)
        .where(_jobs.id == job.id, _jobs.status == QUEUED)
        .values(status=DONE, finished_at=now or utcnow(), lease_until=None, last_error="")
    )


def finished_all(done: Sequence[Claimed], now: datetime | None = None) -> None:
    """The jobs' work is done, in one UPDATE (a batch of mails the server took).
    The caller commits."""
    if done:
        database.execute(
            update(Job.__table__)
            .where(_jobs.id.in_([job.id for job in done]), _jobs.status == QUEUED)
            .values(status=DONE, finished_at=now or utcnow(), lease_until=None, last_error="")
        )


def failed_attempt(job: Claimed, worker: str, error: str, now: datetime | None = None) -> str:
    """The attempt failed: tried again after the backoff, or, past the job's
    give-up time, failed for good. Only while the worker still holds it (after
    its lease another worker may have it). Returns the job's status. The
    caller commits."""
    now = now or utcnow()
    row = db.session.execute(
        select(_jobs.give_up_at).where(_jobs.id == job.id, _jobs.worker == worker, _jobs.status == QUEUED)
    ).first()
    if row is None:
        return QUEUED
    if now >= row.give_up_at:
        values: dict[str, Any] = dict(status=FAILED, finished_at=now)
    else:
        values = dict(run_after=now + backoff(job.attempts))
    database.execute(
        update(Job.__table__)
        .where(_jobs.id == job.id, _jobs.worker == worker, _jobs.status == QUEUED)
        .values(lease_until=None, last_error=error[:500], **values)
    )
    return values.get("status", QUEUED)


def failed_for_org(org: Organization) -> Sequence[Job]:
    """The organization's deliveries given up, newest first: what its admins see
    and may send again."""
    return db.session.scalars(
        select(Job).where(Job.org_id == org.id, Job.status == FAILED).order_by(Job.id.desc()).limit(200)
    ).all()


def retry(actor: User, org: Organization, job: Job) -> None:
    """Queue a failed job of the organization's again, with a new give-up time.
    The caller has checked it is the organization's."""
    if job.status != FAILED:
        raise DomainError("That delivery is not failed: it was sent or is waiting to be.")
    now = utcnow()
    job.status, job.run_after, job.lease_until, job.worker = QUEUED, now, None, ""
    job.give_up_at, job.finished_at = now + give_up_window(), None
    db.session.flush()
    audit.record(actor, "job.retry", job, org_id=org.id, kind=job.kind)


def recipient(job: Job) -> str:
    """Who a mail job is for, as the failed deliveries page shows it."""
    return str(json.loads(job.payload).get("to", ""))


def subject(job: Job) -> str:
    return str(json.loads(job.payload).get("subject", ""))


def release(claimed: Sequence[Claimed], worker: str) -> None:
    """Let jobs go untried (a batch stopped early): ready again at once, the
    claim not counted as an attempt. The caller commits."""
    database.execute(
        update(Job.__table__)
        .where(_jobs.id.in_([job.id for job in claimed]), _jobs.worker == worker, _jobs.status == QUEUED)
        .values(lease_until=None, attempts=_jobs.attempts - 1)
    )
