"""Growth benchmark: staff pages at three sizes of one organization, in one
multi-tenant database.

It builds S1, S2 and S3 (1,014 / 10,014 / 100,014 members; 10,020 / 100,020 /
1,000,020 codes; about 1.2 redemptions a student and 2.4 audit events a
student) beside 20 other organizations, writing rows straight into the tables,
then times every staff page and fragment of issue 16 through the Flask test
client (median of --runs), the CSV exports, a redemption (a new student, and a
member's second code) and the profile, and prints a table with the S3/S1
ratios and the statements each page runs. With --explain (PostgreSQL) it
prints the plan of every SELECT each page runs in the largest world; with
--pages (PostgreSQL) the pages of shared buffers each statement of a
redemption touches at each size, which the machine's load does not change.

    .venv/bin/python bench/growth.py                         # SQLite in a temporary file
    .venv/bin/python bench/growth.py --sizes 1,2             # the small worlds only
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:55432/codes_growth_bench \
        .venv/bin/python bench/growth.py --explain

The database named by DATABASE_URL is emptied first: its name must contain "bench".
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, case, event, insert, select, text, update  # noqa: E402

from codes import create_app  # noqa: E402
from codes.auth import sessions  # noqa: E402
from codes.auth.operations import create_user  # noqa: E402
from codes.codetext import canonical, random_code  # noqa: E402
from codes.extensions import db  # noqa: E402
from codes.models import (  # noqa: E402
    AuditEvent,
    Batch,
    ClassroomMember,
    Code,
    CodeClassroom,
    CodeCourse,
    Enrollment,
    Organization,
    OrgMember,
    Redemption,
    ReportDay,
    ReportTotal,
    User,
    utcnow,
)
from codes.orgs import operations as orgs  # noqa: E402
from codes.reports import aggregates  # noqa: E402

HX = {"HX-Request": "true"}
PER_BATCH = 500
CLASSROOMS = 20
COURSES = 5
OTHER_ORGS = 20
SIZES = {1: 1, 2: 10, 3: 100}  # S1, S2, S3: multiples of 1,000 students and 10,000 codes
REFUSED = ("unknown", "used", "inactive", "invalid")
# Rows go in this many at a time: a few statements, bounded memory.
CHUNK = 20_000


def app_for(url):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "PUBLIC_URL": "http://localhost",
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            # The benches time a CSV as a request streams it. Past EXPORT_INLINE_MAX
            # rows the app offers it to a worker instead (docs/EXPORTS.md), and the
            # request would answer that page, not the file.
            "EXPORT_INLINE_MAX": 10**9,
        }
    )


def empty_app(name):
    """The app on the database DATABASE_URL names, or on a temporary SQLite file,
    emptied, with a bench admin: (app, url, the admin's id, the temporary folder,
    which must be kept while the app runs). DATABASE_URL must name a database
    whose name contains "bench", since it is emptied."""
    url = os.environ.get("DATABASE_URL")
    if url and "bench" not in url:
        sys.exit('DATABASE_URL must name a database whose name contains "bench": it is emptied')
    folder = tempfile.TemporaryDirectory()
    url = url or f"sqlite:///{folder.name}/{name}.db"
    app = app_for(url)
    with app.app_context():
        db.drop_all()
        db.create_all()
        admin = create_user("Bench Admin", "admin@bench.example", "bench-password-123", verified=True)
        db.session.commit()
        return app, url, admin.id, folder


def _chunks(rows):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def put(model, rows):
    """Rows into the model's table as plain executemany INSERTs (the ORM's bulk
    insert spent most of the build sorting out what it would not return)."""
    conn = db.session.connection()
    for batch in _chunks(rows):
        conn.execute(model.__table__.insert(), batch)


def build_org(admin, name, students, codes, rng, now, days=730):
    """An organization with classrooms, courses, `codes` codes (a join code per
    classroom, the rest in batches of 500), `students` students who joined over
    `days` days by a join code or a batch code (a fifth also redeemed a second
    code), the audit events of it all, and the report aggregates if the schema
    keeps them. Returns the ids the measures need."""
    org = orgs.create_organization(admin, name, "Europe/Paris")
    classrooms = [orgs.create_classroom(admin, org, f"Room {n:02d}") for n in range(CLASSROOMS)]
    courses = [orgs.create_course(admin, org, f"Course {n}") for n in range(COURSES)]
    db.session.commit()
    join_codes = [c.join_code_id for c in classrooms]
    start = now - timedelta(days=days)
    batches = (codes - CLASSROOMS) // PER_BATCH
    batch_codes = []  # (code id, classroom id, made)
    for number in range(batches):
        made = start + timedelta(days=days * number / max(batches, 1))
        prefix = f"B{number:04d}" if number % 2 else ""
        batch_id = db.session.scalar(
            insert(Batch)
            .values(org_id=org.id, created_by_id=admin.id, created_at=made, count=PER_BATCH, prefix=prefix)
            .returning(Batch.id)
        )
        rows = []
        for _ in range(PER_BATCH):
            typed = random_code(prefix)
            rows.append(
                dict(
                    org_id=org.id,
                    batch_id=batch_id,
                    text=typed,
                    key=canonical(typed),
                    role="student",
                    valid_until=made + timedelta(days=rng.choice((30, 365, 900))),
                    max_uses=rng.choice((1, 1, 1, 5, None)),
                    uses=0,
                    allowed_domains="",
                    enabled=rng.random() > 0.05,
                    deactivated_at=made if rng.random() < 0.02 else None,
                    created_by_id=admin.id,
                    created_at=made,
                )
            )
        put(Code, rows)
        ids = db.session.scalars(select(Code.id).where(Code.batch_id == batch_id).order_by(Code.id)).all()
        room = classrooms[number % CLASSROOMS].id
        put(CodeClassroom, [{"code_id": i, "classroom_id": room} for i in ids])
        if number % 3 == 0:
            course = courses[number % COURSES].id
            put(CodeCourse, [{"code_id": i, "course_id": course} for i in ids])
        batch_codes.extend((i, room, made) for i in ids)
    db.session.commit()

    first_user = db.session.scalar(select(db.func.coalesce(db.func.max(User.id), 0))) + 1
    put(
        User,
        (
            {
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {n:06d}",
                "email": f"o{org.id}s{n:06d}@bench.example",
                "email_key": f"o{org.id}s{n:06d}@bench.example",
                "password_hash": "!",
                "email_verified": True,
                "created_at": start,
            }
            for n in range(students)
        ),
    )
    user_ids = db.session.scalars(
        select(User.id).where(User.id >= first_user, User.email_key.like(f"o{org.id}s%")).order_by(User.id)
    ).all()
    members, placed, enrolled, redemptions, events = [], [], [], [], []
    uses = {}
    for n, user_id in enumerate(user_ids):
        when = now - timedelta(days=rng.triangular(0, days, 30), minutes=rng.randint(0, 1439))
        room_index = n % CLASSROOMS
        if rng.random() < 0.5 or not batch_codes:
            code_id, room = join_codes[room_index], classrooms[room_index].id
        else:
            # Each batch code once: a single-use code is never used twice.
            code_id, room, _ = batch_codes[(n * 7919) % len(batch_codes)]
        members.append(dict(org_id=org.id, user_id=user_id, is_student=True, took_seat=True, joined_at=when))
        placed.append(dict(classroom_id=room, user_id=user_id, added_at=when))
        if n % 4 == 0:
            enrolled.append(dict(course_id=courses[n % COURSES].id, user_id=user_id, enrolled_at=when))
        mine = [(code_id, True, when)]
        if rng.random() < 0.2:
            other = join_codes[(room_index + 1) % CLASSROOMS]
            mine.append((other, False, when + timedelta(days=rng.randint(1, 20))))
        for redeemed, took_seat, at in mine:
            at = min(at, now)
            uses[redeemed] = uses.get(redeemed, 0) + 1
            redemptions.append(
                dict(code_id=redeemed, user_id=user_id, org_id=org.id, took_seat=took_seat, created_at=at)
            )
            events.append(
                dict(
                    org_id=org.id,
                    actor_id=user_id,
                    action="redeem.ok",
                    object_type="Code",
                    object_id=redeemed,
                    detail="",
                    ip=f"10.{n % 250}.{n // 250 % 250}.1",
                    created_at=at,
                )
            )
        for _ in range(2 if rng.random() < 0.27 else 1):
            events.append(
                dict(
                    org_id=org.id,
                    actor_id=user_id,
                    action=f"redeem.{rng.choice(REFUSED)}",
                    object_type="Code",
                    object_id=code_id,
                    detail="",
                    ip=f"10.{n % 250}.{n // 250 % 250}.1",
                    created_at=when - timedelta(minutes=1),
                )
            )
    put(OrgMember, members)
    put(ClassroomMember, placed)
    put(Enrollment, enrolled)
    put(Redemption, redemptions)
    put(AuditEvent, events)
    conn = db.session.connection()
    set_uses = Code.__table__.update().where(Code.id == bindparam("code_id")).values(uses=bindparam("n"))
    for batch in _chunks([{"code_id": code_id, "n": count} for code_id, count in uses.items()]):
        conn.execute(set_uses, batch)
    db.session.execute(update(Organization).where(Organization.id == org.id).values(seats_taken=students))
    # The rows went in straight, past the redemption that keeps the report's
    # daily aggregates and totals: they are counted from them, as a change of
    # time zone does.
    aggregates.recount(org.id)
    db.session.commit()
    code_count = db.session.scalar(select(db.func.count()).select_from(Code).where(Code.org_id == org.id))
    event_count = db.session.scalar(
        select(db.func.count()).select_from(AuditEvent).where(AuditEvent.org_id == org.id)
    )
    kind = case((ReportDay.code_id != 0, "code"), (ReportDay.classroom_id != 0, "classroom"), else_="org")
    report_rows = dict(
        db.session.execute(
            select(kind, db.func.count()).where(ReportDay.org_id == org.id).group_by(kind)
        ).all()
    )
    report_rows["totals"] = db.session.scalar(
        select(db.func.count()).select_from(ReportTotal).where(ReportTotal.org_id == org.id)
    )
    some_batch = db.session.scalar(
        select(Batch.id).where(Batch.org_id == org.id).order_by(Batch.id).offset(batches // 2).limit(1)
    )
    some_code = db.session.scalar(select(Code.text).where(Code.batch_id == some_batch).limit(1))
    return dict(
        org=org.id,
        room=classrooms[0].id,
        join_codes=[db.session.get(Code, i).text for i in join_codes],
        batch=some_batch,
        search=(some_code or "ABCDE")[-5:].lower(),
        members=students + 1,
        codes=code_count,
        redemptions=len(redemptions),
        events=event_count,
        report_rows=report_rows,
    )


FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Inès", "José", "Kofi", "Lena"]
LAST = ["Silva", "Martin", "Núñez", "Okafor", "Kowalski", "Nguyen", "Dubois", "Rossi", "Haddad", "Berg"]


def build(app, sizes):
    """The other organizations, then each size asked for; the ids of each size."""
    rng = random.Random(2027)
    now = utcnow()
    with app.app_context():
        db.drop_all()
        db.create_all()
        admin = create_user("Bench Admin", "admin@bench.example", "bench-password-123", verified=True)
        db.session.commit()
        began = time.perf_counter()
        for n in range(OTHER_ORGS):
            build_org(admin, f"Other {n:02d}", 100, 1_020, rng, now)
        print(f"{OTHER_ORGS} other organizations built in {time.perf_counter() - began:.1f} s", flush=True)
        worlds = {}
        for size in sizes:
            began = time.perf_counter()
            k = SIZES[size]
            worlds[size] = build_org(admin, f"Size {size}", 1000 * k + 13, 10_000 * k + CLASSROOMS, rng, now)
            # Staff besides the admin: leaders and instructors are members too (13 of them).
            w = worlds[size]
            print(
                f"S{size}: {w['members']:,} members, {w['codes']:,} codes, {w['redemptions']:,} redemptions, "
                f"{w['events']:,} audit events, report rows {w['report_rows']}, "
                f"built in {time.perf_counter() - began:.1f} s",
                flush=True,
            )
        db.session.commit()
        settle()
        admin_id = admin.id
        db.session.remove()
    return admin_id, worlds


def settle():
    """On PostgreSQL, VACUUM ANALYZE the rows just written, as autovacuum would
    have done in a live database: its planner's statistics, and a visibility
    map and hint bits set, so the first read is not the one that writes them."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


