"""What the welcome mail adds to a redemption (issue 13): the one INSERT of its
job and nothing else. No SELECT (the organization and the classrooms' names are
at hand already), and no object for the session's unit of work to flush, which
cost a redemption more than the INSERT itself (docs/PERFORMANCE.md, "Welcome mails
on and off"). On the embedded SQLite and on PostgreSQL."""

import json
from collections import Counter

from sqlalchemy import event, select

from codes.extensions import db
from codes.models import Job
from codes.notifications import operations as notifications
from codes.redeem.operations import redeem
from conftest import Factory


def _redemption(make, room):
    """A new student redeems the room's code, committed: the statements it ran,
    the objects the session's flushes wrote, and the mails it queued."""
    student = make.user()
    statements, written = [], []

    def heard(_connection, _cursor, statement, *_):
        statements.append(statement)

    def flushed(session, _context):
        written.extend(type(thing).__name__ for thing in session.new)

    session = db.session()
    event.listen(db.engine, "before_cursor_execute", heard)
    event.listen(session, "after_flush", flushed)
    try:
        redeem(student, room.join_code.text)
        db.session.commit()
    finally:
        event.remove(session, "after_flush", flushed)
        event.remove(db.engine, "before_cursor_execute", heard)
    queued = [json.loads(p)["to"] for p in db.session.scalars(select(Job.payload)).all()]
    db.session.execute(Job.__table__.delete())
    db.session.commit()
    return statements, sorted(written), queued, student.email


def test_the_welcome_mail_adds_one_insert_and_nothing_else(any_db_app):
    make = Factory()
    org = make.org()
    room = make.classroom(org, "Room 1")
    # The first redemption of the day starts the day's counters: not compared.
    _redemption(make, room)
    on, on_written, on_queued, welcomed = _redemption(make, room)
    notifications.set_welcome(org.admin, org, False)
    db.session.commit()
    off, off_written, off_queued, _ = _redemption(make, room)

    assert on_queued == [welcomed] and off_queued == [], "one welcome with it on, none off"
    added = list((Counter(on) - Counter(off)).elements())
    assert len(added) == 1 and added[0].startswith("INSERT INTO jobs"), added
    assert not Counter(off) - Counter(on), "nothing the redemption ran without it is left out"
    assert on_written == off_written, "the job is no object for the unit of work to flush"
