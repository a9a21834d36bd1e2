"""Sessions end when they should: a copy of a session cookie (taken before logout,
before a password reset or change, before "log out everywhere") opens nothing
afterwards, and logging in starts a session with nothing carried over."""

import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import select

from codes.auth import operations
from codes.extensions import db
from codes.models import AuditEvent, User, UserSession
from conftest import HX, PASSWORD, count, link_in, soup

COOKIE = "session"


def copy_of(app, client):
    """Another browser holding a copy of client's session cookie."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return thief


def logged_in(client):
    response = client.get("/orgs")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    return False


def session_id(client):
    with client.session_transaction() as session:
        return session.get("_user_id")


def page_token(response):
    return soup(response).find("input", attrs={"name": "csrf_token"})["value"]


def open_sessions(user):
    return count(UserSession, UserSession.user_id == user.id, UserSession.ended_at.is_(None))


def test_a_copy_of_the_cookie_is_logged_out_with_it(app, client, make):
    user = make.user()
    client.login(user)
    thief = copy_of(app, client)
    assert logged_in(thief)
    assert client.post("/logout").status_code == 303
    assert not logged_in(client)
    assert not logged_in(thief)
    assert open_sessions(user) == 0


def test_a_remember_cookie_of_an_ended_session_opens_nothing(app, client, make):
    client.login(make.user())
    old_id = session_id(client)
    while_open = app.test_client()
    while_open.set_cookie("remember_token", encode_cookie(old_id))
    assert logged_in(while_open), "the cookie opens the session while it lasts"
    client.post("/logout")
    thief = app.test_client()
    thief.set_cookie("remember_token", encode_cookie(old_id))
    assert not logged_in(thief)


def csrf_secret(client):
    with client.session_transaction() as session:
        return session["csrf_token"]


def test_logging_in_starts_a_fresh_session_and_csrf_token(app, client, make):
    user = make.user()
    before = page_token(client.get("/login"))
    secret_before = csrf_secret(client)
    with client.session_transaction() as session:
        session["planted"] = "by whoever lent the browser"
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": before}, csrf=False
    )
    assert response.status_code == 303
    with client.session_transaction() as session:
        assert "planted" not in session
    page_token(client.get("/profile"))
    assert csrf_secret(client) != secret_before
    # A token read before the login (say, by someone at the same computer) is no good after it.
    response = client.post("/logout", data={"csrf_token": before}, csrf=False)
    assert response.status_code == 400
    assert logged_in(client)


def test_each_login_is_a_session_of_its_own(app, make):
    user = make.user()
    laptop, phone = app.test_client(), app.test_client()
    laptop.login(user)
    phone.login(user)
    assert session_id(laptop) != session_id(phone)
    assert session_id(laptop).startswith(f"{user.id}:")
    phone.post("/logout")
    assert logged_in(laptop) and not logged_in(phone)
    # Only the token's hash is stored.
    token = session_id(laptop).partition(":")[2]
    assert token not in {s.token_hash for s in db.session.scalars(select(UserSession))}


@pytest.mark.parametrize(
    "value",
    [
        "1",  # a session from before sessions were recorded
        "1:",
        ":abc",
        "abc",
        "1:not-a-token",
        "x:y:z",
        "-1:abc",
        "1 :abc",
        "99999999999999999999999:abc",
        "1:" + "a" * 5000,
        "9" * 5000 + ":a",
        1,
        None,
        ["1", "a"],
    ],
)
def test_a_malformed_session_is_logged_out_never_an_error(app, client, make, value):
    make.user()
    with client.session_transaction() as session:
        session["_user_id"] = value
    response = client.get("/orgs")
    assert response.status_code == 302
    assert client.get("/login").status_code == 200


def test_a_password_reset_ends_every_session_and_starts_one(app, client, make, outbox):
    user = make.user(email="kim@school.org")
    elsewhere = app.test_client()
    elsewhere.login(user)
    thief = copy_of(app, elsewhere)
    client.post("/password/forgot", data={"email": "kim@school.org"})
    path = link_in(outbox[0], "/password/reset/")
    assert client.post(path, data={"password": "a-brand-new-one"}).status_code == 303
    assert not logged_in(elsewhere)
    assert not logged_in(thief)
    assert logged_in(client)
    assert open_sessions(user) == 1


def change(client, current=PASSWORD, new="another-good-one", **kwargs):
    return client.post("/password/change", data={"current_password": current, "new_password": new}, **kwargs)


def test_changing_the_password_ends_every_other_session(app, client, make):
    user = make.user()
    client.login(user)
    mine = copy_of(app, client)
    elsewhere = app.test_client()
    elsewhere.login(user)
    thief = copy_of(app, elsewhere)
    response = change(client)
    assert response.status_code == 303 and response.headers["Location"] == "/profile"
    assert "Your new password is set" in soup(client.get("/profile")).get_text()
    assert logged_in(client) and logged_in(mine)
    assert not logged_in(elsewhere) and not logged_in(thief)
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password("another-good-one")
    assert count(AuditEvent, AuditEvent.action == "user.password_change", AuditEvent.actor_id == user.id) == 1


def test_the_profile_has_the_change_password_form(client, make):
    client.login(make.user())
    page = soup(client.get("/profile"))
    form = page.find("form", action="/password/change")
    assert form["method"] == "post" and form.find("input", attrs={"name": "csrf_token"})
    assert form.find("input", id="current_password")["type"] == "password"
    assert form.find("input", id="new_password")["type"] == "password"
    assert page.find("form", action="/logout/everywhere").find("button").get_text() == "Log out everywhere"


@pytest.mark.parametrize(
    "current, new, field, message",
    [
        ("not-my-password", "another-good-one", "current_password", "That is not your current password."),
        ("", "another-good-one", "current_password", "Enter your current password."),
        (PASSWORD, "short", "new_password", "Use at least 8 characters."),
        (PASSWORD, "", "new_password", "Choose a new password."),
    ],
)
def test_a_refused_change_says_why_beside_the_field(app, client, make, current, new, field, message):
    user = make.user()
    client.login(user)
    elsewhere = app.test_client()
    elsewhere.login(user)
    response = change(client, current, new)
    assert response.status_code == 422
    page = soup(response)
    assert page.find(id=f"{field}-error").get_text() == message
    assert page.title.get_text().startswith("Change password")  # a whole page, to try again on
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(PASSWORD)
    assert logged_in(elsewhere)
    # With htmx, the form comes back in place (htmx swaps only 2xx).
    response = change(client, current, new, headers=HX)
    assert response.status_code == 200
    assert soup(response).find("section", id="change-password").find(id=f"{field}-error")


def test_a_change_through_htmx_answers_the_form_emptied(app, client, make):
    user = make.user()
    client.login(user)
    response = change(client, headers=HX)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    section = soup(response).find("section", id="change-password")
    assert "Your new password is set" in section.get_text()
    assert not section.find("input", id="current_password").get("value")
    assert logged_in(client)


def test_the_change_password_page_needs_a_login(client):
    response = client.get("/password/change")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_log_out_everywhere_ends_every_session_this_one_too(app, client, make):
    user = make.user()
    other = make.user()
    client.login(user)
    mine = copy_of(app, client)
    elsewhere = app.test_client()
    elsewhere.login(user)
    thief = copy_of(app, elsewhere)
    someone_else = app.test_client()
    someone_else.login(other)
    response = client.post("/logout/everywhere", data={"confirmed": "1"})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert "logged out everywhere" in soup(client.get("/login")).get_text()
    for browser in (client, mine, elsewhere, thief):
        assert not logged_in(browser)
    assert logged_in(someone_else)
    assert open_sessions(user) == 0


def test_finishing_a_sign_up_logs_in_with_a_session_record(client, outbox):
    response = client.post(
        "/signup", data={"name": "Nia New", "email": "nia@school.org", "password": PASSWORD}
    )
    assert response.status_code == 303 and not logged_in(client)
    assert client.post(link_in(outbox[0], "/signup/finish/")).status_code == 303
    assert logged_in(client)
    assert open_sessions(operations.find_user("nia@school.org")) == 1


def test_deleting_an_account_deletes_its_sessions(app, client, make):
    user = make.user()
    client.login(user)
    assert count(UserSession, UserSession.user_id == user.id) == 1
    db.session.delete(db.session.get(User, user.id))
    db.session.commit()
    assert count(UserSession) == 0
