"""A classroom's join code: made with the classroom, changed to a random or a
chosen text by its staff, the old one stopped at once with a clear message."""

import json
import re

import pytest
from sqlalchemy import select

from codes.access import Scope
from codes.errors import FieldErrors
from codes.extensions import db
from codes.joincodes import operations as joincodes
from codes.manage import operations as manage
from codes.manage.operations import CodeInput
from codes.models import AuditEvent, Classroom, ClassroomMember, Code, Organization
from codes.orgs import operations as orgs
from codes.redeem.operations import RedeemRefused, redeem
from conftest import HX, count, soup, text_of

RANDOM = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")


@pytest.fixture
def school(make):
    org = make.org(name="Oak School")
    leader = make.user("Leo Leader")
    room = make.classroom(org, "Room 9A", leaders=[leader])
    return org, room, leader


def fresh_classroom(room):
    db.session.expire_all()
    return db.session.get(Classroom, room.id)


def refusal_of(user, text):
    with pytest.raises(RedeemRefused) as info:
        redeem(user, text)
    db.session.rollback()
    return info.value


# --- made with the classroom ----------------------------------------------------------------


def test_every_new_classroom_gets_a_random_join_code_for_its_students(make, school):
    org, room, _ = school
    code = fresh_classroom(room).join_code
    assert RANDOM.match(code.text)
    assert [c.id for c in code.classrooms] == [room.id] and code.courses == []
    assert code.role == "student" and code.max_uses is None and code.enabled
    assert code.valid_from is None and code.valid_until is None
    assert code.join_code_of.id == room.id
    student = make.user()
    assert redeem(student, code.text.lower()).outcome == "ok"
    db.session.commit()
    assert db.session.get(ClassroomMember, (room.id, student.id)) is not None


def test_join_codes_of_two_classrooms_differ(make, school):
    org, room, _ = school
    other = make.classroom(org, "Room 9B")
    assert fresh_classroom(room).join_code.key != fresh_classroom(other).join_code.key


def test_seed_demo_classrooms_get_join_codes(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    classrooms = db.session.scalars(select(Classroom)).all()
    assert len(classrooms) == 2
    assert all(c.join_code is not None and RANDOM.match(c.join_code.text) for c in classrooms)


# --- changed by staff --------------------------------------------------------------------------


def test_a_new_random_join_code_replaces_the_old_one_at_once(make, school):
    org, room, leader = school
    old = fresh_classroom(room).join_code
    old_text = old.text
    new = joincodes.change_join_code(leader, fresh_classroom(room))
    db.session.commit()
    assert RANDOM.match(new.text) and new.text != old_text
    assert fresh_classroom(room).join_code_id == new.id
    old = db.session.get(Code, old.id)
    assert old.deactivated_at is not None and old.deactivated_reason == "replaced"
    refusal = refusal_of(make.user(), old_text)
    assert refusal.outcome == "invalid"
    assert refusal.message == (
        "That code is no longer valid: it was replaced by a new one. "
        "Ask whoever gave it to you for the new code."
    )
    assert redeem(make.user(), new.text).outcome == "ok"


def test_a_join_code_changed_to_a_chosen_text(make, school):
    org, room, leader = school
    old_id = fresh_classroom(room).join_code_id
    new = joincodes.change_join_code(leader, fresh_classroom(room), "  oak-9a-2027 ")
    db.session.commit()
    assert new.text == "oak-9a-2027" and new.key == "0AK9A2027"
    assert db.session.get(Code, old_id).deactivated_reason == "replaced"
    assert redeem(make.user(), "OAK 9A 2027").outcome == "ok"


@pytest.mark.parametrize(
    "text, message",
    [
        ("9A!", "A code is 4 to 40 characters long."),
        ("ROOM 9A 2027", "Use only letters, digits and dashes."),
        ("----", "A code needs letters or digits, not only dashes."),
        ("taken-2027", "That code is already taken. Choose another."),
    ],
)
def test_a_chosen_text_is_checked_like_a_custom_code(make, school, text, message):
    org, room, leader = school
    elm = make.org(name="Elm School")
    make.code(elm, "TAKEN-2027", classrooms=[make.classroom(elm, "Elm 1")])
    before = fresh_classroom(room).join_code_id
    with pytest.raises(FieldErrors) as info:
        joincodes.change_join_code(leader, fresh_classroom(room), text)
    db.session.rollback()
    assert info.value.errors == {"text": message}
    assert fresh_classroom(room).join_code_id == before
    assert db.session.get(Code, before).deactivated_at is None


def test_the_current_text_again_is_refused_plainly(make, school):
    org, room, leader = school
    current = fresh_classroom(room).join_code.text
    with pytest.raises(FieldErrors) as info:
        joincodes.change_join_code(leader, fresh_classroom(room), current.lower())
    db.session.rollback()
    assert info.value.errors == {"text": "That is already this classroom's join code."}


def test_the_new_join_code_keeps_the_old_ones_email_domain_rule(make, school):
    org, room, leader = school
    code = fresh_classroom(room).join_code
    manage.update_code(
        org.admin,
        Scope(org.admin, org),
        code,
        CodeInput(text=code.text, classroom_ids=[room.id], domains_text="oak.edu"),
    )
    db.session.commit()
    new = joincodes.change_join_code(leader, fresh_classroom(room))
    db.session.commit()
    assert new.domains == ["oak.edu"]


def test_changing_a_join_code_is_audited(make, school):
    org, room, leader = school
    old_text = fresh_classroom(room).join_code.text
    new = joincodes.change_join_code(leader, fresh_classroom(room), "OAK-ROOM-9A")
    db.session.commit()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "classroom.join_code"))
    assert event.actor_id == leader.id and event.object_id == room.id and event.org_id == org.id
    assert json.loads(event.detail) == {"old": old_text, "new": new.text}


