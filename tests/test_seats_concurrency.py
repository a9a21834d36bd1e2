"""Allotments hold exactly when many new students join at once: real threads, each
with its own connection, against SQLite and against a PostgreSQL server
(conftest.at_once). On SQLite the one write lock lets the racers write one at a
time, so a pass proves they wait their turn and read the seats again once they
have it; on PostgreSQL they write side by side and a pass proves the
organization's row lock (seats.lock_organization): without its FOR UPDATE,
test_the_pool_runs_out_while_an_untouched_allotment_keeps_its_seats fails on
PostgreSQL and passes on SQLite."""

from codes.extensions import db
from codes.models import Classroom, Organization, OrgMember
from codes.seats import operations as seats
from conftest import Factory, count, race


def codes_for(make, org, classroom, prefix, how_many):
    """One code each: racers on one code would queue on its row (its use count)
    before they reach the seats, and this race is about the seats."""
    return [make.code(org, f"{prefix}-{i:02d}-2027", classrooms=[classroom]).text for i in range(how_many)]


def students():
    return count(OrgMember, OrgMember.is_student)


def test_forty_students_race_for_an_allotment_of_seven(any_db_app):
    make = Factory()
    org = make.org(seat_limit=100)
    room = make.classroom(org, "Room 7")
    texts = codes_for(make, org, room, "SEVEN", 40)
    seats.set_allotment(org.admin, room, 7)
    db.session.commit()
    outcomes = race(any_db_app, [(make.user().id, text) for text in texts])
    assert outcomes.count("ok") == 7
    assert outcomes.count("no_seats") == 33
    db.session.expire_all()
    assert db.session.get(Classroom, room.id).seats_used == 7
    assert db.session.get(Organization, org.id).seats_taken == 7
    assert students() == 7
    summary = seats.summary(org)
    assert (summary.reserved, summary.free) == (0, 93)


def test_the_pool_runs_out_while_an_untouched_allotment_keeps_its_seats(any_db_app):
    make = Factory()
    org = make.org(seat_limit=10)
    reserved_room = make.classroom(org, "Reserved")
    open_room = make.classroom(org, "Open")
    reserved_texts = codes_for(make, org, reserved_room, "RESERVED", 12)
    open_texts = codes_for(make, org, open_room, "OPEN", 30)
    seats.set_allotment(org.admin, reserved_room, 4)
    db.session.commit()
    outcomes = race(any_db_app, [(make.user().id, text) for text in open_texts])
    assert outcomes.count("ok") == 6
    assert outcomes.count("no_seats") == 24
    db.session.expire_all()
    assert db.session.get(Classroom, reserved_room.id).seats_used == 0
    summary = seats.summary(org)
    assert (summary.taken, summary.reserved, summary.free) == (6, 4, 0)
    # The reservation is still whole: its classroom's own code gets exactly its 4.
    outcomes = race(any_db_app, [(make.user().id, text) for text in reserved_texts])
    assert outcomes.count("ok") == 4
    assert outcomes.count("no_seats") == 8
    db.session.expire_all()
    assert db.session.get(Organization, org.id).seats_taken == 10
    assert db.session.get(Classroom, reserved_room.id).seats_used == 4
    assert db.session.get(Classroom, open_room.id).seats_used == 6
    assert students() == 10
