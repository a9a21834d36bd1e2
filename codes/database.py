"""How the app talks to SQLite and PostgreSQL so that limits hold under concurrency.

Python's sqlite3 driver does not emit BEGIN before SELECTs, so reads inside a
"transaction" are not isolated. We take over: the driver runs in autocommit mode
and we emit BEGIN ourselves. Requests that may write (anything but GET/HEAD)
and work outside a request (CLI, domain calls from tests and threads) begin
with BEGIN IMMEDIATE, taking SQLite's single write lock up front; a deferred
transaction that reads and then writes after another connection wrote would get
SQLITE_BUSY_SNAPSHOT, which no busy timeout cures. Writers wait for that lock in
a queue (QueuedWriter). A view that reads much before it writes (reads_first)
takes the lock later, at begin_writing(), in a fresh transaction; code outside
a request takes that same path inside a reading_first() block.

Every wait here has a bound (docs/DEPLOY.md, "Timeouts"): a writer waits for
its turn at most SQLITE_QUEUE_WAIT_SECONDS, for SQLite's own lock at most the
busy timeout, and a request past REQUEST_DEADLINE_SECONDS commits nothing; each
is answered "try again" (503), like the errors unavailable() names.
"""

import contextlib
import fcntl
import functools
import itertools
import os
import sqlite3
import sys
import threading
import time

from flask import current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, PendingRollbackError, SQLAlchemyError
from sqlalchemy.orm import Session

# Only a process that does not queue (the sqlite3 shell) makes a queued writer
# wait this long; well under REQUEST_DEADLINE_SECONDS, so that it is answered.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Defaults of the settings (codes/settings.py, docs/DEPLOY.md).
SQLITE_QUEUE_WAIT_SECONDS = 10
REQUEST_DEADLINE_SECONDS = 30
COMMITTED = "codes.db_committed"
# The request's COMMIT has been sent: a connection lost from here on leaves it
# unknown whether PostgreSQL committed.
COMMITTING = "codes.db_committing"
STARTED = "codes.request_started"
READS_ONLY = "codes.db_reads_only"
READS_FIRST = "codes.db_reads_first"
WRITING = "codes.db_writing"
# Execution option of a connection run_apart opened to write on SQLite.
WRITES_APART = "codes_writes_apart"


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
    if conn.get_execution_options().get(WRITES_APART):
        _take_write_lock(conn)
        return
    marks = _marks() or {}
    read_only = (
        (has_request_context() and request.method in ("GET", "HEAD"))
        or marks.get(COMMITTED, False)
        or marks.get(READS_ONLY, False)
        or (marks.get(READS_FIRST, False) and not marks.get(WRITING, False))
    )
    if read_only:
        conn.exec_driver_sql("BEGIN")
        if _contracts_checked():
            # A write now breaks a promise of the view's (reads_only, or a
            # reads_first one before begin_writing, or a GET): SQLite refuses it
            # with "attempt to write a readonly database", in tests and in
            # development, instead of taking the write lock unseen.
            raw = conn.connection.dbapi_connection
            if isinstance(raw, QueuedWriter):
                raw.read_only_now()
        return
    _take_write_lock(conn)


# The marks of work outside a request that runs as a view would (reading_first).
_outside = threading.local()


def _marks():
    """The marks (READS_FIRST, WRITING, ...) of the work under way: the request's,
    or outside a request those of the reading_first() block it runs in; None
    outside both."""
    if has_request_context():
        return request.environ
    return getattr(_outside, "marks", None)


@contextlib.contextmanager
def reading_first():
    """Run domain code outside a request (a command, a test's threads) as a
    reads_first view runs it: its transactions begin deferred, and the write
    lock is taken at begin_writing(). So the race tests take the locking path
    the redemption takes when served, not one of their own."""
    if has_request_context():
        raise RuntimeError("reading_first() is for work outside a request: mark the view reads_first")
    _outside.marks = {READS_FIRST: True}
    try:
        yield
    finally:
        _outside.marks = None


def _contracts_checked():
    return bool(current_app.testing or current_app.debug)


class WriteTurnTimeout(SQLAlchemyError):
    """Waited SQLITE_QUEUE_WAIT_SECONDS in the writers' queue without a turn: a
    writer ahead holds it (frozen, or far too slow). Nothing was begun."""


class PastDeadline(SQLAlchemyError):
    """The request ran past REQUEST_DEADLINE_SECONDS before its commit: the proxy
    may have answered the person already, so it commits nothing."""


