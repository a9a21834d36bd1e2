"""Limits hold exactly when many people redeem at once: real threads (conftest.at_once),
each with its own connection, against a SQLite file and against a PostgreSQL server.

The two databases prove different things. On SQLite the writers are serialized
by its one write lock: the racers read the code side by side (conftest.race runs
them inside database.reading_first, as the code box's reads_first view runs),
then queue for the lock at begin_writing and write one after another, so a pass
proves the code waits its turn and checks again, in the guarded UPDATE that
counts a use (codes.redeem.operations._COUNT_USE), what it read before: without
the guard's status check, test_fifty_students_race_for_ten_uses fails on both
databases (the 11th use breaks the table's check constraint). On PostgreSQL the
writers run side by side and queue only on row locks, so only there does a pass
prove the row locks (test_seats_concurrency.py says which one it was tried
without). CI runs both with CODES_REQUIRE_SERVICES=1, so the PostgreSQL runs
cannot be skipped."""

from sqlalchemy import func, select

from codes import database
from codes.extensions import db
from codes.models import Code, Organization, OrgMember, Redemption, User
from codes.redeem.operations import attempt_redeem
from conftest import Factory, at_once, count, race

THREADS = 50


def test_fifty_students_race_for_ten_uses(any_db_app):
    make = Factory()
    org = make.org()
    room = make.classroom(org)
    code = make.code(org, "RACE-TEN-2027", classrooms=[room], max_uses=10)
    ids = [make.user().id for _ in range(THREADS)]
    outcomes = race(any_db_app, [(i, "RACE-TEN-2027") for i in ids])
    assert outcomes.count("ok") == 10
    assert outcomes.count("used") == THREADS - 10
    db.session.expire_all()
    assert db.session.get(Code, code.id).uses == 10
    assert count(Redemption) == 10


def test_twenty_students_race_for_five_seats(any_db_app):
    make = Factory()
    org = make.org(seat_limit=5)
    room = make.classroom(org)
    make.code(org, "RACE-SEATS-2027", classrooms=[room])
    ids = [make.user().id for _ in range(20)]
    outcomes = race(any_db_app, [(i, "RACE-SEATS-2027") for i in ids])
    assert outcomes.count("ok") == 5
    assert outcomes.count("no_seats") == 15
    db.session.expire_all()
    assert count(OrgMember, OrgMember.is_student) == 5
    assert db.session.get(Organization, org.id).seats_taken == 5
    assert db.session.scalar(select(func.sum(Code.uses))) == 5


def test_one_student_two_codes_at_once_takes_one_seat(any_db_app):
    make = Factory()
    org = make.org(seat_limit=10)
    room = make.classroom(org)
    codes = [make.code(org, f"PAIR-{i}-2027", classrooms=[room]) for i in range(2)]
    student_id = make.user().id
    # As the code box's view runs it: attempt_redeem inside reading_first.
    took = at_once(
        any_db_app,
        lambda attempt: attempt_redeem(*attempt).took_seat,
        [c.text for c in codes],
        prepare=lambda text: (db.session.get(User, student_id), text),
        around=database.reading_first,
    )
    assert sorted(took) == [False, True]
    db.session.expire_all()
    assert db.session.get(Organization, org.id).seats_taken == 1
