"""Choices by classroom (issue 13): each staff member chooses, for each
classroom in their scope, its daily digest and the alerts about its codes, "as
for the organization", on or off; the digest and the alerts honour the most
specific choice, and the one-click unsubscribe of an alert about a code turns
off that code's classrooms alone (docs/JOBS.md, "Choices by classroom"). Mail is
read from a real SMTP server on loopback."""

from datetime import timedelta

import pytest
from smtp_support import Server

from codes.access import Scope
from codes.extensions import db
from codes.jobs.worker import run_until_idle
from codes.models import ClassroomNotificationSetting, Redemption, utcnow
from codes.notifications import alerts, choices
from codes.notifications import operations as notifications
from codes.orgs.operations import delete_classroom
from codes.redeem.operations import redeem
from conftest import HX, Factory, error_beside, snapshot, soup, text_of

ROOMS = "/orgs/{}/notifications/classrooms"


@pytest.fixture
def server(app):
    started = Server().start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=started.port, MAIL_TIMEOUT=5)
    yield started
    started.stop()


def delivered(app, server):
    """(to, subject, text) of what the loopback server received once the queue
    ran, and the inbox emptied for the next step."""
    db.session.commit()
    run_until_idle(app)
    got = [(m["To"], m["Subject"], m.get_body(("plain",)).get_content()) for m in server.inbox.messages()]
    server.inbox.envelopes.clear()
    return got


def _school(make):
    org = make.org()
    leader = make.user("Leo Leader", "leo@oak.example")
    room1 = make.classroom(org, "Room 1", leaders=[leader])
    room2 = make.classroom(org, "Room 2")
    elm = make.org(make.user("Bea Admin", "bea@elm.example"), name="Elm School")
    elm_leader = make.user("Eli Leader", "eli@elm.example")
    elm_room = make.classroom(elm, "Elm Room", leaders=[elm_leader])
    return org, leader, room1, room2, elm, elm_leader, elm_room


def unchanged():
    """Every row of every table but the log-ins' sessions."""
    return {k: v for k, v in snapshot().items() if k != "user_sessions"}


def _choice(user, room):
    db.session.expire_all()
    return choices.room_choice(user, room)


def test_a_leader_sees_and_sets_only_the_classrooms_they_lead(client, make):
    org, leader, room1, room2, *_ = _school(make)
    client.login(leader)
    page = soup(client.get(f"/orgs/{org.id}/notifications"))
    card = page.find(id="room-mail")
    assert card is not None and card.find(id=f"room-choice-{room1.id}") is not None
    assert card.find(id=f"room-choice-{room2.id}") is None and "Room 2" not in card.get_text()
    form = card.find(id=f"room-choice-{room1.id}")
    assert form["method"] == "post" and form["data-hx-post"] == ROOMS.format(org.id)
    assert form.find("input", attrs={"name": "csrf_token"}) is not None
    options = [o["value"] for o in form.find("select", attrs={"name": "digest"}).find_all("option")]
    assert options == ["org", "on", "off"]

    answer = client.post(
        ROOMS.format(org.id), data={"classroom_id": room1.id, "digest": "off", "alerts": "on"}
    )
    assert answer.status_code == 303
    assert _choice(leader, room1) == choices.RoomChoice(room1, choices.OFF, choices.ON)
    assert "Saved your choices for Room 1." in text_of(client.get(answer.headers["Location"]))

    answer = client.post(
        ROOMS.format(org.id), data={"classroom_id": room1.id, "digest": "org", "alerts": "org"}, headers=HX
    )
    assert answer.status_code == 200 and "HX-Request" in answer.headers["Vary"]
    fragment = soup(answer)
    assert fragment.find("form")["id"] == f"room-choice-{room1.id}", "the classroom's form alone"
    assert "Saved your choices for Room 1." in text_of(answer)
    assert fragment.find("select", attrs={"name": "digest"}).find("option", selected=True)["value"] == "org"
    assert db.session.get(ClassroomNotificationSetting, (leader.id, room1.id)) is None, "nothing kept"