class Statements:
    """Every statement the engine runs while `recording`, with its parameters."""

    def __init__(self, engine):
        self.seen = []
        self.recording = False
        event.listen(engine, "before_cursor_execute", self.heard)

    def heard(self, conn, cursor, statement, parameters, context, executemany):
        if self.recording:
            self.seen.append((statement, parameters))

    def during(self, call):
        self.seen, self.recording = [], True
        try:
            call()
        finally:
            self.recording = False
        return list(self.seen)


class Pages:
    """The pages of shared buffers each statement touches while `recording`
    (PostgreSQL): its plan with buffer counts, from the server's auto_explain
    module (loaded per session, which needs a superuser, as the bench's is),
    sent back to the client as a notice. Counts of pages, unlike times, do not
    move with the machine's load."""

    SETTINGS = (
        "log_min_duration = 0",
        "log_analyze = on",
        "log_buffers = on",
        "log_timing = off",
        "log_nested_statements = on",
        "log_format = json",
        "log_level = notice",
    )

    def __init__(self, engine):
        self.plans = None
        event.listen(engine, "connect", self.connected)
        event.listen(engine, "begin", self.began)
        engine.dispose()  # every connection from now on has the module and the handler

    def connected(self, dbapi_connection, record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("LOAD 'auto_explain'")
        dbapi_connection.commit()
        dbapi_connection.add_notice_handler(self.heard)

    def began(self, conn):
        if self.plans is not None:
            for setting in self.SETTINGS:
                conn.exec_driver_sql(f"SET LOCAL auto_explain.{setting}")

    def heard(self, diagnostic):
        said = diagnostic.message_primary or ""
        if self.plans is not None and "plan:" in said:
            self.plans.append(json.loads(said.split("plan:", 1)[1]))

    def during(self, call):
        """[(pages touched, of which read from outside shared buffers, statement)]"""
        self.plans = []
        try:
            call()
        finally:
            plans, self.plans = self.plans, None
        touched = []
        for plan in plans:
            top = plan["Plan"]
            read = top.get("Shared Read Blocks", 0)
            pages = top.get("Shared Hit Blocks", 0) + read + top.get("Local Hit Blocks", 0)
            touched.append((pages, read, " ".join(plan["Query Text"].split())))
        return touched


def signed_in(app, user_id):
    """A test client logged in as the user, by a session record as logging in makes."""
    with app.app_context():
        user = db.session.get(User, user_id)
        sessions.start(user)
        cookie_id = user.get_id()
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = cookie_id
        session["_fresh"] = True
    return client


def ok(response):
    assert response.status_code == 200, response.status_code
    return response


def drain(response):
    """Read a streamed answer to its end; its bytes."""
    ok(response)
    size = sum(len(piece) for piece in response.response)
    response.close()
    return size


def median_ms(call, runs):
    return medians_ms(call, runs)[0]


def medians_ms(call, runs):
    """The medians of the wall clock and of this process's CPU time (which the
    other processes on the machine change less), in milliseconds."""
    call()
    spent, used = [], []
    for _ in range(runs):
        began, cpu = time.perf_counter(), time.process_time()
        call()
        spent.append(1000 * (time.perf_counter() - began))
        used.append(1000 * (time.process_time() - cpu))
    return statistics.median(spent), statistics.median(used)


def time_download(app, client, path, runs):
    """Stream a download `runs` times after one warm-up; print its size and the
    medians of the wall clock, the app process's CPU and the statements run."""
    with app.app_context():
        statements = Statements(db.engine)
        backend = db.engine.dialect.name
    drain(client.get(path))
    wall, cpu, counted, sizes = [], [], [], []
    for _ in range(runs):
        began, used = time.perf_counter(), time.process_time()
        seen = statements.during(lambda: sizes.append(drain(client.get(path))))
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - used)
        counted.append(len(seen))
    print(
        f"{backend}: {sizes[-1] / 2**20:.1f} MiB, "
        f"wall {statistics.median(wall):.2f} s, app CPU {statistics.median(cpu):.2f} s, "
        f"{statistics.median(counted)} statements "
        f"(median of {runs}; os.getloadavg() {os.getloadavg()[0]:.1f})"
    )


