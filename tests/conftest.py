"""Fixtures: an app on a fresh database (tests/databases.py), clients that log in
and carry the CSRF token, factories for organizations, people and codes, and the
helpers many test files share."""

import contextlib
import copy
import hashlib
import io
import os
import re
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import pytest
from bs4 import BeautifulSoup, NavigableString, TemplateString
from flask import current_app, g, has_app_context
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from codes import create_app, database, mail
from codes.access import Scope
from codes.auth.operations import create_user
from codes.bulk.operations import BatchInput, generate_batch
from codes.extensions import db
from codes.invitations import operations as invitations
from codes.jobs.worker import run_until_idle
from codes.manage.operations import CodeInput, create_code
from codes.models import AttemptCount, User
from codes.orgs import operations as orgs
from codes.redeem.operations import RedeemRefused, attempt_redeem
from databases import DATABASES, SQLiteTemplate

pytest_plugins = ["browser_support"]

PASSWORD = "correct-horse-battery"
REQUIRE_SERVICES = os.environ.get("CODES_REQUIRE_SERVICES") == "1"


# Every PostgreSQL connection an engine of the tests opened is closed when that
# engine is dropped. A test that builds an app and lets it go leaves its pooled
# connections open, and the driver warns when the garbage collector later deletes
# them, in whatever test is running then (the suite makes warnings errors).
# Requests run in threads: one lock for the record.
_OPENED = weakref.WeakKeyDictionary()
_OPENED_LOCK = threading.Lock()


def _close_all(connections):
    for connection in connections:
        with contextlib.suppress(Exception):
            connection.close()


@event.listens_for(Engine, "engine_connect")
def _keep_until_dropped(connection):
    dbapi_connection = connection.connection.dbapi_connection
    if type(dbapi_connection).__module__.split(".")[0] != "psycopg":
        return
    engine = connection.engine
    with _OPENED_LOCK:
        if engine not in _OPENED:
            _OPENED[engine] = set()
            weakref.finalize(engine, _close_all, _OPENED[engine])
        opened = _OPENED[engine]
        opened.difference_update([c for c in opened if c.closed])
        opened.add(dbapi_connection)


def need_service(available, why):
    """Skip a test whose server is missing here; in CI (.ci/run) fail instead."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{why} (CODES_REQUIRE_SERVICES=1: CI must provide it)")
    pytest.skip(why)


class CSRFClient(FlaskClient):
    """A test client that sends a valid CSRF token with every change, as the
    pages and htmx do. Pass csrf=False to send none."""

    def open(self, *args, csrf=True, **kwargs):
        # Requests reuse the test's app context, where Flask-Login caches the user it
        # last loaded and Flask-WTF the CSRF token it last signed: forget them, so
        # each client is answered as its own user, with its own session's token.
        # They reuse its database session too: each request starts on a fresh
        # transaction, as one does when served (what the test wrote is committed
        # first), and what it left open is rolled back, as the server's teardown
        # does, so no transaction outlives its request reading an old snapshot.
        if has_app_context():
            g.pop("_login_user", None)
            g.pop("csrf_token", None)
            db.session.commit()
            try:
                return self._open(*args, csrf=csrf, **kwargs)
            finally:
                db.session.rollback()
        return self._open(*args, csrf=csrf, **kwargs)

    def _open(self, *args, csrf=True, **kwargs):
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
    """An app on an empty database with the schema (tests/databases.py): a SQLite
    file (in tmp_path) made anew, this worker's PostgreSQL database (postgres_url())
    emptied, or the tables of any other database made again."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "SQLALCHEMY_DATABASE_URI": database_url,
            # The test client's host: links handed out name it, and other hosts are refused.
            "PUBLIC_URL": "http://localhost",
            **extra,
        }
    )
    app.test_client_class = CSRFClient
    DATABASES.make_fresh(app)
    return app


# The apps of the app and any_db_app fixtures, each with the config it was made
# with, by what build_app was given.
_APPS = {}


