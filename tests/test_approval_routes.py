"""Approval mode and the leak guard as staff and students see them, without
JavaScript and with htmx, for each role's scope (out of scope is 404)."""

import pytest
from sqlalchemy import select

from codes.extensions import db
from codes.models import (
    ACCEPTED,
    DECLINED,
    PENDING,
    SPIKE_SURGE,
    ClassroomMember,
    Code,
    JoinRequest,
    OrgMember,
    Redemption,
)
from codes.redeem.operations import redeem
from conftest import HX, count, error_beside, said_by_htmx, soup, text_of


@pytest.fixture
def school(make):
    org = make.org(name="Oak School")
    leader = make.user("Leo Leader")
    other_leader = make.user("Olga Other")
    instructor = make.user("Ian Instructor")
    room = make.classroom(org, "Room 9A", leaders=[leader])
    make.classroom(org, "Room 9B", leaders=[other_leader])
    make.course(org, "Algebra", instructors=[instructor])
    code = make.code(org, "OAK-ASK-2027", classrooms=[room], approval=True)
    student = make.user("Sam Student")
    redeem(student, "OAK-ASK-2027")
    db.session.commit()
    join_request = db.session.scalar(select(JoinRequest))
    return dict(
        org=org,
        leader=leader,
        other_leader=other_leader,
        instructor=instructor,
        room=room,
        code=code,
        student=student,
        request=join_request,
    )


def state_of(join_request):
    db.session.expire_all()
    return db.session.get(JoinRequest, join_request.id).state


def test_the_profile_says_waiting_for_approval_then_the_outcome(client, school):
    client.login(school["student"])
    assert "OAK-ASK-2027 at Oak School: waiting for approval" in text_of(client.get("/profile"))
    client.login(school["leader"])
    client.post(f"/requests/{school['request'].id}/accept")
    client.login(school["student"])
    page = text_of(client.get("/profile"))
    assert "OAK-ASK-2027 at Oak School: accepted on" in page
    assert "Room 9A" in soup(client.get("/profile")).find(id="my-classrooms").get_text()


def test_typing_a_code_in_approval_mode_says_it_waits(client, make, school):
    client.login(make.user("Nia New"))
    answer = client.post("/redeem", data={"code": "OAK-ASK-2027"}, headers=HX)
    assert answer.status_code == 200
    assert "waiting for approval by its staff" in text_of(answer)
    assert count(JoinRequest) == 2 and count(Redemption) == 0


def test_the_code_page_and_the_classroom_show_the_queue_with_a_count(client, school):
    client.login(school["leader"])
    page = soup(client.get(f"/codes/{school['code'].id}/edit"))
    assert page.find(id="waiting-count").get_text(strip=True) == "1 waiting"
    assert "Sam Student" in page.find(id="requests").get_text()
    tab = soup(client.get(f"/classrooms/{school['room'].id}/codes"))
    assert "1 person waits for approval" in tab.find(id="waiting-note").get_text()
    assert "1 waiting" in tab.find(id=f"code-{school['code'].id}").get_text()


def test_accepting_without_javascript_goes_back_to_the_code(client, school):
    client.login(school["leader"])
    answer = client.post(f"/requests/{school['request'].id}/accept")
    assert answer.status_code == 303 and answer.location.endswith(f"/codes/{school['code'].id}/edit")
    assert state_of(school["request"]) == ACCEPTED
    assert count(ClassroomMember, ClassroomMember.user_id == school["student"].id) == 1
    assert "Sam Student is in" in text_of(client.get(answer.location))


def test_accepting_with_htmx_swaps_the_section(client, school):
    client.login(school["org"].admin)
    answer = client.post(f"/requests/{school['request'].id}/accept", headers=HX)
    assert answer.status_code == 200
    section = soup(answer).find(id="guard")
    assert section is not None and section.find(id="requests") is None
    assert "Sam Student is in" in said_by_htmx(answer)
    assert state_of(school["request"]) == ACCEPTED


def test_declining_asks_first_without_javascript(client, school):
    client.login(school["leader"])
    url = f"/requests/{school['request'].id}/decline"
    asked = client.post(url)
    assert asked.status_code == 200 and "Decline Sam Student's request" in text_of(asked)
    assert state_of(school["request"]) == PENDING
    done = client.post(url, data={"confirmed": "1"}, headers=HX)
    assert done.status_code == 200 and "Sam Student's request was declined." in said_by_htmx(done)
    assert state_of(school["request"]) == DECLINED


