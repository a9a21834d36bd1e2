"""How SQLite's one write lock is shared: writers wait their turn asleep in a queue
(codes.database.QueuedWriter), and redeeming takes the lock only where its writing
starts (codes.database.reads_first)."""

import contextlib
import json
import sqlite3
import threading
import time

import pytest
from psycopg import errors as pg_errors
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from codes import database, mail
from codes.extensions import db
from codes.models import Code, Job, Organization, Redemption, User, utcnow
from codes.redeem import operations
from conftest import PASSWORD, Factory, build_app


def test_a_writer_waits_its_turn_longer_than_the_busy_timeout(tmp_path, monkeypatch):
    """SQLite alone would give up after its busy timeout (here 50 ms) and answer
    "database is locked"; a queued writer sleeps until the one before commits."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 50)
    app = build_app(f"sqlite:///{tmp_path / 'queue.db'}")
    with app.app_context():
        org_id = Factory().org(seat_limit=10).id
        db.session.commit()
        db.session.remove()
    first_writing = threading.Event()
    order = []

    def first():
        with app.app_context():
            db.session.get(Organization, org_id).name = "First"
            db.session.flush()
            first_writing.set()
            time.sleep(0.4)  # eight busy timeouts
            order.append("first commits")
            db.session.commit()
            db.session.remove()

    def second():
        first_writing.wait(5)
        with app.app_context():
            org = db.session.get(Organization, org_id)
            org.name = org.name + " then second"
            db.session.commit()
            order.append("second committed")
            db.session.remove()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["first commits", "second committed"]
    with app.app_context():
        assert db.session.get(Organization, org_id).name == "First then second"
        db.engine.dispose()


def test_a_thread_already_writing_does_not_wait_for_itself(tmp_path, monkeypatch):
    """A second connection of the same thread is not queued behind the first (it
    would wait forever): it meets SQLite's busy timeout and its error instead."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 50)
    app = build_app(f"sqlite:///{tmp_path / 'self.db'}")
    refusals = []

    def hold_then_ask_again():
        with app.app_context():
            org_id = Factory().org().id
            db.session.commit()
            db.session.execute(update(Organization).values(name="Held"))  # the lock, held
            with db.engine.connect() as other:
                try:
                    other.exec_driver_sql("UPDATE organizations SET name = 'Other'")
                except OperationalError as error:
                    refusals.append(error)
            db.session.commit()
            refusals.append(db.session.get(Organization, org_id).name)
            db.session.remove()

    # In a thread of its own, so that waiting for itself fails the test instead
    # of hanging it.
    thread = threading.Thread(target=hold_then_ask_again, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the second connection waited for the first"
    refused, name = refusals
    assert database.unavailable(refused) == database.BUSY
    assert name == "Held"
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    "error",
    [
        pg_errors.DeadlockDetected("deadlock detected"),
        pg_errors.SerializationFailure("could not serialize access"),
        pg_errors.LockNotAvailable("could not obtain lock"),
        sqlite3.OperationalError("database is locked"),
    ],
)
def test_errors_that_mean_try_again_are_busy(error):
    assert database.unavailable(OperationalError("UPDATE ...", {}, error)) == database.BUSY


@pytest.mark.parametrize(
    "error",
    [
        pg_errors.UniqueViolation("duplicate key"),
        pg_errors.UndefinedTable("no such table"),
        sqlite3.OperationalError("disk I/O error"),
    ],
)
def test_other_errors_are_not_busy(error):
    assert database.unavailable(OperationalError("UPDATE ...", {}, error)) is None


def test_redeeming_finds_the_code_before_taking_the_write_lock(tmp_path, monkeypatch):
    """While the person, the form and the code are read, another process can
    still write; from begin_writing on it cannot, until the commit."""
    path = tmp_path / "reads.db"
    app = build_app(f"sqlite:///{path}")
    with app.app_context():
        make = Factory()
        org = make.org(seat_limit=10)
        make.code(org, "READ-FIRST-27", classrooms=[make.classroom(org, "Room 1")])
        student = make.user()
        db.session.commit()
        student_id = student.id
        db.session.remove()

    def can_another_write():
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()

    seen = {}
    real_find, real_count = operations.find_to_redeem, operations.count_use

    def find_to_redeem(text, user):
        seen["finding"] = can_another_write()
        return real_find(text, user)

    def count_use(code, now, directly=False):
        seen["counting"] = can_another_write()
        return real_count(code, now, directly)

    monkeypatch.setattr(operations, "find_to_redeem", find_to_redeem)
    monkeypatch.setattr(operations, "count_use", count_use)
    client = app.test_client()
    with app.app_context():
        client.login(db.session.get(User, student_id))
        db.session.remove()
    assert client.post("/redeem", data={"code": "READ-FIRST-27"}).status_code == 303
    assert seen == {"finding": True, "counting": False}
    with app.app_context():
        assert db.session.scalar(select(Code.uses).where(Code.text == "READ-FIRST-27")) == 1
        assert db.session.scalar(select(Redemption.user_id)) == student_id
        db.engine.dispose()


