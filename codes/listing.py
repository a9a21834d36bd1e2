"""Counting and paging long lists (the codes table, people, the audit log)
without reading all of a large organization's rows on every page.

A list is counted up to COUNT_CAP rows, read from an index, so the count costs
the same for a school of a thousand as for a district of a million; past that
the page says "more than 10,000" and pages through the first COUNT_CAP rows,
where search and filters reach the rest (docs/PERFORMANCE.md, "Growth")."""

from dataclasses import dataclass
from math import ceil
from typing import Any, cast

from sqlalchemy import Select, func, literal_column, select

from .extensions import db

COUNT_CAP = 10_000


@dataclass(frozen=True)
class Counted:
    """How many rows a list holds: exact up to COUNT_CAP; `more` past it."""

    total: int
    more: bool = False

    def pages(self, per_page: int) -> int:
        return max(1, ceil(self.total / per_page))


def capped_count(query: Select[Any], cap: int = COUNT_CAP) -> Counted:
    """The rows a select selects, counted to cap + 1 at most (COUNT_CAP for a
    list; an export asks whether it is over EXPORT_INLINE_MAX)."""
    limited = query.with_only_columns(literal_column("1")).order_by(None).limit(cap + 1).subquery()
    # A count is always one row: never None.
    found = cast(int, db.session.scalar(select(func.count()).select_from(limited)))
    return Counted(min(found, cap), found > cap)
