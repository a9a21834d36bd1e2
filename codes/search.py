"""Infix search that reads an index, for the two searches that look inside text:
a code's lookup key (the bulk codes table) and a person's folded name and email
(the users tab, the audit log's person filter).

A trigram index answers "contains" for three characters or more: on PostgreSQL a
GIN index with pg_trgm's operator class (the planner uses it for LIKE '%…%'); on
SQLite an FTS5 table with the trigram tokenizer (SQLite 3.34 or newer) over the
column, kept by triggers, which answers LIKE itself. Either gives the rows that
may match; the condition on the column itself is kept, so what is found is
exactly what the plain LIKE finds. Shorter texts, and texts with LIKE's own
wildcards, are searched by the column alone.

The indexes are not in the models (SQLAlchemy cannot describe either): they are
made with the tables (the metadata's after_create) and by the migration, and
`not_in_models` tells the comparison of models and migrations to leave them be."""

from sqlalchemy import Column, ColumnElement, and_, event, text
from sqlalchemy.orm import InstrumentedAttribute

from .extensions import db

# (table, column, index or FTS table name)
INDEXED = (("codes", "key", "codes_key_search"), ("users", "search_key", "users_search"))
MIN_INDEXED = 3


def sqlite_ddl(table: str, column: str, name: str) -> list[str]:
    """The FTS5 table over table.column and the triggers that keep it."""
    row = f"new.id, new.{column}"
    gone = f"INSERT INTO {name}({name}, rowid, {column}) VALUES ('delete', old.id, old.{column});"
    return [
        f"CREATE VIRTUAL TABLE {name} USING fts5({column}, content='{table}', content_rowid='id', "
        "tokenize='trigram', detail='none')",
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {name}(rowid, {column}) VALUES ({row}); END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {gone} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {column} ON {table} BEGIN {gone} "
        f"INSERT INTO {name}(rowid, {column}) VALUES ({row}); END",
    ]


def postgresql_ddl(table: str, column: str, name: str) -> list[str]:
    return [f"CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops)"]


def create_statements(dialect: str) -> list[str]:
    """Everything the searches need, for a database whose tables exist (rows
    already in them are indexed: FTS5's 'rebuild' reads the content table)."""
    if dialect == "postgresql":
        made = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]
        for indexed in INDEXED:
            made += postgresql_ddl(*indexed)
        return made
    made = []
    for table, column, name in INDEXED:
        made += sqlite_ddl(table, column, name)
        made.append(f"INSERT INTO {name}({name}) VALUES ('rebuild')")
    return made


def drop_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [f"DROP INDEX IF EXISTS {name}" for *_, name in INDEXED]
    # The triggers go with their tables; the FTS5 table would stay.
    return [f"DROP TABLE IF EXISTS {name}" for *_, name in INDEXED]


@event.listens_for(db.metadata, "after_create")
def _create(target, connection, **kw):
    for statement in create_statements(connection.dialect.name):
        connection.execute(text(statement))


@event.listens_for(db.metadata, "before_drop")
def _drop(target, connection, **kw):
    for statement in drop_statements(connection.dialect.name):
        connection.execute(text(statement))


def not_in_models(obj, name, type_, reflected, compare_to):
    """For Alembic's include_object: the search indexes, and SQLite's FTS5 tables
    with their shadow tables, are this module's, not the models'."""
    if not reflected or compare_to is not None:
        return True
    return not any(name == index or name.startswith(f"{index}_") for *_, index in INDEXED)


def contains(attribute: InstrumentedAttribute[str], wanted: str, index: str) -> ColumnElement[bool]:
    """column contains `wanted` (as LIKE '%wanted%' matches it, with wildcards
    escaped), read from the trigram index `index` when it can be."""
    plain = attribute.contains(wanted, autoescape=True)
    if len(wanted) < MIN_INDEXED or db.session.get_bind().dialect.name != "sqlite":
        # PostgreSQL's planner takes its GIN index for the LIKE by itself.
        return plain
    if any(c in wanted for c in "%_/\\"):
        return plain
    column = attribute.expression
    assert isinstance(column, Column)
    candidates = text(f"SELECT rowid FROM {index} WHERE {column.name} LIKE :pattern")
    return and_(column.table.c.id.in_(candidates.bindparams(pattern=f"%{wanted}%")), plain)
