"""Sign-up, optionally with a code: the answer is the same whether or not the email
has an account (the mail says what to do); the account is made, verified, when
the mailed link is followed, and the code is redeemed then with every rule. A
code that can be refused before is refused at once, keeping the form and making
nothing."""

import json

import pytest
from sqlalchemy import select

from codes.extensions import db
from codes.manage import operations as manage
from codes.models import (
    AuditEvent,
    ClassroomMember,
    Enrollment,
    Organization,
    OrgMember,
    ParentLink,
    PendingSignup,
    Redemption,
    User,
)
from codes.parents import operations as parents
from codes.redeem.operations import redeem
from codes.seats import operations as seats
from conftest import count, link_in, soup, text_of

PASSWORD = "a-long-password"


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", seat_limit=50)
    algebra = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A", courses=[algebra])
    make.code(org, "OAK-9A-2027", classrooms=[room])
    return org, room, algebra


def sign_up(client, code="", email="new@student.org", ip="10.1.1.1", **extra):
    data = {"name": "Nora New", "email": email, "password": PASSWORD, "code": code}
    return client.post("/signup", data={**data, **extra}, environ_base={"REMOTE_ADDR": ip})


def finish(client, message, **data):
    path = link_in(message, "/signup/finish/")
    page = client.get(path)
    assert page.status_code == 200 and soup(page).find("button", string="Finish signing up")
    return client.post(path, data=data)


def redeem_events():
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.like("redeem.%")).order_by(AuditEvent.id)
    ).all()


def user_of(email):
    return db.session.scalar(select(User).where(User.email_key == email))


def test_a_new_person_joins_with_a_code_once_the_mailed_link_is_followed(client, school, outbox):
    org, room, algebra = school
    response = sign_up(client, " oak 9a 2027 ")
    assert response.status_code == 303 and response.headers["Location"] == "/signup/sent"
    assert "We sent a message to new@student.org" in text_of(client.get("/signup/sent"))
    assert user_of("new@student.org") is None, "nothing is made before the link is followed"
    [message] = outbox
    assert (message.to, message.subject) == ("new@student.org", "Finish signing up")

    response = finish(client, message)
    assert response.status_code == 303 and response.headers["Location"] == "/profile"
    user = user_of("new@student.org")
    assert user.email_verified and user.name == "Nora New" and user.check_password(PASSWORD)
    assert db.session.get(ClassroomMember, (room.id, user.id)) is not None
    assert db.session.get(Enrollment, (algebra.id, user.id)) is not None
    assert db.session.scalar(select(Redemption.took_seat).where(Redemption.user_id == user.id))
    assert db.session.get(Organization, org.id).seats_taken == 1
    profile = client.get("/profile")
    assert soup(profile).select_one(".flash-success").get_text().strip() == "You joined Room 9A, Algebra."
    page = text_of(profile)
    assert "Your account is ready and your email address is confirmed." in page
    [event] = redeem_events()
    assert (event.action, event.actor_id, event.org_id) == ("redeem.ok", user.id, org.id)
    # The link works once.
    assert client.post(link_in(message, "/signup/finish/")).status_code == 303
    assert count(User, User.email_key == "new@student.org") == 1


def test_an_email_with_an_account_gets_the_same_answer_and_a_mail_saying_so(client, make, school, outbox):
    make.user("Kim Known", "known@student.org")
    new = sign_up(client, "OAK-9A-2027", email="new@student.org")
    known = sign_up(client, "OAK-9A-2027", email="known@student.org")
    assert (new.status_code, new.headers["Location"]) == (known.status_code, known.headers["Location"])
    assert [m.to for m in outbox] == ["new@student.org", "known@student.org"]
    assert outbox[1].subject == "You already have an account"
    assert "/login" in outbox[1].body and "/password/forgot" in outbox[1].body
    assert "/signup/finish/" not in outbox[1].body
    assert count(PendingSignup, PendingSignup.email_key == "known@student.org") == 0
    assert redeem_events() == []


def test_a_sign_up_without_a_code_makes_just_the_account(client, school, outbox):
    sign_up(client)
    finish(client, outbox[0])
    assert count(User, User.email_key == "new@student.org") == 1
    assert redeem_events() == []


def test_another_browser_finishes_only_with_the_password_chosen(app, client, school, outbox):
    sign_up(client)
    stranger = app.test_client()
    path = link_in(outbox[0], "/signup/finish/")
    page = soup(stranger.get(path))
    assert page.find("input", id="password") is not None
    response = stranger.post(path, data={"password": "not-the-password"})
    assert response.status_code == 422
    assert "Type the password you chose" in soup(response).find(id="password-error").get_text()
    assert user_of("new@student.org") is None
    assert stranger.post(path, data={"password": PASSWORD}).status_code == 303
    assert user_of("new@student.org").email_verified