def test_accept_all_and_decline_all_ask_first(client, make, school):
    for name in ("Ann", "Bob"):
        redeem(make.user(name), "OAK-ASK-2027")
    db.session.commit()
    client.login(school["leader"])
    url = f"/codes/{school['code'].id}/requests/accept-all"
    assert "Accept all 3 waiting for OAK-ASK-2027" in text_of(client.post(url))
    assert count(JoinRequest, JoinRequest.state == PENDING) == 3
    done = client.post(url, data={"confirmed": "1"})
    assert done.status_code == 303
    assert count(JoinRequest, JoinRequest.state == ACCEPTED) == 3
    assert "3 requests accepted." in text_of(client.get(done.location))


def test_a_removal_missing_its_classroom_is_said_beside_the_section(client, make, school):
    leak(make, school)
    client.login(school["leader"])
    answer = client.post(f"/codes/{school['code'].id}/joined/remove", data={"user_id": school["student"].id})
    assert answer.status_code == 422
    assert "Choose the classroom they leave." in soup(answer).find(id="guard").get_text()


@pytest.mark.parametrize("who", ["other_leader", "instructor", "student", "stranger", "other_org_admin"])
def test_out_of_scope_is_404_for_every_action(client, make, school, who):
    person = {
        "stranger": lambda: make.user("Stranger"),
        "other_org_admin": lambda: make.org(name="Elm School").admin,
    }.get(who, lambda: school[who])()
    client.login(person)
    code_id, request_id = school["code"].id, school["request"].id
    for path, data in [
        (f"/codes/{code_id}/edit", None),
        (f"/requests/{request_id}/accept", {}),
        (f"/requests/{request_id}/decline", {"confirmed": "1"}),
        (f"/codes/{code_id}/requests/accept-all", {"confirmed": "1"}),
        (f"/codes/{code_id}/requests/decline-all", {"confirmed": "1"}),
        (f"/codes/{code_id}/rotate", {"confirmed": "1"}),
        (f"/codes/{code_id}/spike/dismiss", {}),
        (
            f"/codes/{code_id}/joined/remove",
            {"user_id": school["student"].id, "classroom_id": school["room"].id},
        ),
    ]:
        answer = client.get(path) if data is None else client.post(path, data=data)
        assert answer.status_code == 404, path
    assert state_of(school["request"]) == PENDING


def test_a_person_or_classroom_out_of_scope_inside_the_removal_form_is_404(client, make, school):
    people = leak(make, school)
    client.login(school["leader"])
    url = f"/codes/{school['code'].id}/joined/remove"
    other_room = make.classroom(school["org"], "Room 9C")
    stranger = make.user("Stranger")
    for data in [
        {"user_id": people[0].id, "classroom_id": other_room.id, "confirmed": "1"},
        {"user_id": stranger.id, "classroom_id": school["room"].id, "confirmed": "1"},
    ]:
        assert client.post(url, data=data).status_code == 404
    assert count(ClassroomMember, ClassroomMember.user_id == people[0].id) == 1


def test_staff_set_approval_and_the_guard_on_the_edit_form(client, school):
    code = school["code"]
    client.login(school["leader"])
    answer = client.post(
        f"/codes/{code.id}/edit",
        data={
            "text": code.text,
            "classroom_ids": [school["room"].id],
            "role": "student",
            "hourly_limit": "abc",
            "expected_domains": "school.org",
        },
    )
    assert answer.status_code == 422
    assert error_beside(soup(answer), "hourly_limit") == "Enter a whole number."
    answer = client.post(
        f"/codes/{code.id}/edit",
        data={
            "text": code.text,
            "classroom_ids": [school["room"].id],
            "role": "student",
            "hourly_limit": "25",
            "expected_domains": "@School.org",
        },
    )
    assert answer.status_code == 303
    db.session.expire_all()
    saved = db.session.get(Code, code.id)
    assert not saved.approval and saved.hourly_limit == 25 and saved.expected == ["school.org"]


def edit_data(school, **changes):
    data = {"text": school["code"].text, "classroom_ids": [school["room"].id], "role": "student"}
    data.update(changes)
    return data


def test_staff_turn_the_surge_watch_on_and_off_on_the_edit_form(client, school):
    code = school["code"]
    client.login(school["leader"])
    page = soup(client.get(f"/codes/{code.id}/edit"))
    assert page.select_one("input[name=surge_guard]:not([checked])") is not None, "off by default"
    assert client.post(f"/codes/{code.id}/edit", data=edit_data(school, surge_guard="y")).status_code == 303
    db.session.expire_all()
    assert db.session.get(Code, code.id).surge_guard is True
    page = soup(client.get(f"/codes/{code.id}/edit"))
    assert page.select_one("input[name=surge_guard][checked]") is not None
    assert client.post(f"/codes/{code.id}/edit", data=edit_data(school)).status_code == 303
    db.session.expire_all()
    assert db.session.get(Code, code.id).surge_guard is False