def test_a_join_codes_text_is_not_changed_on_the_code_edit_form(make, school):
    org, room, leader = school
    code = fresh_classroom(room).join_code
    with pytest.raises(FieldErrors) as info:
        manage.update_code(
            org.admin,
            Scope(org.admin, org),
            code,
            CodeInput(text="SOMETHING-ELSE-1", classroom_ids=[room.id]),
        )
    db.session.rollback()
    assert "change its text on the classroom's page" in info.value.errors["text"]
    manage.update_code(
        org.admin,
        Scope(org.admin, org),
        code,
        CodeInput(text=code.text, classroom_ids=[room.id], max_uses=40),
    )
    db.session.commit()
    assert db.session.get(Code, code.id).max_uses == 40


def test_a_deactivated_join_code_is_replaced_keeping_its_own_reason(make, school):
    org, room, leader = school
    code = fresh_classroom(room).join_code
    manage.deactivate(org.admin, code)
    db.session.commit()
    new = joincodes.change_join_code(leader, fresh_classroom(room))
    db.session.commit()
    assert db.session.get(Code, code.id).deactivated_reason is None
    assert fresh_classroom(room).join_code_id == new.id


# --- on the classroom's page ---------------------------------------------------------------------


def test_the_classroom_page_shows_the_join_code_its_link_and_qr(client, school):
    org, room, leader = school
    code = fresh_classroom(room).join_code
    client.login(leader)
    page = soup(client.get(f"/classrooms/{room.id}"))
    card = page.find(id="join-code")
    assert card.select_one(".join-code-text code").get_text() == code.text
    assert card.find("a", href=f"http://localhost/join/{code.text}") is not None
    assert card.find("img", src=f"/codes/{code.id}/qr.svg") is not None
    assert card.find("a", href=re.compile(rf"^/codes/{code.id}/print")) is not None


