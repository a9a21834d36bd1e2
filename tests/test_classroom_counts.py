"""Each classroom's member count (Classroom.member_count, kept by the database's
triggers: codes.classroomcounts) equals a count of its members, on SQLite and
PostgreSQL, whatever adds, skips, moves or removes them: the ORM, an insert a
unique key skips, a move, the deletion of a person or of another classroom, and
many people redeeming the classroom's code at once."""

from sqlalchemy import delete, func, select, update

from codes import database
from codes.extensions import db
from codes.models import Classroom, ClassroomMember, User
from conftest import Factory, race


def counts(*classrooms):
    """(kept, counted) for each classroom."""
    db.session.expire_all()
    return [
        (
            db.session.scalar(select(Classroom.member_count).where(Classroom.id == c.id)),
            db.session.scalar(select(func.count()).where(ClassroomMember.classroom_id == c.id)),
        )
        for c in classrooms
    ]


def test_every_way_in_and_out_is_counted(any_db_app):
    make = Factory()
    org = make.org()
    first, second, gone = (make.classroom(org, f"Room {n}") for n in "ABC")
    people = [make.user(f"Person {n}") for n in range(5)]
    for person in people[:3]:
        db.session.add(ClassroomMember(classroom_id=first.id, user_id=person.id))
    db.session.commit()
    assert counts(first, second) == [(3, 3), (0, 0)]
    # An insert a unique key skips counts nothing; the new row counts one.
    database.insert_ignore(
        db.session,
        ClassroomMember,
        [
            {"classroom_id": first.id, "user_id": people[0].id},
            {"classroom_id": first.id, "user_id": people[3].id},
        ],
    )
    db.session.commit()
    assert counts(first) == [(4, 4)]
    # A move, and an update that leaves the classroom as it was.
    db.session.execute(
        update(ClassroomMember)
        .where(ClassroomMember.classroom_id == first.id, ClassroomMember.user_id == people[1].id)
        .values(classroom_id=second.id)
    )
    db.session.execute(
        update(ClassroomMember).where(ClassroomMember.classroom_id == first.id).values(classroom_id=first.id)
    )
    db.session.commit()
    assert counts(first, second) == [(3, 3), (1, 1)]
    # A person deleted goes from every classroom; a classroom deleted takes its
    # members with it and leaves the others' counts.
    for classroom in (first, second, gone):
        db.session.add(ClassroomMember(classroom_id=classroom.id, user_id=people[4].id))
    db.session.commit()
    assert counts(first, second, gone) == [(4, 4), (2, 2), (1, 1)]
    db.session.execute(delete(User).where(User.id == people[2].id))
    db.session.execute(delete(Classroom).where(Classroom.id == gone.id))
    db.session.commit()
    assert counts(first, second) == [(3, 3), (2, 2)]
    db.session.execute(delete(ClassroomMember).where(ClassroomMember.classroom_id == first.id))
    db.session.commit()
    assert counts(first, second) == [(0, 0), (2, 2)]


def test_people_redeeming_at_once_are_each_counted(any_db_app):
    make = Factory()
    org = make.org()
    room, other = make.classroom(org, "Room 1"), make.classroom(org, "Room 2")
    code = make.code(org, "COUNTED-2027", classrooms=[room, other])
    people = [make.user().id for _ in range(30)]
    outcomes = race(any_db_app, [(person, code.text) for person in people])
    assert outcomes.count("ok") == 30
    assert counts(room, other) == [(30, 30), (30, 30)]
