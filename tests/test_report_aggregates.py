"""The reports' daily aggregates (codes.reports.aggregates) stay equal to a count
of the raw rows they stand for, whatever happens, on SQLite and PostgreSQL:
after a random history of redemptions, removals, moves, code edits,
deactivations, deletions, roster uploads and changes of time zone; and while
many people redeem at once. A person a roster placed who took a seat is a new
member in the reports."""

import json
import random
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import func, insert, select

from codes.access import OutOfScope, Scope
from codes.approval.operations import rotate
from codes.errors import DomainError
from codes.extensions import db
from codes.manage.operations import CodeInput, deactivate, delete_code, update_code
from codes.models import (
    AuditEvent,
    Classroom,
    ClassroomMember,
    Code,
    CodeClassroom,
    Organization,
    Redemption,
    ReportDay,
    ReportMonth,
    ReportTotal,
    User,
    utcnow,
)
from codes.orgs import operations as orgs
from codes.redeem.operations import redeem
from codes.reports import operations as reports
from codes.reports.operations import PERIODS
from codes.timeutil import to_local
from codes.users.operations import ROSTER_ADD, move_student, remove_from_classroom
from codes.users.roster import upload_roster
from conftest import Factory, race, soup

DAYS_30, _, _, ALL_TIME = PERIODS
ZONES = ("Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC")


def recounted(org_id):
    """What the aggregates should hold, counted here from the raw rows: every
    redemption on its day (in the organization's zone now) for the organization,
    its code and the classrooms its code places people in now; every roster
    placement that took a seat for the organization and its classroom, if that
    is still there. {(code_id, classroom_id, day): (redemptions, new, placed)}."""
    db.session.expire_all()
    org = db.session.get(Organization, org_id)
    classrooms: dict[int, list[int]] = {}
    for code_id, classroom_id in db.session.execute(
        select(CodeClassroom.code_id, CodeClassroom.classroom_id).join(Code).where(Code.org_id == org_id)
    ):
        classrooms.setdefault(code_id, []).append(classroom_id)
    # A classroom made after the placement is another with the same id (SQLite gives
    # a deleted row's id again).
    present = dict(
        db.session.execute(select(Classroom.id, Classroom.created_at).where(Classroom.org_id == org_id)).all()
    )
    counts: Counter = Counter()
    for redemption in db.session.scalars(select(Redemption).where(Redemption.org_id == org_id)):
        day = to_local(org, redemption.created_at).date()
        for key in [(0, 0), (redemption.code_id, 0)] + [
            (0, c) for c in classrooms.get(redemption.code_id, [])
        ]:
            counts[(*key, day, 0)] += 1
            counts[(*key, day, 1)] += redemption.took_seat
    for event in db.session.scalars(
        select(AuditEvent).where(AuditEvent.org_id == org_id, AuditEvent.action == ROSTER_ADD)
    ):
        detail = json.loads(event.detail)
        if detail["took_seat"]:
            day = to_local(org, event.created_at).date()
            counts[(0, 0, day, 2)] += 1
            if detail["classroom_id"] in present and event.created_at >= present[detail["classroom_id"]]:
                counts[(0, detail["classroom_id"], day, 2)] += 1
    keys = {key[:3] for key in counts}
    rows = {key: tuple(counts[(*key, n)] for n in range(3)) for key in keys}
    return {key: row for key, row in rows.items() if any(row)}


def stored(org_id):
    """The aggregates as kept, without rows that came back to nothing."""
    db.session.expire_all()
    rows = {
        (r.code_id, r.classroom_id, r.day): (r.redemptions, r.new_members, r.placed)
        for r in db.session.scalars(select(ReportDay).where(ReportDay.org_id == org_id))
    }
    kept = {key: row for key, row in rows.items() if any(row)}
    # Each month's row is the sum of its days' rows.
    months: dict = {}
    for (code_id, classroom_id, day), row in kept.items():
        key = (code_id, classroom_id, day.replace(day=1))
        months[key] = tuple(x + y for x, y in zip(months.get(key, (0, 0, 0)), row, strict=True))
    month_rows = {
        (r.code_id, r.classroom_id, r.month): (r.redemptions, r.new_members, r.placed)
        for r in db.session.scalars(select(ReportMonth).where(ReportMonth.org_id == org_id))
    }
    assert {key: row for key, row in month_rows.items() if any(row)} == months
    assert totals(org_id) == totals_of_days(org_id)
    return kept