def test_leader_draws_a_new_random_code_with_a_plain_post(client, school):
    org, room, leader = school
    old = fresh_classroom(room).join_code.text
    client.login(leader)
    response = client.post(f"/classrooms/{room.id}/join-code/random", data={"confirmed": "1"})
    assert response.status_code == 303 and response.headers["Location"] == f"/classrooms/{room.id}"
    new = fresh_classroom(room).join_code.text
    assert new != old
    assert f"The join code is now {new}. The old one no longer works." in text_of(
        client.get(f"/classrooms/{room.id}")
    )


def test_admin_sets_a_chosen_text_with_htmx_and_gets_the_card(client, school):
    org, room, _ = school
    client.login(org.admin)
    response = client.post(
        f"/classrooms/{room.id}/join-code", data={"confirmed": "1", "text": "OAK-9A-FALL"}, headers=HX
    )
    assert response.status_code == 200
    card = soup(response)
    assert card.find("html") is None and card.find(id="join-code") is not None
    assert card.select_one(".join-code-text code").get_text() == "OAK-9A-FALL"
    assert "The join code is now OAK-9A-FALL." in card.get_text()
    assert fresh_classroom(room).join_code.text == "OAK-9A-FALL"


@pytest.mark.parametrize("headers, status", [({}, 422), (HX, 200)])
def test_a_bad_text_is_answered_beside_the_field_and_changes_nothing(client, school, headers, status):
    org, room, leader = school
    before = fresh_classroom(room).join_code_id
    client.login(leader)
    response = client.post(
        f"/classrooms/{room.id}/join-code", data={"confirmed": "1", "text": "no spaces!"}, headers=headers
    )
    assert response.status_code == status
    page = soup(response)
    assert page.find(id="text-error").get_text(strip=True) == "Use only letters, digits and dashes."
    assert page.find("input", id="text")["value"] == "no spaces!"
    assert fresh_classroom(room).join_code_id == before
    assert count(Code) == 1


@pytest.mark.parametrize("who", ["instructor", "other_leader", "other_admin", "student"])
def test_anyone_else_gets_not_found(client, make, school, who):
    org, room, _ = school
    people = {
        "instructor": lambda: make.course(org, "Algebra", instructors=[make.user()]).instructors[0],
        "other_leader": lambda: make.classroom(org, "Room 9B", leaders=[make.user()]).leaders[0],
        "other_admin": lambda: make.org(name="Elm School").admin,
        "student": lambda: make.user(),
    }
    before = fresh_classroom(room).join_code_id
    client.login(people[who]())
    assert client.post(f"/classrooms/{room.id}/join-code/random", data={"confirmed": "1"}).status_code == 404
    assert (
        client.post(
            f"/classrooms/{room.id}/join-code", data={"confirmed": "1", "text": "MINE-2027"}
        ).status_code
        == 404
    )
    assert fresh_classroom(room).join_code_id == before


def test_the_codes_tab_tags_the_join_code(client, school):
    org, room, leader = school
    client.login(leader)
    row = soup(client.get(f"/classrooms/{room.id}/codes")).select_one("tr.code-row")
    assert "join code" in row.select_one(".tag").get_text()


def test_the_organization_keeps_one_current_join_code_per_classroom(make, school):
    org, room, leader = school
    for _ in range(3):
        joincodes.change_join_code(leader, fresh_classroom(room))
        db.session.commit()
    codes = db.session.scalars(select(Code).where(Code.org_id == org.id)).all()
    active = [c for c in codes if c.deactivated_at is None]
    assert len(codes) == 4 and [c.id for c in active] == [fresh_classroom(room).join_code_id]
    assert db.session.get(Organization, org.id).seats_taken == 0


def test_deleting_a_classroom_stops_its_join_code(make, school):
    org, room, leader = school
    text = fresh_classroom(room).join_code.text
    orgs.delete_classroom(org.admin, fresh_classroom(room))
    db.session.commit()
    refusal = refusal_of(make.user(), text)
    assert refusal.outcome == "invalid"
    assert refusal.message == "That code is no longer valid. Ask whoever gave it to you for a new one."
    assert db.session.get(Organization, org.id).seats_taken == 0
