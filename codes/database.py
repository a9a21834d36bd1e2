"""How the app talks to SQLite and PostgreSQL so that limits hold under concurrency.

Python's sqlite3 driver does not emit BEGIN before SELECTs, so reads inside a
"transaction" are not isolated. We take over: the driver runs in autocommit mode
and we emit BEGIN ourselves. Requests that may write (anything but GET/HEAD)
and all work outside a request (CLI, domain calls from tests and threads) begin
with BEGIN IMMEDIATE, taking SQLite's single write lock up front; a deferred
transaction that reads and then writes after another connection wrote would get
SQLITE_BUSY_SNAPSHOT, which no busy timeout cures.
"""
import functools
import sqlite3
import time

from flask import has_request_context, request
from psycopg import errors as pg_errors
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_LOCK_SLICE_MS = 5
COMMITTED = "codes.db_committed"
READS_ONLY = "codes.db_reads_only"


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn):
    if conn.dialect.name != "sqlite":
        return
    read_only = has_request_context() and (
        request.method in ("GET", "HEAD") or request.environ.get(COMMITTED, False)
        or request.environ.get(READS_ONLY, False)
    )
    if read_only:
        conn.exec_driver_sql("BEGIN")
    else:
        _begin_immediate(conn)


def _begin_immediate(conn):
    """Take the write lock, waiting up to the busy timeout, in short slices.

    SQLite's own busy handler sleeps longer and longer between tries (up to 100
    ms each), so under many writers the lock sits free while they all sleep. Five
    processes taking turns on a lock held 3 ms: about 220 transactions a second
    with SQLite's handler, 285 in slices (docs/PERFORMANCE.md)."""
    raw = conn.connection.dbapi_connection
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    raw.execute(f"PRAGMA busy_timeout = {SQLITE_LOCK_SLICE_MS}")
    try:
        while time.monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not is_busy(error):
                    break
        # The last try, whose error (if any) SQLAlchemy reports as its own.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


@event.listens_for(Session, "after_commit")
def _mark_committed(session):
    # After the request's one commit, what is read to render the answer needs
    # no write lock.
    if has_request_context():
        request.environ[COMMITTED] = True


BUSY_SQLITE_MESSAGES = ("database is locked", "database table is locked", "database is busy")


def is_busy(error):
    """A database error that says "too busy now, try again", not that something is
    wrong: SQLite's lock still held when the busy timeout ran out, or PostgreSQL
    giving up a deadlock or a lock wait."""
    orig = getattr(error, "orig", error)
    if isinstance(orig, sqlite3.OperationalError):
        return any(message in str(orig) for message in BUSY_SQLITE_MESSAGES)
    return isinstance(orig, (pg_errors.TransactionRollbackError, pg_errors.LockNotAvailable))


def reads_only(view):
    """For a view that changes nothing even on POST, such as logging in: its
    transactions begin deferred, so SQLite's one write lock is not held while a
    password hash is checked (about 65 ms of scrypt, which otherwise queued every
    other writer behind each log-in). Such a view must never write."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        request.environ[READS_ONLY] = True
        return view(*args, **kwargs)
    return wrapper


def normalize_database_url(url):
    """Let operators write postgres:// or postgresql:// and still get psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def insert_ignore(session, model, rows):
    """Insert rows, skipping any that a unique key says already exist."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # The table, not the mapped class: no ORM objects are made or returned, and
    # the ORM's bulk-insert layer only added time. A Core statement does not
    # autoflush, so flush as the ORM statement did: rows added before are
    # written before these.
    if session.autoflush:
        session.flush()
    session.execute(insert(model.__table__).values(rows).on_conflict_do_nothing())
