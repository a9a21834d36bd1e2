"""One redemption at a time, in the Flask test client: what a request costs the app
itself, with no HTTP server, no other clients and no waiting for locks.

It builds the same organization as bench/load.py (codes of each kind, a seat limit),
signs students in by their session, and times each one typing one code in the
profile's code box as htmx sends it, then a few other requests for scale. Prints
medians and means in milliseconds, and for the redemptions by answer the CPU this
process spent (time.process_time, which other processes on the machine change
little) and the SQL statements each ran (counted at the cursor).

--welcome off|on|both sets the organization's welcome mail as bench/load.py does
(both: off, then on, on the same database kind): a student who joins queues one mail
in the redemption's transaction. --profile N prints the N functions that took the
most time of the timed redemptions, by cumulative time (cProfile), and the function
calls of each redemption by answer, a count the machine's load does not change (the
CPU times, though, grow under the profiler: read them from a run without it).

    .venv/bin/python bench/redeem_alone.py
    .venv/bin/python bench/redeem_alone.py --welcome both --profile 30
    .venv/bin/python bench/redeem_alone.py --postgres postgresql+psycopg://postgres@127.0.0.1:55433/codes_bench

The PostgreSQL database is emptied first: its name must contain "bench".
"""

import argparse
import cProfile
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402
from sqlalchemy import event, select  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from codes import create_app  # noqa: E402
from codes.auth import sessions  # noqa: E402
from codes.extensions import db  # noqa: E402
from codes.models import User  # noqa: E402

HX = {"HX-Request": "true"}
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def timed(call, times=1):
    """Milliseconds of each of `times` calls."""
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        response = call()
        spent.append(1000 * (time.perf_counter() - started))
        assert response.status_code in (200, 303), response.status_code
    return spent


def line(name, spent):
    print(
        f"  {name:<34} median {statistics.median(spent):5.2f} ms   mean {statistics.mean(spent):5.2f} ms"
        f"   ({len(spent)} requests)"
    )


def run(name, url, args, welcome):
    students, warm, profile = args.students, args.warm, args.profile
    plan, _ = load.prepare(
        url,
        students,
        load.SINGLE_USE * 2,
        generate_password_hash("x", "pbkdf2:sha256:1"),
        random.Random(2027),
        welcome,
    )
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": load.SECRET_KEY, "PUBLIC_URL": load.PUBLIC_URL}
    )
    with app.app_context():
        # A session record each, as logging in makes: the cookie names it (User.get_id).
        ids = {}
        for user in db.session.scalars(select(User)):
            sessions.start(user)
            ids[user.email] = user.get_id()
        db.session.commit()
        db.session.remove()
    people = []
    for email, kind, text in plan:
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = ids[email]
            session["_fresh"] = True
        token = TOKEN.search(client.get("/profile").get_data(as_text=True)).group(1)
        # Each from an address of their own, as in bench/load.py: the attempt limits
        # count wrong codes per address too.
        address = f"10.{len(people) // 250}.{len(people) % 250}.1"
        people.append((client, token, kind, text, address))

    def redeem(person, text=None):
        client, token, _, typed, address = person
        return client.post(
            "/redeem",
            data={"csrf_token": token, "code": typed if text is None else text},
            headers=HX,
            environ_base={"REMOTE_ADDR": address},
        )

    print(
        f"\n{name}, welcome mails {'on' if welcome else 'off'}: {students} students, "
        f"each redeeming once after {warm} who warm up"
    )
    for person in people[:warm]:
        redeem(person)
    statements = [0]
    with app.app_context():
        engine = db.engine

    def count(*_):
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    stats = None
    spent, answers, by_answer = [], Counter(), {}
    for person in people[warm:]:
        # A profiler a request: its count of function calls, unlike times, is the
        # same however busy the machine is.
        profiler = cProfile.Profile() if profile else None
        started, cpu, before = time.perf_counter(), time.process_time(), statements[0]
        if profiler:
            profiler.enable()
        body = redeem(person).get_data(as_text=True)
        if profiler:
            profiler.disable()
        spent.append(1000 * (time.perf_counter() - started))
        cpu = 1000 * (time.process_time() - cpu)
        calls = 0
        if profiler:
            one = pstats.Stats(profiler, stream=sys.stdout)
            calls = one.total_calls
            stats = one if stats is None else stats.add(one)
        answer = load.outcome_of(200, body)
        answers[answer] += 1
        by_answer.setdefault(answer, []).append((cpu, statements[0] - before, calls))
    event.remove(engine, "before_cursor_execute", count)
    line("redeem (the mix of bench/load.py)", spent)
    print(f"    answers: {dict(sorted(answers.items()))}")
    for answer, figures in sorted(by_answer.items()):
        counts = Counter(n for _, n, _ in figures)
        print(
            f"    {answer:<12} CPU mean {statistics.mean(c for c, _, _ in figures):5.2f} ms"
            f"  median {statistics.median(c for c, _, _ in figures):5.2f} ms"
            f"   statements {dict(sorted(counts.items()))}   ({len(figures)} requests)"
        )
        if profile:
            print(
                f"    {'':<12} function calls mean {statistics.mean(n for _, _, n in figures):8.1f}"
                f"  median {statistics.median(n for _, _, n in figures):6.0f}"
            )
    for kind in ("classroom", "single", "wrong"):
        line(
            f"  of which typed a {kind} code",
            [s for s, p in zip(spent, people[warm:], strict=True) if p[2] == kind],
        )
    someone = people[0]
    line("redeem a code already redeemed", timed(lambda: redeem(someone), 200))
    line("redeem an empty box", timed(lambda: redeem(someone, ""), 200))
    line("GET /profile", timed(lambda: someone[0].get("/profile"), 200))
    anonymous = app.test_client()
    line("GET /login (the trivial page)", timed(lambda: anonymous.get("/login"), 500))
    with app.app_context():
        db.engine.dispose()
    if stats is not None:
        if args.profile_file:
            stats.dump_stats(f"{args.profile_file}-{name.lower()}-{'on' if welcome else 'off'}")
        print(f"\n  the timed redemptions, the {profile} functions of most cumulative time:")
        stats.sort_stats("cumulative").print_stats(profile)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres", default="", help="a PostgreSQL URL whose database name contains 'bench'"
    )
    parser.add_argument("--students", type=int, default=600)
    parser.add_argument("--warm", type=int, default=100, help="students who redeem untimed first")
    parser.add_argument(
        "--welcome",
        choices=("on", "off", "both"),
        default="on",
        help="the welcome mail to students who join: on (the app's default), off, or both (off, then on)",
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print the N costliest functions (cProfile)"
    )
    parser.add_argument(
        "--profile-file",
        default="",
        metavar="PATH",
        help="with --profile, also save each run's statistics to PATH-<database>-<welcome>",
    )
    args = parser.parse_args()
    if args.postgres and "bench" not in args.postgres.rsplit("/", 1)[-1]:
        parser.error("the PostgreSQL database is emptied first: its name must contain 'bench'")
    for welcome in {"on": [True], "off": [False], "both": [False, True]}[args.welcome]:
        with tempfile.TemporaryDirectory() as tmp:
            run("SQLite", f"sqlite:///{tmp}/alone.db", args, welcome)
        if args.postgres:
            run("PostgreSQL", args.postgres, args, welcome)


if __name__ == "__main__":
    main()