def _take_write_lock(conn):
    raw = conn.connection.dbapi_connection
    if isinstance(raw, QueuedWriter):
        raw.writable_again()
        raw.wait_turn()
    try:
        # Through SQLAlchemy, so that "database is locked" comes as its
        # OperationalError, which is answered 503 (codes.web).
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if isinstance(raw, QueuedWriter):
            raw.leave_queue()
        raise
    if isinstance(raw, QueuedWriter):
        raw.writing = True


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
    timeout, and then answered 503 (docs/PERFORMANCE.md).

    A turn is waited for at most `queue_wait` seconds (SQLITE_QUEUE_WAIT_SECONDS),
    then WriteTurnTimeout: a writer frozen while holding its turn would otherwise
    hold every other one until gunicorn killed them all (issue 15)."""

    # Threads of this process holding a turn through some connection: one such
    # thread asking again through a second connection would wait for itself.
    _holders = threading.local()

    def __init__(self, database, *args, queue_wait=SQLITE_QUEUE_WAIT_SECONDS, **kwargs):
        super().__init__(database, *args, **kwargs)
        name = str(database)
        self._queue = None
        self._queued = False
        self._queue_wait = queue_wait
        # A wait given up on that goes on (_Turn), for the next writer to take up.
        self._turn = None
        # Inside a transaction begun with BEGIN IMMEDIATE: holding the write lock.
        self.writing = False
        # PRAGMA query_only is on for this transaction (database._contracts_checked).
        self._query_only = False
        if name and name != ":memory:" and not name.startswith("file:"):
            self._queue = os.open(name + "-writers", os.O_RDWR | os.O_CREAT, 0o600)

    def wait_turn(self):
        if self._queue is None or self._queued or getattr(self._holders, "count", 0):
            return
        turn, self._turn = self._turn, None
        if turn is None or not turn.take_up():
            try:
                # Free, as mostly: no thread needed.
                fcntl.flock(self._queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
                turn = None
            except BlockingIOError:
                turn = _Turn(self._queue)
        if turn is not None and not turn.wait(self._queue_wait):
            self._turn = turn
            raise WriteTurnTimeout(
                f"no turn to write within {self._queue_wait} s: a writer ahead holds the queue"
            )
        self._queued = True
        self._holders.count = 1

    def read_only_now(self):
        self.execute("PRAGMA query_only = ON")
        self._query_only = True

    def writable_again(self):
        """query_only lasts for the connection, not the transaction: off again once
        the transaction it was set for ends, or the same one begins writing."""
        if self._query_only:
            self._query_only = False
            self.execute("PRAGMA query_only = OFF")

    def leave_queue(self):
        if self._queued:
            self._queued = False
            self._holders.count = 0
            fcntl.flock(self._queue, fcntl.LOCK_UN)

    def commit(self):
        try:
            super().commit()
        finally:
            self.writing = False
            self.leave_queue()
            self.writable_again()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self.writing = False
            self.leave_queue()
            self.writable_again()

    def close(self):
        try:
            super().close()
        finally:
            self.leave_queue()
            if self._queue is not None:
                if self._turn is None or not self._turn.hand_over():
                    os.close(self._queue)
                self._queue = None
                self._turn = None


class _Turn:
    """A wait for the queue's flock on a connection's descriptor, made in a thread
    of its own so that the writer's wait can have a bound: flock() has no timeout,
    and polling with LOCK_NB would lose what the queue is for (the kernel waking
    the next writer the moment the lock is let go). The thread sleeps in flock(),
    is woken at once, and wakes the writer.

    A writer that gave up leaves the turn waiting: the connection's next writer
    takes it up instead of starting another thread, so a writer frozen for an
    hour costs each connection one thread, not one a request. A lock that comes
    while no writer waits is let go at once; if the connection was closed
    meanwhile, the turn owns the descriptor and closes it."""

    def __init__(self, fd):
        self.fd = fd
        self.lock = threading.Lock()
        self.taken = threading.Event()
        self.waited_for = True
        self.owns_fd = False
        self.ended = False  # flock() returned with no writer waiting: the lock was let go
        self.error = None
        threading.Thread(target=self._take, name="codes-writers-queue", daemon=True).start()

    def _take(self):
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as error:
            self.error = error
        with self.lock:
            if self.waited_for:
                self.taken.set()
                return
            self.ended = True
            if self.owns_fd:
                os.close(self.fd)
            elif self.error is None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)

    def wait(self, seconds):
        """True with the lock taken; False after `seconds` without it."""
        if not self.taken.wait(seconds):
            with self.lock:
                # Taken between the timeout and this lock: kept, not wasted.
                if not self.taken.is_set():
                    self.waited_for = False
                    return False
        if self.error is not None:
            raise self.error
        return True

    def take_up(self):
        """Wait for this turn again; False if it has ended meanwhile."""
        with self.lock:
            self.waited_for = not self.ended
            return self.waited_for

    def hand_over(self):
        """The connection closes: the descriptor is the turn's to close when it
        ends; False if it has ended, and the connection closes it itself."""
        with self.lock:
            self.owns_fd = not self.ended
            return self.owns_fd


PG_CONNECT_TIMEOUT = 5


def engine_options(url, options, queue_wait=SQLITE_QUEUE_WAIT_SECONDS):
    """The engine options for a database URL: SQLite connections queue their
    writers, each waiting at most `queue_wait` seconds for a turn; PostgreSQL
    connections give up connecting after PG_CONNECT_TIMEOUT seconds, so a host that
    drops packets (rather than refusing) is a 503 in seconds, not after the
    system's TCP timeout of minutes."""
    if url.startswith("postgresql"):
        connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT, **options.get("connect_args", {})}
        return {**options, "connect_args": connect_args}
    if not url.startswith("sqlite"):
        return options
    factory = functools.partial(QueuedWriter, queue_wait=queue_wait)
    connect_args = {"factory": factory, **options.get("connect_args", {})}
    return {**options, "connect_args": connect_args}


