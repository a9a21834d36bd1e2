"""When the database fails: a redemption broken off half-way leaves nothing behind,
and a database too busy to answer gets a plain "try again" (503), never a 500,
also under fifty people redeeming at the same moment on SQLite."""

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from browser_support import LiveServer
from codes import database
from codes.extensions import db
from codes.models import Code, Organization, User
from codes.redeem import operations
from conftest import PASSWORD, Factory, build_app, snapshot
from served_support import Visitor


def fail_after_counting(monkeypatch, message):
    """Break the redemption after the use is counted and the seat taken, before
    the person is placed in the classroom and enrolled."""
    reached = []
    real = operations._place

    def broken(user, found, now):
        code = found.code
        used = db.session.scalar(select(Code.uses).where(Code.id == code.id))
        seats = db.session.scalar(select(Organization.seats_taken).where(Organization.id == code.org_id))
        reached.append((used, seats))
        raise OperationalError("INSERT INTO classroom_members ...", {}, sqlite3.OperationalError(message))

    monkeypatch.setattr(operations, "_place", broken)
    return reached, real


@pytest.fixture
def school(any_db_app):
    make = Factory()
    org = make.org(seat_limit=10)
    algebra = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A", courses=[algebra])
    make.code(org, "HALF-WAY-2027", classrooms=[room], max_uses=5)
    student = make.user("Sam Student")
    return any_db_app, org, student


def test_an_error_half_way_through_a_redemption_leaves_nothing_written(school, monkeypatch):
    app, org, student = school
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production: a 500 page
    client = app.test_client()
    client.login(student)
    before = snapshot()
    reached, _ = fail_after_counting(monkeypatch, "disk I/O error")
    response = client.post("/redeem", data={"code": "HALF-WAY-2027"})
    assert response.status_code == 500
    assert reached == [(1, 1)], "the use was counted and the seat taken before the error"
    assert snapshot() == before, "uses, seats, memberships, enrollments, redemptions: all unchanged"
    monkeypatch.undo()
    assert client.post("/redeem", data={"code": "HALF-WAY-2027"}).status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(Code.uses).where(Code.text == "HALF-WAY-2027")) == 1
    assert db.session.get(Organization, org.id).seats_taken == 1


def test_a_busy_database_half_way_is_a_plain_503_and_nothing_written(school, monkeypatch):
    app, org, student = school
    client = app.test_client()
    client.login(student)
    before = snapshot()
    fail_after_counting(monkeypatch, "database is locked")
    response = client.post("/redeem", data={"code": "HALF-WAY-2027"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert "try again" in response.get_data(as_text=True)
    assert snapshot() == before


def test_a_write_lock_held_too_long_is_answered_503_not_500(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "locked.db"
    app = build_app(f"sqlite:///{path}")
    with app.app_context():
        make = Factory()
        org = make.org()
        make.code(org, "LOCKED-OUT-27", classrooms=[make.classroom(org)])
        email = make.user().email
        db.session.remove()
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing for a long time
    try:
        response = client.post("/redeem", data={"code": "LOCKED-OUT-27"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    page = response.get_data(as_text=True)
    assert "Too many people at once" in page and "Nothing was changed" in page
    assert response.headers["Content-Security-Policy"]
    assert client.post("/redeem", data={"code": "LOCKED-OUT-27"}).status_code == 303
    with app.app_context():
        db.engine.dispose()


def test_fifty_people_redeem_at_once_on_sqlite_without_an_error(tmp_path):
    """A real threaded server: each request its own connection, all writing at once."""
    app = build_app(
        f"sqlite:///{tmp_path / 'fifty.db'}", SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 60, "max_overflow": 0}
    )
    server = LiveServer(app)
    server.thread.start()
    try:

        def seed():
            make = Factory()
            org = make.org(seat_limit=40)
            room = make.classroom(org, "Room 1")
            make.code(org, "OPEN-DOOR-2027", classrooms=[room])
            make.code(org, "TEN-ONLY-2027", classrooms=[room], max_uses=10)
            return org.id, [make.user().email for _ in range(50)]

        org_id, emails = server.run(seed)
        visitors = [Visitor(server.url) for _ in emails]
        with ThreadPoolExecutor(max_workers=50) as pool:
            list(pool.map(lambda ve: ve[0].login(ve[1], PASSWORD), zip(visitors, emails, strict=True)))
        texts = ["OPEN-DOOR-2027", "TEN-ONLY-2027", "NOT-A-CODE-27"]
        barrier = threading.Barrier(50)

        def redeem(i):
            barrier.wait()
            return visitors[i].redeem(texts[i % 3])[0]

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(redeem, range(50)))
        assert sorted(set(statuses)) == [303, 422], statuses

        def counts():
            org = db.session.get(Organization, org_id)
            uses = {c.text: c.uses for c in db.session.scalars(select(Code).where(Code.text.in_(texts)))}
            return org.seats_taken, uses

        seats, uses = server.run(counts)
        assert uses == {"OPEN-DOOR-2027": 17, "TEN-ONLY-2027": 10}
        assert seats == 27
        assert statuses.count(303) == 27
    finally:
        server.server.shutdown()
        with app.app_context():
            db.engine.dispose()


def test_a_password_is_checked_holding_no_write_lock(tmp_path, monkeypatch):
    """Checking a password hash takes long (about 65 ms of scrypt); it is done
    holding none of SQLite's write lock: another process can write meanwhile. Only
    the attempt's count (a moment before and after) and the session record of a
    login that succeeded take it."""
    path = tmp_path / "login.db"
    app = build_app(f"sqlite:///{path}")
    with app.app_context():
        email = Factory().user().email
        db.session.remove()
    seen = []
    real = User.check_password

    def check_while_another_writes(self, password):
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            seen.append("another wrote")
        except sqlite3.OperationalError:
            seen.append("lock held")
        finally:
            other.close()
        return real(self, password)

    monkeypatch.setattr(User, "check_password", check_while_another_writes)
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": "wrong"}).status_code == 422
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    assert seen == ["another wrote", "another wrote"]
    with app.app_context():
        db.engine.dispose()
