"""Every route the app has, found in app.url_map (so routes added later are covered
too): every answer carries the security headers and no page needs inline script
or style; every change refuses a request without its CSRF token, plain or htmx,
and changes nothing."""

import re

import pytest
from sqlalchemy import select

from codes import mail
from codes.access import Scope
from codes.auth.operations import verification_token
from codes.bulk.operations import CodeFilter
from codes.expected import operations as expected_people
from codes.exports import operations as exports
from codes.extensions import db
from codes.invitations.operations import invite
from codes.models import ExpectedPerson, JoinRequest, ParentLink
from codes.parents.operations import link_parent, make_parent_code
from codes.redeem.operations import redeem
from codes.web import CSP
from conftest import HX, PASSWORD, Factory, build_app, client_as, snapshot, soup

CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
EVENT_ATTRIBUTE = re.compile(r"^on[a-z]+$")


@pytest.fixture
def world(app):
    """One organization with something of every kind a URL can name."""
    make = Factory()
    org = make.org(name="Oak School")
    leader = make.user("Leo Leader")
    instructor = make.user("Ivy Instructor")
    course = make.course(org, "Algebra", instructors=[instructor])
    classroom = make.classroom(org, "Room 9A", courses=[course], leaders=[leader])
    code = make.code(org, "OAK-9A-2027", classrooms=[classroom])
    student = make.user("Sam Student")
    redeem(student, code.text)
    link_parent(make.user("Pat Parent"), make_parent_code(student, student).text)
    parent_code = make_parent_code(student, student)
    link = db.session.scalar(select(ParentLink))
    invitation = invite(org.admin, org, "invitee@example.org")
    added = expected_people.read_list("expected@example.org")
    expected_people.add_expected(org.admin, Scope(org.admin, org), classroom, added)
    asking = make.code(org, "OAK-ASK-2027", classrooms=[classroom], approval=True)
    redeem(make.user("Nia Newcomer"), asking.text)
    job_id = mail.queue("gone@example.org", "Hello", "Hello", org=org)
    export = exports.ask(org.admin, Scope(org.admin, org), exports.CODES, CodeFilter())
    db.session.commit()
    exports.make(export.id, attempt=1)
    return {
        "admin": org.admin,
        "student": student,
        "values": {
            "org_id": org.id,
            "classroom_id": classroom.id,
            "course_id": course.id,
            "code_id": code.id,
            "user_id": student.id,
            "filename": "css/app.css",
            "text": code.text,
            "token": verification_token(app.config["SECRET_KEY"], student),
            "parent_code_id": parent_code.id,
            "link_id": link.id,
            "invitation_id": invitation.id,
            "expected_id": db.session.scalar(select(ExpectedPerson.id)),
            "answer": "decline",
            "request_id": db.session.scalar(select(JoinRequest.id)),
            "job_id": job_id,
            "export_id": export.id,
        },
    }


def rules(app, methods):
    return sorted((r for r in app.url_map.iter_rules() if r.methods & methods), key=lambda r: r.rule)


def url_for_rule(rule, values):
    missing = [name for name in rule.arguments if name not in values]
    if missing:
        pytest.fail(f"{rule.rule}: teach the world of tests/test_every_route.py what {missing} is")
    return rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)[1]


def assert_secure_headers(response, path, logged_in):
    headers = response.headers
    assert headers["Content-Security-Policy"] == CSP, path
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
    assert headers["X-Content-Type-Options"] == "nosniff", path
    assert headers["X-Frame-Options"] == "DENY", path
    assert headers["Referrer-Policy"] == "same-origin", path
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin", path
    assert "camera=()" in headers["Permissions-Policy"], path
    if logged_in and not path.startswith("/static/"):
        assert headers["Cache-Control"] == "no-store", f"{path}: personal pages must not be cached"


def assert_no_inline_code(response, path):
    """What the strict CSP would block: inline scripts, style elements and attributes,
    event-handler attributes."""
    page = soup(response)
    assert not [s for s in page.find_all("script") if not s.get("src")], f"{path}: inline <script>"
    assert not page.find_all("style"), f"{path}: <style> element"
    for tag in page.find_all(True):
        assert "style" not in tag.attrs, f"{path}: style attribute on <{tag.name}>"
        handlers = [a for a in tag.attrs if EVENT_ATTRIBUTE.match(a)]
        assert not handlers, f"{path}: {handlers} on <{tag.name}>"


