"""The redemption rules of DESIGN.md, called as domain functions."""

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from codes import status
from codes.extensions import db
from codes.manage import operations as manage
from codes.models import (
    ROLE_STUDENT,
    ClassroomLeader,
    ClassroomMember,
    Code,
    CourseInstructor,
    Enrollment,
    Organization,
    OrgMember,
    Redemption,
)
from codes.redeem.operations import RedeemRefused, attempt_redeem, redeem
from codes.timeutil import to_utc
from conftest import count

NOW = datetime(2027, 3, 1, 12, 0)


def refused(user, text, now=NOW):
    with pytest.raises(RedeemRefused) as info:
        redeem(user, text, now)
    db.session.rollback()
    return info.value


@pytest.fixture
def world(make):
    org = make.org(seat_limit=100)
    algebra = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A", courses=[algebra])
    student = make.user("Sam Student", "sam@school.org")
    return org, room, algebra, student


def test_success_places_and_enrolls(world, make):
    org, room, algebra, student = world
    biology = make.course(org, "Biology")
    code = make.code(org, "JOIN-9A-2027", classrooms=[room], courses=[biology])
    result = redeem(student, "join 9a 2027", NOW)
    db.session.commit()
    assert result.message == "You joined Room 9A, Algebra, Biology."
    assert count(ClassroomMember, ClassroomMember.user_id == student.id) == 1
    assert {e.course_id for e in db.session.scalars(select(Enrollment))} == {algebra.id, biology.id}
    assert db.session.get(Code, code.id).uses == 1
    member = db.session.scalar(select(OrgMember).where(OrgMember.user_id == student.id))
    assert member.is_student and member.took_seat
    assert db.session.get(type(org), org.id).seats_taken == 1


def test_a_code_of_several_classrooms_and_courses_places_in_each_once(world, make):
    """Classrooms sharing a course, and a course of the code's own that is also a
    classroom's: every place once, the seat counted once, the message by name."""
    org, room, algebra, student = world
    biology, chemistry = make.course(org, "Biology"), make.course(org, "Chemistry")
    lab = make.classroom(org, "Lab 2", courses=[algebra, chemistry])
    make.code(org, "TWO-ROOMS-2027", classrooms=[room, lab], courses=[biology, chemistry])
    result = redeem(student, "TWO-ROOMS-2027", NOW)
    db.session.commit()
    assert result.message == "You joined Lab 2, Room 9A, Algebra, Biology, Chemistry."
    assert {m.classroom_id for m in db.session.scalars(select(ClassroomMember))} == {room.id, lab.id}
    assert sorted(e.course_id for e in db.session.scalars(select(Enrollment))) == sorted(
        [algebra.id, biology.id, chemistry.id]
    )
    assert db.session.get(type(org), org.id).seats_taken == 1
    again = redeem(student, "TWO-ROOMS-2027", NOW)
    assert again.message == "You're already in Lab 2, Room 9A, Biology, Chemistry."


def test_unknown_code(world):
    *_, student = world
    for text in ["NOPE-NOPE-NOPE", "", "   ", "x" * 5000, "日本語のコード"]:
        assert refused(student, text).message == "We don't recognize that code. Check it and try again."


def test_deleted_and_deactivated_codes_are_no_longer_valid(world, make):
    org, room, _, student = world
    gone = make.code(org, "GONE-CODE-2027", classrooms=[room])
    dead = make.code(org, "DEAD-CODE-2027", classrooms=[room])
    manage.delete_code(org.admin, gone)
    manage.deactivate(org.admin, dead)
    db.session.commit()
    for text in ("GONE-CODE-2027", "dead code 2027"):
        error = refused(student, text)
        assert error.outcome == "invalid"
        assert "no longer valid" in error.message and "new one" in error.message


def test_off_code_is_not_active_now(world, make):
    org, room, _, student = world
    code = make.code(org, "PAUSED-2027", classrooms=[room])
    manage.set_enabled(org.admin, code, False)
    db.session.commit()
    assert "not active right now" in refused(student, "PAUSED-2027").message


def test_scheduled_code_says_when_it_opens(world, make):
    org, room, _, student = world
    make.code(org, "LATER-2027", classrooms=[room], valid_from=datetime(2027, 9, 1))
    message = refused(student, "LATER-2027").message
    assert "not active yet" in message and "2027-09-01" in message


def test_expired_code(world, make):
    org, room, _, student = world
    make.code(org, "OLD-CODE-2027", classrooms=[room], valid_until=datetime(2027, 2, 1, 23, 59, 59))
    message = refused(student, "OLD-CODE-2027").message
    assert "not active any more" in message and "2027-02-01" in message


def test_used_up_code(world, make):
    org, room, _, student = world
    make.code(org, "ONCE-ONLY-27", classrooms=[room], max_uses=1)
    redeem(make.user(), "ONCE-ONLY-27", NOW)
    db.session.commit()
    error = refused(student, "ONCE-ONLY-27")
    assert error.outcome == "used" and "reached its limit" in error.message


