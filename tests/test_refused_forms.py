"""A page of several forms drawn again after one of them was refused shows the
others as they are saved, so pressing their buttons next saves nothing new.
Before, the classroom's settings tab drew its courses unticked after a refused
allotment or rename, and Save courses then took the classroom's courses away."""

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from codes.extensions import db
from codes.models import ClassroomCourse, Organization
from codes.redeem.operations import redeem
from conftest import HX, error_beside, said_by_htmx, snapshot, soup


@pytest.fixture
def school(make, client):
    org = make.org(name="Oak School", timezone="Europe/Paris", seat_limit=40)
    algebra, biology = make.course(org, "Algebra"), make.course(org, "Biology")
    make.course(org, "Chemistry")
    room = make.classroom(org, "Room 1", courses=[algebra, biology])
    # One of its people whose address is not confirmed: no leader yet.
    una = make.user("Una", "una@x.example", verified=False)
    redeem(una, room.join_code.text)
    db.session.commit()
    client.login(org.admin)
    return dict(org=org, room=room, algebra=algebra, biology=biology, una=una)


def submitted(form):
    """What a browser sends for a form as drawn: its inputs' values, the ticked
    boxes and the chosen options."""
    data = MultiDict()
    for tag in form.find_all(["input", "select"]):
        name = tag.get("name")
        if not name:
            continue
        if tag.name == "select":
            chosen = tag.find("option", selected=True) or tag.find("option")
            if chosen is not None:
                data.add(name, chosen.get("value", chosen.get_text()))
        elif tag.get("type") in ("checkbox", "radio"):
            if tag.has_attr("checked"):
                data.add(name, tag.get("value", "on"))
        else:
            data.add(name, tag.get("value", ""))
    return data


def form_posting_to(page, path):
    form = page.find("form", action=path)
    assert form is not None, path
    return form


def ticked(page, room):
    form = form_posting_to(page, f"/classrooms/{room.id}/courses")
    return sorted(box.parent.get_text(strip=True) for box in form.select("input[type=checkbox][checked]"))


def saved_courses(room):
    db.session.expire_all()
    return sorted(
        db.session.scalars(select(ClassroomCourse.course_id).where(ClassroomCourse.classroom_id == room.id))
    )


REFUSALS = {
    "allotment": lambda s: (f"/classrooms/{s['room'].id}/allotment", {"seat_allotment": "-3"}),
    "rename": lambda s: (f"/classrooms/{s['room'].id}/rename", {"name": ""}),
    # Staff roles go only to confirmed addresses. (A person who is not one of the
    # organization's people is no refusal: 404, as if they did not exist.)
    "leader": lambda s: (f"/classrooms/{s['room'].id}/leaders", {"user_id": s["una"].id}),
}


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_the_settings_tab_after_a_refusal_shows_what_is_saved(client, school, refusal):
    room = school["room"]
    path, data = REFUSALS[refusal](school)
    response = client.post(path, data=data)
    assert response.status_code == 422
    page = soup(response)
    assert page.select(".error"), "the refusal is shown"
    assert ticked(page, room) == ["Algebra", "Biology"]
    if refusal != "rename":
        assert (
            form_posting_to(page, f"/classrooms/{room.id}/rename").select_one("input[name=name]")["value"]
            == "Room 1"
        )
    if refusal != "allotment":
        assert (
            form_posting_to(page, f"/classrooms/{room.id}/allotment").select_one(
                "input[name=seat_allotment]"
            )["value"]
            == ""
        )

    # Pressing Save courses next saves what was there.
    courses = form_posting_to(page, f"/classrooms/{room.id}/courses")
    assert client.post(courses["action"], data=submitted(courses)).status_code == 303
    assert saved_courses(room) == sorted([school["algebra"].id, school["biology"].id])


def test_another_organizations_course_for_the_classroom_changes_nothing_saved(client, school, make):
    # Not a refusal drawn on the tab: an id that is not the organization's is 404,
    # as if it did not exist (docs/SECURITY.md), and what is saved stays.
    room = school["room"]
    client.post(f"/classrooms/{room.id}/allotment", data={"seat_allotment": "12"})
    stranger = make.course(make.org(name="Elm School"), "Elm Course")
    response = client.post(f"/classrooms/{room.id}/courses", data={"course_ids": [stranger.id]})
    assert response.status_code == 404
    assert saved_courses(room) == sorted([school["algebra"].id, school["biology"].id])
    page = soup(client.get(f"/classrooms/{room.id}/settings"))
    assert (
        form_posting_to(page, f"/classrooms/{room.id}/allotment").select_one("input[name=seat_allotment]")[
            "value"
        ]
        == "12"
    )


def settings_shown(page, org):
    form = form_posting_to(page, f"/orgs/{org.id}/settings")
    return {name: value for name, value in submitted(form).items() if not name.endswith("csrf_token")}