@pytest.mark.parametrize("reading_first", [True, False])
def test_code_outside_a_request_takes_the_views_path_in_reading_first(tmp_path, monkeypatch, reading_first):
    """Outside a request (the race tests' threads, a command) a redemption in a
    reading_first() block reads before it takes the write lock, as the code box's
    view does; outside one, it takes the lock up front."""
    path = tmp_path / "outside.db"
    app = build_app(f"sqlite:///{path}")
    seen = {}

    def can_another_write():
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()

    real_find, real_count = operations.find_to_redeem, operations.count_use

    def find_to_redeem(text, user):
        found = real_find(text, user)  # its reads begin the transaction
        seen["finding"] = can_another_write()
        return found

    def count_use(code, now, directly=False):
        seen["counting"] = can_another_write()
        return real_count(code, now, directly)

    monkeypatch.setattr(operations, "find_to_redeem", find_to_redeem)
    monkeypatch.setattr(operations, "count_use", count_use)
    with app.app_context():
        make = Factory()
        org = make.org(seat_limit=10)
        make.code(org, "OUTSIDE-27", classrooms=[make.classroom(org, "Room 1")])
        student = make.user()
        db.session.commit()
        with database.reading_first() if reading_first else contextlib.nullcontext():
            operations.attempt_redeem(student, "OUTSIDE-27")
            db.session.commit()
        assert seen == {"finding": reading_first, "counting": False}
        assert db.session.scalar(select(Code.uses).where(Code.text == "OUTSIDE-27")) == 1
        db.session.remove()
        db.engine.dispose()


def test_mail_is_sent_holding_no_write_lock(tmp_path, monkeypatch):
    """A slow mail server must not keep every writer waiting: sign-up, a new
    link and a reset queue their mail in their own transaction (codes.jobs) and
    talk to no mail server; a worker sends it later, outside any request."""
    path = tmp_path / "mail.db"
    app = build_app(f"sqlite:///{path}")
    with app.app_context():
        make = Factory()
        email = make.user().email
        unconfirmed = make.user(email="una@school.org", verified=False)
        db.session.remove()
    opened = []
    monkeypatch.setattr(mail, "open_connection", lambda: opened.append("a mail server") or None)
    client = app.test_client()
    assert (
        client.post(
            "/signup", data={"name": "Nia New", "email": "nia@school.org", "password": PASSWORD}
        ).status_code
        == 303
    )
    with app.app_context():
        client.login(db.session.merge(unconfirmed))
        assert client.post("/verify/resend").status_code == 303
    assert app.test_client().post("/password/forgot", data={"email": email}).status_code == 303
    assert opened == []
    with app.app_context():
        queued = [json.loads(payload)["to"] for payload in db.session.scalars(select(Job.payload))]
        assert sorted(queued) == sorted(["nia@school.org", "una@school.org", email])
        db.engine.dispose()


@pytest.mark.parametrize("mark", ["reads_only", "reads_first", "get"])
def test_a_write_that_breaks_the_views_promise_fails_loudly_in_tests(tmp_path, mark):
    """reads_only (never writes), reads_first (calls begin_writing first) and GET
    (changes nothing) are promises the begin event relies on: in tests and in
    development SQLite refuses a write that breaks one, instead of taking the
    write lock unseen (PRAGMA query_only)."""
    from sqlalchemy import insert
    from sqlalchemy.exc import OperationalError

    from codes.database import begin_writing, reads_first, reads_only
    from codes.models import AuditEvent

    app = build_app(f"sqlite:///{tmp_path / 'promise.db'}")

    def write():
        db.session.execute(insert(AuditEvent).values(action="test.write", created_at=utcnow()))
        db.session.commit()
        return "written"

    def written_after_begin_writing():
        begin_writing(db.session)
        return write()

    app.add_url_rule("/test/reads-only", "reads_only", reads_only(write), methods=["POST"])
    app.add_url_rule("/test/reads-first", "reads_first", reads_first(write), methods=["POST"])
    app.add_url_rule("/test/get", "get", write, methods=["GET"])
    app.add_url_rule("/test/kept", "kept", reads_first(written_after_begin_writing), methods=["POST"])
    client = app.test_client()
    path = {"reads_only": "/test/reads-only", "reads_first": "/test/reads-first", "get": "/test/get"}[mark]
    with pytest.raises(OperationalError, match="readonly database"):
        client.open(path, method="GET" if mark == "get" else "POST")
    # Kept, the promise lets the write through, and the next request's connection
    # is writable again.
    assert client.post("/test/kept").get_data(as_text=True) == "written"
    with app.app_context():
        db.engine.dispose()
