"""The worker: `flask --app wsgi jobs work` claims ready jobs and runs them, one
batch at a time, and starts the periodic jobs whose period has come
(codes.jobs.periodic). Any number of workers may run, on any number of machines
sharing the database (docs/JOBS.md)."""

import os
import signal
import socket
import threading
import time
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from .. import jobs
from ..extensions import db
from ..models import utcnow
from . import periodic

JOB_BATCH = 10
JOB_POLL_SECONDS = 1
# A batch stops where the lease left would not cover one more mail at its
# slowest (a few exchanges of MAIL_TIMEOUT each): the rest are let go at once.
SLOWEST_MAIL_EXCHANGES = 6


class Worker:
    def __init__(self, app: Flask, name: str | None = None) -> None:
        self.app = app
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10_000}"
        self.stopping = threading.Event()
        self.seen: set[tuple[str, str]] = set()

    def run_once(self) -> int:
        """Start what periodic jobs are due, then claim one batch and run it.
        How many jobs were claimed."""
        with self.app.app_context():
            try:
                periodic.start_due(self.seen)
                batch = jobs.claim(self.name, int(current_app.config.get("JOB_BATCH", JOB_BATCH)))
                by_kind: dict[str, list[jobs.Claimed]] = {}
                for job in batch:
                    by_kind.setdefault(job.kind, []).append(job)
                for kind, claimed in by_kind.items():
                    if kind in jobs.TASKS:
                        for job in claimed:
                            self._run_task(job)
                    else:
                        self._deliver(kind, claimed)
                return len(batch)
            finally:
                db.session.remove()

    def _run_task(self, job: jobs.Claimed) -> None:
        """A task writes only to the database: its writes and the job's end are
        one transaction, so it happens once however often a worker dies."""
        try:
            jobs.TASKS[job.kind](job.payload)
            jobs.finished(job)
            db.session.commit()
        except Exception as error:
            db.session.rollback()
            current_app.logger.exception("Job %s (%s) failed", job.id, job.kind)
            jobs.failed_attempt(job, self.name, f"{type(error).__name__}: {error}")
            db.session.commit()

    def _deliver(self, kind: str, claimed: list[jobs.Claimed]) -> None:
        """Hand the batch to its deliverer. The mails the server took are marked
        done together, in one transaction once the batch ends (or stops), not
        one commit each: a worker that dies before that commit leaves them to be
        sent again after its lease, so a crash re-sends at most one batch's
        accepted mails (JOB_BATCH), each with its Message-ID (docs/JOBS.md)."""
        margin = timedelta(seconds=SLOWEST_MAIL_EXCHANGES * float(current_app.config.get("MAIL_TIMEOUT", 10)))
        handed: list[int] = []
        sent: list[jobs.Claimed] = []

        def done(job: jobs.Claimed, error: str | None) -> bool:
            handed.append(job.id)
            if error is None:
                sent.append(job)
            else:
                jobs.failed_attempt(job, self.name, error)
            return job.lease_until - utcnow() > margin

        deliver = jobs.DELIVERERS.get(kind)
        if deliver is None:
            for job in claimed:
                jobs.failed_attempt(job, self.name, f"No handler for jobs of kind {kind!r}.")
            db.session.commit()
            return
        try:
            deliver(claimed, done)
        finally:
            jobs.finished_all(sent)
            db.session.commit()
        left = [job for job in claimed if job.id not in handed]
        if left:
            jobs.release(left, self.name)
            db.session.commit()

    def run(self, until_idle: bool = False) -> None:
        """Work until stopped (SIGTERM or SIGINT end the batch under way first),
        or, with until_idle, until no job is ready."""
        poll = float(self.app.config.get("JOB_POLL_SECONDS", JOB_POLL_SECONDS))
        while not self.stopping.is_set():
            try:
                claimed = self.run_once()
            except Exception:
                # The database down or busy: wait and try again, as a request would be answered 503.
                self.app.logger.exception("The worker could not reach the queue")
                claimed = 0
                if until_idle:
                    raise
            if claimed == 0:
                if until_idle:
                    return
                self.stopping.wait(poll)


def run_until_idle(app: Flask, name: str = "in-process") -> None:
    """Run every job that is ready now, in this thread (the demo's and the
    tests' way of flushing the queue)."""
    Worker(app, name).run(until_idle=True)


jobs_cli = AppGroup("jobs", help="The job queue: deliveries and periodic jobs.")


@jobs_cli.command("work")
@click.option("--until-idle", is_flag=True, help="Stop once no job is ready.")
def work(until_idle):
    """Claim and run jobs until stopped."""
    worker = Worker(current_app._get_current_object())

    def stop(signum, frame):
        worker.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"Worker {worker.name} started.")
    started = time.monotonic()
    worker.run(until_idle=until_idle)
    click.echo(f"Worker {worker.name} stopped after {time.monotonic() - started:.0f} s.")