@pytest.mark.parametrize("sent, guarded", [("y", True), (None, False)])
def test_a_new_code_watches_for_a_surge_when_ticked(client, school, sent, guarded):
    room = school["room"]
    client.login(school["leader"])
    data = {"text": "OAK-NEWS-2027", "classroom_ids": room.id, "role": "student"}
    if sent is not None:
        data["surge_guard"] = sent
    assert client.post(f"/classrooms/{room.id}/codes", data=data).status_code == 303
    assert db.session.scalar(select(Code.surge_guard).where(Code.text == "OAK-NEWS-2027")) is guarded


@pytest.mark.parametrize("sent", ["maybe", "yes please", "2"])
def test_a_surge_watch_neither_ticked_nor_empty_is_refused_beside_it(client, school, sent):
    code = school["code"]
    client.login(school["leader"])
    answer = client.post(f"/codes/{code.id}/edit", data=edit_data(school, surge_guard=sent))
    assert answer.status_code == 422
    page = soup(answer)
    assert error_beside(page, "surge_guard") == "Tick the box to watch for a surge, or leave it empty."
    box = page.select_one("input[name=surge_guard]")
    assert box["aria-invalid"] == "true" and "surge_guard-error" in box["aria-describedby"].split()
    db.session.expire_all()
    assert db.session.get(Code, code.id).surge_guard is False


@pytest.mark.parametrize("sent", ["0", "off", "false", ""])
def test_approval_sent_as_off_turns_it_off(client, school, sent):
    """WTForms' BooleanField read every value but "" and "false" as ticked:
    "0" and "off" turned approval on."""
    code = school["code"]
    client.login(school["leader"])
    assert client.post(f"/codes/{code.id}/edit", data=edit_data(school, approval=sent)).status_code == 303
    db.session.expire_all()
    assert db.session.get(Code, code.id).approval is False


def test_approval_neither_ticked_nor_empty_is_refused_beside_it(client, school):
    code = school["code"]
    client.login(school["leader"])
    answer = client.post(f"/codes/{code.id}/edit", data=edit_data(school, approval="maybe"))
    assert answer.status_code == 422
    assert error_beside(soup(answer), "approval") == "Tick the box to approve each person, or leave it empty."


def test_a_surge_warning_names_the_usual_rate(client, school):
    code = db.session.get(Code, school["code"].id)
    code.spike_at, code.spike_reason = code.created_at, SPIKE_SURGE
    code.spike_count, code.spike_usual = 12, 0.5
    db.session.commit()
    client.login(school["leader"])
    warning = soup(client.get(f"/codes/{code.id}/edit")).find(id="spike-warning").get_text(" ", strip=True)
    assert "it had 12 redemptions within an hour, against a usual 0.5 an hour" in warning


def leak(make, school, joined=3):
    code = db.session.get(Code, school["code"].id)
    code.approval, code.hourly_limit = False, joined
    db.session.commit()
    people = [make.user(f"Walk In {i}") for i in range(joined + 1)]
    for person in people:
        redeem(person, "OAK-ASK-2027")
        db.session.commit()
    return people


def test_a_leaked_code_warns_rotates_and_lets_staff_remove_who_joined(client, make, school):
    people = leak(make, school)
    code_id = school["code"].id
    client.login(school["leader"])
    page = soup(client.get(f"/codes/{code_id}/edit"))
    assert "This code may have leaked" in page.find(id="spike-warning").get_text()
    assert [
        r.get_text(" ", strip=True).split(" ")[0] for r in page.find(id="joined-since").find_all("tr")[1:]
    ] == ["Walk"] * 3
    rotated = client.post(f"/codes/{code_id}/rotate", data={"confirmed": "1"}, headers=HX)
    assert rotated.status_code == 200 and "The old text no longer works" in said_by_htmx(rotated)
    db.session.expire_all()
    new_text = db.session.get(Code, code_id).text
    assert new_text != "OAK-ASK-2027"
    removed = client.post(
        f"/codes/{code_id}/joined/remove",
        data={"user_id": people[0].id, "classroom_id": school["room"].id, "confirmed": "1"},
    )
    assert removed.status_code == 303
    assert count(ClassroomMember, ClassroomMember.user_id == people[0].id) == 0
    page = soup(client.get(f"/codes/{code_id}/edit"))
    assert "In none of its classrooms now." in page.find(id="joined-since").get_text()
    client.login(make.user("Late Comer"))
    answer = client.post("/redeem", data={"code": "OAK-ASK-2027"}, headers=HX)
    assert "no longer valid: it was replaced by a new one" in text_of(answer)
    assert count(OrgMember, OrgMember.is_student) == 3