def pages(world):
    o, room = world["org"], world["room"]
    bulk, people, audit = f"/orgs/{o}/bulk", f"/orgs/{o}/users", f"/orgs/{o}/audit"
    return [
        ("bulk codes, first page (full page)", bulk, None),
        ("bulk codes, page 100 (htmx)", f"{bulk}?page=100", HX),
        ("bulk codes, search of 5 symbols (htmx)", f"{bulk}?q={world['search']}", HX),
        ("bulk codes, one batch (htmx)", f"{bulk}?batch={world['batch']}", HX),
        ("people, first page", people, None),
        ("people, search", f"{people}?q=n%C3%BA%C3%B1ez+0001", None),
        ("people, last page", f"{people}?last=1", None),
        ("organization report, 30 days", f"/orgs/{o}/reports", None),
        ("organization report, all time", f"/orgs/{o}/reports?period=all", None),
        ("classroom report, all time", f"/classrooms/{room}/reports?period=all", None),
        ("audit log, first page (full page)", audit, None),
        ("audit log, filtered by outcome (htmx)", f"{audit}?outcome=refused", HX),
    ]


def exports(world):
    o = world["org"]
    return [
        ("CSV of all codes", f"/orgs/{o}/bulk/export.csv"),
        ("CSV of one batch", f"/orgs/{o}/bulk/export.csv?batch={world['batch']}"),
        ("CSV of the audit log", f"/orgs/{o}/audit.csv"),
    ]


