"""Bulk codes benchmark: an organization with 100,000 codes in 200 batches.

Measures, in one run: generating a batch of 500 codes through the domain function
(and through the page, rendering included), the first page of the existing-codes
table with and without a batch filter, a search, and the CSV export of all
100,000 rows (time, and peak memory against a 10,000-row export).

    .venv/bin/python bench/bulk_codes.py                      # SQLite in a temporary file
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:55433/codes_bulk_bench \
        .venv/bin/python bench/bulk_codes.py

The database named by DATABASE_URL is emptied first: never point it at real data.
"""

import os
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text  # noqa: E402

from codes import create_app  # noqa: E402
from codes.access import Scope  # noqa: E402
from codes.auth.operations import create_user  # noqa: E402
from codes.bulk.operations import BatchInput, generate_batch  # noqa: E402
from codes.codetext import canonical, random_code  # noqa: E402
from codes.extensions import db  # noqa: E402
from codes.models import Batch, Code, CodeClassroom, CodeCourse, Organization, User, utcnow  # noqa: E402
from codes.orgs import operations as orgs  # noqa: E402

BATCHES = 200
PER_BATCH = 500
SMALL_BATCHES = 20  # a second organization: 10,000 codes, to compare export memory
PASSWORD = "bench-password-123"


def app_for_bench():
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "SQLALCHEMY_DATABASE_URI": url,
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def fill(org, admin, batches, rng):
    """Batches of codes written straight into the tables, as fast as they go in."""
    classrooms = [orgs.create_classroom(admin, org, f"Room {n}") for n in range(1, 9)]
    courses = [orgs.create_course(admin, org, f"Course {n}") for n in range(1, 5)]
    db.session.commit()
    start = utcnow() - timedelta(days=batches)
    for number in range(batches):
        made = start + timedelta(days=number)
        prefix = f"B{number:03d}" if number % 2 else ""
        batch = Batch(
            org_id=org.id,
            created_by_id=admin.id,
            created_at=made,
            count=PER_BATCH,
            prefix=prefix,
            options="{}",
        )
        db.session.add(batch)
        db.session.flush()
        rows = []
        for _ in range(PER_BATCH):
            text = random_code(prefix)
            rows.append(
                dict(
                    org_id=org.id,
                    batch_id=batch.id,
                    text=text,
                    key=canonical(text),
                    role="student",
                    valid_until=made + timedelta(days=rng.choice((30, 365, 900))),
                    max_uses=rng.choice((1, 1, 1, 5, None)),
                    uses=rng.choice((0, 0, 0, 1)),
                    allowed_domains="",
                    enabled=rng.random() > 0.05,
                    deactivated_at=made if rng.random() < 0.02 else None,
                    created_by_id=admin.id,
                    created_at=made,
                )
            )
        ids = db.session.scalars(insert(Code).returning(Code.id), rows).all()
        room, course = classrooms[number % len(classrooms)], courses[number % len(courses)]
        db.session.execute(insert(CodeClassroom), [{"code_id": i, "classroom_id": room.id} for i in ids])
        if number % 3 == 0:
            db.session.execute(insert(CodeCourse), [{"code_id": i, "course_id": course.id} for i in ids])
        db.session.commit()
    return classrooms


def median_ms(fn, runs):
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), min(times), max(times)


def get(client, url, headers=None):
    response = client.get(url, headers=headers or {})
    assert response.status_code == 200, (url, response.status_code)
    return response


def export(client, url):
    """Download a CSV the way a browser does, piece by piece; rows and bytes seen."""
    response = client.get(url, buffered=False)
    assert response.status_code == 200
    size = lines = 0
    for piece in response.response:
        size += len(piece)
        lines += piece.count(b"\n")
    response.close()
    return lines - 1, size