def member_counts(org_id):
    """Each classroom's members now, as kept (Classroom.member_count) and as
    counted here from its rows: the two dicts a test compares."""
    db.session.expire_all()
    kept = dict(
        db.session.execute(select(Classroom.id, Classroom.member_count).where(Classroom.org_id == org_id))
        .tuples()
        .all()
    )
    counted = dict.fromkeys(kept, 0)
    for (classroom_id,) in db.session.execute(
        select(ClassroomMember.classroom_id).join(Classroom).where(Classroom.org_id == org_id)
    ):
        counted[classroom_id] += 1
    return kept, counted


def totals(org_id):
    """The totals as kept, without rows that came back to nothing:
    {(code_id, classroom_id): (code text, redemptions, new, placed)}."""
    db.session.expire_all()
    rows = {
        (r.code_id, r.classroom_id): (r.code_text, r.redemptions, r.new_members, r.placed)
        for r in db.session.scalars(select(ReportTotal).where(ReportTotal.org_id == org_id))
    }
    return {key: row for key, row in rows.items() if any(row[1:])}


def totals_of_days(org_id):
    """What the totals should hold, from the day rows as kept: the sum of the
    days of each code and each classroom, and each code's again in each
    classroom it places people in now; a code's rows with its text now."""
    db.session.expire_all()
    sums: dict = {}
    for r in db.session.scalars(select(ReportDay).where(ReportDay.org_id == org_id)):
        if (r.code_id, r.classroom_id) != (0, 0):
            row = sums.get((r.code_id, r.classroom_id), (0, 0, 0))
            sums[(r.code_id, r.classroom_id)] = tuple(
                x + y for x, y in zip(row, (r.redemptions, r.new_members, r.placed), strict=True)
            )
    texts = dict(db.session.execute(select(Code.id, Code.text).where(Code.org_id == org_id)).tuples().all())
    for code_id, classroom_id in db.session.execute(
        select(CodeClassroom.code_id, CodeClassroom.classroom_id).join(Code).where(Code.org_id == org_id)
    ):
        if (code_id, 0) in sums:
            sums[(code_id, classroom_id)] = sums[(code_id, 0)]
    rows = {key: (texts.get(key[0], ""), *row) for key, row in sums.items()}
    return {key: row for key, row in rows.items() if any(row[1:])}


def roster(rows):
    lines = ["email,name,classroom"] + [f"{email},{name},{room}" for email, name, room in rows]
    return "\n".join(lines).encode()


