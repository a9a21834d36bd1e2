"""Periodic jobs (a daily digest): once per period however many workers run.
Each worker, on each round, names the current period of every periodic job;
the first to insert its (name, period) row enqueues the job in the same
transaction, and every other insert finds the row there and does nothing."""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import insert

from .. import database
from ..extensions import db
from ..models import PeriodicRun, utcnow
from . import enqueue

# name -> what the period of a moment is called (a day: "2026-05-04")
SCHEDULE: dict[str, Callable[[datetime], str]] = {}


def daily(moment: datetime) -> str:
    return moment.date().isoformat()


def every(name: str, period: Callable[[datetime], str]) -> None:
    """Run the task `name` (codes.jobs.task) once in every period."""
    SCHEDULE[name] = period


def start(name: str, period: str) -> bool:
    """Enqueue the periodic job for this period unless some worker has: whether
    this call did. The caller commits."""
    table = PeriodicRun.__table__
    row = {"name": name, "period": period, "created_at": utcnow()}
    if db.session.get_bind().dialect.name == "sqlite":
        statement = insert(table).prefix_with("OR IGNORE").values(row)
    else:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(table).values(row).on_conflict_do_nothing()
    # RETURNING rather than the row count, which psycopg leaves at -1 here; an
    # insert ignored returns no row on either database.
    if database.execute(statement.returning(table.c.name)).first() is None:
        return False
    enqueue(name, {"period": period})
    return True


def start_due(seen: set[tuple[str, str]], now: datetime | None = None) -> list[str]:
    """Start every periodic job whose current period has not started yet, each in
    a transaction of its own. `seen` holds the periods the caller knows started
    (a worker's own), so that an idle worker does not write once a second to
    learn what it knows. The names started by this call."""
    now = now or utcnow()
    started = []
    for name, period_of in SCHEDULE.items():
        period = period_of(now)
        if (name, period) in seen:
            continue
        try:
            if start(name, period):
                started.append(name)
            db.session.commit()
        finally:
            db.session.rollback()
        seen.add((name, period))
    return started