def peak_mib(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def setup(app):
    """Fill the two organizations; the ids the measures need."""
    rng = random.Random(2027)
    with app.app_context():
        dialect = db.engine.dialect.name
        admin = create_user("Bench Admin", "admin@bench.example", PASSWORD, verified=True)
        org = orgs.create_organization(admin, "Bench School", "Europe/Paris")
        small = orgs.create_organization(admin, "Small School", "Europe/Paris")
        db.session.commit()
        began = time.perf_counter()
        classrooms = fill(org, admin, BATCHES, rng)
        fill(small, admin, SMALL_BATCHES, rng)
        if dialect == "postgresql":
            # What autovacuum does soon after a bulk load: statistics for the planner,
            # and the visibility map that lets counts read the index alone.
            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        filled = time.perf_counter() - began
        total = db.session.scalar(select(db.func.count(Code.id)).where(Code.org_id == org.id))
        print(
            f"database: {dialect}; filled {total:,} codes in {BATCHES} batches "
            f"(+{SMALL_BATCHES * PER_BATCH:,} in a second organization) in {filled:.1f} s"
        )
        batch_id = db.session.scalar(
            select(Batch.id).where(Batch.org_id == org.id).order_by(Batch.id).offset(BATCHES // 2).limit(1)
        )
        search = db.session.scalar(select(Code.text).where(Code.batch_id == batch_id).limit(1))
        ids = dict(org=org.id, small=small.id, room=classrooms[0].id, batch=batch_id, search=search)
        db.session.remove()
    return ids


def measure_table(client, ids):
    bulk = f"/orgs/{ids['org']}/bulk"
    hx = {"HX-Request": "true"}
    part, whole = ids["search"][-5:].lower(), ids["search"].replace("-", " ")
    cases = [
        ("table page 1, all batches (full page)", bulk, None),
        ("table page 1, all batches (htmx fragment)", bulk, hx),
        ("table page 1, one batch (htmx fragment)", f"{bulk}?batch={ids['batch']}", hx),
        ("table page 100, all batches (htmx fragment)", f"{bulk}?page=100", hx),
        (f"search '{part}' (htmx fragment)", f"{bulk}?q={part}", hx),
        (f"search '{whole}' (htmx fragment)", f"{bulk}?q={whole}", hx),
    ]
    for name, url, headers in cases:
        get(client, url, headers)
        ms = median_ms(lambda url=url, headers=headers: get(client, url, headers), 21)
        print(f"{name}, median of 21: {ms[0]:.1f} ms (min {ms[1]:.1f}, max {ms[2]:.1f})")


def measure_export(client, ids):
    big, small = f"/orgs/{ids['org']}/bulk/export.csv", f"/orgs/{ids['small']}/bulk/export.csv"
    rows_big, size = export(client, big)
    rows_small, _ = export(client, small)
    ms = median_ms(lambda: export(client, big), 3)
    print(
        f"export CSV of {rows_big:,} rows ({size / 2**20:.1f} MiB), median of 3: "
        f"{ms[0] / 1000:.2f} s (min {ms[1] / 1000:.2f}, max {ms[2] / 1000:.2f})"
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_small = peak_mib(lambda: export(client, small))
    peak_big = peak_mib(lambda: export(client, big))
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"export peak Python memory (tracemalloc): {rows_small:,} rows {peak_small:.1f} MiB; "
        f"{rows_big:,} rows {peak_big:.1f} MiB"
    )
    print(
        f"process max RSS: {rss_before / 1024:.0f} MiB before those two exports, "
        f"{rss_after / 1024:.0f} MiB after"
    )


def measure_generate(app, client, ids):
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email_key == "admin@bench.example"))
        scope = Scope(admin, db.session.get(Organization, ids["org"]))
        data = BatchInput(classroom_ids=[ids["room"]], count=500, prefix="BENCH")

        def generate():
            generate_batch(admin, scope, data)
            db.session.commit()

        ms = median_ms(generate, 7)
        db.session.remove()
    print(
        f"generate 500 codes (domain function + commit), median of 7: {ms[0]:.1f} ms "
        f"(min {ms[1]:.1f}, max {ms[2]:.1f})"
    )
    form = {
        "classroom_ids": [ids["room"]],
        "count": "500",
        "prefix": "PAGE",
        "uses": "single",
        "role": "student",
    }

    def post_generate():
        response = client.post(f"/orgs/{ids['org']}/bulk", data=form, headers={"HX-Request": "true"})
        assert response.status_code == 200 and "HX-Replace-Url" in response.headers

    ms = median_ms(post_generate, 5)
    print(
        f"generate 500 codes through the page (htmx POST, panel and table rendered), "
        f"median of 5: {ms[0]:.1f} ms (min {ms[1]:.1f}, max {ms[2]:.1f})"
    )


def main():
    app = app_for_bench()
    ids = setup(app)
    client = app.test_client()
    response = client.post("/login", data={"email": "admin@bench.example", "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    measure_table(client, ids)
    measure_export(client, ids)
    measure_generate(app, client, ids)


if __name__ == "__main__":
    main()
