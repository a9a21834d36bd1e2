"""Numbers past the database's integer range, in URLs, query strings and forms,
on SQLite and PostgreSQL: an id that big names nothing (404, or the list as for
any unknown id), and a number field says in plain words what it takes, one
message beside the field, changing nothing. Before, the driver raised (SQLite
past 2**63 - 1, PostgreSQL past 2,147,483,647) and the page answered 500."""

import pytest
from sqlalchemy import select

from codes.extensions import db
from codes.models import Batch, Classroom, ClassroomCourse, ClassroomLeader, Code, Organization
from codes.redeem.operations import redeem
from conftest import HX, Factory, batch_of, count, soup

# Just past PostgreSQL's integer, past SQLite's, and past any 64-bit integer.
TOO_BIG = [str(2**31), str(2**63), "99999999999999999999"]
NOT_WHOLE = ["2.5", "abc", "1e3"]


@pytest.fixture
def world(any_db_app):
    make = Factory()
    org = make.org(name="Oak School", seat_limit=50)
    course = make.course(org, "Algebra")
    room = make.classroom(org, "Room 1", courses=[course])
    other = make.classroom(org, "Room 2")
    code = make.code(org, "ROOM-ONE-2027", classrooms=[room])
    student = make.user("Sam Student")
    redeem(student, code.text)
    db.session.commit()
    client = any_db_app.test_client()
    client.login(org.admin)
    return dict(
        org=org,
        course=course,
        room=room,
        other=other,
        code=code,
        student=student,
        client=client,
        app=any_db_app,
    )


def test_every_id_in_a_url_past_the_integer_range_is_not_found(world):
    app, client = world["app"], world["client"]
    rules = [r for r in app.url_map.iter_rules() if any(name.endswith("_id") for name in r.arguments)]
    assert len(rules) > 30
    for rule in rules:
        for big in TOO_BIG:
            values = {name: big if name.endswith("_id") else "x" for name in rule.arguments}
            path = rule.rule
            for name, value in values.items():
                path = path.replace(f"<int:{name}>", value).replace(f"<{name}>", value)
            method = "GET" if "GET" in rule.methods else "POST"
            response = client.open(path, method=method)
            assert response.status_code == 404, (method, path, response.status_code)


def test_a_url_id_within_range_still_works(world):
    response = world["client"].get(f"/classrooms/{world['room'].id}")
    assert response.status_code == 200


@pytest.mark.parametrize("big", TOO_BIG)
def test_query_numbers_past_the_range_are_answered(world, big):
    client, org = world["client"], world["org"]
    for path in (
        f"/orgs/{org.id}/bulk?batch={big}&page={big}&made={big}",
        f"/orgs/{org.id}/bulk?page={big}",
        f"/orgs/{org.id}/bulk/export.csv?batch={big}",
        f"/orgs/{org.id}/users?page={big}",
        f"/orgs/{org.id}/audit?page={big}",
    ):
        for headers in ({}, HX):
            assert client.get(path, headers=headers).status_code == 200, path
    # As any unknown id: a classroom or code that is not there.
    assert client.get(f"/orgs/{org.id}/users?classroom={big}").status_code == 404
    assert client.get(f"/orgs/{org.id}/reports/compare?code={big}").status_code == 404
    assert client.get(f"/orgs/{org.id}/reports/compare?classroom={big}").status_code == 404


def test_the_bulk_table_lists_nothing_for_a_batch_past_the_range(world):
    """As for a batch that is not there: none of the codes, rather than all."""
    client, org = world["client"], world["org"]
    batch = batch_of(org, 2)

    def listed(batch_id):
        response = client.get(f"/orgs/{org.id}/bulk?batch={batch_id}", headers=HX)
        assert response.status_code == 200
        return [code.get_text(strip=True) for code in soup(response).select("#codes-table .code-text")]

    assert len(listed(batch.id)) == 2
    assert listed(TOO_BIG[-1]) == listed(batch.id + 1000) == []


