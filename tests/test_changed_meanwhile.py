"""What a request is answered when another one changed what it was about at the
same moment, in a way no row lock caught: a plain 409 page saying whether
anything was saved, with everything the request did rolled back, never a 500."""

import sqlite3

import pytest
from flask import has_request_context
from sqlalchemy import event, make_url, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codes.access import OutOfScope, Scope
from codes.extensions import db
from codes.joincodes import operations as joincodes
from codes.manage.operations import CodeInput, create_code
from codes.models import AuditEvent, Classroom, Course
from codes.orgs import operations as orgs
from codes.redeem.operations import redeem
from codes.seats import operations as seats
from codes.users.operations import move_student
from conftest import HX, Factory, count, postgres_url, reused_app, text_of


@pytest.fixture
def school(make, client):
    org = make.org()
    room = make.classroom(org, "Room 1")
    leader = make.user("Leo Leader")
    make.join(org, leader)
    db.session.commit()
    client.login(org.admin)
    return org, room, leader


def conflict_on_insert(monkeypatch):
    """add_leader as if its classroom went between the check and the insert: it
    writes its audit event, then the database refuses the row."""

    def add_leader(actor, classroom, user_id):
        orgs.audit.record(actor, "classroom.leader.add", classroom, user_id=user_id)
        db.session.flush()
        raise IntegrityError("INSERT INTO classroom_leaders ...", {}, Exception("foreign key"))

    monkeypatch.setattr(orgs, "add_leader", add_leader)


def test_a_conflict_is_a_plain_409_and_nothing_is_saved(client, school, monkeypatch):
    org, room, leader = school
    before = count(AuditEvent)
    conflict_on_insert(monkeypatch)
    response = client.post(f"/classrooms/{room.id}/leaders", data={"user_id": leader.id})
    assert response.status_code == 409
    assert "Something changed meanwhile" in text_of(response)
    assert "Nothing was saved" in text_of(response)
    db.session.rollback()
    assert count(AuditEvent) == before


def test_htmx_reloads_the_page_on_a_conflict(client, school, monkeypatch):
    org, room, leader = school
    conflict_on_insert(monkeypatch)
    response = client.post(f"/classrooms/{room.id}/leaders", data={"user_id": leader.id}, headers=HX)
    assert response.status_code == 409
    assert response.headers["HX-Refresh"] == "true"


def test_a_row_gone_right_after_the_commit_says_it_was_saved(client, school, app):
    """The rename is committed; before the answer is drawn, another request
    deletes the classroom, and reading it again finds nothing."""
    org, room, leader = school
    room_id = room.id

    def delete_it_elsewhere(session):
        if not has_request_context():
            return  # the test client's own commit before the request
        # Another request's connection: not the app's engine, whose transactions
        # in this request are read-only once it committed (codes.database).
        other = sqlite3.connect(make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database)
        try:
            other.execute("PRAGMA foreign_keys = ON")
            with other:
                other.execute("DELETE FROM classrooms WHERE id = ?", (room_id,))
        finally:
            other.close()

    event.listen(Session, "after_commit", delete_it_elsewhere)
    try:
        response = client.post(f"/classrooms/{room_id}/rename", data={"name": "Room A"})
    finally:
        event.remove(Session, "after_commit", delete_it_elsewhere)
    assert response.status_code == 409
    assert "was saved" in text_of(response) and "Nothing was saved" not in text_of(response)
    db.session.expire_all()
    assert db.session.get(Classroom, room_id) is None


# --- on PostgreSQL, a change to a row another request deleted meanwhile -------------------


@pytest.fixture
def pg_app():
    app = reused_app(postgres_url())
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


CHANGES = {
    "delete the classroom": lambda w: orgs.delete_classroom(w["admin"], w["room"]),
    "delete the course": lambda w: orgs.delete_course(w["admin"], w["course"]),
    "rename the classroom": lambda w: orgs.rename_classroom(w["admin"], w["room"], "Room A"),
    "rename the course": lambda w: orgs.rename_course(w["admin"], w["course"], "Biology"),
    "set its courses": lambda w: orgs.set_classroom_courses(w["admin"], w["room"], []),
    "set its allotment": lambda w: seats.set_allotment(w["admin"], w["room"], 3),
    "change its join code": lambda w: joincodes.change_join_code(w["admin"], w["room"]),
    "make a code for it": lambda w: create_code(
        w["admin"], Scope(w["admin"], w["org"]), CodeInput(text="NEW-CODE-2027", classroom_ids=[w["room"].id])
    ),
    "make a code for the course": lambda w: create_code(
        w["admin"], Scope(w["admin"], w["org"]), CodeInput(text="NEW-CODE-2027", course_ids=[w["course"].id])
    ),
    "move someone into it": lambda w: move_student(
        w["admin"], Scope(w["admin"], w["org"]), w["mover"], w["other"], w["room"]
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_row_deleted_meanwhile_is_not_found(pg_app, change):
    make = Factory()
    org = make.org()
    course = make.course(org, "Algebra")
    room, other = make.classroom(org, "Room 1", courses=[course]), make.classroom(org, "Room 2")
    mover = make.user("Mo Mover")
    redeem(mover, make.code(org, "ROOM-TWO-2027", classrooms=[other]).text)
    db.session.commit()
    # Read in this request's transaction, then deleted by another that commits.
    w = {
        "admin": org.admin,
        "org": org,
        "room": db.session.get(Classroom, room.id),
        "course": db.session.get(Course, course.id),
        "other": other,
        "mover": mover,
    }
    for loaded in (w["room"], w["course"], other, mover, org.admin):
        db.session.refresh(loaded)
    gone = (
        "courses"
        if change in ("delete the course", "rename the course", "make a code for the course")
        else "classrooms"
    )
    with db.engine.begin() as elsewhere:
        elsewhere.execute(
            text(f"DELETE FROM {gone} WHERE id = :id"), {"id": (course if gone == "courses" else room).id}
        )
    with pytest.raises(OutOfScope):
        CHANGES[change](w)
    db.session.rollback()
