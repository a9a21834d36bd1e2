"""Parent codes and parent links (DESIGN.md "Parents", docs/PARENTS.md), called as
domain functions."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from codes import access, attempts, keys
from codes.access import Scope
from codes.errors import DomainError, FieldErrors
from codes.extensions import db
from codes.joincodes.operations import change_join_code
from codes.models import AuditEvent, ParentCode, ParentLink, User
from codes.parents import operations as parents
from codes.redeem.operations import PARENT_CODE, RedeemRefused, attempt_redeem, redeem
from conftest import Factory, at_once, count

NOW = datetime(2027, 3, 1, 12, 0)


def refused(parent, text, now=NOW):
    with pytest.raises(parents.LinkRefused) as info:
        parents.link_parent(parent, text, now)
    db.session.rollback()
    return info.value


@pytest.fixture
def world(make):
    org = make.org(name="Oak School")
    algebra = make.course(org, "Algebra")
    biology = make.course(org, "Biology")
    leader = make.user("Leo Leader")
    room = make.classroom(org, "Room 9A", courses=[algebra], leaders=[leader])
    student = make.user("Sam Student")
    redeem(student, room.join_code.text, NOW)
    db.session.commit()
    return {
        "org": org,
        "room": room,
        "algebra": algebra,
        "biology": biology,
        "student": student,
        "leader": leader,
        "parent": make.user("Pat Parent"),
    }


def test_a_parent_code_links_its_student_once(world, make):
    student, parent = world["student"], world["parent"]
    code = parents.make_parent_code(student, student, NOW)
    db.session.commit()
    assert code.text.startswith("PARENT-") and len(code.text) == len("PARENT-7KQ4M-X9D2H")
    assert code.expires_at == NOW + timedelta(days=14)

    linked = parents.link_parent(parent, code.text.lower().replace("-", " "), NOW)
    db.session.commit()
    assert not linked.already and linked.message == "You're now linked to Sam Student."
    assert (code.used_at, code.used_by_id) == (NOW, parent.id)
    assert access.linked_students(parent) == [student]

    # The same parent sending the form again is told kindly; nothing changes.
    again = parents.link_parent(parent, code.text, NOW)
    assert again.already and "already linked to Sam Student" in again.message

    # Anyone else: refused, without the student's name.
    other = make.user("Olga Other")
    refusal = refused(other, code.text)
    assert refusal.outcome == "used"
    assert "already been used" in refusal.message and "Sam" not in refusal.message
    assert access.linked_students(other) == []
    assert count(ParentLink) == 1


def test_a_code_works_to_the_last_moment_of_its_14_days(world):
    student, parent = world["student"], world["parent"]
    on_time = parents.make_parent_code(student, student, NOW)
    late = parents.make_parent_code(student, student, NOW)
    db.session.commit()
    end = NOW + timedelta(days=14)

    refusal = refused(parent, late.text, end + timedelta(seconds=1))
    assert refusal.outcome == "inactive"
    assert "expired: parent codes work for 14 days" in refusal.message
    assert late.used_at is None

    assert not parents.link_parent(parent, on_time.text, end).already
    db.session.commit()
    assert access.linked_students(parent) == [student]


def test_five_active_codes_at_most_the_sixth_retires_the_oldest(world):
    student, parent = world["student"], world["parent"]
    made = [parents.make_parent_code(student, student, NOW + timedelta(minutes=i)) for i in range(6)]
    db.session.commit()
    later = NOW + timedelta(minutes=10)
    assert parents.active_codes(student, later) == made[1:]
    assert made[0].retired_at == NOW + timedelta(minutes=5)

    refusal = refused(parent, made[0].text, later)
    assert refusal.outcome == "invalid" and "no longer valid" in refusal.message

    # A used code and an expired one no longer count among the five.
    parents.link_parent(parent, made[1].text, later)
    db.session.commit()
    assert len(parents.active_codes(student, later)) == 4
    parents.make_parent_code(student, student, later)
    assert made[2].retired_at is None
    weeks_later = NOW + timedelta(days=15)
    parents.make_parent_code(student, student, weeks_later)
    db.session.commit()
    assert len(parents.active_codes(student, weeks_later)) == 1
    assert all(c.retired_at is None for c in made[2:])


def test_a_parent_code_typed_into_the_student_code_box(world, make):
    student = world["student"]
    code = parents.make_parent_code(student, student, NOW)
    db.session.commit()
    newcomer = make.user("Nina Newcomer")

    with pytest.raises(RedeemRefused) as info:
        attempt_redeem(newcomer, code.text, NOW)
    db.session.commit()
    assert info.value.outcome == PARENT_CODE
    assert info.value.message.startswith("That's a parent code: enter it on the parents page")
    # Nothing happened: the code still links a parent, and it is no failed guess.
    assert parents.is_active(code, NOW)
    assert access.linked_students(newcomer) == []
    assert attempts.counts(attempts.codes_policy(), account=newcomer.id) == {"account": 0}
    assert parents.link_parent(newcomer, code.text, NOW).student == student


def test_a_student_code_typed_into_the_parents_box(world):
    refusal = refused(world["parent"], world["room"].join_code.text)
    assert refusal.outcome == parents.STUDENT_CODE
    assert "code for joining a classroom" in refusal.message


def test_a_student_cannot_link_to_themselves(world):
    student = world["student"]
    code = parents.make_parent_code(student, student, NOW)
    db.session.commit()
    refusal = refused(student, code.text)
    assert refusal.outcome == parents.OWN_CODE
    assert parents.is_active(code, NOW)


def test_linking_the_same_parent_twice_keeps_one_link_and_the_second_code(world):
    student, parent = world["student"], world["parent"]
    first = parents.make_parent_code(student, student, NOW)
    second = parents.make_parent_code(student, student, NOW)
    parents.link_parent(parent, first.text, NOW)
    db.session.commit()
    again = parents.link_parent(parent, second.text, NOW)
    db.session.commit()
    assert again.already
    assert "This code was not used" in again.message
    assert count(ParentLink) == 1
    # The second code can still link the other parent.
    assert parents.is_active(second, NOW)


def test_revocation_hides_the_student_at_once_and_a_new_code_links_again(world, app):
    student, parent, org = world["student"], world["parent"], world["org"]
    parents.link_parent(parent, parents.make_parent_code(student, student, NOW).text, NOW)
    db.session.commit()
    link = db.session.scalar(select(ParentLink))
    assert access.student_for_parent_or_404(parent, student.id) == student

    parents.revoke_link(org.admin, org, link, NOW + timedelta(hours=1))
    db.session.commit()
    assert access.linked_students(parent) == []
    with pytest.raises(NotFound):
        access.student_for_parent_or_404(parent, student.id)
    assert (link.revoked_by_id, link.revoked_at) == (org.admin.id, NOW + timedelta(hours=1))
    assert count(AuditEvent, AuditEvent.action == "parent.revoke", AuditEvent.org_id == org.id) == 1

    # A code the student gives again links the pair again, on the same row.
    later = NOW + timedelta(days=1)
    parents.link_parent(parent, parents.make_parent_code(student, student, later).text, later)
    db.session.commit()
    assert count(ParentLink) == 1
    assert (link.revoked_at, link.created_at) == (None, later)
    assert access.linked_students(parent) == [student]


def test_a_link_belongs_to_the_organization_whose_code_made_it(world, make):
    student, parent, org = world["student"], world["parent"], world["org"]
    second_org = make.org(name="Elm Academy", admin=make.user("Eve Admin"))
    chess = make.classroom(second_org, "Chess club")
    redeem(student, chess.join_code.text, NOW)
    db.session.commit()
    # A student of two organizations chooses which one a code is for.
    with pytest.raises(FieldErrors):
        parents.make_parent_code(student, student, NOW)
    db.session.rollback()
    code = parents.make_parent_code(student, student, NOW, org_id=second_org.id)
    parents.link_parent(parent, code.text, NOW)
    db.session.commit()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("parent.%"))).all()
    assert {e.org_id for e in events} == {second_org.id}
    link = db.session.scalar(select(ParentLink))
    assert link.org_id == second_org.id
    # Oak School neither lists nor may revoke it, and the parent sees only what
    # Elm Academy shares.
    assert db.session.scalars(access.org_parent_links(Scope(org.admin, org))).all() == []
    with pytest.raises(NotFound):
        access.parent_link_for_admin_or_404(Scope(org.admin, org), link.id)
    parents.set_parents_can_see(org.admin, world["room"], True)
    parents.set_parents_can_see(second_org.admin, chess, True)
    db.session.commit()
    assert [c.name for c in access.shown_to_parent(parent, student)] == ["Chess club"]


def test_unknown_parent_codes_count_against_the_code_attempt_limits(world, app):
    parent = world["parent"]
    app.config["REDEEM_FAILURES_PER_ACCOUNT"] = 2
    for _ in range(2):
        with pytest.raises(parents.LinkRefused) as info:
            parents.attempt_link(parent, "PARENT-00000-00000", NOW)
        assert info.value.outcome == "unknown"
    db.session.commit()
    with pytest.raises(parents.LinkRefused) as info:
        parents.attempt_link(parent, "PARENT-11111-11111", NOW)
    assert info.value.outcome == "limited"
    assert "Wait 15 minutes" in info.value.message
    db.session.commit()
    # The student code box answers the same: one budget for guessing any code.
    with pytest.raises(RedeemRefused) as info:
        attempt_redeem(parent, world["room"].join_code.text, NOW)
    assert info.value.outcome == "limited"


def test_parents_see_only_classrooms_with_the_switch_on(world, make):
    student, org = world["student"], world["org"]
    parents.link_parent(world["parent"], parents.make_parent_code(student, student, NOW).text, NOW)
    algebra, biology = world["algebra"], world["biology"]
    room = world["room"]
    chess = make.classroom(org, "Chess club", courses=[biology])
    redeem(student, chess.join_code.text, NOW)
    db.session.commit()
    assert access.shown_to_parent(world["parent"], student) == []

    parents.set_parents_can_see(org.admin, room, True)
    db.session.commit()
    shown = access.shown_to_parent(world["parent"], student)
    assert shown == [
        access.SharedClassroom(
            name="Room 9A", organization="Oak School", teachers=("Leo Leader",), courses=("Algebra",)
        )
    ]
    assert algebra.name in shown[0].courses and biology.name not in shown[0].courses

    parents.set_parents_can_see(org.admin, room, False)
    db.session.commit()
    assert access.shown_to_parent(world["parent"], student) == []


def test_a_course_the_student_is_not_enrolled_in_is_not_shown(world, make):
    student, org, room = world["student"], world["org"], world["room"]
    from codes.orgs.operations import set_classroom_courses

    parents.link_parent(world["parent"], parents.make_parent_code(student, student, NOW).text, NOW)

    # Assigned after Sam joined: Sam is not enrolled in Biology.
    set_classroom_courses(org.admin, room, [world["algebra"].id, world["biology"].id])
    parents.set_parents_can_see(org.admin, room, True)
    db.session.commit()
    assert access.shown_to_parent(world["parent"], student)[0].courses == ("Algebra",)


def test_lookup_keys_are_unique_across_codes_and_parent_codes(world, make):
    student, org, room = world["student"], world["org"], world["room"]
    code = parents.make_parent_code(student, student, NOW)
    db.session.commit()
    with pytest.raises(FieldErrors) as info:
        make.code(org, code.text.lower(), classrooms=[room])
    assert info.value.errors["text"] == "That code is already taken. Choose another."
    db.session.rollback()
    with pytest.raises(FieldErrors):
        change_join_code(org.admin, room, code.text)
    db.session.rollback()
    assert keys.is_taken(code.key) and keys.is_taken(room.join_code.key)
    assert not keys.is_taken("PARENT0000000000")


def test_a_new_parent_code_never_takes_a_key_already_in_use(world, monkeypatch):
    student, room = world["student"], world["room"]
    texts = iter([room.join_code.text, "PARENT-7KQ4M-X9D2H"])
    monkeypatch.setattr(parents, "random_code", lambda prefix: next(texts))
    code = parents.make_parent_code(student, student, NOW)
    assert code.text == "PARENT-7KQ4M-X9D2H"


def test_classroom_letters_make_a_code_for_every_member(world, make):
    org, room, student = world["org"], world["room"], world["student"]
    others = [make.user(name) for name in ("Ann Adams", "Zoë Zimmer")]
    for other in others:
        redeem(other, room.join_code.text, NOW)
    old = [parents.make_parent_code(student, student, NOW - timedelta(days=1)) for _ in range(5)]
    db.session.commit()

    made = parents.make_classroom_parent_codes(world["leader"], room, NOW)
    db.session.commit()
    assert [s.name for s, _ in made] == ["Ann Adams", "Sam Student", "Zoë Zimmer"]
    assert all(c.student_id == s.id and c.created_by_id == world["leader"].id for s, c in made)
    # Sam had five already: the oldest made way.
    assert len(parents.active_codes(student, NOW)) == 5
    assert old[0].retired_at == NOW and old[1].retired_at is None
    assert count(AuditEvent, AuditEvent.action == "parent.letters", AuditEvent.org_id == org.id) == 1


def test_no_letters_for_a_classroom_nobody_joined(world, make):
    empty = make.classroom(world["org"], "Room 0")
    with pytest.raises(DomainError) as info:
        parents.make_classroom_parent_codes(world["org"].admin, empty, NOW)
    assert "Nobody has joined Room 0 yet" in info.value.message


def test_only_students_make_parent_codes(world):
    parent = world["parent"]
    with pytest.raises(DomainError) as info:
        parents.make_parent_code(parent, parent, NOW)
    assert info.value.message == "Parent codes are for students: join a classroom with a code first."


def test_a_student_cancels_a_code(world):
    student, parent = world["student"], world["parent"]
    code = parents.make_parent_code(student, student, NOW)
    parents.cancel_parent_code(student, code, NOW)
    db.session.commit()
    assert refused(parent, code.text).outcome == "invalid"


def a_student(make):
    student = make.user("Sam Student")
    redeem(student, make.classroom(make.org(), "Room 9A").join_code.text)
    db.session.commit()
    return student


def test_twenty_parents_race_for_one_code(any_db_app):
    """At once, in threads (at_once): SQLite lets them write one at a time, while
    on PostgreSQL they meet on the row lock of the parent code's guarded UPDATE."""
    make = Factory()
    student = a_student(make)
    code = parents.make_parent_code(student, student)
    db.session.commit()
    text = code.text
    ids = [make.user().id for _ in range(20)]

    def link(parent_id):
        return parents.link_parent(db.session.get(User, parent_id), text).message

    outcomes = at_once(any_db_app, link, ids, refused=parents.LinkRefused)
    assert outcomes.count("You're now linked to Sam Student.") == 1
    assert outcomes.count("used") == 19
    db.session.expire_all()
    assert count(ParentLink) == 1


def test_twelve_codes_made_at_once_leave_five_active(any_db_app):
    make = Factory()
    student_id = a_student(make).id

    def make_one(_):
        student = db.session.get(User, student_id)
        return parents.make_parent_code(student, student).id

    made = at_once(any_db_app, make_one, range(12))
    assert len(set(made)) == 12
    db.session.expire_all()
    student = db.session.get(User, student_id)
    assert len(parents.active_codes(student)) == 5
    assert count(ParentCode, ParentCode.retired_at.is_not(None)) == 7


def test_a_parent_retyping_their_own_used_or_cancelled_code_is_not_told_it_still_works(world):
    student, parent = world["student"], world["parent"]
    used = parents.make_parent_code(student, student, NOW)
    parents.link_parent(parent, used.text, NOW)
    cancelled = parents.make_parent_code(student, student, NOW)
    parents.cancel_parent_code(student, cancelled, NOW)
    db.session.commit()
    for code in (used, cancelled):
        again = parents.link_parent(parent, code.text, NOW)
        assert again.already and again.message == "You're already linked to Sam Student."