def test_a_random_history_keeps_the_aggregates_equal_to_a_recount(any_db_app):
    rng = random.Random(1616)
    make = Factory()
    org = make.org(name="Oak School", timezone="Europe/Paris")
    other = make.org(name="Elm School", timezone="America/New_York")
    course = make.course(org, "Algebra")
    rooms = [make.classroom(org, f"Room {n}") for n in range(3)]
    elm_room = make.classroom(other, "Elm Room")
    elm_code = make.code(other, "ELM-CODE-2027", classrooms=[elm_room])
    codes = [
        make.code(
            org, f"OAK-CODE-{n}-2027", classrooms=rng.sample(rooms, rng.randint(1, 2)), max_uses=max_uses
        )
        for n, max_uses in enumerate([None, None, 30, 8, None])
    ]
    codes.append(make.code(org, "OAK-COURSE-2027", courses=[course]))
    codes.append(make.code(org, "OAK-TEACH-2027", classrooms=[rooms[0]], role="teacher"))
    people = [make.user(f"Student {n}") for n in range(40)]
    ids = {"org": org.id, "other": other.id}
    start = utcnow() - timedelta(days=60)
    done: Counter = Counter()
    roster_count = 0

    def live_rooms():
        return db.session.scalars(select(Classroom).where(Classroom.org_id == ids["org"])).all()

    def one_step():
        nonlocal roster_count
        oak = db.session.get(Organization, ids["org"])
        admin = oak_admin
        scope = Scope(admin, oak)
        roll = rng.random()
        when = start + timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        if roll < 0.45:
            redeem(rng.choice(people), rng.choice(codes).text, now=when)
            return "redeem"
        if roll < 0.50:
            redeem(rng.choice(people), elm_code.text, now=when)
            return "redeem elsewhere"
        members = db.session.execute(select(ClassroomMember.user_id, ClassroomMember.classroom_id)).all()
        members = [(u, c) for u, c in members if c in {r.id for r in live_rooms()}]
        if roll < 0.58 and members:
            user_id, room_id = rng.choice(members)
            person, room = db.session.get(type(admin), user_id), db.session.get(Classroom, room_id)
            if rng.random() < 0.5:
                remove_from_classroom(admin, scope, person, room)
                return "remove"
            target = rng.choice([r for r in live_rooms() if r.id != room_id] or [room])
            move_student(admin, scope, person, room, target)
            return "move"
        if roll < 0.66:
            code = rng.choice(codes)
            chosen = rng.sample(live_rooms(), rng.randint(1, min(2, len(live_rooms()))))
            data = CodeInput(
                text=code.text,
                classroom_ids=[r.id for r in chosen],
                course_ids=[c.id for c in code.courses],
                max_uses=code.max_uses,
                role=code.role,
            )
            update_code(admin, scope, code, data)
            return "code's classrooms"
        if roll < 0.71:
            deactivate(admin, rng.choice(codes))
            return "deactivate"
        if roll < 0.73:
            delete_code(admin, rng.choice(codes))
            return "delete code"
        if roll < 0.82:
            room = rng.choice(live_rooms())
            rows = []
            for _ in range(rng.randint(1, 3)):
                roster_count += 1
                rows.append((f"roster{roster_count}@example.org", f"Roster {roster_count}", room.name))
            placed = rng.choice(people)
            if db.session.scalar(select(Redemption.id).where(Redemption.user_id == placed.id).limit(1)):
                # One of the organization's people: placed, a seat only if not a student yet.
                rows.append((placed.email, placed.name, room.name))
            upload_roster(admin, oak, roster(rows))
            return "roster"
        if roll < 0.86 and len(live_rooms()) > 1:
            orgs.delete_classroom(admin, rng.choice(live_rooms()))
            orgs.create_classroom(admin, oak, f"Room {rng.randint(10, 99)}")
            return "delete classroom"
        if roll < 0.89:
            orgs.update_organization(admin, oak, oak.name, rng.choice(ZONES), None, None)
            return "time zone"
        if roll < 0.93:
            # A new text, in an order of its own among the codes' (the table's ties).
            code = rng.choice(codes[:5])
            data = CodeInput(
                text=f"OAK-{rng.choice('ABCXYZ')}{rng.randint(100, 999)}-2027",
                classroom_ids=[r.id for r in code.classrooms],
                course_ids=[c.id for c in code.courses],
                max_uses=code.max_uses,
                role=code.role,
            )
            update_code(admin, scope, code, data)
            return "new text"
        if roll < 0.95:
            rotate(admin, rng.choice(codes))
            return "rotate"
        return None

    oak_admin = org.admin
    for step in range(300):
        try:
            kind = one_step()
        except (DomainError, OutOfScope):
            db.session.rollback()
            continue
        db.session.commit()
        done[kind] += 1
        assert totals(ids["org"]) == totals_of_days(ids["org"]), (step, kind)
        kept, counted = member_counts(ids["org"])
        assert kept == counted, (step, kind)
        if step % 100 == 99:
            assert stored(ids["org"]) == recounted(ids["org"]), step
    kinds = {
        "redeem",
        "redeem elsewhere",
        "remove",
        "move",
        "code's classrooms",
        "deactivate",
        "delete code",
        "roster",
        "delete classroom",
        "time zone",
        "new text",
        "rotate",
    }
    assert kinds <= set(done), done
    assert stored(ids["org"]) == recounted(ids["org"])
    assert stored(ids["other"]) == recounted(ids["other"])
    # Nothing was counted in no organization's rows, or twice.
    assert {r.org_id for r in db.session.scalars(select(ReportDay))} <= {ids["org"], ids["other"]}


