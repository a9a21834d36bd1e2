"""The seat and allotment rules (DESIGN.md "Seats", docs/SEATS.md), called as domain
functions."""

import json

import pytest
from sqlalchemy import select

from codes.errors import FieldErrors
from codes.extensions import db
from codes.models import AuditEvent, Classroom, Organization, OrgMember
from codes.orgs import operations as orgs
from codes.redeem.operations import RedeemRefused, redeem
from codes.seats import operations as seats
from codes.seats.operations import NoSeatLeft, take_seat


def join(user, text):
    result = redeem(user, text)
    db.session.commit()
    return result


def refused(user, text):
    with pytest.raises(RedeemRefused) as info:
        redeem(user, text)
    db.session.rollback()
    return info.value


def allot(org, classroom, allotment):
    seats.set_allotment(org.admin, classroom, allotment)
    db.session.commit()


def allotment_refused(org, classroom, allotment):
    with pytest.raises(FieldErrors) as info:
        seats.set_allotment(org.admin, classroom, allotment)
    db.session.rollback()
    return info.value.errors["seat_allotment"]


def fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


@pytest.fixture
def school(make):
    """An organization of 10 seats with two classrooms, each with a code."""
    org = make.org(seat_limit=10)
    a = make.classroom(org, "Room A")
    b = make.classroom(org, "Room B")
    make.code(org, "ROOM-A-2027", classrooms=[a])
    make.code(org, "ROOM-B-2027", classrooms=[b])
    return org, a, b


def test_an_allotted_classroom_takes_its_seats_from_its_allotment(make, school):
    org, a, b = school
    allot(org, a, 3)
    assert seats.summary(org).reserved == 3 and seats.summary(org).free == 7
    assert join(make.user(), "ROOM-A-2027").took_seat
    summary = seats.summary(org)
    assert (summary.taken, summary.reserved, summary.free) == (1, 2, 7)
    assert fresh(Classroom, a.id).seats_used == 1


def test_a_full_allotment_refuses_new_students_while_the_organization_has_seats(make, school):
    org, a, b = school
    allot(org, a, 2)
    join(make.user(), "ROOM-A-2027")
    join(make.user(), "ROOM-A-2027")
    refusal = refused(make.user(), "ROOM-A-2027")
    assert refusal.outcome == "no_seats"
    assert refusal.message == "Room A has no seats left. Contact the administrator of Oak School."
    assert fresh(Organization, org.id).seats_taken == 2
    assert seats.summary(org).free == 8


def test_someone_who_already_has_a_seat_joins_a_full_classroom(make, school):
    org, a, b = school
    allot(org, a, 1)
    join(make.user(), "ROOM-A-2027")
    member = make.user()
    assert join(member, "ROOM-B-2027").took_seat
    result = join(member, "ROOM-A-2027")
    assert result.outcome == "ok" and not result.took_seat
    assert fresh(Classroom, a.id).seats_used == 1
    assert fresh(Organization, org.id).seats_taken == 2


def test_reserved_seats_are_not_available_to_codes_elsewhere(make, school):
    org, a, b = school
    allot(org, a, 7)
    for _ in range(3):
        join(make.user(), "ROOM-B-2027")
    refusal = refused(make.user(), "ROOM-B-2027")
    assert refusal.message == "Oak School has no seats left. Contact its administrator."
    for _ in range(7):
        assert join(make.user(), "ROOM-A-2027").took_seat
    assert fresh(Organization, org.id).seats_taken == 10
    assert refused(make.user(), "ROOM-A-2027").outcome == "no_seats"


def test_every_new_seat_is_counted_in_a_classroom_allotted_or_not(make, school):
    org, a, b = school
    course = make.course(org, "Algebra")
    make.code(org, "ALGEBRA-2027", courses=[course])
    join(make.user(), "ROOM-B-2027")
    join(make.user(), "ALGEBRA-2027")
    assert fresh(Classroom, b.id).seats_used == 1
    assert fresh(Classroom, a.id).seats_used == 0
    assert fresh(Organization, org.id).seats_taken == 2


def test_an_allotment_covers_the_seats_the_classroom_already_took(make, school):
    org, a, b = school
    for _ in range(2):
        join(make.user(), "ROOM-A-2027")
    allot(org, a, 5)
    summary = seats.summary(org)
    assert (summary.taken, summary.reserved, summary.free) == (2, 3, 5)
    assert allotment_refused(org, a, 1) == (
        "Room A's codes have already taken 2 seats; the allotment can't be lower."
    )
    allot(org, a, 2)
    assert seats.summary(org).reserved == 0


def test_allotments_never_add_up_to_more_than_the_limit(make, school):
    org, a, b = school
    allot(org, a, 6)
    assert allotment_refused(org, b, 5) == (
        "Allotments would add up to 11 seats, more than the organization's limit of 10. "
        "At most 4 can be reserved here."
    )
    allot(org, b, 4)
    assert fresh(Classroom, b.id).seat_allotment == 4


def test_an_allotment_never_reserves_seats_already_taken(make, school):
    org, a, b = school
    for _ in range(5):
        join(make.user(), "ROOM-B-2027")
    assert allotment_refused(org, a, 6) == (
        "At most 5 seats can be reserved here: 5 of the 10 are taken and 0 more are "
        "reserved by other classrooms."
    )
    allot(org, a, 5)
    assert seats.summary(org).free == 0