def new_people(app, world, count, member, tag=""):
    """`count` people signed in: new to the organization, or members already
    (their addresses told apart from other calls' by `tag`)."""
    with app.app_context():
        first = db.session.scalar(select(db.func.coalesce(db.func.max(User.id), 0))) + 1
        rows = [
            dict(
                name=f"Redeemer {world['org']}-{member}-{tag}{n}",
                email=f"r{world['org']}{'m' if member else 'n'}{tag}{n}@bench.example",
                email_key=f"r{world['org']}{'m' if member else 'n'}{tag}{n}@bench.example",
                password_hash="!",
                email_verified=True,
            )
            for n in range(count)
        ]
        put(User, rows)
        ids = db.session.scalars(select(User.id).where(User.id >= first).order_by(User.id)).all()
        if member:
            put(
                OrgMember,
                [dict(org_id=world["org"], user_id=i, is_student=True, took_seat=True) for i in ids],
            )
            db.session.execute(
                update(Organization)
                .where(Organization.id == world["org"])
                .values(seats_taken=Organization.seats_taken + len(ids))
            )
        db.session.commit()
        db.session.remove()
    return [signed_in(app, i) for i in ids]


def redemptions_ms(app, worlds, runs, member):
    """A redemption's medians at each size, wall clock and the process's CPU in
    milliseconds ({size: (wall, cpu)}), timed in turn, size by size, as the
    pages are (measure), after one untimed at each; and a client of a person
    who redeemed at each size ({size: client})."""
    people = {size: new_people(app, world, runs + 1, member) for size, world in worlds.items()}
    spent = {size: ([], []) for size in worlds}
    for n in range(runs + 1):
        for size, world in worlds.items():
            began, used = time.perf_counter(), time.process_time()
            body = ok(
                people[size][n].post(
                    "/redeem",
                    data={"code": world["join_codes"][3]},
                    headers=HX,
                    environ_base={"REMOTE_ADDR": f"192.0.2.{n % 250}"},
                )
            ).get_data(as_text=True)
            if n:
                spent[size][0].append(1000 * (time.perf_counter() - began))
                spent[size][1].append(1000 * (time.process_time() - used))
            assert "Room 03" in body, body[:500]
    medians = {size: (statistics.median(wall), statistics.median(cpu)) for size, (wall, cpu) in spent.items()}
    return medians, {size: listed[0] for size, listed in people.items()}