def test_a_classroom_outside_the_persons_scope_in_the_form_is_404(client, make):
    org, leader, room1, room2, elm, elm_leader, elm_room = _school(make)
    teacher = make.user("Ivy Instructor", "ivy@oak.example")
    make.course(org, "Algebra", instructors=[teacher])
    cases = [
        (leader, org, room2.id),  # the organization's, not theirs
        (leader, org, elm_room.id),  # another organization's
        (org.admin, org, elm_room.id),
        (teacher, org, room1.id),  # an instructor leads no classroom
        (elm_leader, org, room1.id),  # another organization's leader, at this one's URL
        (elm_leader, elm, room1.id),  # and at their own
        (leader, org, "abc"),
        (leader, org, "99999999999"),
        (leader, org, ""),
    ]
    before = unchanged()
    for person, at, room_id in cases:
        client.login(person)
        for headers in ({}, HX):
            data = {"classroom_id": room_id, "digest": "off", "alerts": "off"}
            answer = client.post(ROOMS.format(at.id), data=data, headers=headers)
            assert answer.status_code == 404, (person.name, at.name, room_id, headers)
        client.post("/logout")
    assert unchanged() == before


def test_an_admin_sees_every_classroom_a_page_at_a_time_those_chosen_first(client, make):
    org = make.org()
    rooms = [make.classroom(org, f"Room {n:02d}") for n in range(1, choices.PER_PAGE + 6)]
    last = rooms[-1]
    choices.set_room_choices(org.admin, last, choices.OFF, choices.FOLLOW)
    db.session.commit()
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/notifications"))
    forms = page.find(id="room-mail").find_all("form", class_="room-choice")
    assert len(forms) == choices.PER_PAGE
    assert forms[0]["id"] == f"room-choice-{last.id}", "the classroom chosen for comes first"
    assert forms[0].find("select", attrs={"name": "digest"}).find("option", selected=True)["value"] == "off"
    assert page.find("a", rel="next")["href"] == f"/orgs/{org.id}/notifications?page=2"
    second = client.get(f"/orgs/{org.id}/notifications?page=2", headers=HX)
    assert second.status_code == 200 and soup(second).find("section")["id"] == "room-mail"
    shown = [f["id"] for f in soup(second).find_all("form", class_="room-choice")]
    assert len(shown) == 5 and f"room-choice-{last.id}" not in shown
    assert "Page 2 of 2" in text_of(second)
    for bad in ("0", "-3", "abc", "99999999999999"):
        assert client.get(f"/orgs/{org.id}/notifications?page={bad}").status_code == 200


@pytest.mark.parametrize("field, value", [("digest", "maybe"), ("alerts", ""), ("digest", "x" * 5000)])
def test_a_bad_value_is_refused_beside_its_field_and_nothing_changes(client, make, field, value):
    org, leader, room1, *_ = _school(make)
    choices.set_room_choices(leader, room1, choices.ON, choices.OFF)
    db.session.commit()
    client.login(leader)
    data = {"classroom_id": room1.id, "digest": "off", "alerts": "on", field: value}
    before = unchanged()
    answer = client.post(ROOMS.format(org.id), data=data)
    assert answer.status_code == 422
    page = soup(answer)
    assert error_beside(page, f"{field}-{room1.id}") == "Choose one of: as for the organization, on, off."
    other = "alerts" if field == "digest" else "digest"
    assert error_beside(page, f"{other}-{room1.id}") is None
    assert page.find(id=f"{field}-{room1.id}")["aria-invalid"] == "true"
    assert unchanged() == before
    answer = client.post(ROOMS.format(org.id), data=data, headers=HX)
    assert answer.status_code == 200
    assert (
        error_beside(soup(answer), f"{field}-{room1.id}")
        == "Choose one of: as for the organization, on, off."
    )
    assert "Saved" not in text_of(answer)
    assert unchanged() == before
    assert _choice(leader, room1) == choices.RoomChoice(room1, choices.ON, choices.OFF)