@event.listens_for(Session, "after_commit")
def _mark_committed(session):
    # After the request's one commit, what is read to render the answer needs
    # no write lock. Not after a savepoint's release (each attempt runs in one),
    # which SQLAlchemy announces as a commit too: nothing is saved by it.
    if has_request_context() and not session.in_nested_transaction():
        request.environ[COMMITTED] = True


@event.listens_for(Engine, "commit")
def _mark_committing(conn):
    # The request's own COMMIT is on its way (COMMITTING): not that of the
    # attempt counts' connection on SQLite, which commits apart.
    if has_request_context() and not conn.get_execution_options().get(WRITES_APART):
        request.environ[COMMITTING] = True


def start_request():
    """Note when the request began, for its deadline."""
    request.environ.setdefault(STARTED, time.monotonic())


@event.listens_for(Session, "before_commit")
def _refuse_late_commit(session):
    # A request that ran this long may have been answered by the proxy already
    # (a 504): committing now would do what the person was told failed. Only the
    # request's own commit, not a savepoint's (attempts run in one).
    if not has_request_context() or session.in_nested_transaction():
        return
    started = request.environ.get(STARTED)
    deadline = current_app.config.get("REQUEST_DEADLINE_SECONDS", REQUEST_DEADLINE_SECONDS)
    if started is not None and time.monotonic() - started > deadline:
        raise PastDeadline(f"the request ran over {deadline} s: nothing committed")


# Why the database cannot do what was asked now, while trying again later may
# work: each is answered 503 with Retry-After (codes.web), never a 500.
BUSY = "busy"  # a lock held too long, a deadlock or lock wait given up, a request too late
DOWN = "down"  # the server is not there: refused, starting up, shutting down, the connection lost
FULL = "full"  # no room left to write

BUSY_SQLITE_MESSAGES = ("database is locked", "database table is locked", "database is busy")
FULL_SQLITE_MESSAGES = ("database or disk is full",)
# By SQLSTATE: psycopg's classes for 40001 and 40P01 are not subclasses of its
# TransactionRollback (40000). Transaction rollback (serialization failure,
# deadlock) and lock not available:
PG_TRY_AGAIN = {"40000", "40001", "40002", "40003", "40P01", "55P03"}
# Connection exceptions (class 08: lost, closed, refused, and 08007, a COMMIT
# whose outcome is unknown), admin and crash shutdown, cannot connect now
# (starting up, shutting down), too many connections:
PG_DOWN = {"08000", "08001", "08003", "08004", "08006", "08007", "57P01", "57P02", "57P03", "53300"}
PG_FULL = {"53100"}


