"""An action that cannot be undone asks first (codes/questions.py): the button asks
where JavaScript runs and sends confirmed=1; without JavaScript the route answers a
page of its own that asks, changes nothing, and whose form does the action."""

import pytest
from sqlalchemy import select

from codes.extensions import db
from codes.models import Classroom, ClassroomMember, Code, ParentLink
from codes.parents import operations as parents
from codes.redeem.operations import redeem
from conftest import soup


@pytest.fixture
def school(make, client):
    org = make.org(name="Oak School")
    room = make.classroom(org, "Room 9A")
    code = make.code(org, "OAK-SPARE-2027", classrooms=[room])
    sam = make.user("Sam Student")
    redeem(sam, room.join_code.text)
    parents.link_parent(make.user("Pat Parent"), parents.make_parent_code(sam, sam).text)
    db.session.commit()
    client.login(org.admin)
    return dict(org=org, room=room, code=code, sam=sam, link=db.session.scalar(select(ParentLink)))


def actions(s):
    org, room, code, sam, link = (s[k] for k in ("org", "room", "code", "sam", "link"))
    return {
        "deactivate a code": (
            f"/codes/{code.id}/deactivate",
            {},
            lambda: db.session.get(Code, code.id).deactivated_at is not None,
            "Deactivate OAK-SPARE-2027 for good?",
        ),
        "delete a code": (
            f"/codes/{code.id}/delete",
            {},
            lambda: db.session.get(Code, code.id).deleted_at is not None,
            "Delete OAK-SPARE-2027?",
        ),
        "deactivate in bulk": (
            f"/orgs/{org.id}/bulk/codes/{code.id}/deactivate",
            {},
            lambda: db.session.get(Code, code.id).deactivated_at is not None,
            "Deactivate OAK-SPARE-2027 for good?",
        ),
        "remove a student": (
            f"/orgs/{org.id}/users/{sam.id}/remove",
            {"classroom_id": room.id},
            lambda: db.session.get(ClassroomMember, (room.id, sam.id)) is None,
            "Remove Sam Student from Room 9A?",
        ),
        "revoke a parent link": (
            f"/orgs/{org.id}/parents/{link.id}/revoke",
            {},
            lambda: db.session.get(ParentLink, link.id).revoked_at is not None,
            "Revoke Pat Parent's link to Sam Student?",
        ),
        "delete a classroom": (
            f"/classrooms/{room.id}/delete",
            {},
            lambda: db.session.get(Classroom, room.id) is None,
            "Delete the classroom Room 9A?",
        ),
    }


@pytest.mark.parametrize(
    "action",
    [
        "deactivate a code",
        "delete a code",
        "deactivate in bulk",
        "remove a student",
        "revoke a parent link",
        "delete a classroom",
    ],
)
def test_without_javascript_it_asks_on_a_page_then_does_it(client, school, action):
    path, data, done, asked = actions(school)[action]
    page = client.post(path, data={**data, "next": "/orgs"})
    assert page.status_code == 200
    db.session.expire_all()
    assert not done(), "nothing is done before the answer"
    form = soup(page).select_one("#confirm form")
    assert asked in soup(page).select_one("#confirm").get_text()
    assert form["action"] == path
    sent = {i["name"]: i["value"] for i in form.find_all("input")}
    assert sent["confirmed"] == "1" and sent["next"] == "/orgs"
    assert soup(page).select_one("#confirm a")["href"] == "/orgs", "keeping it goes back"
    response = client.post(path, data={k: v for k, v in sent.items() if k != "csrf_token"})
    assert response.status_code in (200, 303)
    db.session.expire_all()
    assert done()


def test_the_button_asks_the_same_question_and_answers_it_for_htmx(client, school):
    code = school["code"]
    row = soup(client.get(f"/classrooms/{school['room'].id}/codes"))
    form = row.find("form", action=f"/codes/{code.id}/deactivate")
    assert form["data-hx-confirm"].startswith("Deactivate OAK-SPARE-2027 for good?")
    assert form["data-confirm"] == form["data-hx-confirm"]
    assert form["data-hx-vals"] == '{"confirmed": "1"}'


def test_a_hostile_next_is_not_carried_into_the_page(client, school):
    code = school["code"]
    page = soup(client.post(f"/codes/{code.id}/deactivate", data={"next": "https://evil.example/"}))
    assert "evil" not in str(page.select_one("#confirm"))


def test_declining_an_invitation_asks_first_without_javascript(app, school, make):
    from codes.invitations.operations import invite
    from codes.models import Invitation

    ivy = make.user("Ivy Invited", email="ivy@example.org")
    invitation = invite(school["org"].admin, school["org"], "ivy@example.org")
    db.session.commit()
    client = app.test_client()
    client.login(ivy)
    path = f"/profile/invitations/{invitation.id}/decline"
    page = client.post(path)
    assert "Decline the invitation of Oak School?" in soup(page).select_one("#confirm").get_text()
    db.session.expire_all()
    assert db.session.get(Invitation, invitation.id).declined_at is None
    assert client.post(path, data={"confirmed": "1"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Invitation, invitation.id).declined_at is not None