def errors_of(response, name):
    field = soup(response).select_one(f"[name={name}]")
    assert field is not None, name
    return [p.get_text(strip=True) for p in field.find_parent(class_="field").select(".error")]


def org_settings(org, **changes):
    return {
        "name": org.name,
        "timezone": org.timezone,
        "seat_limit": "50",
        "default_code_days": "14",
        **changes,
    }


@pytest.mark.parametrize("field", ["seat_limit", "default_code_days"])
@pytest.mark.parametrize("value", NOT_WHOLE)
def test_org_settings_say_whole_number_once(world, field, value):
    org, client = world["org"], world["client"]
    response = client.post(f"/orgs/{org.id}/settings", data=org_settings(org, **{field: value}))
    assert response.status_code == 422
    assert errors_of(response, field) == ["Enter a whole number."]


@pytest.mark.parametrize("value", TOO_BIG)
def test_org_settings_bound_the_numbers(world, value):
    org, client = world["org"], world["client"]
    response = client.post(f"/orgs/{org.id}/settings", data=org_settings(org, seat_limit=value))
    assert response.status_code == 422
    assert errors_of(response, "seat_limit") == [
        "Enter 0 to 1,000,000 seats, or leave it empty for unlimited."
    ]
    response = client.post(f"/orgs/{org.id}/settings", data=org_settings(org, default_code_days=value))
    assert errors_of(response, "default_code_days") == ["Between 1 and 3650 days."]
    db.session.expire_all()
    assert db.session.get(Organization, org.id).seat_limit == 50


def test_a_new_organization_bounds_its_numbers(world):
    client = world["client"]
    before = count(Organization)
    response = client.post(
        "/orgs",
        data={"name": "Big", "timezone": "UTC", "seat_limit": TOO_BIG[-1], "default_code_days": "abc"},
    )
    assert response.status_code == 422
    assert errors_of(response, "seat_limit") == [
        "Enter 0 to 1,000,000 seats, or leave it empty for unlimited."
    ]
    assert errors_of(response, "default_code_days") == ["Enter a whole number."]
    assert count(Organization) == before


def test_the_number_inputs_carry_their_bounds(world):
    page = soup(world["client"].get(f"/orgs/{world['org'].id}"))
    seat_limit = page.select_one("input[name=seat_limit]")
    assert (seat_limit["min"], seat_limit["max"]) == ("0", "1000000")


@pytest.mark.parametrize("value", [*NOT_WHOLE, *TOO_BIG])
def test_the_allotment_is_a_bounded_whole_number(world, value):
    room, client = world["room"], world["client"]
    response = client.post(f"/classrooms/{room.id}/allotment", data={"seat_allotment": value})
    assert response.status_code == 422
    expected = (
        "Enter a whole number."
        if value in NOT_WHOLE
        else "Enter 0 to 1,000,000 seats, or leave it empty for none."
    )
    assert errors_of(response, "seat_allotment") == [expected]
    db.session.expire_all()
    assert db.session.get(Classroom, room.id).seat_allotment is None


def code_data(room, **changes):
    return {
        "text": "NEW-CODE-2027",
        "classroom_ids": [str(room.id)],
        "max_uses": "5",
        "role": "student",
        **changes,
    }


@pytest.mark.parametrize("value", [*NOT_WHOLE, *TOO_BIG])
def test_max_uses_is_a_bounded_whole_number(world, value):
    room, client, code = world["room"], world["client"], world["code"]
    expected = (
        "Enter a whole number."
        if value in NOT_WHOLE
        else "Max uses is 1 to 1,000,000. Leave it empty for unlimited."
    )
    response = client.post(f"/classrooms/{room.id}/codes", data=code_data(room, max_uses=value))
    assert response.status_code == 422
    assert errors_of(response, "max_uses") == [expected]
    response = client.post(f"/codes/{code.id}/edit", data=code_data(room, text=code.text, max_uses=value))
    assert response.status_code == 422
    assert errors_of(response, "max_uses") == [expected]
    assert count(Code) == 3  # two join codes and ROOM-ONE