def test_students_redeeming_at_once_are_each_counted_once(any_db_app):
    make = Factory()
    org = make.org(timezone="Europe/Paris", seat_limit=25)
    rooms = [make.classroom(org, f"Room {n}") for n in range(2)]
    codes = [
        make.code(org, "AT-ONCE-A-2027", classrooms=rooms),
        make.code(org, "AT-ONCE-B-2027", classrooms=[rooms[1]], max_uses=12),
    ]
    people = [make.user().id for _ in range(30)]
    # Some people type both codes at once: one seat between them.
    attempts = [(person, codes[n % 2].text) for n, person in enumerate(people)]
    attempts += [(person, codes[1].text) for person in people[:10:2]]
    outcomes = race(any_db_app, attempts)
    assert "ok" in outcomes
    assert stored(org.id) == recounted(org.id)
    kept, counted = member_counts(org.id)
    assert kept == counted and sum(counted.values()) > 0
    db.session.expire_all()
    whole = db.session.scalars(
        select(ReportDay).where(
            ReportDay.org_id == org.id, ReportDay.code_id == 0, ReportDay.classroom_id == 0
        )
    ).all()
    assert sum(r.redemptions for r in whole) == outcomes.count("ok")
    assert sum(r.new_members for r in whole) == db.session.get(Organization, org.id).seats_taken


@pytest.fixture
def placed(make):
    """Oak School: Ana redeemed a code of Room 1; then a roster placed Ana (a
    student already) and two new people in Room 2."""
    org = make.org(name="Oak School", timezone="Europe/Paris")
    room1, room2 = make.classroom(org, "Room 1"), make.classroom(org, "Room 2")
    make.code(org, "ROOM-ONE-2027", classrooms=[room1])
    ana = make.user("Ana", "ana@example.org")
    redeem(ana, "ROOM-ONE-2027")
    db.session.commit()
    upload_roster(
        org.admin,
        org,
        roster(
            [
                ("ana@example.org", "Ana", "Room 2"),
                ("bo@example.org", "Bo", "Room 2"),
                ("cy@example.org", "Cy", "Room 2"),
            ]
        ),
    )
    db.session.commit()
    return org, room1, room2


def test_people_a_roster_placed_are_new_members(placed):
    org, room1, room2 = placed
    today = reports.today_in(org)
    report = reports.organization_report(Scope(org.admin, org), DAYS_30, today)
    figures = report.figures
    # Ana's redemption, and Bo and Cy, who took a seat; Ana's placement took none.
    assert (figures.redemptions, figures.new_members, figures.existing, figures.placed) == (1, 3, 0, 2)
    assert figures.conversion == 100, "conversion is of redemptions alone"
    assert [(b.new, b.existing, b.placed) for b in report.timeline.buckets if b.total] == [(3, 0, 2)]
    lines = {line.classroom.name: line.figures for line in report.classrooms}
    assert (lines["Room 1"].redemptions, lines["Room 1"].new_members) == (1, 1)
    assert (lines["Room 2"].redemptions, lines["Room 2"].new_members, lines["Room 2"].placed) == (0, 2, 2)
    room = reports.classroom_report(Scope(org.admin, org), room2, ALL_TIME, today)
    assert (room.figures.redemptions, room.figures.new_members) == (0, 2)
    assert room.timeline.buckets[-1].start == date(today.year, today.month, 1)


def test_a_leader_counts_the_roster_placements_of_their_classroom(placed, make):
    org, room1, room2 = placed
    leo = make.user("Leo Leader")
    make.join(org, leo)
    orgs.add_leader(org.admin, room2, leo.id)
    db.session.commit()
    today = reports.today_in(org)
    report = reports.organization_report(Scope(leo, org), DAYS_30, today)
    assert (report.figures.redemptions, report.figures.new_members) == (0, 2)
    assert [(line.classroom.name, line.figures.new_members) for line in report.classrooms] == [("Room 2", 2)]