def unavailable(error):
    """BUSY, DOWN or FULL for an error that says the database cannot do this now,
    and that trying again later may work; None for any other (a bug, a broken
    file: a 500)."""
    if isinstance(error, (WriteTurnTimeout, PastDeadline)):
        return BUSY
    # SQLAlchemy's word that the connection was lost (it then drops it and, with
    # pre_ping, replaces the pool's): a disconnect it detected, the pool's own
    # signal, or a transaction on a connection lost before.
    if isinstance(error, DisconnectionError) or getattr(error, "connection_invalidated", False):
        return DOWN
    if isinstance(error, PendingRollbackError) and error.code == "8s2b":
        return DOWN
    orig = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig)
        if any(message in text for message in BUSY_SQLITE_MESSAGES):
            return BUSY
        if any(message in text for message in FULL_SQLITE_MESSAGES):
            return FULL
        return None
    # Only a process that loaded psycopg can meet its errors.
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(orig, psycopg.Error):
        return None
    if orig.sqlstate in PG_TRY_AGAIN:
        return BUSY
    if orig.sqlstate in PG_DOWN:
        return DOWN
    if orig.sqlstate in PG_FULL:
        return FULL
    # psycopg gives no SQLSTATE for what libpq says about the connection itself:
    # refused, "the database system is starting up" or "is shutting down" while
    # connecting, "server closed the connection unexpectedly", "the connection
    # is closed".
    if orig.sqlstate is None and isinstance(orig, psycopg.OperationalError):
        return DOWN
    return None


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
    marks = _marks()
    if marks is None or marks.get(WRITING, False):
        return
    marks[WRITING] = True
    if not marks.get(READS_FIRST, False):
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


def _writes_in_session(session, engine):
    """On SQLite, whether this thread's session holds the write lock now."""
    if engine.dialect.name != "sqlite" or not session.in_transaction():
        # Asked without beginning a transaction: after the request's commit
        # there is none, and one begun here would stay open, reading an old
        # snapshot, until the session ends.
        return False
    raw = session.connection().connection.dbapi_connection
    return getattr(raw, "writing", False) or bool(getattr(QueuedWriter._holders, "count", 0))


def _apart(engine, work, one_transaction=False):
    with engine.connect() as apart:
        if engine.dialect.name == "sqlite":
            apart.execution_options(**{WRITES_APART: True})
            with apart.begin():
                return work(apart)
        if one_transaction:
            with apart.begin():
                return work(apart)
        apart.execution_options(isolation_level="AUTOCOMMIT")
        return work(apart)


def run_apart(work, one_transaction=False):
    """Run work(connection) in a short transaction of its own, committed at once,
    for a write that must not wait for, or hold locks for the length of, the
    request's own transaction (the attempt counts, codes.attempts). Returns
    (what work returned, whether it ran in the session's transaction).

    PostgreSQL: on a second connection in autocommit. SQLite: when this thread's
    session already holds the write lock, in the session's transaction (a
    second connection would wait for the first, which waits for this one; see
    again_if_rolled_back); otherwise on a second connection that takes the
    write lock for just this. `one_transaction`: on PostgreSQL too, the work's
    statements commit together (a count and the job queued when it crosses)."""
    from .extensions import db

    session = db.session()
    engine = session.get_bind()
    if _writes_in_session(session, engine):
        return work(session.connection()), True
    return _apart(engine, work, one_transaction), False


AGAIN = "codes.again_if_rolled_back"


def again_if_rolled_back(work):
    """Run work(connection) apart if the session's transaction is rolled back:
    for what run_apart wrote in that transaction and must outlive it."""
    from .extensions import db

    db.session().info.setdefault(AGAIN, []).append(work)


@event.listens_for(Session, "after_commit")
def _forget_again(session):
    session.info.pop(AGAIN, None)


@event.listens_for(Session, "after_transaction_end")
def _run_again(session, transaction):
    # The outermost transaction ended without a commit (rolled back, or closed
    # with the session): it has let SQLite's write lock go, so a second
    # connection can take it.
    if transaction.nested or transaction.parent is not None:
        return
    works = session.info.pop(AGAIN, None)
    if works:
        engine = session.get_bind()
        for work in works:
            try:
                _apart(engine, work)
            except SQLAlchemyError as error:
                # Raised here, it would break the rollback it follows (and the
                # request's answer with it). A database that cannot write the
                # count now could not have kept it either.
                if unavailable(error) is None:
                    raise
                current_app.logger.warning("A failed attempt could not be counted again: %s", error)