ORG_REFUSALS = {
    # An email that cannot be invited: not an address at all.
    "add a person": lambda org: (f"/orgs/{org.id}/people", {"person-email": "not an address"}),
    "add a classroom": lambda org: (f"/orgs/{org.id}/classrooms", {"classroom-name": ""}),
    "add a course": lambda org: (f"/orgs/{org.id}/courses", {"course-name": ""}),
}


@pytest.mark.parametrize("refusal", sorted(ORG_REFUSALS))
def test_the_org_page_after_a_refusal_shows_the_saved_settings(client, school, refusal):
    org = school["org"]
    path, data = ORG_REFUSALS[refusal](org)
    response = client.post(path, data=data)
    assert response.status_code == 422
    page = soup(response)
    assert page.select(".error")
    assert settings_shown(page, org) == {
        "name": "Oak School",
        "timezone": "Europe/Paris",
        "seat_limit": "40",
        "default_code_days": "14",
    }
    form = form_posting_to(page, f"/orgs/{org.id}/settings")
    assert client.post(form["action"], data=submitted(form)).status_code == 303
    db.session.expire_all()
    saved = db.session.get(Organization, org.id)
    assert (saved.name, saved.timezone, saved.seat_limit, saved.default_code_days) == (
        "Oak School",
        "Europe/Paris",
        40,
        14,
    )


def test_the_org_page_after_refused_settings_keeps_the_other_forms_empty(client, school):
    org = school["org"]
    response = client.post(
        f"/orgs/{org.id}/settings", data={"name": "", "timezone": "UTC", "seat_limit": "40"}
    )
    assert response.status_code == 422
    page = soup(response)
    assert settings_shown(page, org)["name"] == ""
    for form_path in ("people", "classrooms", "courses"):
        form = form_posting_to(page, f"/orgs/{org.id}/{form_path}")
        assert [value for name, value in submitted(form).items() if not name.endswith("csrf_token")] == [""]


@pytest.mark.parametrize("refusal", ["rename", "instructor"])
def test_the_course_page_after_a_refusal_shows_what_is_saved(client, school, refusal):
    course = school["algebra"]
    if refusal == "rename":
        response = client.post(f"/courses/{course.id}/rename", data={"name": ""})
    else:
        # Staff roles go only to confirmed addresses (someone who is not one of the
        # organization's people is 404, no refusal).
        response = client.post(f"/courses/{course.id}/instructors", data={"user_id": school["una"].id})
    assert response.status_code == 422
    page = soup(response)
    assert page.select(".error")
    if refusal == "instructor":
        assert (
            form_posting_to(page, f"/courses/{course.id}/rename").select_one("input[name=name]")["value"]
            == "Algebra"
        )
    people = form_posting_to(page, f"/courses/{course.id}/instructors").select("option")
    assert "Admin" in [option.get_text().split(" (")[0] for option in people]


def test_with_htmx_save_courses_answers_its_part(client, school):
    room, algebra = school["room"], school["algebra"]
    done = client.post(f"/classrooms/{room.id}/courses", data={"course_ids": [str(algebra.id)]}, headers=HX)
    assert done.status_code == 200 and done.headers["Vary"].startswith("HX-Request")
    part = soup(done)
    assert part.find("html") is None and part.find("section")["id"] == "classroom-courses"
    assert ticked(part, room) == ["Algebra"]
    assert said_by_htmx(done) == "Courses saved: Room 1 enrolls its people in Algebra."


def test_with_htmx_add_leader_answers_its_part_done_or_refused(client, school, make):
    room = school["room"]
    lea = make.user("Lea Lead", "lea@x.example")
    redeem(lea, room.join_code.text)
    db.session.commit()
    done = client.post(f"/classrooms/{room.id}/leaders", data={"user_id": str(lea.id)}, headers=HX)
    assert done.status_code == 200
    part = soup(done)
    assert part.find("section")["id"] == "classroom-leaders"
    assert "Lea Lead" in part.find("ul").get_text()
    assert said_by_htmx(done) == "Lea Lead now leads Room 1."
    again = client.post(f"/classrooms/{room.id}/leaders", data={"user_id": str(lea.id)}, headers=HX)
    assert said_by_htmx(again) == "Lea Lead already leads Room 1: nothing was changed."

    before = snapshot()
    unconfirmed = school["una"]
    refused = client.post(f"/classrooms/{room.id}/leaders", data={"user_id": str(unconfirmed.id)}, headers=HX)
    assert refused.status_code == 200, "htmx swaps no 4xx: the part with its message"
    part = soup(refused)
    assert part.find("section")["id"] == "classroom-leaders"
    assert part.find(attrs={"aria-invalid": "true"}) is not None
    assert error_beside(part, "user_id"), "the message beside the field"
    assert said_by_htmx(refused) is None
    assert snapshot() == before