def test_a_choice_goes_with_its_classroom(app, make):
    org, leader, room1, *_ = _school(make)
    choices.set_room_choices(leader, room1, choices.OFF, choices.OFF)
    db.session.commit()
    delete_classroom(org.admin, room1)
    db.session.commit()
    assert db.session.query(ClassroomNotificationSetting).count() == 0


def _joined_yesterday(make, org, people):
    for name, email, room in people:
        redeem(make.user(name, email), room.join_code.text)
    db.session.commit()
    db.session.execute(Redemption.__table__.update().values(created_at=utcnow() - timedelta(days=1)))
    db.session.commit()


def _digests(app, server):
    notifications.send_digests({"period": utcnow().date().isoformat()})
    return {to: text for to, subject, text in delivered(app, server) if "joined on" in subject}


def test_the_digest_honours_each_classrooms_choice_over_the_organizations(app, make, server):
    org = make.org(make.user("Ada Admin", "ada@oak.example"))
    leo, una = make.user("Leo Leader", "leo@oak.example"), make.user("Una Leader", "una@oak.example")
    room1 = make.classroom(org, "Room 1", leaders=[leo, una])
    room2 = make.classroom(org, "Room 2", leaders=[leo])
    room3 = make.classroom(org, "Room 3", leaders=[una])
    notifications.set_welcome(org.admin, org, False)
    _joined_yesterday(
        make,
        org,
        [("Sam One", "sam@oak.example", room1), ("Tia Two", "tia@oak.example", room2)]
        + [("Raj Three", "raj@oak.example", room3)],
    )
    delivered(app, server)  # the alerts and welcomes of the joining, if any
    # The admin wants the organization's digest, but not Room 2's.
    choices.set_room_choices(org.admin, room2, choices.OFF, choices.FOLLOW)
    # Leo turned the organization's digest off, and Room 2's on.
    notifications.set_choice(leo, org, notifications.DIGEST, False)
    choices.set_room_choices(leo, room2, choices.ON, choices.FOLLOW)
    # Una wants the organization's, and turned Room 3's off.
    choices.set_room_choices(una, room3, choices.OFF, choices.FOLLOW)
    db.session.commit()
    got = _digests(app, server)
    assert set(got) == {"ada@oak.example", "leo@oak.example", "una@oak.example"}
    assert "Sam One: Room 1" in got["ada@oak.example"] and "Raj Three: Room 3" in got["ada@oak.example"]
    assert "Tia" not in got["ada@oak.example"]
    assert "Tia Two: Room 2" in got["leo@oak.example"] and "Sam" not in got["leo@oak.example"]
    assert "Sam One: Room 1" in got["una@oak.example"] and "Raj" not in got["una@oak.example"]
    # With every classroom of Leo's off in the end, he gets none.
    choices.set_room_choices(leo, room2, choices.FOLLOW, choices.FOLLOW)
    db.session.commit()
    assert "leo@oak.example" not in _digests(app, server)


def _code_used_up(make, org, rooms, text):
    code = make.code(org, text, classrooms=rooms, max_uses=1)
    redeem(make.user(f"Student {text}", f"{text.lower()}@oak.example"), code.text)
    return f"Code {text} is used up"