def test_a_new_time_zone_recounts_a_long_history(any_db_app):
    """A change of time zone counts every day again from the history: 1,800 days
    of one code and classroom, each redemption at midnight UTC, which is 01:00
    in Paris (or 02:00 in summer): each still its own day, every row equal to
    a count of the raw rows."""
    make = Factory()
    org = make.org(timezone="UTC")
    room = make.classroom(org)
    code = make.code(org, "LONG-HISTORY-2027", classrooms=[room])
    first = db.session.scalar(select(func.max(User.id)))
    days = 1_800
    db.session.execute(
        insert(User),
        [
            dict(name=f"P{n}", email=f"p{n}@long.example", email_key=f"p{n}@long.example", password_hash="!")
            for n in range(days)
        ],
    )
    users = db.session.scalars(select(User.id).where(User.id > first).order_by(User.id)).all()
    start = utcnow() - timedelta(days=days)
    db.session.execute(
        insert(Redemption),
        [
            dict(
                code_id=code.id,
                user_id=u,
                org_id=org.id,
                took_seat=True,
                created_at=start + timedelta(days=n),
            )
            for n, u in enumerate(users)
        ],
    )
    db.session.commit()
    orgs.update_organization(org.admin, org, org.name, "Europe/Paris", None, None)
    db.session.commit()
    assert len(stored(org.id)) == 3 * days
    assert stored(org.id) == recounted(org.id)


def test_the_report_page_says_how_many_new_members_a_roster_placed(placed, client):
    org, _, room2 = placed
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/reports"))
    figures = {
        name: page.find(id=f"fig-{name}").get_text(strip=True) for name in ("redemptions", "new", "existing")
    }
    assert figures == {"redemptions": "1", "new": "3", "existing": "0"}
    assert page.find(id="fig-placed").get_text(strip=True) == "2 placed by a roster"
    today = page.select("#org-chart-data tbody tr")[-1]
    assert [td.get_text(strip=True) for td in today.find_all("td")] == ["1", "3", "0"]
    room = soup(client.get(f"/classrooms/{room2.id}/reports"))
    assert room.find(id="fig-new").get_text(strip=True) == "2"
    assert room.find(id="fig-redemptions").get_text(strip=True) == "0"


def test_a_period_of_several_months_counts_as_its_days(any_db_app, monkeypatch):
    """The code and classroom tables of a long period read month rows for its
    whole months and day rows for its ends; they give what its days alone give,
    for an admin and for a leader, whatever day the period starts and ends on."""
    rng = random.Random(2027)
    make = Factory()
    org = make.org(timezone="America/New_York")
    rooms = [make.classroom(org, f"Room {n}") for n in range(3)]
    codes = [make.code(org, f"MONTHS-{n}-2027", classrooms=[rooms[n % 3]]) for n in range(4)]
    shared = make.code(org, "MONTHS-BOTH-2027", classrooms=rooms[:2])
    leo = make.user("Leo Leader")
    make.join(org, leo)
    orgs.add_leader(org.admin, rooms[1], leo.id)
    start = utcnow() - timedelta(days=130)
    for n in range(120):
        code = rng.choice([*codes, shared])
        redeem(make.user(f"Student {n}"), code.text, now=start + timedelta(hours=rng.randint(0, 130 * 24)))
        db.session.commit()
    today = reports.today_in(org)
    first = today - timedelta(days=130)
    windows = [
        (first, today + timedelta(days=1)),
        (first.replace(day=1), today.replace(day=1)),
        (first + timedelta(days=20), today - timedelta(days=9)),
        (today.replace(day=1), today + timedelta(days=1)),
    ]

    def tables(scope, window):
        lines = reports.code_lines(scope, None, window)
        rooms_ = reports.classroom_lines(scope, window)
        return (
            [(line.code.text, line.figures.redemptions, line.figures.redeemed_new) for line in lines],
            [(line.classroom.name, line.figures.redemptions, line.figures.redeemed_new) for line in rooms_],
        )

    scopes = [Scope(org.admin, org), Scope(leo, org)]
    read = {(s.admin, w): tables(s, w) for s in scopes for w in windows}
    assert any(len(reports._spans(w)) == 3 for w in windows)
    day_rows = ReportDay.__table__
    monkeypatch.setattr(reports, "_spans", lambda window: [(day_rows, day_rows.c.day, *window)])
    days = {(s.admin, w): tables(s, w) for s in scopes for w in windows}
    assert read == days
    assert sum(r for _, r, _ in days[(True, windows[0])][0]) == 120