def reused_app(database_url, **extra):
    """What build_app(database_url, **extra) returns, made once per worker and then
    handed to each test as if new: its config set back as it was made, its engine's
    connections closed, its database made fresh. (Making an app costs about as
    much as a short test: Werkzeug compiles every URL rule.) What create_app sets
    up besides comes from that same config and is changed by no test."""
    key = (database_url, repr(sorted(extra.items())))
    if key not in _APPS:
        app = build_app(database_url, **extra)
        _APPS[key] = app, copy.deepcopy(dict(app.config))
        return app
    app, config = _APPS[key]
    app.config.clear()
    app.config.update(copy.deepcopy(config))
    with app.app_context():
        db.engine.dispose()
    DATABASES.make_fresh(app)
    return app


def postgres_url():
    """This worker's PostgreSQL database on the server TEST_DATABASE_URL names, made
    on first use and dropped when the run ends (tests/databases.py); build_app
    empties it. No other worker uses it, and its tests one at a time."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    need_service(url.startswith("postgresql"), "TEST_DATABASE_URL names no PostgreSQL server")
    return DATABASES.postgres_server(url).test_url


@pytest.fixture(scope="session", autouse=True)
def databases(tmp_path_factory):
    """This worker's databases: the SQLite template made now, the PostgreSQL ones
    on first use; those dropped when the run ends."""
    DATABASES.template = SQLiteTemplate(tmp_path_factory.mktemp("schema"))
    yield DATABASES
    DATABASES.close()


@pytest.fixture(scope="session")
def app_folder(tmp_path_factory):
    """Where the SQLite files of the reused apps are."""
    return tmp_path_factory.mktemp("apps")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path):
    """The embedded SQLite and a real PostgreSQL server, for build_app."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return postgres_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path):
    """A database with no tables at all, for the migrations to build: a new SQLite
    file, or a PostgreSQL database made for this test and dropped after it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    postgres_url()
    url = DATABASES.postgres.create("_empty")
    yield url
    DATABASES.postgres.drop(url)


@pytest.fixture
def app(app_folder):
    app = reused_app(f"sqlite:///{app_folder / 'app.db'}")
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def fresh_app(tmp_path):
    """An app made for this test alone, for a test that changes what create_app
    set up (adds a route, listens on the engine): the reused app would carry that
    into the tests after it, and Flask refuses a route on an app that has
    answered a request."""
    app = build_app(f"sqlite:///{tmp_path / 'fresh.db'}")
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def postgres_app():
    """An app on this worker's PostgreSQL database, emptied: for what only
    PostgreSQL does (its plans, HOT updates, its locks)."""
    app = build_app(postgres_url())
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_app(request, app_folder):
    """The same test on the embedded SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        url = f"sqlite:///{app_folder / 'any_db_app.db'}"
    else:
        url = postgres_url()
    # A connection per thread, so the database, not the pool, decides who waits.
    app = reused_app(url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 60, "max_overflow": 0})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def client_as(app, people, who):
    """A new test client of app, logged in as people[who], or logged out when who
    is "anonymous"."""
    client = app.test_client()
    if who != "anonymous":
        client.login(people[who])
    return client


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

    def join(self, org, user):
        """The person becomes one of the organization's people as anyone does:
        invited, and accepting through the invitation's link."""
        if not invitations.is_member(org, user.email):
            invitations.accept(user, invitations.invite(org.admin, org, user.email), via_link=True)
        db.session.flush()

    def classroom(self, org, name="Room 1", courses=(), leaders=()):
        classroom = orgs.create_classroom(org.admin, org, name)
        if courses:
            orgs.set_classroom_courses(org.admin, classroom, [c.id for c in courses])
        for leader in leaders:
            self.join(org, leader)
            orgs.add_leader(org.admin, classroom, leader.id)
        db.session.commit()
        return classroom

    def course(self, org, name="Algebra", instructors=()):
        course = orgs.create_course(org.admin, org, name)
        for instructor in instructors:
            self.join(org, instructor)
            orgs.add_instructor(org.admin, course, instructor.id)
        db.session.commit()
        return course

    def code(self, org, text=None, classrooms=(), courses=(), **options):
        self.count += 1
        text = text or f"CODE-{self.count:04d}-XYZW"
        data = CodeInput(
            text=text, classroom_ids=[c.id for c in classrooms], course_ids=[c.id for c in courses], **options
        )
        code = create_code(org.admin, Scope(org.admin, org), data)
        db.session.commit()
        return code


