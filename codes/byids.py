"""Reading the rows of a list of ids first, whatever else a query asks of them.

SQLite plans without statistics: it takes any organization for ten rows, so a
query that names an organization and a list of ids walks the organization's
index and looks each row up in the list, however long the organization and
however short the list. `among` makes the list the outer loop: a CROSS JOIN,
which SQLite's planner never turns round, from the ids as one JSON parameter.
PostgreSQL's planner has statistics: there the ids are one array parameter,
and it chooses."""

import json
from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import Column, Integer, Select, any_, bindparam, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.selectable import Join

from .extensions import db

_T = TypeVar("_T", bound=Any)


class _IdsFirst(Join):
    """An inner join whose left side, the ids, SQLite reads first."""

    inherit_cache = True


@compiles(_IdsFirst, "sqlite")
def _cross_join(join, compiler, **kw):
    # The left side is json_each(?) AS ids, whose text holds no JOIN: the first
    # one is this join's own.
    return compiler.visit_join(join, **kw).replace(" JOIN ", " CROSS JOIN ", 1)


def among(query: Select[_T], on: InstrumentedAttribute[Any], ids: Collection[int]) -> Select[_T]:
    """`query` narrowed to the rows whose `on` (a column of one of its tables:
    an id, or a column naming one) is in `ids`, reading those first."""
    if db.session.get_bind().dialect.name == "postgresql":
        return query.where(on == any_(bindparam(None, list(ids), type_=ARRAY(Integer))))
    column = on.expression
    assert isinstance(column, Column)
    listed = func.json_each(json.dumps(list(ids))).table_valued("value").alias("ids")
    return query.select_from(_IdsFirst(listed, column.table, column == listed.c.value))