def private_sqlite_files(url):
    """Make a SQLite database file readable and writable by the app's user alone,
    before anything connects to it: it holds password hashes, and SQLite would
    create it with the umask's mode (often readable by every user). SQLite
    makes its -wal and -shm files with the database file's mode, so they follow;
    those an older version left open are closed too. A missing folder for it is
    made private; an existing one is left as it is. Nothing for a database in
    memory or a server's."""
    if not url.startswith("sqlite"):
        return
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path + "-wal", path + "-shm"):
        if os.path.exists(name) and os.stat(name).st_mode & 0o077:
            os.chmod(name, 0o600)


# How lock_present holds a row (PostgreSQL's row locks; SQLite's write lock,
# which the transaction holds already, keeps every row as it is): kept from
# being deleted (FOR KEY SHARE, which lets other readers, changes and inserts
# that refer to the row through); to be changed (FOR NO KEY UPDATE); to be
# deleted (FOR UPDATE).
KEEP, CHANGE, DELETE = "keep", "change", "delete"
_LOCKS = {KEEP: {"read": True, "key_share": True}, CHANGE: {"key_share": True}, DELETE: {}}


def lock_present(model, ids, how=KEEP):
    """Lock the rows of `model` with these ids that are still there, in id order,
    until the transaction ends, and return their ids: one deleted meanwhile by
    a request that committed is not among them.

    Requests lock rows in one order, so that no two wait for each other until
    PostgreSQL gives one up: a code's row, then its organization's, then
    classrooms and courses, as a redemption does. A lock that keeps others from
    changing a classroom or course (CHANGE, DELETE) is taken only once the
    organization's row is held; keeping one from deletion (KEEP) blocks only
    its deletion, whose request holds the organization's row already."""
    from sqlalchemy import select

    from .extensions import db

    ids = sorted(set(ids))
    present = set()
    # In pieces, well under the parameters a statement may carry; in id order still.
    for start in range(0, len(ids), 1000):
        query = select(model.id).where(model.id.in_(ids[start : start + 1000])).order_by(model.id)
        present.update(db.session.scalars(query.with_for_update(**_LOCKS[how])))
    return present


def normalize_database_url(url):
    """Let operators write postgres:// or postgresql:// and still get psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
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
    dialect = session.get_bind().dialect.name
    statement = _INSERT_OR_IGNORE.get((dialect, table))
    if statement is None:
        if dialect == "sqlite":
            # INSERT OR IGNORE is a plain INSERT with a prefix, which SQLAlchemy
            # compiles once and caches; its ON CONFLICT statements it does not.
            statement = table.insert().prefix_with("OR IGNORE")
        else:
            from sqlalchemy.dialects.postgresql import insert

            # Compiled on every call (PostgreSQL's Insert opts out of the cache),
            # but as one row's VALUES, executed for each row (executemany),
            # rather than a VALUES of every row: 0.58 against 0.72 ms for one
            # row, 18 against 38 ms for 500 (scratch bench, load 6).
            statement = insert(table).on_conflict_do_nothing()
        _INSERT_OR_IGNORE[dialect, table] = statement
    session.connection().execute(statement, rows)


def chunked_rows(connection, statement, size):
    """The rows of a SELECT in lists of at most `size`, in flat memory: one
    statement, one consistent read.

    On PostgreSQL with libpq 17 or newer, in psycopg's chunked rows mode: the
    server sends the rows as it makes them while the app works on those it has.
    A server-side cursor (SQLAlchemy's yield_per) answers one FETCH at a time,
    so the server waits for the app between FETCHes and the app for the server
    during each: a million codes exported took their sum. The statement is
    compiled, and its parameters made ready, as SQLAlchemy would execute it
    (expanded IN lists, each parameter's type); its rows are psycopg's tuples,
    of the values SQLAlchemy gives for the types the caller reads. Elsewhere,
    yield_per."""
    if connection.dialect.name != "postgresql" or _libpq_version() < 170000:
        return connection.execute(statement.execution_options(yield_per=size)).partitions()
    return _streamed(connection, statement, size)


def _libpq_version():
    import psycopg

    return psycopg.pq.version()


def _streamed(connection, statement, size):
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    state = compiled.construct_expanded_state()
    params = {}
    for name, value in state.parameters.items():
        process = state.processors.get(name)
        if process is None and name in compiled.binds:
            process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        params[name] = process(value) if process is not None else value
    cursor = connection.connection.driver_connection.cursor()
    rows = cursor.stream(state.statement, params, size=size)
    try:
        while chunk := list(itertools.islice(rows, size)):
            yield chunk
    finally:
        # Stopped half-way (a download cut short): psycopg cancels the
        # statement and reads what was sent, so the connection can go on.
        rows.close()
        cursor.close()
