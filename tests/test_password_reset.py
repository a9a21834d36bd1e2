"""Setting a password through an emailed link: for a forgotten password, and for
accounts a roster upload made."""

from codes.auth import operations
from codes.extensions import db
from codes.models import User
from conftest import link_in, soup


def test_reset_sets_password_verifies_email_and_logs_in(client, make, outbox):
    user = make.user(email="kim@school.org", verified=False)
    response = client.post("/password/forgot", data={"email": "KIM@school.org"})
    assert response.status_code == 303
    (sent,) = outbox
    path = link_in(sent, "/password/reset/")
    assert soup(client.get(path)).find("input", id="password") is not None
    response = client.post(path, data={"password": "a-brand-new-one"})
    assert response.status_code == 303
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    assert fresh.check_password("a-brand-new-one") and fresh.email_verified
    assert client.get("/profile").status_code == 200


def test_a_link_works_once(client, make, outbox):
    make.user(email="kim@school.org")
    client.post("/password/forgot", data={"email": "kim@school.org"})
    path = link_in(outbox[0], "/password/reset/")
    client.post(path, data={"password": "first-new-pass"})
    response = client.post(path, data={"password": "second-new-pass"})
    assert response.status_code == 303 and response.headers["Location"] == "/password/forgot"
    user = operations.find_user("kim@school.org")
    assert user.check_password("first-new-pass")


def test_unknown_email_gets_the_same_answer_and_a_mail_with_no_link_to_set_one(client, make, outbox):
    make.user(email="kim@school.org")
    answers = []
    for email in ("kim@school.org", "nobody@school.org"):
        response = client.post("/password/forgot", data={"email": email}, follow_redirects=True)
        answers.append(soup(response).find(class_="flash").get_text(strip=True))
    assert answers[0] == answers[1]
    assert [m.to for m in outbox] == ["kim@school.org", "nobody@school.org"]
    assert "/password/reset/" in outbox[0].body
    assert "/password/reset/" not in outbox[1].body and "no account has it" in outbox[1].body


def test_tampered_or_foreign_link_is_refused(app, make):
    user = make.user()
    token = operations.password_reset_token(app.secret_key, user)
    assert operations.user_for_reset(app.secret_key, token + "x") is None
    assert operations.user_for_reset("another-secret", token) is None
    assert operations.user_for_reset(app.secret_key, token).id == user.id


def test_short_new_password_is_refused_beside_the_field(client, make, app):
    user = make.user()
    token = operations.password_reset_token(app.secret_key, user)
    response = client.post(f"/password/reset/{token}", data={"password": "short"})
    assert response.status_code == 422
    assert soup(response).find(id="password-error").get_text() == "Use at least 8 characters."