def test_email_domain_rule(world, make):
    org, room, _, student = world
    make.code(org, "STAFF-ONLY-27", classrooms=[room], domains_text="@Teachers.org, school.org")
    outsider = make.user(email="kim@gmail.com")
    message = refused(outsider, "STAFF-ONLY-27").message
    assert "@teachers.org or @school.org" in message
    unverified = make.user(email="new@school.org", verified=False)
    message = refused(unverified, "STAFF-ONLY-27").message
    assert "verif" in message.lower() and "@school.org" in message
    assert redeem(student, "STAFF-ONLY-27", NOW).outcome == "ok"


def test_no_seats_left_changes_nothing(make):
    org = make.org(seat_limit=1)
    room = make.classroom(org)
    code = make.code(org, "TWO-SEATS-2027", classrooms=[room])
    redeem(make.user(), code.text, NOW)
    db.session.commit()
    late = make.user()
    error = refused(late, code.text)
    assert error.outcome == "no_seats"
    assert error.message == "Oak School has no seats left. Contact its administrator."
    assert db.session.get(Code, code.id).uses == 1
    assert count(Redemption) == 1
    assert count(OrgMember, OrgMember.user_id == late.id) == 0


def test_already_redeemed_counts_nothing_twice(world, make):
    org, room, _, student = world
    code = make.code(org, "TWICE-2027", classrooms=[room], max_uses=5)
    redeem(student, "TWICE-2027", NOW)
    db.session.commit()
    again = redeem(student, "twice 2027", NOW)
    db.session.commit()
    assert again.already and again.message == "You're already in Room 9A."
    assert db.session.get(Code, code.id).uses == 1
    assert count(Redemption) == 1
    assert db.session.get(type(org), org.id).seats_taken == 1


def test_second_code_of_same_org_takes_no_second_seat(world, make):
    org, room, algebra, student = world
    make.code(org, "FIRST-2027", classrooms=[room])
    make.code(org, "SECOND-2027", courses=[algebra])
    assert redeem(student, "FIRST-2027", NOW).took_seat
    second = redeem(student, "SECOND-2027", NOW)
    db.session.commit()
    assert not second.took_seat
    assert db.session.get(type(org), org.id).seats_taken == 1


def test_staff_membership_takes_no_seat_until_a_student_code(world, make):
    org, room, algebra, _ = world
    teacher = make.user()
    make.course(org, "Chemistry", instructors=[teacher])
    member = db.session.scalar(select(OrgMember).where(OrgMember.user_id == teacher.id))
    assert not member.is_student and not member.took_seat, "staff, not a student"
    assert db.session.get(type(org), org.id).seats_taken == 0
    code = make.code(org, "ROOM-9A-STUDENTS", classrooms=[room])
    assert code.role == ROLE_STUDENT
    result = redeem(teacher, code.text, NOW)
    db.session.commit()
    assert result.took_seat and result.message == "You joined Room 9A, Algebra."
    db.session.refresh(member)
    assert member.is_student and member.took_seat
    assert db.session.get(type(org), org.id).seats_taken == 1


def test_teacher_code_makes_a_leader_and_instructor_without_a_seat(world, make):
    org, room, algebra, _ = world
    make.code(org, "SUB-TEACH-2027", classrooms=[room], courses=[algebra], role="teacher")
    sub = make.user("Substitute")
    result = redeem(sub, "SUB-TEACH-2027", NOW)
    db.session.commit()
    assert result.message == "You now teach Room 9A, Algebra."
    assert count(ClassroomLeader, ClassroomLeader.user_id == sub.id) == 1
    assert count(CourseInstructor, CourseInstructor.user_id == sub.id) == 1
    assert count(ClassroomMember, ClassroomMember.user_id == sub.id) == 0
    assert db.session.get(type(org), org.id).seats_taken == 0


def test_status_order_first_that_applies(world, make):
    org, room, _, _ = world
    code = make.code(org, "STATUS-2027", classrooms=[room], max_uses=1)
    assert status.code_status(code, NOW) == status.ACTIVE
    code.valid_from = NOW + timedelta(days=1)
    assert status.code_status(code, NOW) == status.SCHEDULED
    code.enabled = False
    assert status.code_status(code, NOW) == status.OFF
    code.uses = 1
    assert status.code_status(code, NOW) == status.USED
    code.valid_until = NOW - timedelta(seconds=1)
    assert status.code_status(code, NOW) == status.EXPIRED
    code.deactivated_at = NOW
    assert status.code_status(code, NOW) == status.DEACTIVATED
    db.session.rollback()


