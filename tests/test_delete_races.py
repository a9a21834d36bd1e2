"""Deleting a classroom or a course while other requests change it (a code made
for it, its courses set, a leader or instructor added, a student moved into it,
its code redeemed, its join code changed) answers every request with its
success, 404 or a plain message, never 500, on SQLite and PostgreSQL, and
leaves no code that places nobody showing as Active. Before, 9 of 90 such
requests answered 500 on PostgreSQL (a foreign key violated by a row inserted
for the deleted classroom).

The requests run in threads through the test client, each with its own
connection. On SQLite the one write lock lets them write one at a time (what is
proved is that each waits its turn and checks again what it read); deadlocks and
foreign keys broken by writers side by side happen on PostgreSQL alone, where the
row locks taken in one order are what this proves (conftest.at_once)."""

import threading
from collections import Counter

import pytest
from sqlalchemy import exists, insert, select, text

from codes.extensions import db
from codes.models import AuditEvent, Code, CodeClassroom, CodeCourse
from codes.parents import operations as parents_operations
from codes.redeem.operations import redeem
from codes.seats.operations import lock_organization
from conftest import HX, Factory, count, soup

ROUNDS = 6
# What a person may be answered: the change, a refusal in plain words beside a
# field, not found, or "something changed meanwhile: nothing was saved"; a
# code refused because its classroom or course went, that it is no longer valid
# (or, a join code changed at the same moment, that it was replaced).
NO_LONGER_VALID = (
    "That code is no longer valid. Ask whoever gave it to you for a new one.",
    "That code is no longer valid: it was replaced by a new one. Ask whoever gave it "
    "to you for the new code.",
)
ANSWERS = {
    200,
    303,
    404,
    409,
    422,
    *(f"{status} {message}" for status in (200, 422) for message in NO_LONGER_VALID),
}


def world(app, make, number):
    org = make.org(name=f"School {number}")
    algebra, biology = make.course(org, "Algebra"), make.course(org, "Biology")
    doomed = make.classroom(org, "Doomed", courses=[algebra])
    source = make.classroom(org, "Source")
    leader, instructor = make.user(f"Leader {number}"), make.user(f"Instructor {number}")
    for person in (leader, instructor):
        make.course(org, f"Staff room {person.id}", instructors=[person])
    room_code = make.code(org, f"DOOMED-{number:02d}-ROOM", classrooms=[doomed])
    course_code = make.code(org, f"DOOMED-{number:02d}-BIOLOGY", courses=[biology])
    mover = make.user(f"Mover {number}")
    redeem(mover, make.code(org, f"SOURCE-{number:02d}-ROOM", classrooms=[source]).text)
    db.session.commit()
    return dict(
        org=org,
        algebra=algebra,
        biology=biology,
        doomed=doomed,
        source=source,
        leader=leader,
        instructor=instructor,
        room_code=room_code,
        course_code=course_code,
        mover=mover,
        redeemers=[make.user(f"Redeemer {number}-{i}") for i in range(2)],
    )


def requests_racing_a_classroom(w, number):
    org, room = w["org"], w["doomed"]
    return [
        ("delete the classroom", "admin", f"/classrooms/{room.id}/delete", {"confirmed": "1"}),
        ("delete it again", "admin", f"/classrooms/{room.id}/delete", {"confirmed": "1"}),
        (
            "make a code for it",
            "admin",
            f"/classrooms/{room.id}/codes",
            {"text": f"NEW-{number:02d}-ROOMCODE", "classroom_ids": [room.id], "role": "student"},
        ),
        (
            "make codes in bulk for it",
            "admin",
            f"/orgs/{org.id}/bulk",
            {"classroom_ids": [room.id], "count": "5", "uses": "single", "role": "student"},
        ),
        (
            "set its courses",
            "admin",
            f"/classrooms/{room.id}/courses",
            {"course_ids": [w["algebra"].id, w["biology"].id]},
        ),
        ("add a leader", "admin", f"/classrooms/{room.id}/leaders", {"user_id": w["leader"].id}),
        (
            "move a student into it",
            "admin",
            f"/orgs/{org.id}/users/{w['mover'].id}/move",
            {"from_classroom_id": w["source"].id, "to_classroom_id": room.id},
        ),
        ("redeem its code", "redeemer0", "/redeem", {"code": w["room_code"].text}),
        ("redeem its join code", "redeemer1", "/redeem", {"code": w["doomed"].join_code.text}),
        ("change its join code", "admin", f"/classrooms/{room.id}/join-code/random", {"confirmed": "1"}),
        ("rename it", "admin", f"/classrooms/{room.id}/rename", {"name": "Renamed"}),
        ("set its allotment", "admin", f"/classrooms/{room.id}/allotment", {"seat_allotment": "3"}),
    ]


