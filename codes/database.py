"""How the app talks to SQLite and PostgreSQL so that limits hold under concurrency.

Python's sqlite3 driver does not emit BEGIN before SELECTs, so reads inside a
"transaction" are not isolated. We take over: the driver runs in autocommit mode
and we emit BEGIN ourselves. Requests that may write (anything but GET/HEAD)
and all work outside a request (CLI, domain calls from tests and threads) begin
with BEGIN IMMEDIATE, taking SQLite's single write lock up front; a deferred
transaction that reads and then writes after another connection wrote would get
SQLITE_BUSY_SNAPSHOT, which no busy timeout cures.
"""
import sqlite3

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
COMMITTED = "codes.db_committed"


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
    )
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@event.listens_for(Session, "after_commit")
def _mark_committed(session):
    # After the request's one commit, what is read to render the answer needs
    # no write lock.
    if has_request_context():
        request.environ[COMMITTED] = True


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
    session.execute(insert(model).values(rows).on_conflict_do_nothing())