def redemption_pages(app, world, pages, member):
    """The pages each statement of one redemption touches (after one untimed)."""
    first, second = new_people(app, world, 2, member, tag="p")
    code = world["join_codes"][3]
    ok(first.post("/redeem", data={"code": code}, headers=HX))
    return pages.during(lambda: ok(second.post("/redeem", data={"code": code}, headers=HX)))


def print_pages(touched):
    """Each redemption's pages at each size, and the statements whose pages differ."""
    print("\nPages of shared buffers a redemption touches (auto_explain); read from outside them in brackets")
    for member in (False, True):
        name = "a member's second code" if member else "a new student"
        sizes = sorted(touched[member])
        totals = []
        for size in sizes:
            seen = touched[member][size]
            totals.append(f"S{size} {sum(p for p, _, _ in seen)} [{sum(r for _, r, _ in seen)}]")
        print(f"  redeem, {name}: " + ", ".join(totals))
        smallest, largest = touched[member][sizes[0]], touched[member][sizes[-1]]
        if [q for *_, q in smallest] != [q for *_, q in largest]:
            print("    (not the same statements at each size)")
            continue
        for (small, _, query), (large, read, _) in zip(smallest, largest, strict=True):
            if small != large:
                print(f"    S{sizes[0]} {small} → S{sizes[-1]} {large} [{read}]: {query[:110]}")