def requests_racing_a_course(w, number):
    course = w["biology"]
    return [
        ("delete the course", "admin", f"/courses/{course.id}/delete", {"confirmed": "1"}),
        (
            "make a code for it",
            "admin",
            f"/courses/{course.id}/codes",
            {"text": f"NEW-{number:02d}-COURSECODE", "course_ids": [course.id], "role": "student"},
        ),
        (
            "give it to a classroom",
            "admin",
            f"/classrooms/{w['source'].id}/courses",
            {"course_ids": [course.id]},
        ),
        ("add an instructor", "admin", f"/courses/{course.id}/instructors", {"user_id": w["instructor"].id}),
        ("redeem its code", "redeemer0", "/redeem", {"code": w["course_code"].text}),
        ("rename it", "admin", f"/courses/{course.id}/rename", {"name": "Renamed"}),
    ]


def race(app, w, requests):
    """Every request at once, each from a client of its own; returns the answers."""
    clients = []
    for _, who, _, _ in requests:
        client = app.test_client()
        person = w["org"].admin if who == "admin" else w["redeemers"][int(who[-1])]
        client.login(person)
        clients.append(client)
    db.session.rollback()
    barrier = threading.Barrier(len(requests))
    answers = [None] * len(requests)

    def one(index):
        name, _, path, data = requests[index]
        barrier.wait()
        try:
            response = clients[index].post(path, data=data, headers=HX if index % 2 else {})
        except Exception as error:  # noqa: BLE001 - the test reports what the request raised
            answers[index] = f"raised {type(error).__name__}: {error}"
            return
        answers[index] = response.status_code
        refusal = soup(response).select_one("#redeem .error")
        if path == "/redeem" and refusal is not None:
            answers[index] = f"{response.status_code} {refusal.get_text(strip=True)}"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return {requests[i][0] + f" #{i}": answers[i] for i in range(len(requests))}


def codes_placing_nobody_shown_active(org):
    db.session.expire_all()
    return db.session.scalars(
        select(Code.text).where(
            Code.org_id == org.id,
            Code.targets_deleted_at.is_(None),
            ~exists().where(CodeClassroom.code_id == Code.id),
            ~exists().where(CodeCourse.code_id == Code.id),
        )
    ).all()


@pytest.mark.parametrize("target", ["classroom", "course"])
def test_deleting_while_others_change_it_never_answers_500(any_db_app, target):
    make = Factory()
    tally, wrong = Counter(), []
    for number in range(ROUNDS):
        w = world(any_db_app, make, number)
        racing = requests_racing_a_classroom if target == "classroom" else requests_racing_a_course
        requests = racing(w, number)
        answers = race(any_db_app, w, requests)
        tally.update(answers.values())
        wrong += [
            f"round {number}: {name} answered {answer}"
            for name, answer in answers.items()
            if answer not in ANSWERS
        ]
        assert codes_placing_nobody_shown_active(w["org"]) == [], f"round {number}"
    assert wrong == [], f"{tally}\n" + "\n".join(wrong)


@pytest.mark.parametrize("lock", ["organization", "student"])
def test_a_row_locked_to_change_it_lets_rows_that_refer_to_it_be_written(postgres_app, lock):
    """The seat lock on an organization's row, and a student's row locked while
    parent codes are made, keep others from changing that row, not from writing
    rows that refer to it (an audit event, a code): FOR NO KEY UPDATE, which the
    foreign key checks of those writes (FOR KEY SHARE) pass. Before, FOR UPDATE
    made every such write wait behind it, and a request deleting a classroom,
    holding the organization's row and waiting for the classroom's, deadlocked
    with one that held the classroom and wrote an audit event (three of the
    requests of the race above answered 503 on PostgreSQL)."""
    make = Factory()
    org = make.org()
    student = make.user("Sam Student")
    db.session.commit()
    org_id, student_id = org.id, student.id
    if lock == "organization":
        lock_organization(org_id)
    else:
        parents_operations._lock_student(student_id)
    with db.engine.connect() as other:
        other.execute(text("SET lock_timeout = '3s'"))
        other.execute(insert(AuditEvent).values(org_id=org_id, actor_id=student_id, action="probe"))
        other.commit()
    db.session.rollback()
    assert count(AuditEvent, AuditEvent.action == "probe") == 1
