"""Mail queue benchmark (docs/JOBS.md), on the embedded SQLite (or PostgreSQL):

1. 10,000 mails queued (in transactions of 100), then delivered by `flask jobs
   work --until-idle` worker processes to an SMTP server on loopback (aiosmtpd):
   the wall time from the workers' start to the last message taken, and the
   throughput; every message is checked to have arrived once.
2. What queuing a mail adds to a redemption: the same number of students each
   redeem a classroom code (codes.redeem.operations.redeem, committed), half in
   an organization that sends no welcome mail and half in one whose welcome mail
   the redemption queues in its transaction; the mean time of each.

    .venv/bin/python bench/mail_queue.py
    .venv/bin/python bench/mail_queue.py --workers 2 --mails 10000 --students 500
    .venv/bin/python bench/mail_queue.py --postgres postgresql+psycopg://postgres@127.0.0.1:55432/codes_bench

The PostgreSQL database is emptied first: its name must contain "bench".
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codes import create_app, mail  # noqa: E402
from codes.access import Scope  # noqa: E402
from codes.auth.operations import create_user  # noqa: E402
from codes.extensions import db  # noqa: E402
from codes.jobs import worker as _worker  # noqa: E402,F401  (registers the jobs command)
from codes.manage.operations import CodeInput, create_code  # noqa: E402
from codes.orgs import operations as orgs  # noqa: E402
from codes.redeem.operations import redeem  # noqa: E402


class Counting:
    def __init__(self):
        self.ids = Counter()
        self.lock = threading.Lock()
        self.last = 0.0

    async def handle_DATA(self, server, session, envelope):
        message_id = next(
            (
                line.split(b":", 1)[1].strip()
                for line in envelope.original_content.splitlines()
                if line.lower().startswith(b"message-id:")
            ),
            b"",
        )
        with self.lock:
            self.ids[message_id] += 1
            self.last = time.monotonic()
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_app(url):
    app = create_app(
        {
            "TESTING": False,
            "SECRET_KEY": "bench",
            "PUBLIC_URL": "http://localhost",
            "SQLALCHEMY_DATABASE_URI": url,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def deliver(app, url, n, workers, port):
    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with app.app_context():
            started = time.perf_counter()
            for start in range(0, n, 100):
                for i in range(start, min(n, start + 100)):
                    mail.queue(f"person{i}@school.example", f"Mail {i}", f"Hello {i},\n\nA line of text.\n")
                db.session.commit()
            queued = time.perf_counter() - started
            db.session.remove()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "PUBLIC_URL": "http://localhost",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(port),
            "JOB_BATCH": "50",
        }
        began = time.monotonic()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "work", "--until-idle"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        for process in processes:
            process.wait(timeout=1800)
        took = handler.last - began
        assert len(handler.ids) == n and set(handler.ids.values()) == {1}, "each mail once"
        print(f"queued {n} mails in {queued:.1f} s ({n / queued:,.0f}/s, transactions of 100)")
        print(
            f"delivered {n} mails with {workers} worker(s) in {took:.1f} s: "
            f"{n / took:,.0f} mails/s, each once"
        )
    finally:
        controller.stop()


def redemptions(app, students):
    """Two organizations alike but for the welcome mail (off in one, on in the
    other): students redeem their codes alternately, each committed alone."""
    with app.app_context():
        admin = create_user("Admin", "admin@bench.example", "bench-password", verified=True)
        texts = {}
        for welcome in (False, True):
            org = orgs.create_organization(admin, f"Bench School {int(welcome)}", "UTC")
            org.welcome_mail = welcome
            room = orgs.create_classroom(admin, org, "Room 1")
            db.session.commit()
            code = create_code(
                admin,
                Scope(admin, org),
                CodeInput(text=f"BENCH-ROOM{int(welcome)}-2027", classroom_ids=[room.id]),
            )
            db.session.commit()
            texts[welcome] = code.text
        people = [
            create_user(f"Student {i}", f"s{i}@bench.example", "bench-password", verified=True)
            for i in range(2 * students)
        ]
        db.session.commit()
        ids = [p.id for p in people]
        db.session.remove()
    from codes.models import Job, User

    times = {"without a mail": [], "with its welcome mail queued": []}
    for i, user_id in enumerate(ids):
        with_mail = i % 2 == 1
        with app.app_context():
            user = db.session.get(User, user_id)
            queued = db.session.query(Job).count()
            db.session.commit()
            started = time.perf_counter()
            redeem(user, texts[with_mail])
            db.session.commit()
            times["with its welcome mail queued" if with_mail else "without a mail"].append(
                time.perf_counter() - started
            )
            assert db.session.query(Job).count() == queued + int(with_mail), "the welcome queued, or not"
            db.session.remove()
    for name, taken in times.items():
        print(
            f"redemption {name}: mean {statistics.mean(taken) * 1000:.2f} ms, "
            f"p50 {statistics.median(taken) * 1000:.2f} ms ({len(taken)} students)"
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--postgres")
    args = parser.parse_args()
    if args.postgres:
        if "bench" not in args.postgres.rsplit("/", 1)[-1]:
            sys.exit("The PostgreSQL database's name must contain 'bench': it is emptied.")
        url = args.postgres
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='mailbench-')}/bench.db"
    app = make_app(url)
    deliver(app, url, args.mails, args.workers, free_port())
    app = make_app(url)
    redemptions(app, args.students)


if __name__ == "__main__":
    main()