def test_dates_at_the_edges_in_the_org_time_zone(make):
    org = make.org(timezone="America/New_York")
    room = make.classroom(org)
    # Valid from 1 March and until 30 June 2027, whole days in New York (EDT = UTC-4 in June).
    starts = to_utc(org, date(2027, 3, 1))
    ends = to_utc(org, date(2027, 6, 30), end_of_day=True)
    assert starts == datetime(2027, 3, 1, 5, 0)  # EST = UTC-5 in March
    code = make.code(org, "EDGE-DATES-27", classrooms=[room], valid_from=starts, valid_until=ends)
    assert status.code_status(code, datetime(2027, 3, 1, 4, 59, 59)) == status.SCHEDULED
    assert status.code_status(code, datetime(2027, 3, 1, 5, 0)) == status.ACTIVE
    assert status.code_status(code, datetime(2027, 7, 1, 3, 59, 59)) == status.ACTIVE
    assert status.code_status(code, datetime(2027, 7, 1, 4, 0, 0)) == status.EXPIRED
    assert redeem(make.user(), code.text, datetime(2027, 7, 1, 3, 59, 59)).outcome == "ok"
    db.session.commit()
    assert "2027-06-30" in refused(make.user(), code.text, datetime(2027, 7, 1, 4, 0)).message


def test_failed_attempts_are_limited_per_account_then_per_address(app, make):
    app.config.update(REDEEM_FAILURES_PER_ACCOUNT=3, ADDRESS_FAILURES_SHARED=4, ADDRESS_FAILURES_HOSTILE=5)
    org = make.org()
    make.code(org, "REAL-CODE-2027", classrooms=[make.classroom(org)])
    guesser = make.user()

    def attempt(user, text, ip, now=NOW):
        with app.test_request_context(method="POST", environ_base={"REMOTE_ADDR": ip}):
            try:
                return attempt_redeem(user, text, now)
            finally:
                db.session.commit()

    for i in range(3):
        with pytest.raises(RedeemRefused):
            attempt(guesser, f"GUESS-{i}", "10.0.0.1")
    with pytest.raises(RedeemRefused) as info:
        attempt(guesser, "REAL-CODE-2027", "10.0.0.9")
    assert info.value.outcome == "limited" and "Wait 15 minutes" in info.value.message
    assert "from your account" in info.value.message
    # Two more guesses from other accounts on the same address reach its hostile
    # limit of 5: then even an account that never failed waits there.
    for i in range(2):
        with pytest.raises(RedeemRefused):
            attempt(make.user(), f"OTHER-{i}", "10.0.0.1")
    with pytest.raises(RedeemRefused) as info:
        attempt(make.user(), "REAL-CODE-2027", "10.0.0.1")
    assert info.value.outcome == "limited" and "from many accounts" in info.value.message
    # Another account on another address is not held back by either.
    assert attempt(make.user(), "REAL-CODE-2027", "10.0.0.2").outcome == "ok"
    # Once the windows have passed, the guesser may try again.
    assert attempt(guesser, "REAL-CODE-2027", "10.0.0.1", NOW + timedelta(minutes=61)).outcome == "ok"


def test_a_code_whose_targets_were_all_deleted_is_no_longer_valid(world, make):
    from codes.orgs import operations as orgs

    org, room, algebra, student = world
    lonely = make.classroom(org, "Room Gone")
    make.code(org, "ORPHAN-CODE-27", classrooms=[lonely])
    orgs.delete_classroom(org.admin, lonely)
    db.session.commit()
    error = refused(student, "ORPHAN-CODE-27")
    assert error.outcome == "invalid" and "no longer valid" in error.message
    assert db.session.get(type(org), org.id).seats_taken == 0


def test_a_student_taken_out_of_a_classroom_is_told_so_by_its_code_and_not_put_back(world, make):
    from codes.access import Scope
    from codes.users.operations import remove_from_classroom

    org, room, algebra, student = world
    code = make.code(org, "ROOM-9A-2027", classrooms=[room])
    redeem(student, code.text, NOW)
    remove_from_classroom(org.admin, Scope(org.admin, org), student, room)
    db.session.commit()
    error = refused(student, code.text)
    assert error.outcome == "left"
    assert "you are no longer in Room 9A" in error.message and "ask them" in error.message
    assert count(ClassroomMember, ClassroomMember.user_id == student.id) == 0
    assert db.session.get(Code, code.id).uses == 1
    assert db.session.get(Organization, org.id).seats_taken == 1


def test_a_code_for_places_one_is_in_already_counts_no_use(world, make):
    org, room, algebra, student = world
    first = make.code(org, "ROOM-9A-FIRST", classrooms=[room])
    second = make.code(org, "ROOM-9A-SECOND", classrooms=[room], max_uses=1)
    redeem(student, first.text, NOW)
    db.session.commit()
    result = redeem(student, second.text, NOW)
    db.session.commit()
    assert result.already and result.message == "You're already in Room 9A."
    assert db.session.get(Code, second.id).uses == 0, "the one use is still there for someone else"
    assert count(Redemption, Redemption.code_id == second.id) == 0
    # A code that gives something more (a course) is redeemed as ever.
    biology = make.course(org, "Biology")
    third = make.code(org, "ROOM-9A-BIOLOGY", classrooms=[room], courses=[biology])
    assert not redeem(student, third.text, NOW).already