@pytest.mark.parametrize("who", ["anonymous", "student", "admin"])
def test_every_page_carries_the_security_headers(app, world, who):
    client = client_as(app, world, who)
    seen = 0
    for rule in rules(app, {"GET"}):
        path = url_for_rule(rule, world["values"])
        for headers in ({}, HX):
            response = client.get(path, headers=headers)
            assert response.status_code < 500, f"{path}: {response.status_code}"
            assert_secure_headers(response, path, who != "anonymous")
            if response.status_code == 200 and response.mimetype == "text/html":
                assert_no_inline_code(response, path)
                seen += 1
            response.close()
    assert seen >= 6


def test_error_answers_carry_them_too(app, world):
    client = client_as(app, world, "admin")
    for response in (client.get("/no/such/page"), client.post("/redeem", csrf=False)):
        assert response.status_code in (400, 404)
        assert_secure_headers(response, "error", True)


def test_session_cookie_is_httponly_and_samesite_lax(app, world):
    response = app.test_client().post("/login", data={"email": world["admin"].email, "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_behind_https_cookies_are_secure_and_hsts_is_sent(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'https.db'}", HTTPS=True)
    with app.app_context():
        admin = Factory().user("Ada Admin")
        # Over HTTPS, Flask-WTF also wants the form posted from this very site.
        response = app.test_client().post(
            "/login",
            data={"email": admin.email, "password": PASSWORD},
            base_url="https://localhost",
            headers={"Referer": "https://localhost/login"},
        )
        assert response.status_code == 303
        assert "Secure" in response.headers["Set-Cookie"]
        assert "HttpOnly" in response.headers["Set-Cookie"]
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        db.session.remove()


# The one change that takes no CSRF token, by design: a mail client posts a
# notification mail's one-click unsubscribe (RFC 8058) with no page of ours, and
# the signed token in its URL is the proof. The world's token is no such token.
WITHOUT_CSRF = {"/unsubscribe/<token>"}


def test_only_the_one_click_unsubscribe_goes_without_a_csrf_token(app):
    exempt = {f"{view.__module__}.{view.__name__}" for view in app.view_functions.values()}
    exempt &= app.extensions["csrf"]._exempt_views
    assert {
        rule.rule
        for rule in app.url_map.iter_rules()
        if f"{app.view_functions[rule.endpoint].__module__}.{app.view_functions[rule.endpoint].__name__}"
        in exempt
    } == WITHOUT_CSRF


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_every_change_without_its_csrf_token_is_refused_and_changes_nothing(app, world, who):
    client = client_as(app, world, who)
    before = snapshot()
    tried = 0
    for rule in rules(app, CHANGES):
        if rule.rule in WITHOUT_CSRF:
            continue  # its forged tokens are refused in tests/test_jobs.py; the snapshot holds here
        path = url_for_rule(rule, world["values"])
        for method in sorted(rule.methods & CHANGES):
            for headers in ({}, HX):
                response = client.open(
                    path,
                    method=method,
                    headers=headers,
                    csrf=False,
                    data={
                        "name": "Changed",
                        "code": "OAK-9A-2027",
                        "email": world["admin"].email,
                        "password": PASSWORD,
                    },
                )
                assert response.status_code == 400, f"{method} {path} {headers}: {response.status_code}"
                if headers:
                    assert response.headers["HX-Refresh"] == "true"
                else:
                    assert "That form has expired" in response.get_data(as_text=True)
                tried += 1
    assert tried >= 40
    assert snapshot() == before


def test_a_wrong_token_is_refused_like_a_missing_one(app, world):
    client = client_as(app, world, "student")
    before = snapshot()
    response = client.post("/redeem", data={"code": "OAK-9A-2027", "csrf_token": "forged"}, csrf=False)
    assert response.status_code == 400
    response = client.post(
        "/redeem", data={"code": "OAK-9A-2027"}, csrf=False, headers={**HX, "X-CSRFToken": "forged"}
    )
    assert response.status_code == 400
    assert snapshot() == before
