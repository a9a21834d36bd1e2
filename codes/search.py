"""Infix search that reads an index, for the two searches that look inside text:
a code's lookup key (the bulk codes table) and a person's folded name and email
(the users tab, the audit log's person filter).

A trigram index answers "contains" for three characters or more: on PostgreSQL a
GIN index with pg_trgm's operator class (the planner uses it for LIKE '%…%'); on
SQLite an FTS5 table with the trigram tokenizer (SQLite 3.34 or newer) over the
column, kept by triggers, which answers LIKE itself. A search reads the ids of
the rows that may match from the index first, at most CANDIDATES of them, then
those rows by id within the organization (`read_first`), so its time follows
the matches, not the organization's size; the condition on the column itself
is kept, so what is found is exactly what the plain LIKE finds. Shorter texts,
texts with LIKE's own wildcards, and texts found in more than CANDIDATES rows
are searched by the column alone, in the listing's order.

The indexes are not in the models (SQLAlchemy cannot describe either): they are
made with the tables (the metadata's after_create) and by the migration, and
`not_in_models` tells the comparison of models and migrations to leave them be."""

from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Select, literal_column, select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.expression import table as sql_table

from . import byids
from .extensions import db, made_with_the_tables

# (table, column, index or FTS table name)
INDEXED = (("codes", "key", "codes_key_search"), ("users", "search_key", "users_search"))
MIN_INDEXED = 3
# Rows read from a trigram index before the search gives up on it: past this
# many, the text is common, and the column is read in the listing's order
# (docs/PERFORMANCE.md, "Growth").
CANDIDATES = 2_000

_T = TypeVar("_T", bound=Any)


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


made_with_the_tables(create_statements, drop_statements)


def not_in_models(obj, name, type_, reflected, compare_to):
    """For Alembic's include_object: the search indexes, and SQLite's FTS5 tables
    with their shadow tables, are this module's, not the models'."""
    if not reflected or compare_to is not None:
        return True
    return not any(name == index or name.startswith(f"{index}_") for *_, index in INDEXED)


def contains(attribute: InstrumentedAttribute[str], wanted: str) -> ColumnElement[bool]:
    """column contains `wanted`, as LIKE '%wanted%' matches it (wildcards
    escaped): the condition itself, exact on its own. `read_first` gives a
    query that holds it the trigram index to read the rows from."""
    return attribute.contains(wanted, autoescape=True)


def _index_of(column: Column[str]) -> str:
    return next(
        name for table, indexed, name in INDEXED if (table, indexed) == (column.table.name, column.name)
    )


def candidates(attribute: InstrumentedAttribute[str], wanted: str) -> list[int] | None:
    """The ids of the rows whose column may contain `wanted`, site-wide, read
    from the trigram index alone: every one of them, at most CANDIDATES; None
    when more rows match, or when the index cannot answer (fewer than three
    characters, or LIKE's own wildcards typed)."""
    column = attribute.expression
    assert isinstance(column, Column)
    if len(wanted) < MIN_INDEXED:
        return None
    if db.session.get_bind().dialect.name == "postgresql":
        # The GIN index answers the column's own LIKE.
        query = select(column.table.c.id).where(contains(attribute, wanted))
    else:
        if any(c in wanted for c in "%_/\\"):
            return None
        name = _index_of(column)
        query = (
            select(literal_column("rowid"))
            .select_from(sql_table(name))
            .where(literal_column(column.name).like(f"%{wanted}%"))
        )
    found = list(db.session.scalars(query.limit(CANDIDATES + 1)))
    return found if len(found) <= CANDIDATES else None


def read_first(
    query: Select[_T], attribute: InstrumentedAttribute[str], wanted: str, on: InstrumentedAttribute[Any]
) -> Select[_T]:
    """`query`, whose WHERE holds contains(attribute, wanted), reading first the
    rows the trigram index gives (`candidates`), then `on` (the searched rows'
    id, or a column naming them) among them, so that its time follows the rows
    that match, not the size of the organization. The rows it selects are the
    same: the candidates hold every row that matches. With more candidates than
    CANDIDATES, or none to read, the query as it is."""
    found = candidates(attribute, wanted)
    return query if found is None else byids.among(query, on, found)