def test_all_time_from_the_totals_gives_the_tables_its_days_give(any_db_app, monkeypatch):
    """ "All time"'s tables read the totals; they give what the day rows of every
    day give, in the same order (most redeemed first, ties by text, one code
    renamed), for an admin and for a leader, for the organization and for a
    classroom."""
    rng = random.Random(2028)
    make = Factory()
    org = make.org(timezone="Asia/Kolkata")
    rooms = [make.classroom(org, f"Room {n}") for n in range(3)]
    codes = [make.code(org, f"TOTAL-{n:02d}-2027", classrooms=[rooms[n % 3]]) for n in range(24)]
    codes.append(make.code(org, "TOTAL-BOTH-2027", classrooms=rooms[:2]))
    leo = make.user("Leo Leader")
    make.join(org, leo)
    orgs.add_leader(org.admin, rooms[1], leo.id)
    start = utcnow() - timedelta(days=400)
    for n in range(90):
        # Most codes used once or twice: ties at the table's last rows.
        code = codes[7] if n == 0 else rng.choice(codes[:3] * 6 + codes)
        redeem(make.user(f"Student {n}"), code.text, now=start + timedelta(hours=rng.randint(0, 400 * 24)))
        db.session.commit()
    upload_roster(
        org.admin,
        org,
        roster([("new1@example.org", "New One", "Room 1"), ("new2@example.org", "New Two", "Room 2")]),
    )
    db.session.commit()
    scope = Scope(org.admin, org)
    renamed = codes[7]
    update_code(
        org.admin,
        scope,
        renamed,
        CodeInput(text="TOTAL-AAA-2027", classroom_ids=[rooms[2].id, rooms[1].id], max_uses=None),
    )
    db.session.commit()
    today = reports.today_in(org)
    window = (date(2000, 1, 1), today + timedelta(days=1))

    def tables(scope, window):
        lines = [reports.code_lines(scope, room, window) for room in (None, *rooms)]
        return (
            [
                [(line.code.text, line.figures.redemptions, line.figures.redeemed_new) for line in ls]
                for ls in lines
            ],
            [
                (
                    line.classroom.name,
                    line.figures.redemptions,
                    line.figures.redeemed_new,
                    line.figures.placed,
                )
                for line in reports.classroom_lines(scope, window)
            ],
        )

    scopes = [scope, Scope(leo, org)]
    from_totals = [tables(s, None) for s in scopes]
    day_rows = ReportDay.__table__
    monkeypatch.setattr(reports, "_spans", lambda window: [(day_rows, day_rows.c.day, *window)])
    from_days = [tables(s, window) for s in scopes]
    assert from_totals == from_days
    admin_codes, leader_codes = from_totals[0][0][0], from_totals[1][0][0]
    assert len(admin_codes) == reports.MAX_TABLE_CODES and 0 < len(leader_codes) < len(admin_codes)
    assert admin_codes == sorted(admin_codes, key=lambda line: (-line[1], line[0]))
    assert admin_codes[-1][1] == admin_codes[-2][1], "the last rows tie"
    # The renamed code, in both its classrooms now, under its new text.
    assert all("TOTAL-AAA-2027" in [text for text, *_ in table] for table in from_totals[0][0][2:])
    assert [placed for *_, placed in from_totals[1][1]] == [1], "the leader's classroom, a roster's person"