def explain(app, statements):
    """PostgreSQL's plan of each SELECT a page ran."""
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, parameters in statements:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                cursor.execute("EXPLAIN " + statement, parameters)
                print("    " + statement.split("\n")[0][:100] + " …")
                for (line,) in cursor.fetchall():
                    print("      " + line)
        finally:
            raw.close()


def measure(app, admin_id, worlds, runs, want_explain, want_pages=False):
    dialect = None
    with app.app_context():
        dialect = db.engine.dialect.name
        statements = Statements(db.engine)
        buffers = Pages(db.engine) if want_pages and dialect == "postgresql" else None
    touched = {False: {}, True: {}}
    admin = signed_in(app, admin_id)
    results = {}  # name -> {size: (ms, statements)}
    plans = {}
    largest = max(worlds)
    # Each page at every size in turn, run by run, beside the trivial page: the
    # machine's speed drifts by a third and more within minutes (a fixed loop of
    # Python did), and sizes timed minutes apart would carry the drift into
    # their ratio. Interleaved, every size of a page sees the same machine.
    anonymous = app.test_client()
    per_size = {size: pages(world) for size, world in worlds.items()}
    for index, (name, _, _) in enumerate(per_size[largest]):
        calls = {
            size: (lambda url=listed[index][1], headers=listed[index][2]: ok(admin.get(url, headers=headers)))
            for size, listed in per_size.items()
        }
        calls["trivial"] = lambda: ok(anonymous.get("/login"))
        for call in calls.values():
            call()
        spent: dict = {key: ([], []) for key in calls}
        for _ in range(runs):
            for key, call in calls.items():
                began, used = time.perf_counter(), time.process_time()
                call()
                spent[key][0].append(1000 * (time.perf_counter() - began))
                spent[key][1].append(1000 * (time.process_time() - used))
        for size in worlds:
            seen = statements.during(calls[size])
            ms, cpu = (statistics.median(values) for values in spent[size])
            results.setdefault(name, {})[size] = (ms, len(seen))
            results.setdefault(f"{name}, CPU of the process", {})[size] = (cpu, None)
            trivial = statistics.median(spent["trivial"][1])
            results.setdefault(f"{name}, CPU / the trivial page's", {})[size] = (cpu / trivial, None)
            if size == largest:
                plans[name] = seen
    redeemed = {}
    for member in (False, True):
        name = "redeem, a member's second code" if member else "redeem, a new student"
        medians, redeemed = redemptions_ms(app, worlds, 3 * runs, member)
        for size, (ms, cpu) in medians.items():
            results.setdefault(name, {})[size] = (ms, None)
            results.setdefault(f"{name}, CPU of the process", {})[size] = (cpu, None)
    for size, world in worlds.items():
        for name, url in exports(world):
            began = time.perf_counter()
            size_bytes = drain(admin.get(url, buffered=False))
            ms = 1000 * (time.perf_counter() - began)
            results.setdefault(f"{name} ({size_bytes / 2**20:.1f} MiB at S{size})", {})[size] = (ms, None)
        if buffers is not None:
            for member in (False, True):
                touched[member][size] = redemption_pages(app, world, buffers, member)
        person = redeemed[size]
        ms = median_ms(lambda person=person: ok(person.get("/profile")), runs)
        results.setdefault("profile (student)", {})[size] = (ms, None)
        print(f"S{size} measured", flush=True)
    print(f"\n{dialect}, median of {runs} runs (exports: one run), milliseconds; statements in brackets")
    sizes = sorted(worlds)
    head = "| page | " + " | ".join(f"S{s}" for s in sizes) + " | S3/S1 |"
    print(head)
    print("|---|" + "---:|" * (len(sizes) + 1))
    for name, by_size in results.items():
        cells = []
        for s in sizes:
            ms, count = by_size.get(s, (None, None))
            cells.append("" if ms is None else f"{ms:,.1f}" + ("" if count is None else f" [{count}]"))
        ratio = ""
        if 1 in by_size and 3 in by_size and by_size[1][0]:
            ratio = f"{by_size[3][0] / by_size[1][0]:.1f}"
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")
    if buffers is not None:
        print_pages(touched)
    if want_explain and dialect == "postgresql":
        print(f"\nPostgreSQL plans at S{largest}")
        for name, seen in plans.items():
            print(f"  {name}")
            explain(app, seen)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,2,3", help="which of S1, S2, S3 to build (1,2,3)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print PostgreSQL's plans at the largest size")
    parser.add_argument(
        "--pages",
        action="store_true",
        help="print the pages each statement of a redemption reads (PostgreSQL)",
    )
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    url = os.environ.get("DATABASE_URL")
    if url and "bench" not in url.rsplit("/", 1)[-1]:
        parser.error("the database is emptied first: its name must contain 'bench'")
    with tempfile.TemporaryDirectory() as tmp:
        app = app_for(url or f"sqlite:///{tmp}/growth.db")
        admin_id, worlds = build(app, sizes)
        measure(app, admin_id, worlds, args.runs, args.explain, args.pages)
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
