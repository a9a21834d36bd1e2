"""Fixtures: an app on a fresh database, clients that log in and carry the CSRF
token, and factories for organizations, people and codes."""
import hashlib
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from bs4 import BeautifulSoup
from flask import g, has_app_context
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from codes import create_app
from codes.access import Scope
from codes.auth.operations import create_user
from codes.extensions import db
from codes.manage.operations import CodeInput, create_code
from codes.models import User
from codes.orgs import operations as orgs
from codes.redeem.operations import RedeemRefused, redeem

pytest_plugins = ["browser_support"]

PASSWORD = "correct-horse-battery"
REQUIRE_SERVICES = os.environ.get("CODES_REQUIRE_SERVICES") == "1"


def need_service(available, why):
    """Skip a test whose server is missing here; in CI (.ci/run) fail instead."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{why} (CODES_REQUIRE_SERVICES=1: CI must provide it)")
    pytest.skip(why)


def postgres_url():
    url = os.environ.get("TEST_DATABASE_URL", "")
    need_service(url.startswith("postgresql"), "TEST_DATABASE_URL names no PostgreSQL server")
    return url


class CSRFClient(FlaskClient):
    """A test client that sends a valid CSRF token with every change, as the
    pages and htmx do. Pass csrf=False to send none."""

    def open(self, *args, csrf=True, **kwargs):
        # Requests reuse the test's app context, where Flask-Login caches the user it
        # last loaded: forget it, so each client is answered as its own user.
        if has_app_context():
            g.pop("_login_user", None)
        method = (kwargs.get("method") or "GET").upper()
        if csrf and method not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def csrf_token(self):
        app = self.application
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", hashlib.sha1(os.urandom(64)).hexdigest())
        serializer = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)

    def login(self, user, password=PASSWORD):
        response = self.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 303, response.text
        return response


def build_app(database_url, **extra):
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "SQLALCHEMY_DATABASE_URI": database_url,
        **extra,
    })
    app.test_client_class = CSRFClient
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


@pytest.fixture
def app(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'test.db'}")
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_app(request, tmp_path):
    """The same test on the embedded SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = postgres_url()
    # A connection per thread, so the database, not the pool, decides who waits.
    app = build_app(url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 60, "max_overflow": 0})
    with app.app_context():
        yield app
        db.session.remove()
        if request.param == "postgresql":
            db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class Factory:
    """Makes the world a test needs through the domain functions themselves."""

    def __init__(self):
        self.count = 0

    def user(self, name=None, email=None, verified=True):
        self.count += 1
        name = name or f"Person {self.count}"
        email = email or f"person{self.count}@example.org"
        user = create_user(name, email, PASSWORD, verified=verified)
        db.session.commit()
        return user

    def org(self, admin=None, name="Oak School", timezone="UTC", seat_limit=None):
        admin = admin or self.user(name="Admin")
        org = orgs.create_organization(admin, name, timezone, seat_limit=seat_limit)
        db.session.commit()
        org.admin = admin
        return org

    def classroom(self, org, name="Room 1", courses=(), leaders=()):
        classroom = orgs.create_classroom(org.admin, org, name)
        if courses:
            orgs.set_classroom_courses(org.admin, classroom, [c.id for c in courses])
        for leader in leaders:
            orgs.add_staff_member(org.admin, org, leader.email)
            orgs.add_leader(org.admin, classroom, leader.id)
        db.session.commit()
        return classroom

    def course(self, org, name="Algebra", instructors=()):
        course = orgs.create_course(org.admin, org, name)
        for instructor in instructors:
            orgs.add_staff_member(org.admin, org, instructor.email)
            orgs.add_instructor(org.admin, course, instructor.id)
        db.session.commit()
        return course

    def code(self, org, text=None, classrooms=(), courses=(), **options):
        self.count += 1
        text = text or f"CODE-{self.count:04d}-XYZW"
        data = CodeInput(text=text, classroom_ids=[c.id for c in classrooms],
                         course_ids=[c.id for c in courses], **options)
        code = create_code(org.admin, Scope(org.admin, org), data)
        db.session.commit()
        return code


@pytest.fixture
def make(app):
    return Factory()


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def text_of(response):
    return re.sub(r"\s+", " ", soup(response).get_text(" ")).strip()


def race(app, attempts):
    """Each (user id, code text) redeems at the same moment; returns the outcomes
    in the same order."""
    db.session.rollback()  # the test's own session must hold no lock while they race
    barrier = threading.Barrier(len(attempts))

    def one(attempt):
        user_id, text = attempt
        with app.app_context():
            user = db.session.get(User, user_id)
            db.session.rollback()
            barrier.wait()
            try:
                result = redeem(user, text)
                db.session.commit()
                return result.outcome
            except RedeemRefused as refusal:
                db.session.rollback()
                return refusal.outcome
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return list(pool.map(one, attempts))
