"""Sign-up with a code: a new person is registered, placed and enrolled in one step
with every redemption rule; a refused code keeps the form and makes no account."""
import json
import os

import pytest
import redis
from sqlalchemy import func, select

from codes.extensions import db
from codes.manage import operations as manage
from codes.models import AuditEvent, ClassroomMember, Enrollment, Organization, OrgMember, Redemption, User
from codes.seats import operations as seats
from conftest import build_app, need_service, soup, text_of


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", seat_limit=50)
    algebra = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A", courses=[algebra])
    make.code(org, "OAK-9A-2027", classrooms=[room])
    return org, room, algebra


def sign_up(client, code="", email="new@student.org", **extra):
    data = {"name": "Nora New", "email": email, "password": "a-long-password", "code": code}
    return client.post("/signup", data={**data, **extra}, environ_base={"REMOTE_ADDR": "10.1.1.1"})


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def redeem_events():
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("redeem.%"))
                              .order_by(AuditEvent.id)).all()


def test_a_new_person_joins_with_a_code_in_one_step(client, school):
    org, room, algebra = school
    response = sign_up(client, " oak 9a 2027 ")
    assert response.status_code == 303 and response.headers["Location"] == "/profile"
    user = db.session.scalar(select(User).where(User.email_key == "new@student.org"))
    assert db.session.get(ClassroomMember, (room.id, user.id)) is not None
    assert db.session.get(Enrollment, (algebra.id, user.id)) is not None
    assert db.session.scalar(select(Redemption.took_seat).where(Redemption.user_id == user.id))
    assert db.session.get(Organization, org.id).seats_taken == 1
    page = text_of(client.get("/profile"))
    assert "You joined Room 9A, Algebra." in page
    assert "We sent a link to confirm your email address." in page
    [event] = redeem_events()
    assert (event.action, event.actor_id, event.org_id) == ("redeem.ok", user.id, org.id)
    assert json.loads(event.detail)["signup"] is True


def test_a_sign_up_without_a_code_makes_just_the_account(client, school):
    response = sign_up(client)
    assert response.status_code == 303
    assert count(User, User.email_key == "new@student.org") == 1
    assert redeem_events() == []


@pytest.mark.parametrize("setup, text, outcome, message", [
    (None, "NOPE-NOPE-NOPE", "unknown", "We don't recognize that code. Check it and try again."),
    ("used", "USED-UP-2027", "used", "That code has reached its limit of uses."),
    ("seats", "OAK-9A-2027", "no_seats", "Room 9A has no seats left."),
    ("off", "PAUSED-2027", "inactive", "That code is not active right now."),
    ("domain", "DOMAIN-ONLY-2027", "domain", "This code is only for verified addresses. Sign up "
     "without the code, confirm your email with the link we send you, then enter the code"),
    ("other_domain", "DOMAIN-ONLY-2027", "domain", "This code is only for email addresses ending in "
     "@oak.edu."),
])
def test_a_refused_code_keeps_the_form_and_makes_no_account(client, make, school, setup, text,
                                                            outcome, message):
    org, room, algebra = school
    if setup == "used":
        make.code(org, "USED-UP-2027", classrooms=[room], max_uses=1)
        sign_up(client, "USED-UP-2027", email="first@student.org")
        client.post("/logout")
    elif setup == "seats":
        seats.set_allotment(org.admin, room, 0)
        db.session.commit()
    elif setup == "off":
        manage.set_enabled(org.admin, make.code(org, "PAUSED-2027", classrooms=[room]), False)
        db.session.commit()
    elif setup in ("domain", "other_domain"):
        make.code(org, "DOMAIN-ONLY-2027", classrooms=[room], domains_text="oak.edu")
    email = "nora@oak.edu" if setup == "domain" else "nora@elsewhere.org"
    users_before, seats_before = count(User), db.session.get(Organization, org.id).seats_taken
    signups_before = count(AuditEvent, AuditEvent.action == "user.signup")
    response = sign_up(client, text, email=email)
    assert response.status_code == 422
    page = soup(response)
    assert message in page.find(id="code-error").get_text()
    assert page.find("input", id="name")["value"] == "Nora New"
    assert page.find("input", id="email")["value"] == email
    assert page.find("input", id="code")["value"] == text
    db.session.expire_all()
    assert count(User) == users_before and count(User, User.email_key == email) == 0
    assert db.session.get(Organization, org.id).seats_taken == seats_before
    assert count(AuditEvent, AuditEvent.action == "user.signup") == signups_before
    event = redeem_events()[-1]
    assert event.action == f"redeem.{outcome}" and event.actor_id is None
    assert event.ip == "10.1.1.1"
    assert client.get("/profile").status_code == 302, "nobody was logged in"


def test_a_taken_email_is_answered_before_the_code_is_tried(client, make, school):
    make.user(email="new@student.org")
    response = sign_up(client, "OAK-9A-2027")
    assert response.status_code == 422
    page = soup(response)
    assert page.find(id="email-error").get_text(strip=True) == (
        "An account with that email already exists. Log in instead.")
    assert page.find("input", id="code")["value"] == "OAK-9A-2027"
    assert redeem_events() == []


def test_failed_sign_up_attempts_count_against_the_address_only(app, client, make, school):
    app.config.update(REDEEM_FAILURES_PER_ADDRESS=3, REDEEM_FAILURES_PER_ACCOUNT=1)
    for i in range(3):
        assert sign_up(client, f"GUESS-{i}-XXXX", email=f"guess{i}@student.org").status_code == 422
    response = sign_up(client, "OAK-9A-2027", email="held@student.org")
    assert response.status_code == 422
    assert "Too many codes that didn't work. Wait 15 minutes" in soup(response).find(
        id="code-error").get_text()
    assert count(User, User.email_key.in_(["guess0@student.org", "held@student.org"])) == 0
    assert redeem_events()[-1].action == "redeem.limited"
    # From another address, and with an account of its own, nobody is held back by them.
    response = client.post("/signup", data={
        "name": "Olga", "email": "olga@student.org", "password": "a-long-password",
        "code": "OAK-9A-2027"}, environ_base={"REMOTE_ADDR": "10.2.2.2"})
    assert response.status_code == 303
    olga = db.session.scalar(select(User).where(User.email_key == "olga@student.org"))
    assert count(OrgMember, OrgMember.user_id == olga.id, OrgMember.is_student) == 1


def test_in_redis_failed_sign_ups_are_counted_per_address_only(tmp_path):
    url = os.environ.get("TEST_REDIS_URL", "")
    need_service(url.startswith("redis://"), "TEST_REDIS_URL names no Redis server")
    server = redis.Redis.from_url(url)
    server.flushdb()
    app = build_app(f"sqlite:///{tmp_path / 'test.db'}", RATELIMIT_STORAGE_URI=url,
                    REDEEM_FAILURES_PER_ADDRESS=2)
    with app.app_context():
        client = app.test_client()
        for i in range(2):
            assert sign_up(client, f"GUESS-{i}-XXXX", email=f"guess{i}@student.org").status_code == 422
        assert server.keys("codes:redeem-failures:*") == [b"codes:redeem-failures:address:10.1.1.1"]
        assert server.get("codes:redeem-failures:address:10.1.1.1") == b"2"
        response = sign_up(client, "ANY-CODE-2027")
        assert "Too many codes that didn't work." in soup(response).find(id="code-error").get_text()
        db.session.remove()
