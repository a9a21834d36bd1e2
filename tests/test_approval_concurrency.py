"""Approval mode and the leak guard hold exactly when many people redeem and many
staff accept at once: real threads (conftest.at_once), each with its own
connection, on SQLite and on PostgreSQL (what each proves: test_concurrency.py)."""

from datetime import timedelta

from sqlalchemy import select

from codes import database
from codes.approval import operations as approval
from codes.extensions import db
from codes.models import (
    ACCEPTED,
    PENDING,
    REFUSED,
    SPIKE_SURGE,
    AuditEvent,
    Code,
    JoinRequest,
    Organization,
    OrgMember,
    Redemption,
    User,
    utcnow,
)
from codes.redeem.operations import redeem
from codes.seats.operations import set_allotment
from conftest import Factory, at_once, count, race

THREADS = 50


def accept_all_at_once(app, staff_ids, code_id):
    """Each of the staff presses "Accept all" at the same moment."""
    return at_once(
        app,
        lambda ready: approval.accept_all(*ready),
        staff_ids,
        prepare=lambda staff_id: (db.session.get(User, staff_id), db.session.get(Code, code_id)),
        around=database.reading_first,
    )


def test_fifty_ask_for_ten_uses_and_two_staff_accept_all_at_once(any_db_app):
    make = Factory()
    org = make.org(seat_limit=100)
    leader = make.user(name="Leader")
    room = make.classroom(org, leaders=[leader])
    code = make.code(org, "ASK-TEN-2027", classrooms=[room], max_uses=10, approval=True)
    ids = [make.user().id for _ in range(THREADS)]
    outcomes = race(any_db_app, [(i, "ASK-TEN-2027") for i in ids])
    assert outcomes == ["requested"] * THREADS
    assert count(JoinRequest, JoinRequest.state == PENDING) == THREADS
    assert db.session.get(Code, code.id).uses == 0
    decided = accept_all_at_once(any_db_app, [org.admin.id, leader.id], code.id)
    states = [d.state for decisions in decided for d in decisions]
    assert states.count(ACCEPTED) == 10
    assert states.count(REFUSED) == THREADS - 10
    db.session.expire_all()
    assert db.session.get(Code, code.id).uses == 10
    assert count(Redemption) == 10
    assert db.session.get(Organization, org.id).seats_taken == 10
    assert count(JoinRequest, JoinRequest.state == ACCEPTED) == 10
    assert count(JoinRequest, JoinRequest.state == REFUSED) == THREADS - 10
    assert count(JoinRequest, JoinRequest.state == PENDING) == 0


def test_two_staff_accepting_at_once_take_no_more_seats_than_the_allotment(any_db_app):
    make = Factory()
    org = make.org(seat_limit=100)
    room = make.classroom(org)
    set_allotment(org.admin, room, 7)
    db.session.commit()
    code = make.code(org, "ASK-SEVEN-2027", classrooms=[room], approval=True)
    ids = [make.user().id for _ in range(30)]
    race(any_db_app, [(i, "ASK-SEVEN-2027") for i in ids])
    second = make.user(name="Second admin")
    make.join(org, second)
    db.session.scalar(select(OrgMember).where(OrgMember.user_id == second.id)).is_admin = True
    db.session.commit()
    decided = accept_all_at_once(any_db_app, [org.admin.id, second.id], code.id)
    states = [d.state for decisions in decided for d in decisions]
    assert states.count(ACCEPTED) == 7
    db.session.expire_all()
    assert db.session.get(Organization, org.id).seats_taken == 7
    assert db.session.get(Code, code.id).uses == 7


def test_one_person_asking_many_times_at_once_makes_one_request(any_db_app):
    make = Factory()
    org = make.org()
    room = make.classroom(org)
    make.code(org, "ASK-ONCE-2027", classrooms=[room], approval=True)
    student_id = make.user().id
    outcomes = race(any_db_app, [(student_id, "ASK-ONCE-2027")] * 8)
    assert outcomes == ["requested"] * 8
    assert count(JoinRequest) == 1


def test_the_spike_switches_the_code_at_exactly_the_hourly_limit(any_db_app):
    make = Factory()
    org = make.org()
    room = make.classroom(org)
    code = make.code(org, "SPIKE-TEN-2027", classrooms=[room], hourly_limit=10)
    ids = [make.user().id for _ in range(30)]
    outcomes = race(any_db_app, [(i, "SPIKE-TEN-2027") for i in ids])
    assert outcomes.count("ok") == 10
    assert outcomes.count("requested") == 20
    db.session.expire_all()
    switched = db.session.get(Code, code.id)
    assert switched.approval and switched.spike_at is not None
    assert switched.uses == 10 and count(Redemption) == 10
    assert count(JoinRequest, JoinRequest.state == PENDING) == 20
    assert switched.spike_at <= utcnow()


def test_the_usual_rate_guard_switches_the_code_at_exactly_its_threshold(any_db_app):
    """36 redemptions over the 24 h 50 min before the hour: a usual 1.45 an hour,
    ten times which is 14.5. Thirty at once: exactly 14 join and 16 wait, and the
    code switches once."""
    make = Factory()
    org = make.org()
    room = make.classroom(org)
    code = make.code(org, "SURGE-2027", classrooms=[room])
    start = utcnow()
    past = [start - timedelta(hours=25, minutes=50)] + [start - timedelta(hours=2)] * 35
    for at in past:
        redeem(make.user(), "SURGE-2027", at)
        db.session.commit()
    db.session.get(Code, code.id).surge_guard = True
    db.session.commit()
    ids = [make.user().id for _ in range(30)]
    outcomes = race(any_db_app, [(i, "SURGE-2027") for i in ids])
    assert outcomes.count("ok") == 14
    assert outcomes.count("requested") == 16
    db.session.expire_all()
    switched = db.session.get(Code, code.id)
    assert switched.approval and switched.spike_reason == SPIKE_SURGE
    assert switched.spike_count == 15 and round(switched.spike_usual, 2) == 1.45
    assert switched.uses == 36 + 14 and count(Redemption) == 36 + 14
    assert count(JoinRequest, JoinRequest.state == PENDING) == 16
    assert count(AuditEvent, AuditEvent.action == "code.spike") == 1