@pytest.mark.parametrize(
    "setup, text, outcome, message",
    [
        (None, "NOPE-NOPE-NOPE", "unknown", "We don't recognize that code. Check it and try again."),
        ("used", "USED-UP-2027", "used", "That code has reached its limit of uses."),
        ("off", "PAUSED-2027", "inactive", "That code is not active right now."),
        (
            "other_domain",
            "DOMAIN-ONLY-2027",
            "domain",
            "This code is only for email addresses ending in @oak.edu.",
        ),
    ],
)
def test_a_refused_code_keeps_the_form_and_makes_nothing(
    client, make, school, outbox, setup, text, outcome, message
):
    org, room, algebra = school
    if setup == "used":
        make.code(org, "USED-UP-2027", classrooms=[room], max_uses=1)
        redeem(make.user(), "USED-UP-2027")
        db.session.commit()
    elif setup == "off":
        manage.set_enabled(org.admin, make.code(org, "PAUSED-2027", classrooms=[room]), False)
        db.session.commit()
    elif setup == "other_domain":
        make.code(org, "DOMAIN-ONLY-2027", classrooms=[room], domains_text="oak.edu")
    email = "nora@elsewhere.org"
    seats_before = db.session.get(Organization, org.id).seats_taken
    mails_before = len(outbox)  # the setup's own (the used-up code's alert, a welcome)
    response = sign_up(client, text, email=email)
    assert response.status_code == 422
    page = soup(response)
    assert message in page.find(id="code-error").get_text()
    assert page.find("input", id="name")["value"] == "Nora New"
    assert page.find("input", id="email")["value"] == email
    assert page.find("input", id="code")["value"] == text
    db.session.expire_all()
    assert count(PendingSignup) == 0 and user_of(email) is None and len(outbox) == mails_before
    assert db.session.get(Organization, org.id).seats_taken == seats_before
    events = redeem_events()
    if setup is None:
        assert events == [], "an attempt at no code belongs to no organization's trail"
    else:
        assert events[-1].action == f"redeem.{outcome}" and events[-1].actor_id is None
        assert events[-1].ip == "10.1.1.1" and json.loads(events[-1].detail)["signup"] is True


def test_a_domain_code_works_at_sign_up_since_finishing_confirms_the_address(client, make, school, outbox):
    org, room, algebra = school
    make.code(org, "DOMAIN-ONLY-2027", classrooms=[room], domains_text="oak.edu")
    assert sign_up(client, "DOMAIN-ONLY-2027", email="nora@oak.edu").status_code == 303
    finish(client, outbox[0])
    user = user_of("nora@oak.edu")
    assert db.session.get(ClassroomMember, (room.id, user.id)) is not None


def test_a_code_refused_at_the_finish_leaves_the_account_and_says_why(client, school, outbox):
    org, room, algebra = school
    sign_up(client, "OAK-9A-2027")
    seats.set_allotment(org.admin, room, 0)
    db.session.commit()
    finish(client, outbox[0])
    user = user_of("new@student.org")
    assert user is not None and db.session.get(ClassroomMember, (room.id, user.id)) is None
    page = text_of(client.get("/profile"))
    assert "the code you typed did not work: Room 9A has no seats left." in page


def test_a_parent_code_at_sign_up_links_the_new_parent(client, make, school, outbox):
    org, room, algebra = school
    student = make.user("Sam Student", "sam@student.org")
    redeem(student, "OAK-9A-2027")
    code = parents.make_parent_code(student, student)
    db.session.commit()
    assert sign_up(client, code.text, email="pat@parent.org").status_code == 303
    (signup_mail,) = [m for m in outbox if m.to == "pat@parent.org"]
    response = finish(client, signup_mail)
    parent = user_of("pat@parent.org")
    assert (
        count(
            ParentLink,
            ParentLink.parent_id == parent.id,
            ParentLink.student_id == student.id,
            ParentLink.org_id == org.id,
        )
        == 1
    )
    assert response.headers["Location"] == "/parents"
    assert count(OrgMember, OrgMember.user_id == parent.id) == 0, "a parent takes no seat"


def test_failed_sign_up_attempts_count_per_email_and_address(app, client, make, school, outbox):
    app.config.update(ADDRESS_FAILURES_HOSTILE=3, REDEEM_FAILURES_PER_ACCOUNT=10)
    for i in range(3):
        assert sign_up(client, f"GUESS-{i}-XXXX", email=f"guess{i}@student.org").status_code == 422
    response = sign_up(client, "OAK-9A-2027", email="held@student.org")
    assert response.status_code == 422
    assert (
        "Far too many codes that didn't work have come from your network"
        in soup(response).find(id="code-error").get_text()
    )
    assert count(PendingSignup) == 0 and outbox == []
    assert redeem_events()[-1].action == "redeem.limited"
    # From another address nobody is held back by them.
    assert sign_up(client, "OAK-9A-2027", email="olga@student.org", ip="10.2.2.2").status_code == 303
