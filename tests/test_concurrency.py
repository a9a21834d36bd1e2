"""Limits hold exactly when many people redeem at once: real threads, each with its
own connection, against SQLite and against a PostgreSQL server."""
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from codes.extensions import db
from codes.models import Code, Organization, OrgMember, Redemption
from codes.redeem.operations import redeem
from conftest import Factory, race

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
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 10


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
    students = select(func.count()).select_from(OrgMember).where(OrgMember.is_student)
    assert db.session.scalar(students) == 5
    assert db.session.get(Organization, org.id).seats_taken == 5
    assert db.session.scalar(select(func.sum(Code.uses))) == 5


def test_one_student_two_codes_at_once_takes_one_seat(any_db_app):
    make = Factory()
    org = make.org(seat_limit=10)
    room = make.classroom(org)
    codes = [make.code(org, f"PAIR-{i}-2027", classrooms=[room]) for i in range(2)]
    student_id = make.user().id
    texts = [c.text for c in codes]
    db.session.rollback()
    barrier = threading.Barrier(2)

    def one(text):
        with any_db_app.app_context():
            from codes.models import User
            user = db.session.get(User, student_id)
            db.session.rollback()
            barrier.wait()
            result = redeem(user, text)
            db.session.commit()
            db.session.remove()
            return result.took_seat

    with ThreadPoolExecutor(max_workers=2) as pool:
        took = list(pool.map(one, texts))
    assert sorted(took) == [False, True]
    db.session.expire_all()
    assert db.session.get(Organization, org.id).seats_taken == 1
