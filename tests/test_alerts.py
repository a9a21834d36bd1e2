"""Alerts to staff (seats low and out, a code at 80% and 100% of its uses) and
the welcome mail to a student: each queued in the transaction of the change
that crosses, exactly once, and delivered to a real SMTP server on loopback."""

import json
from collections import Counter
from datetime import timedelta

import pytest
from smtp_support import Server
from sqlalchemy import select

from codes.access import Scope
from codes.extensions import db
from codes.jobs.worker import run_until_idle
from codes.manage.operations import CodeInput, update_code
from codes.models import Job, NotificationSetting, Organization, utcnow
from codes.notifications import alerts
from codes.notifications import operations as notifications
from codes.orgs.operations import set_admin, update_organization
from codes.redeem.operations import RedeemRefused, attempt_redeem, redeem
from codes.seats.operations import set_allotment
from conftest import Factory, build_app, count, race, text_of


@pytest.fixture
def server():
    started = Server().start()
    yield started
    started.stop()


def mail_to(app, server):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_TIMEOUT=5)


def delivered(app, server):
    """What the loopback server received once the queue ran: (to, subject) pairs."""
    db.session.commit()
    run_until_idle(app)
    return Counter((m["To"], m["Subject"]) for m in server.inbox.messages())


@pytest.mark.parametrize(
    "limit, before, after, crossing",
    [
        (100, 10, 9, alerts.SEATS_LOW),
        (100, 11, 10, None),  # 10 of 100 is not under a tenth
        (100, 9, 8, None),  # already low
        (100, 1, 0, alerts.SEATS_OUT),
        (5, 1, 0, alerts.SEATS_OUT),  # low and out at once: out
        (100, 0, 0, None),
        (None, 5, 4, None),
        (0, 0, 0, None),
        (100, 9, 10, None),  # seats given back: no alert
        (100, 50, 5, alerts.SEATS_LOW),  # a lower limit
    ],
)
def test_which_seat_change_crosses(limit, before, after, crossing):
    assert alerts.seat_crossing(limit, before, after) == crossing


@pytest.mark.parametrize(
    "before, max_before, after, max_after, crossing",
    [
        (7, 10, 8, 10, alerts.CODE_MOST),
        (8, 10, 9, 10, None),
        (9, 10, 10, 10, alerts.CODE_USED),
        (0, 1, 1, 1, alerts.CODE_USED),  # 80% and 100% at once: used up
        (3, None, 4, None, None),
        (8, None, 8, 10, alerts.CODE_MOST),  # a limit set under the uses' 125%
        (8, 20, 8, 8, alerts.CODE_USED),
        (8, 10, 8, 20, None),
    ],
)
def test_which_code_change_crosses(before, max_before, after, max_after, crossing):
    assert alerts.code_crossing(before, max_before, after, max_after) == crossing


def _racing_world(make, seat_limit, max_uses):
    admin = make.user("Ada Admin", "ada@oak.example")
    org = make.org(admin, seat_limit=seat_limit)
    quiet = make.user("Quiet Admin", "quiet@oak.example")
    make.join(org, quiet)
    set_admin(admin, org, quiet.id, True)
    notifications.set_choice(quiet, org, alerts.ALERTS, False)
    leader = make.user("Leo Leader", "leo@oak.example")
    room = make.classroom(org, "Room 1", leaders=[leader])
    code = make.code(org, "RACE-ALERT-2027", classrooms=[room], max_uses=max_uses)
    db.session.commit()
    return org, code


def test_students_racing_over_the_thresholds_queue_each_alert_once(any_db_app, server):
    """Twenty seats, a code of twenty uses, fifteen taken: eight students race for
    the last five. One use crosses 80% (the 16th), one seat leaves fewer than two
    free (the 19th), and the 20th uses the code up and the seats out. Each alert
    goes once to each admin who wants alerts; the leader gets the code's only."""
    make = Factory()
    org, code = _racing_world(make, seat_limit=20, max_uses=20)
    mail_to(any_db_app, server)
    for i in range(15):
        redeem(make.user(f"Early {i}", f"early{i}@oak.example"), code.text)
    early = delivered(any_db_app, server)
    assert sum(early.values()) == 15 and all(s == "Welcome to Oak School" for _, s in early), early
    server.inbox.envelopes.clear()
    racers = [make.user(f"Racer {i}", f"racer{i}@oak.example").id for i in range(8)]
    db.session.commit()
    outcomes = race(any_db_app, [(i, code.text) for i in racers])
    assert outcomes.count("ok") == 5 and outcomes.count("used") == 3, outcomes
    got = delivered(any_db_app, server)
    assert got[("ada@oak.example", "Oak School: 1 seat left")] == 1
    assert got[("ada@oak.example", "Oak School has no seats left")] == 1
    assert got[("ada@oak.example", "Code RACE-ALERT-2027: 16 of 20 uses")] == 1
    assert got[("ada@oak.example", "Code RACE-ALERT-2027 is used up")] == 1
    assert got[("leo@oak.example", "Code RACE-ALERT-2027: 16 of 20 uses")] == 1
    assert got[("leo@oak.example", "Code RACE-ALERT-2027 is used up")] == 1
    alerts_sent = {k: v for k, v in got.items() if not k[1].startswith("Welcome")}
    assert sum(alerts_sent.values()) == 6, alerts_sent
    assert not any(to == "quiet@oak.example" for to, _ in got), "the admin who turned alerts off"
    welcomes = [to for to, subject in got if subject == "Welcome to Oak School"]
    assert len(welcomes) == 5, "a welcome to each racer who got in, and to nobody refused"


