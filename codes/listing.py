"""Counting and paging long lists (the codes table, people, the audit log)
without reading all of a large organization's rows on every page.

A list is counted up to COUNT_CAP rows, read from an index, so the count costs
the same for a school of a thousand as for a district of a million; past that
the page says "more than 10,000". Numbered pages (the codes table, the audit
log) go through the first COUNT_CAP rows, where search and filters reach the
rest; pages read from a key (`keyset_page`: the people list) reach every row,
each page reading only its own (docs/PERFORMANCE.md, "Growth", "Keyset pages")."""

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Select, func, literal_column, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from .extensions import db

COUNT_CAP = 10_000


@dataclass(frozen=True)
class Counted:
    """How many rows a list holds: exact up to COUNT_CAP; `more` past it."""

    total: int
    more: bool = False

    def pages(self, per_page: int) -> int:
        return max(1, ceil(self.total / per_page))


def capped_count(query: Select[Any], cap: int | None = None) -> Counted:
    """The rows a select selects, counted to cap + 1 at most (COUNT_CAP for a
    list, read when called; an export asks whether it is over EXPORT_INLINE_MAX)."""
    cap = COUNT_CAP if cap is None else cap
    limited = query.with_only_columns(literal_column("1")).order_by(None).limit(cap + 1).subquery()
    # A count is always one row: never None.
    found = cast(int, db.session.scalar(select(func.count()).select_from(limited)))
    return Counted(min(found, cap), found > cap)


@dataclass(frozen=True)
class Cursor:
    """Where a page of a list read in key order starts: after one row, before
    one row (each named by its id, which the list looks up again within the
    scope), at the end (`last`), or, with none of these, at the start."""

    after: int | None = None
    before: int | None = None
    last: bool = False


@dataclass(frozen=True)
class KeysetPage:
    """A page read from a key, not an offset. `before` counts the rows in front
    of it (to COUNT_CAP); it is None only on the last page of a list counted past
    the cap, whose rows are the last ones but whose place is not counted."""

    rows: list[Row[Any]]
    counted: Counted
    before: Counted | None
    previous: bool
    next: bool


def keyset_page(
    query: Select[Any],
    order: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
    start: Sequence[Any] | None,
    backward: bool,
    size: int,
) -> KeysetPage:
    """The `size` rows of `query` (its columns replaced by `order`, whose last
    column is unique) that follow the key `start` in `order`, or that precede it
    when `backward`; from the start of the list, or its end, without `start`.
    Each page reads its own rows from an index in that order, however far into
    the list it is: nothing is skipped, and pages walked either way hold each
    row once (the first page reached backward may be short). A page with no rows
    on its side of `start` is the last page, or the first."""
    key = tuple_(*order)

    def read(start: Sequence[Any] | None, backward: bool) -> tuple[list[Row[Any]], bool]:
        selected = query.with_only_columns(*order)
        if start is not None:
            selected = selected.where(key < tuple_(*start) if backward else key > tuple_(*start))
        selected = selected.order_by(*(column.desc() for column in order) if backward else order)
        rows = list(db.session.execute(selected.limit(size + 1)))
        more = len(rows) > size
        rows = rows[:size]
        return (rows[::-1] if backward else rows), more

    rows, more = read(start, backward)
    if start is not None and not rows:
        # Nothing left on that side of the key (the people there were taken
        # out meanwhile): the end of the list on that side.
        start = None
        rows, more = read(start, backward)
    counted = capped_count(query)
    if start is None and not backward:
        return KeysetPage(rows, counted, Counted(0), False, more)
    if start is None:
        before = None if counted.more else Counted(max(counted.total - len(rows), 0))
        return KeysetPage(rows, counted, before, more, False)
    before = capped_count(query.where(key < tuple_(*rows[0])))
    if not backward:
        return KeysetPage(rows, counted, before, before.total > 0, more)
    after = query.with_only_columns(literal_column("1")).where(key > tuple_(*rows[-1])).limit(1)
    return KeysetPage(rows, counted, before, before.total > 0, db.session.scalar(after) is not None)
