"""Every route of the spine against every role: what is out of scope answers 404,
as if it did not exist; a logged-out person is sent to log in."""

import pytest

from conftest import HX, Factory, client_as

ROLES = ["anonymous", "student", "instructor", "leader", "admin", "other_admin"]


@pytest.fixture
def world(app):
    make = Factory()
    org = make.org(name="Oak School")
    instructor = make.user("Ivy Instructor")
    leader = make.user("Leo Leader")
    course = make.course(org, "Algebra", instructors=[instructor])
    other_course = make.course(org, "Biology")
    classroom = make.classroom(org, "Room 1", leaders=[leader])
    classroom_code = make.code(org, "ROOM-ONE-2027", classrooms=[classroom])
    course_code = make.code(org, "ALGEBRA-2027", courses=[course])
    student = make.user("Sam Student")
    other = make.org(name="Elm School")
    return {
        "users": {
            "student": student,
            "instructor": instructor,
            "leader": leader,
            "admin": org.admin,
            "other_admin": other.admin,
        },
        "org": org.id,
        "classroom": classroom.id,
        "course": course.id,
        "other_course": other_course.id,
        "classroom_code": classroom_code.id,
        "course_code": course_code.id,
        "leader_id": leader.id,
        "instructor_id": instructor.id,
    }


# (method, url, form data, expected answer per role). "login" means a redirect to log in.
OK, GONE, LOGIN, DONE = 200, 404, "login", 303
STAFF_ALL = dict(anonymous=LOGIN, student=GONE, instructor=OK, leader=OK, admin=OK, other_admin=GONE)
ADMIN_ONLY = dict(anonymous=LOGIN, student=GONE, instructor=GONE, leader=GONE, admin=OK, other_admin=GONE)
LEADER = dict(anonymous=LOGIN, student=GONE, instructor=GONE, leader=OK, admin=OK, other_admin=GONE)
TEACHER = dict(anonymous=LOGIN, student=GONE, instructor=OK, leader=GONE, admin=OK, other_admin=GONE)
ANY_USER = dict(anonymous=LOGIN, student=OK, instructor=OK, leader=OK, admin=OK, other_admin=OK)


def done(table):
    return {role: DONE if answer == OK else answer for role, answer in table.items()}


ROUTES = [
    ("GET", "/profile", None, ANY_USER),
    ("GET", "/orgs", None, ANY_USER),
    ("GET", "/orgs/{org}", None, STAFF_ALL),
    ("GET", "/classrooms/{classroom}", None, LEADER),
    ("GET", "/classrooms/{classroom}/codes", None, LEADER),
    ("GET", "/classrooms/{classroom}/settings", None, ADMIN_ONLY),
    ("GET", "/courses/{course}", None, TEACHER),
    ("GET", "/courses/{course}/codes", None, TEACHER),
    ("GET", "/codes/{classroom_code}/edit", None, LEADER),
    ("GET", "/codes/{course_code}/edit", None, TEACHER),
    ("POST", "/redeem", {"code": "ROOM-ONE-2027"}, done(ANY_USER)),
    ("POST", "/orgs/{org}/settings", {"name": "Oak", "timezone": "UTC"}, done(ADMIN_ONLY)),
    ("POST", "/orgs/{org}/classrooms", {"classroom-name": "Room 2"}, done(ADMIN_ONLY)),
    ("POST", "/orgs/{org}/courses", {"course-name": "Chemistry"}, done(ADMIN_ONLY)),
    ("POST", "/orgs/{org}/people", {"person-email": "someone.new@example.org"}, done(ADMIN_ONLY)),
    ("POST", "/classrooms/{classroom}/rename", {"name": "Room A"}, done(ADMIN_ONLY)),
    ("POST", "/classrooms/{classroom}/courses", {"course_ids": "{course}"}, done(ADMIN_ONLY)),
    ("POST", "/classrooms/{classroom}/leaders", {"user_id": "{instructor_id}"}, done(ADMIN_ONLY)),
    ("POST", "/classrooms/{classroom}/leaders/{leader_id}/remove", {}, done(ADMIN_ONLY)),
    ("POST", "/classrooms/{classroom}/delete", {"confirmed": "1"}, done(ADMIN_ONLY)),
    ("POST", "/courses/{course}/rename", {"name": "Algebra II"}, done(ADMIN_ONLY)),
    ("POST", "/courses/{course}/instructors", {"user_id": "{leader_id}"}, done(ADMIN_ONLY)),
    ("POST", "/courses/{course}/instructors/{instructor_id}/remove", {}, done(ADMIN_ONLY)),
    ("POST", "/courses/{course}/delete", {"confirmed": "1"}, done(ADMIN_ONLY)),
    (
        "POST",
        "/classrooms/{classroom}/codes",
        {"text": "NEW-ROOM-CODE-1", "classroom_ids": "{classroom}", "role": "student"},
        done(LEADER),
    ),
    (
        "POST",
        "/courses/{course}/codes",
        {"text": "NEW-COURSE-CODE", "course_ids": "{course}", "role": "student"},
        done(TEACHER),
    ),
    (
        "POST",
        "/codes/{classroom_code}/edit",
        {"text": "ROOM-ONE-2028", "classroom_ids": "{classroom}", "role": "student"},
        done(LEADER),
    ),
    (
        "POST",
        "/codes/{course_code}/edit",
        {"text": "ALGEBRA-2028", "course_ids": "{course}", "role": "student"},
        done(TEACHER),
    ),
    ("POST", "/codes/{classroom_code}/toggle", {"enabled": "0"}, done(LEADER)),
    ("POST", "/codes/{course_code}/toggle", {"enabled": "0"}, done(TEACHER)),
    ("POST", "/codes/{classroom_code}/deactivate", {"confirmed": "1"}, done(LEADER)),
    ("POST", "/codes/{course_code}/delete", {"confirmed": "1"}, done(TEACHER)),
]


def _fill(template, world):
    return template.format(**{k: v for k, v in world.items() if not isinstance(v, dict)})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method, url, data, expected", ROUTES, ids=[f"{m} {u}" for m, u, _, _ in ROUTES])
def test_route_by_role(app, world, role, method, url, data, expected):
    client = client_as(app, world["users"], role)
    path = _fill(url, world)
    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data={k: _fill(v, world) for k, v in data.items()})
    want = expected[role]
    if want == LOGIN:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    else:
        assert response.status_code == want, response.get_data(as_text=True)[:500]


def test_logged_out_htmx_request_is_sent_to_login(app, world):
    response = app.test_client().post("/redeem", data={"code": "X"}, headers=HX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


def test_a_code_outside_the_leaders_scope_cannot_be_made(app, world):
    """A leader who names a course they don't teach as a target gets 404, and no code."""
    client = app.test_client()
    client.login(world["users"]["leader"])
    response = client.post(
        f"/classrooms/{world['classroom']}/codes",
        data={
            "text": "SNEAKY-CODE-27",
            "classroom_ids": world["classroom"],
            "course_ids": world["other_course"],
            "role": "student",
        },
    )
    assert response.status_code == 404
    from sqlalchemy import select

    from codes.extensions import db
    from codes.models import Code

    assert db.session.scalar(select(Code).where(Code.text == "SNEAKY-CODE-27")) is None