def test_the_alerts_about_a_code_honour_its_classrooms_choices(app, make, server):
    org = make.org(make.user("Ada Admin", "ada@oak.example"))
    leo = make.user("Leo Leader", "leo@oak.example")
    room1 = make.classroom(org, "Room 1", leaders=[leo])
    room2 = make.classroom(org, "Room 2", leaders=[leo])
    notifications.set_welcome(org.admin, org, False)
    # The admin wants alerts, but not those of Room 1's codes; Leo wants none
    # but those of Room 1's.
    choices.set_room_choices(org.admin, room1, choices.FOLLOW, choices.OFF)
    notifications.set_choice(leo, org, alerts.ALERTS, False)
    choices.set_room_choices(leo, room1, choices.FOLLOW, choices.ON)
    db.session.commit()
    one = _code_used_up(make, org, [room1], "ONE-2027")
    two = _code_used_up(make, org, [room2], "TWO-2027")
    both = _code_used_up(make, org, [room1, room2], "BOTH-2027")
    got = {(to, subject) for to, subject, _ in delivered(app, server)}
    assert got == {
        ("leo@oak.example", one),
        ("ada@oak.example", two),
        # A code of both: each wants the alerts of one of its classrooms.
        ("ada@oak.example", both),
        ("leo@oak.example", both),
    }


