"""Reports and users-tab benchmark: an organization with 20,000 students who
joined over the last year through 40 codes in 20 classrooms.

Measures the organization report for each period (the domain function, and the
whole page through the test client), a classroom report, a comparison of four
codes, the users tab (first page, a search, a later page), and a roster upload
of 2,000 new people (check and apply, one transaction).

    .venv/bin/python bench/reports_users.py                   # SQLite in a temporary file
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:55433/codes_bench \
        .venv/bin/python bench/reports_users.py

The database named by DATABASE_URL is emptied first: never point it at real data.
"""

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select  # noqa: E402

from codes import create_app  # noqa: E402
from codes.access import Scope  # noqa: E402
from codes.auth.operations import create_user  # noqa: E402
from codes.extensions import db  # noqa: E402
from codes.manage.operations import CodeInput, create_code  # noqa: E402
from codes.models import ClassroomMember, Organization, OrgMember, Redemption, User, utcnow  # noqa: E402
from codes.orgs import operations as orgs  # noqa: E402
from codes.reports import operations as reports  # noqa: E402
from codes.users import roster  # noqa: E402

STUDENTS = 20_000
CLASSROOMS = 20
CODES = 40
ROSTER_ROWS = 2_000
PASSWORD = "bench-password-123"


def timed(fn, repeat=5):
    """Median seconds of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        db.session.rollback()
    return statistics.median(times), result


def build():
    admin = create_user("Bench Admin", "admin@bench.example", PASSWORD, verified=True)
    org = orgs.create_organization(admin, "Bench School", "Europe/Paris")
    classrooms = [orgs.create_classroom(admin, org, f"Room {i:02d}") for i in range(CLASSROOMS)]
    scope = Scope(admin, org)
    codes = [
        create_code(
            admin, scope, CodeInput(text=f"BENCH-CODE-{i:03d}", classroom_ids=[classrooms[i % CLASSROOMS].id])
        )
        for i in range(CODES)
    ]
    db.session.commit()
    rng = random.Random(1)
    now = utcnow()
    users = [
        {
            "name": f"Student {i:05d}",
            "email": f"s{i:05d}@bench.example",
            "email_key": f"s{i:05d}@bench.example",
            "password_hash": "!",
            "email_verified": True,
            "created_at": now,
        }
        for i in range(STUDENTS)
    ]
    db.session.execute(insert(User), users)
    ids = db.session.scalars(
        select(User.id).where(User.email_key.like("s%@bench.example")).order_by(User.id)
    ).all()
    members, placed, redemptions = [], [], []
    for user_id in ids:
        code = rng.choice(codes)
        when = now - timedelta(days=rng.triangular(0, 365, 20), minutes=rng.randint(0, 1440))
        members.append(
            {"org_id": org.id, "user_id": user_id, "is_student": True, "took_seat": True, "joined_at": when}
        )
        placed.append({"classroom_id": code.classrooms[0].id, "user_id": user_id, "added_at": when})
        redemptions.append(
            {"code_id": code.id, "user_id": user_id, "org_id": org.id, "took_seat": True, "created_at": when}
        )
        if rng.random() < 0.15:
            second = rng.choice(codes)
            if second.id != code.id:
                redemptions.append(
                    {
                        "code_id": second.id,
                        "user_id": user_id,
                        "org_id": org.id,
                        "took_seat": False,
                        "created_at": when + timedelta(days=3),
                    }
                )
    db.session.execute(insert(OrgMember), members)
    db.session.execute(insert(ClassroomMember), placed)
    db.session.execute(insert(Redemption), redemptions)
    db.session.query(Organization).filter_by(id=org.id).update({"seats_taken": STUDENTS})
    db.session.commit()
    return admin, org, classrooms, codes, len(redemptions)


def main():
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "PUBLIC_URL": "http://localhost",
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        start = time.perf_counter()
        admin, org, classrooms, codes, count = build()
        print(
            f"{db.engine.dialect.name}: {STUDENTS:,} students, {count:,} redemptions "
            f"built in {time.perf_counter() - start:.1f} s"
        )
        scope = Scope(admin, org)
        today = reports.today_in(org)
        for period in reports.PERIODS:
            seconds, report = timed(lambda p=period: reports.organization_report(scope, p, today))
            print(
                f"  organization report, {period.label:<15} {seconds * 1000:7.1f} ms "
                f"({report.figures.redemptions:,} redemptions, {len(report.timeline.buckets)} bars)"
            )
        seconds, _ = timed(lambda: reports.classroom_report(scope, classrooms[0], reports.PERIODS[2], today))
        print(f"  classroom report, 12 months     {seconds * 1000:7.1f} ms")
        seconds, _ = timed(lambda: reports.compare(scope, reports.PERIODS[3], today, codes=codes[:4]))
        print(f"  compare 4 codes, all time       {seconds * 1000:7.1f} ms")

        client = app.test_client()
        client.post("/login", data={"email": admin.email, "password": PASSWORD})
        for label, path in [
            ("page: organization report 30 d", f"/orgs/{org.id}/reports"),
            ("page: organization report all", f"/orgs/{org.id}/reports?period=all"),
            (
                "page: compare 4 codes, 12 m",
                f"/orgs/{org.id}/reports/compare?period=12m&" + "&".join(f"code={c.id}" for c in codes[:4]),
            ),
            ("page: users tab, first page", f"/orgs/{org.id}/users"),
            ("page: users tab, search", f"/orgs/{org.id}/users?q=student+0123"),
            ("page: users tab, page 400", f"/orgs/{org.id}/users?page=400"),
        ]:
            seconds, response = timed(lambda p=path: client.get(p))
            assert response.status_code == 200, (path, response.status_code)
            print(f"  {label:<32} {seconds * 1000:7.1f} ms")

        lines = ["email,name,classroom"] + [
            f"new{i:04d}@bench.example,New Person {i:04d},Room {i % CLASSROOMS:02d}"
            for i in range(ROSTER_ROWS)
        ]
        data = ("\n".join(lines) + "\n").encode()
        start = time.perf_counter()
        result = roster.upload_roster(admin, org, data)
        db.session.commit()
        seconds = time.perf_counter() - start
        assert result.created == ROSTER_ROWS and db.session.get(Organization, org.id).seats_taken == (
            STUDENTS + ROSTER_ROWS
        )
        print(
            f"  roster upload, {ROSTER_ROWS:,} new people     {seconds:7.2f} s "
            f"({len(data) // 1000} kB, one transaction)"
        )
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            db.drop_all()


if __name__ == "__main__":
    main()