@pytest.mark.parametrize("big", TOO_BIG)
def test_a_code_for_a_target_past_the_range_is_not_found(world, big):
    room, client = world["room"], world["client"]
    response = client.post(f"/classrooms/{room.id}/codes", data=code_data(room, classroom_ids=[big]))
    assert response.status_code == 404
    response = client.post(f"/classrooms/{room.id}/codes", data=code_data(room, course_ids=[big]))
    assert response.status_code == 404


def batch_data(room, **changes):
    return {
        "classroom_ids": [str(room.id)],
        "count": "3",
        "uses": "number",
        "max_uses": "2",
        "role": "student",
        **changes,
    }


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("count", "2.5", "Enter a whole number."),
        ("count", "abc", "Enter a whole number."),
        ("count", TOO_BIG[0], "Make 1 to 500 codes at a time."),
        ("count", TOO_BIG[-1], "Make 1 to 500 codes at a time."),
        ("max_uses", "abc", "Enter a whole number."),
        ("max_uses", TOO_BIG[0], "Max uses is 1 to 1,000,000. Choose unlimited for no limit."),
        ("max_uses", TOO_BIG[-1], "Max uses is 1 to 1,000,000. Choose unlimited for no limit."),
    ],
)
def test_the_batch_numbers_are_bounded_whole_numbers(world, field, value, expected):
    org, room, client = world["org"], world["room"], world["client"]
    response = client.post(f"/orgs/{org.id}/bulk", data=batch_data(room, **{field: value}))
    assert response.status_code == 422
    assert errors_of(response, field) == [expected]
    assert count(Batch) == 0


def test_a_number_of_uses_not_asked_for_is_not_read(world):
    org, room, client = world["org"], world["room"], world["client"]
    response = client.post(f"/orgs/{org.id}/bulk", data=batch_data(room, uses="single", max_uses="abc"))
    assert response.status_code == 303


@pytest.mark.parametrize("big", TOO_BIG)
def test_a_batch_for_a_target_past_the_range_is_not_found(world, big):
    org, room, client = world["org"], world["room"], world["client"]
    response = client.post(f"/orgs/{org.id}/bulk", data=batch_data(room, classroom_ids=[big]))
    assert response.status_code == 404


@pytest.mark.parametrize("big", TOO_BIG)
def test_moving_to_or_from_a_classroom_past_the_range_is_not_found(world, big):
    org, room, other, student, client = (world[k] for k in ("org", "room", "other", "student", "client"))
    move = f"/orgs/{org.id}/users/{student.id}/move"
    assert client.post(move, data={"from_classroom_id": room.id, "to_classroom_id": big}).status_code == 404
    assert client.post(move, data={"from_classroom_id": big, "to_classroom_id": other.id}).status_code == 404
    remove = f"/orgs/{org.id}/users/{student.id}/remove"
    assert client.post(remove, data={"classroom_id": big}).status_code == 404


@pytest.mark.parametrize("big", TOO_BIG)
def test_a_person_or_course_past_the_range_is_not_found(world, big):
    # As any id that is not the organization's (docs/SECURITY.md: out of scope is
    # 404 for every id inside a form), where it said "Choose one of the
    # organization's people." beside the field.
    room, course, client = world["room"], world["course"], world["client"]
    assert client.post(f"/classrooms/{room.id}/leaders", data={"user_id": big}).status_code == 404
    assert client.post(f"/courses/{course.id}/instructors", data={"user_id": big}).status_code == 404
    response = client.post(f"/classrooms/{room.id}/courses", data={"course_ids": [str(course.id), big]})
    assert response.status_code == 404
    assert count(ClassroomLeader) == 0
    assert db.session.scalars(
        select(ClassroomCourse.course_id).where(ClassroomCourse.classroom_id == room.id)
    ).all() == [course.id]
