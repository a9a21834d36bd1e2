"""The people list of a large organization reads, for each person of its page,
that person's classrooms, courses and roles, not every membership of the
organization's classrooms and courses, on PostgreSQL. Its enrollments were read
by the organization's courses, each course's students filtered down to the
page's: at bench/growth.py's S3 every enrollment of the organization (25,004
rows, 3 ms), for 25 people."""

import pytest
from plan_support import most_read
from sqlalchemy import event, insert, select, text

from codes.extensions import db
from codes.models import ClassroomMember, Course, Enrollment, OrgMember, User
from conftest import Factory, build_app, client_as, postgres_url

STUDENTS = 6_000
CHUNK = 2_000
OTHER_COURSES = 400
SMALL = 4
# A page is 25 people, each in a classroom and two courses: a few hundred rows
# of these tables at most. Every membership of the organization is 18,000. (The
# list's count reads the organization's members up to listing.COUNT_CAP, by
# design: org_members is not among these.)
BOUND = 2_000
MEMBERSHIPS = {"enrollments", "classroom_members", "classroom_leaders", "course_instructors"}


@pytest.fixture
def big_school():
    app = build_app(postgres_url())
    with app.app_context():
        make = Factory()
        org = make.org(admin=make.user("Oak Admin"))
        algebra, biology = make.course(org, "Algebra"), make.course(org, "Biology")
        rooms = [make.classroom(org, f"Room {n}") for n in range(3)]
        first = db.session.scalar(select(db.func.max(User.id))) + 1
        people = [
            dict(
                name=f"Student {n:05d}",
                email=f"s{n}@big.example",
                email_key=f"s{n}@big.example",
                password_hash="!",
                email_verified=True,
            )
            for n in range(STUDENTS)
        ]
        for start in range(0, STUDENTS, CHUNK):
            db.session.execute(insert(User), people[start : start + CHUNK])
        ids = list(range(first, first + STUDENTS))
        for start in range(0, STUDENTS, CHUNK):
            chunk = ids[start : start + CHUNK]
            db.session.execute(
                insert(OrgMember), [dict(org_id=org.id, user_id=i, is_student=True) for i in chunk]
            )
            db.session.execute(
                insert(ClassroomMember), [dict(classroom_id=rooms[i % 3].id, user_id=i) for i in chunk]
            )
            db.session.execute(
                insert(Enrollment),
                [dict(course_id=course.id, user_id=i) for i in chunk for course in (algebra, biology)],
            )
        # Other organizations' many small courses, as on a shared server: the
        # planner's average of enrollments per course is small, far below the
        # big organization's own.
        others = make.org(name="Elm School")
        db.session.execute(
            insert(Course),
            [dict(org_id=others.id, name=f"Small course {n:03d}") for n in range(OTHER_COURSES)],
        )
        other_ids = db.session.scalars(select(Course.id).where(Course.org_id == others.id)).all()
        db.session.execute(
            insert(Enrollment),
            [dict(course_id=c, user_id=first + n) for c in other_ids for n in range(SMALL)],
        )
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        yield app, org
        db.session.remove()
        db.engine.dispose()


def test_a_page_of_people_reads_its_own_peoples_memberships(big_school):
    app, org = big_school
    seen = []

    def heard(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and any(t in statement for t in MEMBERSHIPS):
            seen.append((statement, parameters))

    client = client_as(app, {"admin": org.admin}, "admin")
    for url in (f"/orgs/{org.id}/users", f"/orgs/{org.id}/users?last=1"):
        seen.clear()
        event.listen(db.engine, "before_cursor_execute", heard)
        try:
            response = client.get(url)
        finally:
            event.remove(db.engine, "before_cursor_execute", heard)
        assert response.status_code == 200
        assert "Student 0" in response.get_data(as_text=True)
        assert any("enrollments" in statement for statement, _ in seen)
        read, statement = most_read(seen, MEMBERSHIPS)[0]
        assert read < BOUND, f"{url}: {read} rows of memberships read by\n{statement}"