def test_an_alert_mail_has_its_figures_link_and_one_click_unsubscribe(tmp_path, server):
    app = build_app(f"sqlite:///{tmp_path / 'a.db'}", MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    with app.app_context():
        make = Factory()
        admin = make.user("Ada <b>Admin</b>", "ada@oak.example")
        org = make.org(admin, seat_limit=1)
        room = make.classroom(org, "Room 1")
        code = make.code(org, "ONE-SEAT-2027", classrooms=[room], max_uses=1)
        redeem(make.user("Sam Student", "sam@oak.example"), code.text)
        org_id, admin_id = org.id, admin.id
        db.session.commit()
        run_until_idle(app)
        by_subject = {m["Subject"]: m for m in server.inbox.messages()}
        assert set(by_subject) == {
            "Oak School has no seats left",
            "Code ONE-SEAT-2027 is used up",
            "Welcome to Oak School",
        }
        seats_mail = by_subject["Oak School has no seats left"]
        text = seats_mail.get_body(("plain",)).get_content()
        html = seats_mail.get_body(("html",)).get_content()
        assert f"http://localhost/orgs/{org_id}/reports" in text
        assert "Ada &lt;b&gt;Admin&lt;/b&gt;" in html
        assert seats_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = seats_mail["List-Unsubscribe"].strip("<>")
        path = link.removeprefix("http://localhost")
        client = app.test_client()
        assert "Stop the alerts" in text_of(client.get(path))
        assert client.post(path, csrf=False).status_code == 200
        setting = db.session.get(NotificationSetting, (admin_id, org_id))
        assert setting.alerts is False and setting.daily_digest is True, "only the alerts stop"
        welcome = by_subject["Welcome to Oak School"]
        assert welcome["To"] == "sam@oak.example" and welcome["List-Unsubscribe"] is None
        assert "you joined Room 1" in welcome.get_body(("plain",)).get_content()
        assert "http://localhost/profile" in welcome.get_body(("plain",)).get_content()
        db.session.remove()


def test_a_redemption_rolled_back_queues_no_alert(app):
    make = Factory()
    org = make.org(seat_limit=1)
    room = make.classroom(org, "Room 1")
    code = make.code(org, "ROLLED-2027", classrooms=[room], max_uses=1)
    db.session.commit()
    redeem(make.user("Sam", "sam@oak.example"), code.text)
    assert count(Job) == 3  # seats out, code used up, the welcome
    db.session.rollback()
    assert count(Job) == 0


def test_changes_by_staff_that_cross_alert_too(app):
    """A lower limit, an allotment that reserves the free seats, and a code's
    limit set at its uses each alert once, in their own transaction."""
    make = Factory()
    org = make.org(seat_limit=100)
    admin = org.admin
    room = make.classroom(org, "Room 1")
    code = make.code(org, "STAFF-2027", classrooms=[room], max_uses=10)
    for i in range(4):
        redeem(make.user(f"S{i}", f"s{i}@oak.example"), code.text)
    db.session.flush()
    db.session.execute(Job.__table__.delete())
    db.session.commit()

    def subjects():
        db.session.flush()
        rows = db.session.scalars(select(Job.payload)).all()
        db.session.execute(Job.__table__.delete())
        return sorted(json.loads(p)["subject"] for p in rows)

    update_organization(admin, org, org.name, org.timezone, 4, None)
    assert subjects() == ["Oak School has no seats left"]
    update_organization(admin, org, org.name, org.timezone, 100, None)
    assert subjects() == [], "seats given back alert nobody"
    # Room 1's codes took the four seats: an allotment of 91 reserves 87 more, 9 stay free.
    set_allotment(admin, room, 91)
    assert subjects() == ["Oak School: 9 seats left"]
    set_allotment(admin, room, None)
    data = CodeInput(text=code.text, classroom_ids=[room.id], max_uses=5)
    update_code(admin, Scope(admin, org), code, data)
    assert subjects() == ["Code STAFF-2027: 4 of 5 uses"]
    data = CodeInput(text=code.text, classroom_ids=[room.id], max_uses=4)
    update_code(admin, Scope(admin, org), code, data)
    assert subjects() == ["Code STAFF-2027 is used up"]


def test_an_organization_that_turned_the_welcome_off_sends_none(app, outbox):
    make = Factory()
    org = make.org()
    room = make.classroom(org, "Room 1")
    notifications.set_welcome(org.admin, org, False)
    redeem(make.user("Sam", "sam@oak.example"), room.join_code.text)
    db.session.commit()
    assert [m for m in outbox if m.subject.startswith("Welcome")] == []
    assert db.session.get(Organization, org.id).welcome_mail is False


def test_no_welcome_to_an_address_not_confirmed(app, outbox):
    make = Factory()
    org = make.org()
    room = make.classroom(org, "Room 1")
    redeem(make.user("Una", "una@oak.example", verified=False), room.join_code.text)
    redeem(make.user("Vic", "vic@oak.example"), room.join_code.text)
    db.session.commit()
    assert [m.to for m in outbox if m.subject == "Welcome to Oak School"] == ["vic@oak.example"]


def test_the_notifications_page_turns_alerts_and_the_welcome_off_and_on(client, make):
    org = make.org()
    client.login(org.admin)
    page = client.get(f"/orgs/{org.id}/notifications")
    assert "You get alerts." in text_of(page) and "Students get a welcome mail." in text_of(page)
    answer = client.post(
        f"/orgs/{org.id}/notifications/alerts", data={"alerts": "0"}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200 and "You get no alerts." in text_of(answer)
    assert "Daily digest" not in text_of(answer), "the alerts' card alone"
    assert alerts.wants_alerts(org.admin, org) is False
    answer = client.post(f"/orgs/{org.id}/notifications/welcome", data={"welcome_mail": "0"})
    assert answer.status_code == 303
    assert "Students get no welcome mail." in text_of(client.get(f"/orgs/{org.id}/notifications"))
    db.session.expire_all()
    assert db.session.get(Organization, org.id).welcome_mail is False
    client.post(f"/orgs/{org.id}/notifications/alerts", data={"alerts": "1"})
    assert alerts.wants_alerts(org.admin, org) is True


def test_a_spike_switching_a_code_to_approval_alerts_its_staff_once(any_db_app, server):
    """Thirty students race at a code of an hourly limit of ten: the redemption
    that crosses it switches the code, and only that one queues the alert, to
    the admin and the leader who want alerts, with the link to the code's page."""
    make = Factory()
    org, code = _racing_world(make, seat_limit=None, max_uses=None)
    code.hourly_limit = 10
    notifications.set_welcome(org.admin, org, False)
    db.session.commit()
    mail_to(any_db_app, server)
    racers = [make.user(f"Racer {i}", f"racer{i}@oak.example").id for i in range(30)]
    db.session.commit()
    outcomes = race(any_db_app, [(i, code.text) for i in racers])
    assert outcomes.count("ok") == 10 and outcomes.count("requested") == 20, outcomes
    got = delivered(any_db_app, server)
    subject = "Code RACE-ALERT-2027 is waiting for approval"
    assert got == Counter({("ada@oak.example", subject): 1, ("leo@oak.example", subject): 1}), got
    text = server.inbox.messages()[0].get_body(("plain",)).get_content()
    assert f"http://localhost/codes/{code.id}/report" in text
    assert "more people joined through it within an hour" in text


def test_an_unexpected_domain_switches_and_alerts_once(app, outbox):
    make = Factory()
    org = make.org()
    room = make.classroom(org, "Room 1")
    code = make.code(org, "DOMAIN-2027", classrooms=[room])
    code.expected_domains = "oak.example"
    notifications.set_welcome(org.admin, org, False)
    redeem(make.user("Eve", "eve@elsewhere.example"), code.text)
    redeem(make.user("Mal", "mal@elsewhere.example"), code.text)
    db.session.commit()
    alerts_sent = [(m.to, m.subject) for m in outbox]
    assert alerts_sent == [(org.admin.email, "Code DOMAIN-2027 is waiting for approval")]
    assert "email is not from a domain you expect" in outbox[0].body


def test_a_surge_over_the_usual_rate_alerts_once_naming_the_usual_rate(app, outbox):
    """Twelve redemptions over the day before the hour: a usual 0.5 an hour.
    The 10th of the next hour trips the guard; the mail says what it saw, and
    the redemptions after it alert nobody again."""
    make = Factory()
    org = make.org()
    room = make.classroom(org, "Room 1")
    code = make.code(org, "SURGE-MAIL-2027", classrooms=[room])
    notifications.set_welcome(org.admin, org, False)
    now = utcnow()
    for i in range(12):
        redeem(make.user(), code.text, now - timedelta(hours=25 - 2 * i))
    code.surge_guard = True
    db.session.commit()
    outcomes = [redeem(make.user(), code.text, now).outcome for _ in range(12)]
    db.session.commit()
    assert outcomes == ["ok"] * 9 + ["requested"] * 3
    # (The history, a day ago, has its daily digest too.)
    sent = [m for m in outbox if "approval" in m.subject]
    assert [(m.to, m.subject) for m in sent] == [
        (org.admin.email, "Code SURGE-MAIL-2027 is waiting for approval")
    ]
    assert (
        "switched itself to approval mode: 10 redemptions in the last hour, against a usual 0.5 an hour, "
        "far more than it usually has." in " ".join(sent[0].body.split())
    )


def test_a_code_its_staff_put_in_approval_mode_alerts_nobody(app, outbox):
    make = Factory()
    org = make.org()
    room = make.classroom(org, "Room 1")
    code = make.code(org, "MANUAL-2027", classrooms=[room])
    code.expected_domains = "oak.example"
    code.approval = True
    notifications.set_welcome(org.admin, org, False)
    redeem(make.user("Eve", "eve@elsewhere.example"), code.text)
    db.session.commit()
    assert list(outbox) == []


def _burst_world(make):
    admin = make.user("Ada Admin", "ada@oak.example")
    org = make.org(admin)
    quiet = make.user("Quiet Admin", "quiet@oak.example")
    make.join(org, quiet)
    set_admin(admin, org, quiet.id, True)
    notifications.set_choice(quiet, org, alerts.ALERTS, False)
    room = make.classroom(org, "Room 1", leaders=[make.user("Leo Leader", "leo@oak.example")])
    code = make.code(org, "OLD-CODE-2027", classrooms=[room])
    code.valid_until = utcnow() - timedelta(days=1)
    notifications.set_welcome(admin, org, False)
    db.session.commit()
    return org, code


def test_a_burst_of_failed_attempts_alerts_the_admins_once(any_db_app, server):
    """Thirty people at once try an expired code with a threshold of twenty: the
    failure that reaches twenty queues the alert, in its count's transaction,
    and no other does; the admin who turned alerts off and the leader get none."""
    make = Factory()
    org, code = _burst_world(make)
    mail_to(any_db_app, server)
    any_db_app.config.update(BURST_FAILURES=20, BURST_WINDOW_MINUTES=10)
    racers = [make.user(f"Racer {i}", f"racer{i}@oak.example").id for i in range(30)]
    db.session.commit()
    outcomes = race(any_db_app, [(i, code.text) for i in racers])
    assert outcomes == ["inactive"] * 30, outcomes
    got = delivered(any_db_app, server)
    assert got == Counter({("ada@oak.example", "Oak School: 20 failed code attempts in 10 minutes"): 1}), got
    text = server.inbox.messages()[0].get_body(("plain",)).get_content()
    assert f"http://localhost/orgs/{org.id}/audit" in text and "OLD-CODE-2027" in text
    assert text.startswith("Hello Ada Admin")
    # More failures in the same window: the burst was alerted already.
    server.inbox.envelopes.clear()
    race(any_db_app, [(i, code.text) for i in racers[:10]])
    assert delivered(any_db_app, server) == Counter()


def test_failures_under_the_threshold_and_successes_alert_nobody(app, outbox):
    make = Factory()
    org, code = _burst_world(make)
    outbox.apps.append(app)  # the alert is a task the worker runs, then a mail
    app.config.update(BURST_FAILURES=3)
    for i in range(2):
        with pytest.raises(RedeemRefused):
            attempt_redeem(make.user(f"S{i}", f"s{i}@oak.example"), code.text)
    good = make.code(org, "GOOD-2027", classrooms=[org.classrooms[0]])
    for i in range(3):
        attempt_redeem(make.user(f"G{i}", f"g{i}@oak.example"), good.text)
    db.session.commit()
    assert list(outbox) == []
    with pytest.raises(RedeemRefused):
        attempt_redeem(make.user("S3", "s3@oak.example"), code.text)
    db.session.commit()
    assert [m.subject for m in outbox] == ["Oak School: 3 failed code attempts in 10 minutes"]


def test_a_new_window_after_a_burst_alerts_again(app, outbox):
    make = Factory()
    org, code = _burst_world(make)
    outbox.apps.append(app)  # the alert is a task the worker runs, then a mail
    app.config.update(BURST_FAILURES=2, BURST_WINDOW_MINUTES=10)
    start = utcnow()
    for minutes in (0, 1, 2, 11, 12):
        user = make.user(f"S{minutes}", f"s{minutes}@oak.example")
        with pytest.raises(RedeemRefused):
            attempt_redeem(user, code.text, now=start + timedelta(minutes=minutes))
    db.session.commit()
    assert [m.subject for m in outbox] == ["Oak School: 2 failed code attempts in 10 minutes"] * 2