def test_removing_an_allotment_gives_its_unused_seats_back_to_the_pool(make, school):
    org, a, b = school
    allot(org, a, 4)
    join(make.user(), "ROOM-A-2027")
    allot(org, a, None)
    summary = seats.summary(org)
    assert (summary.taken, summary.reserved, summary.free) == (1, 0, 9)
    assert fresh(Classroom, a.id).seats_used == 1


def test_a_negative_allotment_is_refused(make, school):
    org, a, b = school
    assert allotment_refused(org, a, -1) == "An allotment can't be negative. Leave it empty for none."


def test_allotment_changes_are_audited(make, school):
    org, a, b = school
    allot(org, a, 3)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "classroom.allotment"))
    assert event.actor_id == org.admin.id and event.object_id == a.id and event.org_id == org.id
    assert json.loads(event.detail) == {"allotment": 3, "was": None}


def test_without_a_limit_an_allotment_still_caps_its_classroom(make):
    org = make.org(seat_limit=None)
    room = make.classroom(org, "Room A")
    make.code(org, "ROOM-A-2027", classrooms=[room])
    allot(org, room, 1)
    join(make.user(), "ROOM-A-2027")
    assert refused(make.user(), "ROOM-A-2027").outcome == "no_seats"
    summary = seats.summary(org)
    assert summary.free is None and not summary.low


def test_a_limit_below_seats_taken_and_reserved_is_refused(make, school):
    org, a, b = school
    for _ in range(3):
        join(make.user(), "ROOM-B-2027")
    allot(org, a, 4)

    def limit_refused(limit):
        with pytest.raises(FieldErrors) as info:
            orgs.update_organization(org.admin, org, org.name, "UTC", limit, None)
        db.session.rollback()
        return info.value.errors["seat_limit"]

    assert limit_refused(2) == "3 seats are already taken; the limit can't be lower."
    assert limit_refused(6) == (
        "3 seats are taken and classroom allotments reserve 4 more, so the limit can't be lower "
        "than 7. Lower or remove an allotment first."
    )
    orgs.update_organization(org.admin, org, org.name, "UTC", 7, None)
    db.session.commit()
    assert seats.summary(org).free == 0
    orgs.update_organization(org.admin, org, org.name, "UTC", None, None)
    db.session.commit()
    assert fresh(Organization, org.id).seat_limit is None


def test_a_code_for_several_classrooms_takes_from_the_first_allotment_with_room(make, school):
    org, a, b = school
    c = make.classroom(org, "Room C")
    allot(org, a, 1)
    allot(org, c, 2)
    make.code(org, "A-AND-C-2027", classrooms=[c, a])
    join(make.user(), "A-AND-C-2027")  # from Room A, first by name
    join(make.user(), "A-AND-C-2027")  # Room A is full: from Room C
    assert [fresh(Classroom, x.id).seats_used for x in (a, c)] == [1, 1]


def test_a_code_reaching_a_full_allotment_never_falls_back_to_the_pool(make, school):
    org, a, b = school
    allot(org, a, 1)
    make.code(org, "A-AND-B-2027", classrooms=[a, b])
    join(make.user(), "A-AND-B-2027")
    refusal = refused(make.user(), "A-AND-B-2027")
    assert refusal.message == "Room A has no seats left. Contact the administrator of Oak School."
    assert seats.summary(org).free == 9


def test_several_full_allotments_are_named_together(make, school):
    org, a, b = school
    allot(org, a, 0)
    allot(org, b, 0)
    make.code(org, "BOTH-2027", classrooms=[a, b])
    assert refused(make.user(), "BOTH-2027").message == (
        "Room A and Room B have no seats left. Contact the administrator of Oak School."
    )


def test_a_code_for_classrooms_without_allotment_counts_the_seat_in_the_first(make, school):
    org, a, b = school
    make.code(org, "B-AND-A-2027", classrooms=[b, a])
    join(make.user(), "B-AND-A-2027")
    assert [fresh(Classroom, x.id).seats_used for x in (a, b)] == [1, 0]


def test_deleting_a_classroom_frees_its_unused_reservation_and_keeps_seats_taken(make, school):
    org, a, b = school
    allot(org, a, 5)
    join(make.user(), "ROOM-A-2027")
    orgs.delete_classroom(org.admin, fresh(Classroom, a.id))
    db.session.commit()
    summary = seats.summary(org)
    assert (summary.taken, summary.reserved, summary.free) == (1, 0, 9)


def test_take_seat_places_a_roster_row_under_the_same_rules(make, school):
    org, a, b = school
    allot(org, a, 1)
    first, second = make.user(), make.user()
    assert take_seat(first, org, classroom_ids=[a.id]) is True
    db.session.commit()
    with pytest.raises(NoSeatLeft):
        take_seat(second, org, classroom_ids=[a.id])
    db.session.rollback()
    assert take_seat(first, org, classroom_ids=[b.id]) is False
    db.session.commit()
    assert fresh(Classroom, a.id).seats_used == 1
    assert db.session.scalar(select(OrgMember.took_seat).where(OrgMember.user_id == first.id))


def test_staff_are_warned_when_fewer_than_a_tenth_of_the_seats_are_free(make):
    org = make.org(seat_limit=100)
    summary = seats.summary(org)
    assert not summary.low
    summary.taken = 90
    assert not summary.low, "exactly 10% free is not fewer than 10%"
    summary.taken = 91
    assert summary.low
    summary.taken, summary.reserved = 80, 11
    assert summary.low, "reserved seats are not free"
    assert seats.SeatSummary(0, 0, 0, []).low, "no seats at all"
