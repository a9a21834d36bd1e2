"""Every action says what it did, with htmx as on a plain post: the message a
plain post's next page shows comes with the htmx fragment, swapped out of band
into the page's messages (#flashes)."""

import pytest
from sqlalchemy import select

from codes.extensions import db
from codes.models import ParentCode, ParentLink
from codes.orgs import operations as orgs
from codes.parents import operations as parents
from codes.redeem.operations import redeem
from conftest import HX, said_by_htmx, soup, text_of


@pytest.fixture
def school(make, client):
    org = make.org(name="Oak School")
    room = make.classroom(org, "Room 9A")
    other = make.classroom(org, "Room 9B")
    code = make.code(org, "OAK-SPARE-2027", classrooms=[room])
    sam = make.user("Sam Student")
    redeem(sam, room.join_code.text)
    parents.link_parent(make.user("Pat Parent"), parents.make_parent_code(sam, sam).text)
    db.session.commit()
    client.login(org.admin)
    return dict(
        org=org, room=room, other=other, code=code, sam=sam, link=db.session.scalar(select(ParentLink))
    )


def said_out_of_band(response):
    """The messages an htmx answer carries for the page's message area."""
    said = said_by_htmx(response)
    assert said is not None, "the answer says nothing"
    return said


def htmx_actions(s):
    org, room, other, code, sam, link = (s[k] for k in ("org", "room", "other", "code", "sam", "link"))
    return {
        "move": (
            f"/orgs/{org.id}/users/{sam.id}/move",
            {"from_classroom_id": room.id, "to_classroom_id": other.id},
            "Sam Student moved from Room 9A to Room 9B.",
        ),
        "remove": (
            f"/orgs/{org.id}/users/{sam.id}/remove",
            {"classroom_id": room.id, "confirmed": "1"},
            "Sam Student removed from Room 9A.",
        ),
        "toggle off": (f"/codes/{code.id}/toggle", {"enabled": "0"}, "Code OAK-SPARE-2027 is off"),
        "deactivate": (
            f"/codes/{code.id}/deactivate",
            {"confirmed": "1"},
            "Code OAK-SPARE-2027 deactivated.",
        ),
        "delete": (f"/codes/{code.id}/delete", {"confirmed": "1"}, "Code OAK-SPARE-2027 deleted."),
        "deactivate in bulk": (
            f"/orgs/{org.id}/bulk/codes/{code.id}/deactivate",
            {"confirmed": "1"},
            "Code OAK-SPARE-2027 deactivated.",
        ),
        "revoke": (
            f"/orgs/{org.id}/parents/{link.id}/revoke",
            {"confirmed": "1"},
            "Pat Parent is no longer linked to Sam Student.",
        ),
        "parents can see": (
            f"/classrooms/{room.id}/parents-can-see",
            {"on": "1"},
            "Parents of Room 9A's students now see",
        ),
    }


@pytest.mark.parametrize(
    "action",
    [
        "move",
        "remove",
        "toggle off",
        "deactivate",
        "delete",
        "deactivate in bulk",
        "revoke",
        "parents can see",
    ],
)
def test_an_htmx_action_says_what_it_did(client, school, action):
    path, data, said = htmx_actions(school)[action]
    response = client.post(path, data=data, headers=HX)
    assert response.status_code == 200
    assert said in said_out_of_band(response)
    # Said once: the next page does not say it again.
    assert said not in text_of(client.get("/orgs"))


def test_a_plain_post_says_it_on_the_next_page(client, school):
    path, data, said = htmx_actions(school)["move"]
    response = client.post(path, data=data, follow_redirects=True)
    assert said in text_of(response)


def test_an_answer_that_says_nothing_new_carries_no_message_area(client, school):
    response = client.get(f"/orgs/{school['org'].id}/users", headers=HX)
    assert soup(response).find(id="flashes") is None


def test_adding_a_leader_says_so_and_adding_them_again_says_they_lead_already(client, school, make):
    org, room = school["org"], school["room"]
    lee = make.user("Lee Leader")
    make.join(org, lee)
    db.session.commit()
    first = client.post(f"/classrooms/{room.id}/leaders", data={"user_id": lee.id}, follow_redirects=True)
    assert "Lee Leader now leads Room 9A." in text_of(first)
    again = client.post(f"/classrooms/{room.id}/leaders", data={"user_id": lee.id}, follow_redirects=True)
    assert "Lee Leader already leads Room 9A: nothing was changed." in text_of(again)
    removed = client.post(f"/classrooms/{room.id}/leaders/{lee.id}/remove", follow_redirects=True)
    assert "Lee Leader no longer leads Room 9A." in text_of(removed)


def test_adding_an_instructor_again_says_they_teach_it_already(client, school, make):
    org = school["org"]
    course = make.course(org, "Algebra")
    ida = make.user("Ida Instructor")
    make.join(org, ida)
    db.session.commit()
    assert "Ida Instructor now teaches Algebra." in text_of(
        client.post(f"/courses/{course.id}/instructors", data={"user_id": ida.id}, follow_redirects=True)
    )
    assert "Ida Instructor already teaches Algebra" in text_of(
        client.post(f"/courses/{course.id}/instructors", data={"user_id": ida.id}, follow_redirects=True)
    )


def test_saving_courses_names_them(client, school, make):
    room = school["room"]
    course = make.course(school["org"], "Geometry")
    response = client.post(
        f"/classrooms/{room.id}/courses", data={"course_ids": [course.id]}, follow_redirects=True
    )
    assert "Courses saved: Room 9A enrolls its people in Geometry." in text_of(response)


def test_a_sixth_parent_code_says_it_cancelled_the_oldest(client, school):
    sam = school["sam"]
    db.session.execute(ParentCode.__table__.delete())
    made = [parents.make_parent_code(sam, sam) for _ in range(parents.MAX_ACTIVE)]
    db.session.commit()
    oldest = made[0].text
    client.login(sam)
    fifth_again = client.post("/profile/parent-codes", headers=HX)
    said = text_of(fifth_again)
    assert f"the oldest, {oldest}, was cancelled and no longer works" in said
    assert oldest not in [c.get_text() for c in soup(fifth_again).select("table code")]


def test_a_parent_code_within_the_limit_says_nothing_was_cancelled(client, school):
    sam = school["sam"]
    client.login(sam)
    said = text_of(client.post("/profile/parent-codes", follow_redirects=True))
    assert "Your new parent code is" in said and "cancelled" not in said


def test_saving_no_course_at_all_takes_them_all_away(client, school, make):
    """Every box unticked, the token in the header as htmx sends it: the post has
    no form data at all, and the courses are taken away (it was a 500)."""
    room = school["room"]
    orgs.set_classroom_courses(school["org"].admin, room, [make.course(school["org"], "Geometry").id])
    db.session.commit()
    response = client.post(f"/classrooms/{room.id}/courses")
    assert response.status_code == 303
    db.session.expire_all()
    assert room.courses == []
    assert "Courses saved" in text_of(client.get(response.headers["Location"]))
