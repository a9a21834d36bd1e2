"""Leaders and instructors choose their own notifications: the Notifications
page for every staff member of the organization (the welcome mail stays its
admins'), and the daily digest of who joined their own classrooms and courses."""

from datetime import timedelta

from codes.extensions import db
from codes.jobs.worker import run_until_idle
from codes.models import Organization, Redemption, utcnow
from codes.notifications import alerts
from codes.notifications import operations as notifications
from codes.redeem.operations import redeem
from conftest import text_of


def _world(make):
    org = make.org()
    leader = make.user("Leo Leader", "leo@oak.example")
    teacher = make.user("Ivy Instructor", "ivy@oak.example")
    room = make.classroom(org, "Room 1", leaders=[leader])
    other_room = make.classroom(org, "Room 2")
    course = make.course(org, "Algebra", instructors=[teacher])
    student = make.user("Sam Student", "sam@oak.example")
    redeem(student, room.join_code.text)
    db.session.commit()
    return org, leader, teacher, room, other_room, course, student


def test_a_leader_sets_their_own_alerts_and_digest_and_not_the_welcome(client, make):
    org, leader, *_ = _world(make)
    client.login(leader)
    page = client.get(f"/orgs/{org.id}/notifications")
    assert page.status_code == 200
    said = text_of(page)
    assert "You get alerts." in said and "You get the daily digest." in said
    assert "your classrooms and courses" in said and "a code you manage" in said
    assert "Welcome mail to students" not in said, "the organization's switch is its admins'"
    answer = client.post(
        f"/orgs/{org.id}/notifications/alerts", data={"alerts": "0"}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200 and "You get no alerts." in text_of(answer)
    assert alerts.wants_alerts(leader, org) is False
    answer = client.post(f"/orgs/{org.id}/notifications", data={"daily_digest": "0"})
    assert answer.status_code == 303
    assert notifications.wants_digest(leader, org) is False
    assert alerts.wants_alerts(org.admin, org) is True, "the admin's own choice is untouched"
    refused = client.post(f"/orgs/{org.id}/notifications/welcome", data={"welcome_mail": "0"})
    assert refused.status_code == 404
    db.session.expire_all()
    assert db.session.get(Organization, org.id).welcome_mail is True


def test_a_student_or_another_organizations_staff_gets_404(client, make):
    org, _, _, _, _, _, student = _world(make)
    other = make.org(make.user("Bea Admin", "bea@elm.example"), name="Elm School")
    for person in (student, other.admin):
        client.login(person)
        assert client.get(f"/orgs/{org.id}/notifications").status_code == 404
        for path, field in (("", "daily_digest"), ("/alerts", "alerts"), ("/welcome", "welcome_mail")):
            answer = client.post(f"/orgs/{org.id}/notifications{path}", data={field: "0"})
            assert answer.status_code == 404, (person.name, path)
        client.post("/logout")
    assert alerts.wants_alerts(other.admin, org) is True
    assert db.session.get(Organization, org.id).welcome_mail is True


def test_the_staff_menu_links_notifications_for_a_leader(client, make):
    org, leader, *_ = _world(make)
    client.login(leader)
    page = client.get(f"/orgs/{org.id}/notifications")
    assert f'href="/orgs/{org.id}/notifications"' in page.get_data(as_text=True)
    assert f'href="/orgs/{org.id}/deliveries"' not in page.get_data(as_text=True)


def test_the_digest_tells_leaders_and_instructors_of_their_own_places(app, make, outbox):
    org, leader, teacher, room, other_room, course, sam = _world(make)
    algebra = make.code(org, "ALGEBRA-2027", courses=[course])
    redeem(make.user("Ana Algebra", "ana@oak.example"), algebra.text)
    redeem(make.user("Olu Other", "olu@oak.example"), other_room.join_code.text)
    db.session.commit()
    db.session.execute(Redemption.__table__.update().values(created_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    list(outbox)  # the welcomes
    outbox.sent.clear()
    notifications.send_digests({"period": utcnow().date().isoformat()})
    db.session.commit()
    run_until_idle(app)
    by_to = {m.to: m.body for m in outbox}
    assert set(by_to) == {org.admin.email, "leo@oak.example", "ivy@oak.example"}
    assert "Sam Student: Room 1" in by_to["leo@oak.example"]
    assert "Ana" not in by_to["leo@oak.example"] and "Olu" not in by_to["leo@oak.example"]
    assert "Ana Algebra: Algebra" in by_to["ivy@oak.example"] and "Sam" not in by_to["ivy@oak.example"]
    admin = by_to[org.admin.email]
    assert "Sam Student" in admin and "Ana Algebra" in admin and "Olu Other: Room 2" in admin


def test_a_leader_who_turned_the_digest_off_gets_none(app, make, outbox):
    org, leader, *_ = _world(make)
    notifications.set_choice(leader, org, notifications.DIGEST, False)
    db.session.execute(Redemption.__table__.update().values(created_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    list(outbox)
    outbox.sent.clear()
    notifications.send_digests({"period": utcnow().date().isoformat()})
    db.session.commit()
    run_until_idle(app)
    assert [m.to for m in outbox] == [org.admin.email]