def _link(app, server, to, subject):
    db.session.commit()
    run_until_idle(app)
    found = [m for m in server.inbox.messages() if m["To"] == to and m["Subject"] == subject]
    server.inbox.envelopes.clear()
    assert len(found) == 1, (to, subject)
    assert found[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return found[0]["List-Unsubscribe"].strip("<>").removeprefix("http://localhost")


def test_the_unsubscribe_of_a_codes_alert_turns_off_its_classrooms_alone(app, make, server):
    org = make.org(make.user("Ada Admin", "ada@oak.example"), seat_limit=100)
    room1, room2 = make.classroom(org, "Room 1"), make.classroom(org, "Room 2")
    notifications.set_welcome(org.admin, org, False)
    choices.set_room_choices(org.admin, room2, choices.ON, choices.ON)
    db.session.commit()
    path = _link(app, server, "ada@oak.example", _code_used_up(make, org, [room1], "ONE-2027"))
    client = app.test_client()
    assert "Stop the alerts about the codes of Room 1 at Oak School?" in text_of(client.get(path))
    assert _choice(org.admin, room1).alerts == choices.FOLLOW, "opening the link changes nothing"
    done = client.post(path, csrf=False)
    assert done.status_code == 200
    assert "no more alerts about the codes of Room 1 from Oak School" in text_of(done)
    assert _choice(org.admin, room1) == choices.RoomChoice(room1, choices.FOLLOW, choices.OFF)
    assert _choice(org.admin, room2) == choices.RoomChoice(room2, choices.ON, choices.ON), "untouched"
    assert alerts.wants_alerts(org.admin, org) and notifications.wants_digest(org.admin, org)
    # Room 1's codes alert no more; Room 2's, and the organization's seats, still do.
    _code_used_up(make, org, [room1], "ONE-2028")
    _code_used_up(make, org, [room2], "TWO-2028")
    org.seat_limit = 4
    db.session.commit()
    _code_used_up(make, org, [room2], "TWO-2029")
    got = {subject for to, subject, _ in delivered(app, server)}
    assert got == {"Code TWO-2028 is used up", "Code TWO-2029 is used up", "Oak School has no seats left"}


def test_the_unsubscribe_of_a_classroom_deleted_since_changes_nothing(app, make, server):
    org = make.org(make.user("Ada Admin", "ada@oak.example"))
    room1 = make.classroom(org, "Room 1")
    notifications.set_welcome(org.admin, org, False)
    db.session.commit()
    path = _link(app, server, "ada@oak.example", _code_used_up(make, org, [room1], "ONE-2027"))
    delete_classroom(org.admin, room1)
    db.session.commit()
    before = unchanged()
    done = app.test_client().post(path, csrf=False)
    assert done.status_code == 200 and "That classroom of Oak School is gone" in text_of(done)
    assert unchanged() == before


def test_the_unsubscribe_of_the_digest_stops_it_classrooms_turned_on_included(app, make, server):
    org = make.org(make.user("Ada Admin", "ada@oak.example"))
    leo = make.user("Leo Leader", "leo@oak.example")
    room1 = make.classroom(org, "Room 1", leaders=[leo])
    room2 = make.classroom(org, "Room 2", leaders=[leo])
    notifications.set_welcome(org.admin, org, False)
    choices.set_room_choices(leo, room1, choices.ON, choices.OFF)
    choices.set_room_choices(leo, room2, choices.OFF, choices.FOLLOW)
    db.session.commit()
    _joined_yesterday(make, org, [("Sam One", "sam@oak.example", room1)])
    delivered(app, server)
    notifications.send_digests({"period": utcnow().date().isoformat()})
    subject = f"Oak School: 1 person joined on {(utcnow() - timedelta(days=1)).date().isoformat()}"
    path = _link(app, server, "leo@oak.example", subject)
    done = app.test_client().post(path, csrf=False)
    assert done.status_code == 200 and "no more daily digests from Oak School" in text_of(done)
    assert notifications.wants_digest(leo, org) is False
    assert _choice(leo, room1) == choices.RoomChoice(room1, choices.FOLLOW, choices.OFF), "its alerts stay"
    assert _choice(leo, room2) == choices.RoomChoice(room2, choices.OFF, choices.FOLLOW)
    assert "leo@oak.example" not in _digests(app, server)


def test_a_link_names_a_codes_classrooms_up_to_its_bound_else_the_organization(app, make):
    org = make.org()
    few = notifications.unsubscribe_token(org.admin.id, org.id, alerts.ALERTS, [3, 1, 2])
    assert notifications.for_unsubscribe_token(few).room_ids == (1, 2, 3)
    many = range(1, notifications.MAX_LINK_ROOMS + 2)
    token = notifications.unsubscribe_token(org.admin.id, org.id, alerts.ALERTS, many)
    assert notifications.for_unsubscribe_token(token).room_ids == ()
    assert len(notifications.unsubscribe_token(2**31 - 1, 2**31 - 1, alerts.ALERTS, [2**31 - 1] * 20)) < (
        notifications.MAX_TOKEN
    )
    assert notifications.for_unsubscribe_token("x" * (notifications.MAX_TOKEN + 1)) is None


def test_the_choices_and_both_unsubscribes_on_either_database(any_db_app):
    """The statements of the choices (the page's order, the unsubscribes'
    updates and deletes) on SQLite and on PostgreSQL."""
    make = Factory()
    org = make.org()
    leo = make.user("Leo Leader", "leo@oak.example")
    room1, room2 = make.classroom(org, "Room 1", leaders=[leo]), make.classroom(org, "Room 2", leaders=[leo])
    make.classroom(org, "Room 3")
    choices.set_room_choices(leo, room2, choices.ON, choices.ON)
    db.session.commit()
    page = choices.room_page(Scope(leo, org), 1)
    assert [row.room.id for row in page.rows] == [room2.id, room1.id] and page.pages == 1
    assert choices.wants(leo, org, alerts.ALERTS, [room1.id, room2.id])
    link = notifications.for_unsubscribe_token(
        notifications.unsubscribe_token(leo.id, org.id, alerts.ALERTS, [room2.id])
    )
    assert [r.name for r in notifications.unsubscribe(link)] == ["Room 2"]
    db.session.commit()
    assert choices.room_choice(leo, room2) == choices.RoomChoice(room2, choices.ON, choices.OFF)
    assert not choices.wants(leo, org, alerts.ALERTS, [room2.id]) and choices.wants(leo, org, alerts.ALERTS)
    notifications.unsubscribe(
        notifications.for_unsubscribe_token(notifications.unsubscribe_token(leo.id, org.id))
    )
    db.session.commit()
    db.session.expire_all()
    assert not notifications.wants_digest(leo, org)
    assert choices.room_choice(leo, room2) == choices.RoomChoice(room2, choices.FOLLOW, choices.OFF)
    assert choices.wanted_rooms(leo, org, notifications.DIGEST, [room1.id, room2.id]) == set()
