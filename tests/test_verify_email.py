"""A code with an email-domain rule is only for verified addresses. Finishing a
sign-up verifies the address (tests/test_signup_code.py); an account whose
address is not confirmed (one a roster made, or from before) asks for a signed,
expiring link; only a valid link for the account's current address verifies it;
and the code box says what to do until then."""

import time

import pytest
from itsdangerous import TimestampSigner

from codes.auth.operations import VERIFY_MAX_AGE, verification_token
from codes.extensions import db
from codes.models import User
from conftest import HX, link_in, soup, text_of


@pytest.fixture
def staff_code(make):
    org = make.org()
    room = make.classroom(org, "Staff Room")
    return make.code(org, "STAFF-ONLY-27", classrooms=[room], domains_text="school.org")


def sign_up(client, make, email="new@school.org"):
    """An account whose address is not confirmed, logged in, that asks for the link."""
    user = make.user("Nia New", email, verified=False)
    client.login(user)
    assert client.post("/verify/resend").status_code == 303
    return user


def redeem_message(client):
    response = client.post("/redeem", data={"code": "STAFF-ONLY-27"}, headers=HX)
    error = soup(response).find(id="code-error")
    if error is not None:
        return error.get_text(strip=True)
    return soup(response).select_one(".flash-success").get_text().strip()


def confirm(client, path):
    return text_of(client.post(path, follow_redirects=True))


def test_the_link_verifies_after_a_press(client, make, outbox, staff_code):
    user = sign_up(client, make)
    assert not user.email_verified
    message = redeem_message(client)
    assert "only for verified @school.org addresses" in message
    assert "Verify your email address with the link we sent you" in message
    profile = soup(client.get("/profile"))
    assert profile.find("button", string="Send the confirmation link again") is not None

    (sent,) = outbox
    assert sent.to == "new@school.org" and sent.subject == "Confirm your email address"
    path = link_in(sent, "/verify/")
    page = client.get(path)
    assert page.status_code == 200 and soup(page).find("button", string="Confirm my email")
    db.session.refresh(user)
    assert not user.email_verified, "opening the link (as mail scanners do) changes nothing"
    assert "Your email address is confirmed." in confirm(client, path)
    db.session.refresh(user)
    assert user.email_verified
    assert redeem_message(client) == "You joined Staff Room."


def test_resend_sends_a_fresh_link(client, make, outbox, staff_code):
    sign_up(client, make)
    client.post("/verify/resend")
    assert len(outbox) == 2 and outbox[1].to == "new@school.org"
    assert "Your email address is confirmed." in confirm(client, link_in(outbox[1], "/verify/"))


def test_an_expired_link_is_refused(client, make, outbox, staff_code, monkeypatch, app):
    user = sign_up(client, make)
    signed_at = int(time.time()) - VERIFY_MAX_AGE - 60
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: signed_at)
    token = verification_token(app.config["SECRET_KEY"], user)
    monkeypatch.undo()
    assert "not valid or has expired" in confirm(client, f"/verify/{token}")
    db.session.refresh(user)
    assert not user.email_verified
    assert "only for verified" in redeem_message(client)


@pytest.mark.parametrize("tamper", ["payload", "signature", "secret"])
def test_a_tampered_link_is_refused(client, make, outbox, staff_code, app, tamper):
    user = sign_up(client, make)
    other = User(name="Other", email="other@school.org", email_key="other@school.org", password_hash="x")
    db.session.add(other)
    db.session.commit()
    token = verification_token(app.config["SECRET_KEY"], user)
    payload, stamp, signature = token.split(".")
    if tamper == "payload":
        # The same signature on a payload naming another account.
        forged = verification_token(app.config["SECRET_KEY"], other).split(".")[0]
        token = ".".join([forged, stamp, signature])
    elif tamper == "signature":
        token = ".".join([payload, stamp, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")])
    else:
        token = verification_token("someone-elses-secret", user)
    assert "not valid or has expired" in confirm(client, f"/verify/{token}")
    for person in (user, other):
        db.session.refresh(person)
        assert not person.email_verified


def test_a_link_for_an_old_address_is_refused(client, make, outbox, staff_code, app):
    user = sign_up(client, make, "old@school.org")
    old_link = link_in(outbox[0], "/verify/")
    user.email, user.email_key = "new@school.org", "new@school.org"
    db.session.commit()
    assert "not valid or has expired" in confirm(client, old_link)
    db.session.refresh(user)
    assert not user.email_verified
    new_token = verification_token(app.config["SECRET_KEY"], user)
    assert "Your email address is confirmed." in confirm(client, f"/verify/{new_token}")
    db.session.refresh(user)
    assert user.email_verified
