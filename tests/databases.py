"""The databases tests run on. The schema is built once per test run (once per
xdist worker), and every test starts on an empty database with that schema:

- SQLite: a template file made once; each test's database file is a new copy of
  it, which costs a file copy instead of dropping and creating every table.
- PostgreSQL (TEST_DATABASE_URL names the server): each worker makes a database of
  its own on first use, <name>_<worker> (codes_test_gw0, codes_test_gw1, or
  codes_test_main without xdist), builds the schema in it once, and empties it
  before each test (DELETE from every table, and its sequences restarted), so ids
  start at 1 again and no row, not even an attempt count written apart, is left. The database
  TEST_DATABASE_URL names itself is only connected to, to make the others: every
  worker would share it. Tests that need a database with no schema at all (the
  migrations) get one made for them and dropped after.
- Any other database (a PostgreSQL server a test starts for itself): its tables
  dropped and made again, as every test once did.

Every database a worker makes is dropped when its run ends."""

import os
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

import codes.models  # noqa: F401 - the tables of db.metadata
from codes.database import normalize_database_url
from codes.extensions import db

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
# A lock some connection left held fails the test that waits for it, instead of
# hanging the run.
LOCK_TIMEOUT = "30s"


def build_schema(url):
    engine = create_engine(url, poolclass=NullPool)
    try:
        db.metadata.create_all(engine)
    finally:
        engine.dispose()


class SQLiteTemplate:
    """A SQLite file with the schema and no rows, copied for each test."""

    def __init__(self, folder):
        path = Path(folder) / "schema.db"
        # Closed when build_schema returns, so the write-ahead log is folded back
        # into the file and the file alone is the whole database.
        build_schema(f"sqlite:///{path}")
        self.content = path.read_bytes()

    def copy_to(self, path):
        """A new file at path (not the old one rewritten, which a connection an
        earlier test left open could still be reading or hold the writers' lock
        of), private as create_app makes it."""
        for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-writers"):
            Path(name).unlink(missing_ok=True)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            file.write(self.content)


class PostgresServer:
    """The server TEST_DATABASE_URL names, where this worker keeps its databases."""

    def __init__(self, url):
        self.url = make_url(normalize_database_url(url))
        self.prefix = f"{self.url.database}_{WORKER}"
        # CREATE and DROP DATABASE run outside a transaction, on the database named.
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.made = []
        self.test_url = self.create()
        build_schema(self.test_url)
        self.sequences = None  # the ids' sequences, read once the schema is built
        self.emptier = create_engine(self.test_url, pool_size=1, max_overflow=0)

    def create(self, suffix=""):
        """A new empty database of this worker's (one left by a run that crashed is
        dropped first); its URL."""
        name = self.prefix + suffix
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url):
        name = make_url(url).database
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.remove(name)

    def empty(self):
        """Every table of the worker's database emptied, its ids starting again at 1.
        DELETE rather than TRUNCATE: on tables of a few rows it is several times
        quicker (TRUNCATE gives each table new files). Tables a test dropped
        (db.drop_all(), as the route matrix's and the nginx test's clean-up do)
        are made again."""
        try:
            self._delete_all()
        except ProgrammingError as error:
            if not isinstance(error.orig, psycopg.errors.UndefinedTable):
                raise
            build_schema(self.test_url)
            self._delete_all()

    def _delete_all(self):
        with self.emptier.begin() as conn:
            if self.sequences is None:
                self.sequences = (
                    conn.exec_driver_sql(
                        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences"
                    )
                    .scalars()
                    .all()
                )
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            conn.exec_driver_sql(
                "; ".join(
                    [f'DELETE FROM "{table.name}"' for table in reversed(db.metadata.sorted_tables)]
                    + [f"ALTER SEQUENCE {sequence} RESTART" for sequence in self.sequences]
                )
            )

    def close(self):
        self.emptier.dispose()
        for name in list(self.made):
            self.drop(self.url.set(database=name))
        self.admin.dispose()


class Databases:
    """This worker's template and server: the template set by a session fixture of
    conftest.py, the server made on the first postgres_url()."""

    def __init__(self):
        self.template = None
        self.postgres = None

    def postgres_server(self, url):
        if self.postgres is None:
            self.postgres = PostgresServer(url)
        return self.postgres

    def make_fresh(self, app):
        """Make the app's database empty, with the schema; build_app calls it."""
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self.template.copy_to(url.database)
            return
        shared = os.environ.get("TEST_DATABASE_URL", "")
        if shared and url == make_url(normalize_database_url(shared)):
            raise ValueError(f"{url!r} is every worker's: use postgres_url() for this worker's")
        if self.postgres is not None and url == make_url(self.postgres.test_url):
            self.postgres.empty()
            return
        with app.app_context():
            db.drop_all()
            db.create_all()
            db.session.remove()
            db.engine.dispose()

    def close(self):
        if self.postgres is not None:
            self.postgres.close()
            self.postgres = None


DATABASES = Databases()
