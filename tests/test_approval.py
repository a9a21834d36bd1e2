"""Approval mode, the leak guard and rotation (docs/APPROVAL.md), called as domain
functions. The races are in tests/test_approval_concurrency.py."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from codes import keys
from codes.approval import operations as approval
from codes.codetext import canonical
from codes.extensions import db
from codes.manage import operations as manage
from codes.models import (
    ACCEPTED,
    DECLINED,
    PENDING,
    REFUSED,
    SPIKE_DOMAIN,
    SPIKE_RATE,
    AuditEvent,
    ClassroomMember,
    Code,
    Enrollment,
    JoinRequest,
    Organization,
    OrgMember,
    Redemption,
)
from codes.redeem.operations import RedeemRefused, attempt_redeem, redeem
from codes.users.operations import remove_from_classroom
from conftest import count

NOW = datetime(2027, 3, 1, 12, 0)


def refused(user, text, now=NOW):
    with pytest.raises(RedeemRefused) as info:
        redeem(user, text, now)
    db.session.rollback()
    return info.value


def actions():
    return [a for a in db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))]


@pytest.fixture
def world(make):
    org = make.org(seat_limit=100)
    algebra = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A", courses=[algebra])
    code = make.code(org, "WAIT-FOR-US-2027", classrooms=[room], approval=True)
    return org, room, algebra, code


def request_of(code, user):
    return db.session.scalar(
        select(JoinRequest).where(JoinRequest.code_id == code.id, JoinRequest.user_id == user.id)
    )


def test_a_redemption_of_a_code_in_approval_mode_waits_and_counts_nothing(world, make):
    org, room, algebra, code = world
    student = make.user()
    result = redeem(student, "wait-for-us-2027", NOW)
    db.session.commit()
    assert result.pending and result.outcome == "requested"
    assert "waiting for approval" in result.message
    db.session.expire_all()
    assert db.session.get(Code, code.id).uses == 0
    assert db.session.get(Organization, org.id).seats_taken == 0
    assert (
        count(ClassroomMember) == 0 and count(Redemption) == 0 and count(OrgMember, OrgMember.is_student) == 0
    )
    assert request_of(code, student).state == PENDING


def test_asking_again_piles_up_no_second_request(world, make):
    _, _, _, code = world
    student = make.user()
    redeem(student, "WAIT-FOR-US-2027", NOW)
    db.session.commit()
    again = redeem(student, "WAIT-FOR-US-2027", NOW + timedelta(minutes=5))
    db.session.commit()
    assert again.pending and again.asked_before
    assert "already" in again.message
    assert count(JoinRequest) == 1


def test_accepting_places_counts_the_use_and_takes_the_seat(world, make):
    org, room, algebra, code = world
    student = make.user()
    attempt_redeem(student, "WAIT-FOR-US-2027", NOW)
    db.session.commit()
    decision = approval.accept(org.admin, request_of(code, student), NOW + timedelta(hours=1))
    db.session.commit()
    assert decision.state == ACCEPTED
    db.session.expire_all()
    assert db.session.get(Code, code.id).uses == 1
    assert db.session.get(Organization, org.id).seats_taken == 1
    assert count(ClassroomMember, ClassroomMember.user_id == student.id) == 1
    assert count(Enrollment, Enrollment.course_id == algebra.id) == 1
    redemption = db.session.scalar(select(Redemption))
    assert redemption.through_request and redemption.took_seat
    assert request_of(code, student).decided_by_id == org.admin.id
    assert "redeem.requested" in actions() and "request.accept" in actions()
    # Answered once: a second accept does nothing more.
    assert approval.accept(org.admin, request_of(code, student), NOW).state == ""
    db.session.commit()
    assert db.session.get(Code, code.id).uses == 1
    # Typing the code now: already in.
    assert redeem(student, "WAIT-FOR-US-2027", NOW).already


def test_a_declined_request_stays_declined_and_the_code_says_so(world, make):
    org, _, _, code = world
    student = make.user()
    redeem(student, "WAIT-FOR-US-2027", NOW)
    db.session.commit()
    assert approval.decline(org.admin, request_of(code, student), NOW).state == DECLINED
    db.session.commit()
    refusal = refused(student, "WAIT-FOR-US-2027")
    assert refusal.outcome == "declined"
    assert "declined your request" in refusal.message
    assert count(JoinRequest) == 1 and count(Redemption) == 0
    assert "request.decline" in actions()
    [mine] = approval.my_requests(student)
    assert mine.state == DECLINED


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda code: setattr(code, "enabled", False), "not active right now"),
        (lambda code: setattr(code, "deactivated_at", NOW), "no longer valid"),
        (lambda code: setattr(code, "valid_until", NOW), "expired"),
        (lambda code: setattr(code, "allowed_domains", "school.org"), "@school.org"),
        (lambda code: setattr(code, "deleted_at", NOW), "no longer valid"),
    ],
    ids=["off", "deactivated", "expired", "domain", "deleted"],
)
def test_acceptance_checks_the_code_again_and_says_why_not(world, make, change, words):
    org, _, _, code = world
    student = make.user()
    redeem(student, "WAIT-FOR-US-2027", NOW)
    db.session.commit()
    change(db.session.get(Code, code.id))
    db.session.commit()
    decision = approval.accept(org.admin, request_of(code, student), NOW + timedelta(hours=1))
    db.session.commit()
    assert decision.state == REFUSED and words in decision.reason
    db.session.expire_all()
    assert db.session.get(Code, code.id).uses == 0
    assert count(Redemption) == 0 and count(ClassroomMember) == 0
    assert db.session.get(Organization, org.id).seats_taken == 0
    [mine] = approval.my_requests(student)
    assert mine.state == REFUSED and words in mine.reason


def test_a_refused_request_may_be_made_again_once_the_code_works(world, make):
    org, _, _, code = world
    student = make.user()
    redeem(student, "WAIT-FOR-US-2027", NOW)
    db.session.get(Code, code.id).enabled = False
    db.session.commit()
    approval.accept(org.admin, request_of(code, student), NOW)
    db.session.commit()
    db.session.get(Code, code.id).enabled = True
    db.session.commit()
    assert redeem(student, "WAIT-FOR-US-2027", NOW).pending
    db.session.commit()
    assert request_of(code, student).state == PENDING
    assert count(JoinRequest) == 1


def test_accept_all_stops_at_max_uses_and_at_the_seats(make):
    org = make.org(seat_limit=3)
    room = make.classroom(org)
    code = make.code(org, "FOUR-ONLY-2027", classrooms=[room], approval=True, max_uses=4)
    people = [make.user() for _ in range(6)]
    for i, person in enumerate(people):
        redeem(person, "FOUR-ONLY-2027", NOW + timedelta(seconds=i))
        db.session.commit()
    decisions = approval.accept_all(org.admin, code, NOW + timedelta(hours=1))
    db.session.commit()
    assert [d.state for d in decisions] == [ACCEPTED] * 3 + [REFUSED] * 3
    assert all("no seats left" in d.reason for d in decisions[3:])
    db.session.expire_all()
    assert db.session.get(Code, code.id).uses == 3
    assert db.session.get(Organization, org.id).seats_taken == 3


def test_decline_all_declines_every_one_waiting(world, make):
    org, _, _, code = world
    for _ in range(3):
        redeem(make.user(), "WAIT-FOR-US-2027", NOW)
        db.session.commit()
    decisions = approval.decline_all(org.admin, code, NOW)
    db.session.commit()
    assert [d.state for d in decisions] == [DECLINED] * 3
    assert approval.queue(code).total == 0
    assert actions().count("request.decline") == 3


# -- the leak guard -----------------------------------------------------------------


@pytest.fixture
def guarded(make):
    org = make.org()
    room = make.classroom(org)
    code = make.code(org, "GUARD-ME-2027", classrooms=[room], hourly_limit=3)
    return org, room, code


def test_the_redemption_past_the_hourly_limit_waits_and_switches_the_code(guarded, make):
    org, room, code = guarded
    for i in range(3):
        assert redeem(make.user(), "GUARD-ME-2027", NOW + timedelta(minutes=i)).outcome == "ok"
        db.session.commit()
    assert not db.session.get(Code, code.id).approval
    fourth = make.user()
    result = redeem(fourth, "GUARD-ME-2027", NOW + timedelta(minutes=10))
    db.session.commit()
    assert result.pending
    db.session.expire_all()
    guarded_code = db.session.get(Code, code.id)
    assert guarded_code.approval and guarded_code.spike_reason == SPIKE_RATE
    # The spike began with the first redemption of that hour.
    assert guarded_code.spike_at == NOW
    assert guarded_code.uses == 3 and count(Redemption) == 3
    assert request_of(code, fourth).state == PENDING
    assert "code.spike" in actions()
    assert [j.user.id for j in approval.joined_since_spike(approval_scope(org), guarded_code)] == [2, 3, 4]


def approval_scope(org):
    from codes.access import Scope

    return Scope(org.admin, org)


def test_redemptions_older_than_an_hour_do_not_count(guarded, make):
    _, _, code = guarded
    for i in range(3):
        redeem(make.user(), "GUARD-ME-2027", NOW + timedelta(minutes=i))
        db.session.commit()
    later = NOW + timedelta(minutes=61)
    assert redeem(make.user(), "GUARD-ME-2027", later).outcome == "ok"
    db.session.commit()
    assert not db.session.get(Code, code.id).approval


def test_accepted_requests_are_not_counted_as_arrivals(guarded, make):
    org, _, code = guarded
    db.session.get(Code, code.id).approval = True
    db.session.commit()
    people = [make.user() for _ in range(3)]
    for person in people:
        redeem(person, "GUARD-ME-2027", NOW)
        db.session.commit()
    approval.accept_all(org.admin, code, NOW)
    db.session.get(Code, code.id).approval = False
    db.session.commit()
    assert redeem(make.user(), "GUARD-ME-2027", NOW + timedelta(minutes=1)).outcome == "ok"


def test_an_unexpected_email_domain_switches_the_code_to_approval(make):
    org = make.org()
    room = make.classroom(org)
    code = make.code(org, "OUR-KIDS-2027", classrooms=[room], expected_text="@school.org")
    ours = make.user(email="kid@school.org")
    unverified = make.user(email="kid2@school.org", verified=False)
    assert redeem(ours, "OUR-KIDS-2027", NOW).outcome == "ok"
    db.session.commit()
    assert redeem(unverified, "OUR-KIDS-2027", NOW + timedelta(minutes=1)).pending
    db.session.commit()
    db.session.expire_all()
    switched = db.session.get(Code, code.id)
    assert switched.approval and switched.spike_reason == SPIKE_DOMAIN
    assert switched.spike_at == NOW + timedelta(minutes=1)
    assert switched.uses == 1


def test_guard_settings_are_checked_as_staff_type_them(make):
    org = make.org()
    room = make.classroom(org)
    data = manage.CodeInput(
        text="SOME-CODE-2027", classroom_ids=[room.id], hourly_limit=0, expected_text="nope"
    )
    with pytest.raises(manage.FieldErrors) as info:
        manage.create_code(org.admin, approval_scope(org), data)
    db.session.rollback()
    assert set(info.value.errors) == {"hourly_limit", "expected_domains"}


# -- rotation ---------------------------------------------------------------------------


def test_rotating_gives_a_new_text_and_the_old_one_is_no_longer_valid(guarded, make):
    org, room, code = guarded
    redeem(make.user(), "GUARD-ME-2027", NOW)
    db.session.commit()
    approval.rotate(org.admin, db.session.get(Code, code.id), NOW)
    db.session.commit()
    rotated = db.session.get(Code, code.id)
    assert rotated.text != "GUARD-ME-2027" and rotated.uses == 1
    refusal = refused(make.user(), "guard me 2027")
    assert refusal.outcome == "invalid" and "replaced by a new one" in refusal.message
    assert redeem(make.user(), rotated.text, NOW).outcome == "ok"
    db.session.commit()
    # The old text stays taken, site-wide.
    assert keys.is_taken(canonical("GUARD-ME-2027"))
    with pytest.raises(manage.FieldErrors):
        manage.create_code(
            org.admin, approval_scope(org), manage.CodeInput(text="GUARD-ME-2027", classroom_ids=[room.id])
        )
    db.session.rollback()
    assert "code.rotate" in actions()


def test_removing_someone_who_joined_since_the_spike(guarded, make):
    org, room, code = guarded
    people = [make.user() for _ in range(4)]
    for i, person in enumerate(people):
        redeem(person, "GUARD-ME-2027", NOW + timedelta(minutes=i))
        db.session.commit()
    leaked = db.session.get(Code, code.id)
    joined = approval.joined_since_spike(approval_scope(org), leaked)
    assert [j.user.id for j in joined] == [p.id for p in people[:3]]
    assert [c.id for c in joined[0].classrooms] == [room.id]
    remove_from_classroom(org.admin, approval_scope(org), people[0], room)
    db.session.commit()
    assert count(ClassroomMember, ClassroomMember.user_id == people[0].id) == 0
    assert approval.joined_since_spike(approval_scope(org), leaked)[0].classrooms == []
    approval.dismiss_spike(org.admin, leaked)
    db.session.commit()
    assert approval.joined_since_spike(approval_scope(org), leaked) == []


def test_a_batch_made_in_approval_mode_makes_every_code_ask(make):
    from codes.bulk.operations import BatchInput, generate_batch

    org = make.org()
    room = make.classroom(org)
    batch = generate_batch(
        org.admin, approval_scope(org), BatchInput(classroom_ids=[room.id], count=3, approval=True)
    )
    db.session.commit()
    texts = db.session.scalars(select(Code.text).where(Code.batch_id == batch.id)).all()
    assert len(texts) == 3 and all(
        db.session.scalar(select(Code.approval).where(Code.text == t)) for t in texts
    )
    assert redeem(make.user(), texts[0], NOW).pending