@pytest.fixture
def make(app):
    return Factory()


class Sent(NamedTuple):
    to: str
    subject: str
    body: str
    attachments: tuple = ()
    message: object = None  # the email.message.EmailMessage itself


class CapturingConnection:
    """Where the worker hands each message, instead of a mail server."""

    def __init__(self, sent):
        self.sent = sent

    def send(self, message):
        attachments = tuple(
            mail.Attachment(part.get_filename(), part.get_content_type(), part.get_content())
            for part in message.iter_attachments()
        )
        body = message.get_body(("plain",)).get_content()
        self.sent.append(Sent(message["To"], message["Subject"], body, attachments, message))

    def close(self):
        pass


class Outbox(Sequence):
    """Every mail the app sends, in order. Mail is queued in the transaction of
    the change (codes.jobs); each read of the outbox first runs the queue's own
    worker (codes.jobs.worker.run_until_idle) on every app that queued mail, so
    what is read is what a worker delivered, from what was committed."""

    def __init__(self):
        self.sent = []
        self.apps = []

    def deliver(self):
        if has_app_context():
            # As before a request (CSRFClient): the test's own transaction,
            # which on SQLite holds the write lock, ends first.
            db.session.commit()
        for app in self.apps:
            run_until_idle(app, "test-outbox")

    def __getitem__(self, index):
        self.deliver()
        return self.sent[index]

    def __len__(self):
        self.deliver()
        return len(self.sent)

    def __eq__(self, other):
        self.deliver()
        return self.sent == list(other)

    def __repr__(self):
        return repr(self.sent)


@pytest.fixture
def outbox(monkeypatch):
    """Every mail the app sends, in order, delivered here instead of sent."""
    box = Outbox()
    queue = mail.queue

    def queue_and_note(*args, **kwargs):
        app = current_app._get_current_object()
        if app not in box.apps:
            box.apps.append(app)
        return queue(*args, **kwargs)

    monkeypatch.setattr(mail, "queue", queue_and_note)
    monkeypatch.setattr(mail, "open_connection", lambda: CapturingConnection(box.sent))
    return box


def link_in(message, path_prefix):
    """The path of the first link in a mail's body that starts with path_prefix."""
    found = re.search(r"https?://[^/\s]+(" + re.escape(path_prefix) + r"[^\s]*)", message.body)
    assert found, f"no {path_prefix} link in: {message.body}"
    return found.group(1)


# The header htmx sends with each of its requests.
HX = {"HX-Request": "true"}


def count(model, *where):
    """How many rows of model (that match where)."""
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def snapshot():
    """Every row of every table, to compare before and after: so that no change of
    any kind goes unseen. Of the attempt counts, those above nothing, by their
    value: on PostgreSQL a count is written apart, at once (codes.attempts), so a
    refused request may leave a count of nothing where none was."""
    db.session.expire_all()
    tables = {
        table.name: sorted(map(repr, db.session.execute(select(table)).all()))
        for table in db.metadata.sorted_tables
        if table.name != AttemptCount.__tablename__
    }
    counts = db.session.execute(
        select(AttemptCount.name, AttemptCount.count).where(AttemptCount.count > 0)
    ).all()
    return {**tables, AttemptCount.__tablename__: sorted(counts)}


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def said_by_htmx(response):
    """The words of the messages an htmx answer carries for the page's message
    area (#flashes, swapped out of band from a <template>: codes.web), or None
    when it carries none. Inside a template they are template strings, which
    BeautifulSoup's get_text (and its CSS selectors) leave out unless asked."""
    box = soup(response).find(id="flashes")
    if box is None or box.parent.name != "template" or box.get("data-hx-swap-oob") != "true":
        return None
    return " ".join(
        p.get_text(" ", strip=True, types=(NavigableString, TemplateString)) for p in box.find_all("p")
    )


