"""How the app talks to SQLite and PostgreSQL so that limits hold under concurrency.

Python's sqlite3 driver does not emit BEGIN before SELECTs, so reads inside a
"transaction" are not isolated. We take over: the driver runs in autocommit mode
and we emit BEGIN ourselves. Requests that may write (anything but GET/HEAD)
and all work outside a request (CLI, domain calls from tests and threads) begin
with BEGIN IMMEDIATE, taking SQLite's single write lock up front; a deferred
transaction that reads and then writes after another connection wrote would get
SQLITE_BUSY_SNAPSHOT, which no busy timeout cures. Writers wait for that lock in
a queue (QueuedWriter). A view that reads much before it writes (reads_first)
takes the lock later, at begin_writing(), in a fresh transaction.
"""
import fcntl
import functools
import os
import sqlite3
import threading

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
COMMITTED = "codes.db_committed"
READS_ONLY = "codes.db_reads_only"
READS_FIRST = "codes.db_reads_first"
WRITING = "codes.db_writing"


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
    environ = request.environ if has_request_context() else {}
    read_only = has_request_context() and (
        request.method in ("GET", "HEAD") or environ.get(COMMITTED, False)
        or environ.get(READS_ONLY, False)
        or (environ.get(READS_FIRST, False) and not environ.get(WRITING, False))
    )
    if read_only:
        conn.exec_driver_sql("BEGIN")
        return
    _take_write_lock(conn)


def _take_write_lock(conn):
    raw = conn.connection.dbapi_connection
    if isinstance(raw, QueuedWriter):
        raw.wait_turn()
    try:
        # Through SQLAlchemy, so that "database is locked" comes as its
        # OperationalError, which is answered 503 (codes.web).
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if isinstance(raw, QueuedWriter):
            raw.leave_queue()
        raise


class QueuedWriter(sqlite3.Connection):
    """A SQLite connection whose writers wait their turn asleep, in a queue the
    kernel keeps, instead of polling SQLite's lock.

    SQLite lets one writer in at a time and makes the others poll: its busy
    handler sleeps 1, 2, 5 ms and more between tries, so under load the lock
    often sits free while every waiter sleeps, and each try costs a parse and
    the lock's system calls. Here a writer first takes an exclusive flock() on
    a file beside the database; the kernel wakes the next waiter as soon as
    the lock is let go, after COMMIT or ROLLBACK. BEGIN IMMEDIATE then finds
    SQLite's lock free, unless a process that does not queue (the sqlite3
    shell, a backup) holds it: that one is still waited for up to the busy
    timeout, and then answered 503 (docs/PERFORMANCE.md)."""

    # Threads of this process holding a turn through some connection: one such
    # thread asking again through a second connection would wait for itself.
    _holders = threading.local()

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        name = str(database)
        self._queue = None
        self._queued = False
        if name and name != ":memory:" and not name.startswith("file:"):
            self._queue = os.open(name + "-writers", os.O_RDWR | os.O_CREAT, 0o600)

    def wait_turn(self):
        if self._queue is None or self._queued or getattr(self._holders, "count", 0):
            return
        fcntl.flock(self._queue, fcntl.LOCK_EX)
        self._queued = True
        self._holders.count = 1

    def leave_queue(self):
        if self._queued:
            self._queued = False
            self._holders.count = 0
            fcntl.flock(self._queue, fcntl.LOCK_UN)

    def commit(self):
        try:
            super().commit()
        finally:
            self.leave_queue()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self.leave_queue()

    def close(self):
        try:
            super().close()
        finally:
            self.leave_queue()
            if self._queue is not None:
                os.close(self._queue)
                self._queue = None


def engine_options(url, options):
    """The engine options for a database URL: SQLite connections queue their writers."""
    if not url.startswith("sqlite"):
        return options
    connect_args = {"factory": QueuedWriter, **options.get("connect_args", {})}
    return {**options, "connect_args": connect_args}


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
    # By SQLSTATE: psycopg's classes for 40001 and 40P01 are not subclasses of
    # its TransactionRollback (40000).
    return getattr(orig, "sqlstate", None) in PG_TRY_AGAIN


# Transaction rollback (serialization failure, deadlock) and lock not available.
PG_TRY_AGAIN = {"40000", "40001", "40002", "40003", "40P01", "55P03"}


def _marking(view, mark):
    """The view, marking its request so the begin event reads it."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        request.environ[mark] = True
        return view(*args, **kwargs)
    return wrapper


def reads_only(view):
    """For a view that changes nothing even on POST, such as logging in: its
    transactions begin deferred, so SQLite's one write lock is not held while a
    password hash is checked (about 65 ms of scrypt, which otherwise queued every
    other writer behind each log-in). Such a view must never write."""
    return _marking(view, READS_ONLY)


def reads_first(view):
    """For a view that reads a good deal before it may write (redeeming a code):
    on SQLite its transaction begins deferred, and begin_writing() takes the
    write lock where the writing starts, so that loading the person, checking
    the form and finding the code do not hold the one lock every writer waits
    for. Such a view must call begin_writing() before its first write."""
    return _marking(view, READS_FIRST)


def begin_writing(session):
    """The request's transaction writes from here on (see reads_first).

    On SQLite the read so far is ended (it wrote nothing) and the write lock
    taken on the same connection, SQLAlchemy's transaction and the objects it
    loaded staying as they are. What was read before may have changed since,
    as under PostgreSQL's READ COMMITTED: what the writes rely on they check
    again themselves (a guarded UPDATE, a row read again under a lock, a
    unique key). Elsewhere, and on PostgreSQL, nothing to do."""
    if not has_request_context() or request.environ.get(WRITING, False):
        return
    request.environ[WRITING] = True
    if not request.environ.get(READS_FIRST, False):
        return
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if raw.in_transaction:
        sqlite3.Connection.commit(raw)  # only reads to end: the queue was not joined
    _take_write_lock(connection)


def execute(statement, params=None):
    """Run a statement that neither loads nor changes ORM objects (plain columns,
    a guarded UPDATE, an INSERT of rows nobody reads back as objects) in the
    session's transaction, on its connection, past the ORM's layers: through
    them a SELECT of two columns cost three times as much, and an UPDATE of a
    mapped class five times (docs/PERFORMANCE.md). What the unit of work holds
    is flushed first, as the ORM would before a query."""
    from .extensions import db

    session = db.session
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, params)


def normalize_database_url(url):
    """Let operators write postgres:// or postgresql:// and still get psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


_INSERT_OR_IGNORE = {}


def insert_ignore(session, model, rows):
    """Insert rows, skipping any that a unique key says already exist."""
    if not rows:
        return
    # The table, not the mapped class: no ORM objects are made or returned, and
    # the ORM's bulk-insert layer only added time. A Core statement does not
    # autoflush, so flush as the ORM statement did: rows added before are
    # written before these.
    if session.autoflush:
        session.flush()
    table = model.__table__
    if session.get_bind().dialect.name == "sqlite":
        # INSERT OR IGNORE is a plain INSERT with a prefix, which SQLAlchemy
        # compiles once and caches; its ON CONFLICT statements it compiles on
        # every call (their class opts out of the cache), as on PostgreSQL.
        statement = _INSERT_OR_IGNORE.get(table)
        if statement is None:
            statement = _INSERT_OR_IGNORE[table] = table.insert().prefix_with("OR IGNORE")
        session.connection().execute(statement, rows)
        return
    from sqlalchemy.dialects.postgresql import insert
    session.connection().execute(insert(table).values(rows).on_conflict_do_nothing())