def text_of(response):
    return re.sub(r"\s+", " ", soup(response).get_text(" ")).strip()


def error_beside(page, field_id):
    """The message shown beside a field of a parsed page (the element the field
    points to), or None."""
    node = page.find(id=f"{field_id}-error")
    return node.get_text(" ", strip=True) if node else None


def batch_of(org, n=3, prefix="", **fields):
    """A batch of n random codes the organization's admin makes, for its first
    classroom unless fields name other targets."""
    fields.setdefault("classroom_ids", [org.classrooms[0].id])
    batch = generate_batch(org.admin, Scope(org.admin, org), BatchInput(count=n, prefix=prefix, **fields))
    db.session.commit()
    return batch


def post_roster(client, org, data, name="roster.csv"):
    """Upload data as the organization's roster file."""
    # Encoded here, in memory: the test client would spool a large body to a
    # temporary file that nobody closes.
    boundary, body = encode_multipart({"roster": FileStorage(io.BytesIO(data), name)})
    return client.post(
        f"/orgs/{org.id}/users/roster", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def at_once(app, work, args, prepare=None, refused=(), context=None, around=None):
    """work(prepare(arg)) for each of args at the same moment, as that many requests
    of as many people would: each in a thread of its own with its own app context
    (or context(arg), such as a request context), session and connection. Each
    first runs prepare(arg) (say, loading its user; work gets what it returns,
    or arg), then all are let go together by a barrier. Each ends committed, or
    rolled back when work raises one of `refused`, whose .outcome is then its
    result; work and its commit run inside around() when given (such as
    database.reading_first, the locking path of a reads_first view). The
    results, in the order of args.

    Against both databases (any_db_app) these are real races, in threads against
    a SQLite file and a PostgreSQL server, and each proves something else. On
    SQLite the writers are serialized by the database's one write lock (a writer
    queues for it on the writers' lock, at BEGIN IMMEDIATE or at
    database.begin_writing): racers may read side by side but write one after
    another, so a pass proves the code waits its turn and checks again, as it
    writes, what it read before (the guarded UPDATEs); it cannot show a row lock
    missing. On PostgreSQL the writers run side by side (READ COMMITTED) and
    wait only on row locks, so a pass there proves the row locks: without the
    FOR UPDATE of seats.lock_organization,
    test_the_pool_runs_out_while_an_untouched_allotment_keeps_its_seats fails on
    PostgreSQL and passes on SQLite. The pool must have a connection for every
    racer (any_db_app's has 60), so that the database, not the pool, decides
    who waits."""
    assert db.engine.pool.size() >= len(args), "a racer would wait for the pool, not the database"
    db.session.rollback()  # the test's own session must hold no lock while they race
    barrier = threading.Barrier(len(args))

    def one(arg):
        with context(arg) if context else app.app_context():
            try:
                ready = prepare(arg) if prepare else arg
                db.session.rollback()
                barrier.wait(timeout=60)
                with around() if around else contextlib.nullcontext():
                    try:
                        result = work(ready)
                    except refused as refusal:
                        db.session.rollback()
                        return refusal.outcome
                    db.session.commit()
                    return result
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(args)) as pool:
        return list(pool.map(one, args))


def race(app, attempts):
    """Each (user id, code text) is typed into the code box at the same moment
    (at_once): attempt_redeem inside database.reading_first(), as the code box's
    view runs it, so the race takes the served locking path. The outcomes, in
    the same order."""
    return at_once(
        app,
        lambda attempt: attempt_redeem(*attempt).outcome,
        attempts,
        prepare=lambda attempt: (db.session.get(User, attempt[0]), attempt[1]),
        refused=RedeemRefused,
        around=database.reading_first,
    )
