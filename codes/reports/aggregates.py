"""The report figures as daily aggregates (models.ReportDay), kept exact by each
change that moves them, in that change's transaction, so that a report sums
at most its period's days instead of counting the organization's history.

What moves them, and what never does (docs/REPORTS.md, "Daily aggregates"):

- a redemption adds one to its day's rows: the organization's, its code's,
  and each classroom its code places people in (count_redemption);
- a roster placement that took a seat adds a new member to the organization's
  and its classroom's rows (count_placements);
- a code given other classrooms takes its redemptions from the classrooms it
  left and gives them to those it joined, since a classroom's figures count
  the redemptions of the codes that place people in it now (move_code);
- a deleted classroom takes its rows with it (forget_classroom);
- a new time zone moves every day: the organization's rows are counted again
  from its redemptions and roster placements (recount).

Each row of a day is also added to its month's row (models.ReportMonth, the
month named by its first day), by the same function in the same transaction,
so that a long period sums months and only its edge days.

And to its total since the start (models.ReportTotal), by the same function in
the same transaction: each code's and each classroom's, and a code's again for
each classroom it places people in now (which its move takes away or gives),
so that "all time" reads a report's table of codes from an index, in order.
The organization's own row has no total: its timeline reads its days. A code's
totals carry its text, which its change writes there too (rename_code): the
table orders its ties by it.

Deactivating, pausing or deleting a code, and taking people out of a classroom
or moving them, change no figure: what happened stays."""

import copy
import json
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    Integer,
    String,
    TextClause,
    bindparam,
    cast,
    delete,
    func,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from .. import database
from ..extensions import db
from ..models import (
    AuditEvent,
    Classroom,
    Code,
    CodeClassroom,
    Organization,
    Redemption,
    ReportDay,
    ReportMonth,
    ReportTotal,
)
from ..users.operations import ROSTER_ADD

# code_id and classroom_id of a row that counts every code or classroom.
ALL = 0
COUNTS = ("redemptions", "new_members", "placed")
_KEY = ("org_id", "code_id", "classroom_id", "day")
_MONTH_KEY = ("org_id", "code_id", "classroom_id", "month")
_TOTAL_KEY = ("org_id", "code_id", "classroom_id")
_TOTAL_COLUMNS = (*_TOTAL_KEY, "code_text", *COUNTS)
# Rows per statement: 7,000 bound values, within what any SQLite build allows in
# one (32,766 by default; a recount writes a row per day, code and classroom).
CHUNK = 1000


def _midnight(zone: ZoneInfo, day: date) -> datetime:
    """Where the organization's day begins, as a naive UTC instant (timeutil.to_utc)."""
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)


def day_of(zone_name: str, instant: datetime) -> date:
    """The organization's day that holds an instant, as the reports' buckets hold
    it: the last day whose midnight there is at or before it. That is the local
    date but where a zone turns its clocks back at midnight (Chile, say): the
    repeated hour before it belongs to the day after, as its bucket's bounds say."""
    zone = ZoneInfo(zone_name)
    day = instant.replace(tzinfo=timezone.utc).astimezone(zone).date()
    while _midnight(zone, day + timedelta(days=1)) <= instant:
        day += timedelta(days=1)
    while _midnight(zone, day) > instant:
        day -= timedelta(days=1)
    return day


def month_of(day: date) -> date:
    """The month that holds a day, as its ReportMonth row names it."""
    return day.replace(day=1)


def _insert(model=ReportDay):
    return (sqlite if db.session.get_bind().dialect.name == "sqlite" else postgresql).insert(model.__table__)


def _adding(statement, key=_KEY):
    """ON CONFLICT on the row's key: its counts are added to the row's."""
    table = statement.table
    return statement.on_conflict_do_update(
        index_elements=[table.c[k] for k in key], set_={c: table.c[c] + statement.excluded[c] for c in COUNTS}
    )


def _columns(model, key):
    table = model.__table__
    return [table.c[k] for k in key] + [table.c[c] for c in COUNTS]


def _add(rows: Counter[tuple[int, int, int, date, str]]) -> None:
    """Add counts to rows, a statement for each thousand. Rows are written
    in the order of their key, so that two transactions adding to the same rows
    lock them in the same order (and never wait for each other in a circle)."""
    days: dict[tuple[int, int, int, date], dict[str, int]] = {}
    months: dict[tuple[int, int, int, date], dict[str, int]] = {}
    for (org_id, code_id, classroom_id, day, column), count in rows.items():
        for merged, bucket in ((days, day), (months, month_of(day))):
            counts = merged.setdefault((org_id, code_id, classroom_id, bucket), dict.fromkeys(COUNTS, 0))
            counts[column] += count
    for model, key, merged in ((ReportDay, _KEY, days), (ReportMonth, _MONTH_KEY, months)):
        values = [dict(zip(key, k, strict=True), **counts) for k, counts in sorted(merged.items())]
        for start in range(0, len(values), CHUNK):
            database.execute(_adding(_insert(model).values(values[start : start + CHUNK]), key))


def _zone_now(org_id: int) -> str:
    """The organization's time zone as it is now, held until the transaction ends
    (FOR SHARE: a change of zone, which recounts every day, waits for this
    transaction, and this one for it), not as a page read it earlier."""
    return database.execute(
        select(Organization.timezone).where(Organization.id == org_id).with_for_update(read=True)
    ).scalar_one()


def _int(value: int):
    # Typed, so that PostgreSQL reads the SELECT's bound values as integers.
    return cast(literal(value), Integer)


def count_redemption(org_id: int, code_id: int, took_seat: bool, at: datetime) -> None:
    """A redemption: one more on its day for the organization, its code, and each
    classroom the code places people in (read in the statement itself, under
    the code's lock that counting its use took, so a change of its classrooms
    is either wholly before or wholly after)."""
    day = day_of(_zone_now(org_id), at)
    values = {"org_id": org_id, "code_id": code_id, "new": 1 if took_seat else 0}
    for model, key, bucket in ((ReportDay, _KEY, day), (ReportMonth, _MONTH_KEY, month_of(day))):

        def build(model=model, key=key):
            return _adding(_insert(model).from_select(_columns(model, key), _redemption_rows()), key)

        database.execute(_prepared(model.__tablename__, build), {**values, "bucket": bucket})

    def totals():
        return _adding(_insert(ReportTotal).from_select(_total_columns(), _redemption_totals()), _TOTAL_KEY)

    database.execute(_prepared(ReportTotal.__tablename__, totals), values)


# SQLAlchemy caches no dialect's INSERT … ON CONFLICT (it marks them as not
# cacheable), so a redemption's three would be built and compiled again on
# every redemption: about a millisecond to build each and two to compile. Each
# is compiled once for each kind of database, into text with named parameters.
_PREPARED: dict[tuple[str, str], TextClause] = {}


def _prepared(name: str, build: Callable[[], Any]) -> TextClause:
    dialect = db.session.get_bind().dialect
    statement = _PREPARED.get((dialect.name, name))
    if statement is None:
        named = copy.copy(dialect)
        named.paramstyle, named.positional = "named", False
        compiled = build().compile(dialect=named)
        # text() reads ":name" as a parameter, so PostgreSQL's casts ("::") are escaped.
        sql = str(compiled).replace("::", "\\:\\:")
        binds = {}
        for bound, key in compiled.bind_names.items():
            binds[key] = (
                bindparam(key, type_=bound.type)
                if bound.required
                else bindparam(key, value=bound.value, type_=bound.type)
            )
        statement = _PREPARED[dialect.name, name] = text(sql).bindparams(*binds.values())
    return statement


def _total_columns():
    return [ReportTotal.__table__.c[c] for c in _TOTAL_COLUMNS]


def _redemption_totals():
    """A redemption's totals, in the order of their key: each classroom the code
    places people in, the code's own, and the code's in each of those classrooms
    (the code's text read with them, under the code's lock). Its parameters:
    org_id, code_id, and new (1 if the redemption took a seat)."""

    def row(code, classroom, text):
        return select(_bound("org_id"), code, classroom, text, _int(1), _bound("new"), _int(0))

    code_id = bindparam("code_id", type_=Integer)
    no_text = cast(literal(""), String)
    return union_all(
        row(_int(ALL), CodeClassroom.classroom_id, no_text).where(CodeClassroom.code_id == code_id),
        row(_bound("code_id"), _int(ALL), Code.text).where(Code.id == code_id),
        row(_bound("code_id"), CodeClassroom.classroom_id, Code.text)
        .join(Code, Code.id == CodeClassroom.code_id)
        .where(CodeClassroom.code_id == code_id),
    )


def _redemption_rows():
    """A redemption's rows of one day or month, in the order of their key (the
    classrooms by their index), as _add writes them. Its parameters: org_id,
    code_id, new (1 if the redemption took a seat) and bucket (the day or month)."""

    def row(code, classroom):
        # The day bound as a date (no CAST: SQLite would make it a number).
        return select(
            _bound("org_id"),
            code,
            classroom,
            bindparam("bucket", type_=Date),
            _int(1),
            _bound("new"),
            _int(0),
        )

    return union_all(
        row(_int(ALL), _int(ALL)),
        row(_int(ALL), CodeClassroom.classroom_id).where(
            CodeClassroom.code_id == bindparam("code_id", type_=Integer)
        ),
        row(_bound("code_id"), _int(ALL)),
    )


def _bound(name: str):
    """A parameter typed as _int types a value."""
    return cast(bindparam(name, type_=Integer), Integer)


def count_placements(org_id: int, placements: Iterable[tuple[int, datetime]]) -> None:
    """People a roster placed in classrooms, each (classroom id, when) one who
    took a seat: new members on that day, of the organization and the
    classroom, and in the classroom's total."""
    zone = None
    rows: Counter[tuple[int, int, int, date, str]] = Counter()
    totals: Counter[int] = Counter()
    for classroom_id, at in placements:
        zone = zone or _zone_now(org_id)
        day = day_of(zone, at)
        rows[org_id, ALL, ALL, day, "placed"] += 1
        rows[org_id, ALL, classroom_id, day, "placed"] += 1
        totals[classroom_id] += 1
    _add(rows)
    values = [
        dict(org_id=org_id, code_id=ALL, classroom_id=c, code_text="", redemptions=0, new_members=0, placed=n)
        for c, n in sorted(totals.items())
    ]
    for start in range(0, len(values), CHUNK):
        database.execute(_adding(_insert(ReportTotal).values(values[start : start + CHUNK]), _TOTAL_KEY))


def move_code(org_id: int, code_id: int, left: Collection[int], joined: Collection[int]) -> None:
    """A code's classrooms changed: the classrooms it left no longer count its
    redemptions, those it joined count them all, day by day and in their totals;
    the code's total in a classroom goes with it. Call it holding the code's
    row, which every redemption of it takes before it counts. Rows are written in
    the order a redemption writes them (every day row before any month row, the
    classrooms in the order of their ids), so that a redemption of another code
    in the same classrooms never waits for this one while holding what it waits
    for."""
    signs = sorted([(c, -1) for c in left] + [(c, 1) for c in joined])
    for model, key in ((ReportDay, _KEY), (ReportMonth, _MONTH_KEY)):
        for classroom_id, sign in signs:
            table = model.__table__
            rows = select(
                table.c.org_id,
                _int(ALL),
                _int(classroom_id),
                table.c[key[-1]],
                sign * table.c.redemptions,
                sign * table.c.new_members,
                _int(0),
            ).where(table.c.org_id == org_id, table.c.code_id == code_id, table.c.classroom_id == ALL)
            database.execute(_adding(_insert(model).from_select(_columns(model, key), rows), key))
    if not left and not joined:
        return
    # The totals after the days, in the order of their key, as a redemption
    # writes them: the classrooms' own, then the code's in each classroom.
    total = ReportTotal.__table__
    code_total = (total.c.org_id == org_id, total.c.code_id == code_id, total.c.classroom_id == ALL)

    def moved(classroom_id, sign, code, text):
        return select(
            total.c.org_id,
            code,
            _int(classroom_id),
            text,
            sign * total.c.redemptions,
            sign * total.c.new_members,
            _int(0),
        ).where(*code_total)

    no_text = cast(literal(""), String)
    rooms = [moved(c, sign, _int(ALL), no_text) for c, sign in signs]
    database.execute(
        _adding(_insert(ReportTotal).from_select(_total_columns(), union_all(*rooms)), _TOTAL_KEY)
    )
    if left:
        database.execute(
            delete(ReportTotal).where(
                ReportTotal.org_id == org_id,
                ReportTotal.code_id == code_id,
                ReportTotal.classroom_id.in_(sorted(left)),
            )
        )
    if joined:
        own = [moved(c, 1, _int(code_id), total.c.code_text) for c in sorted(joined)]
        database.execute(
            _adding(_insert(ReportTotal).from_select(_total_columns(), union_all(*own)), _TOTAL_KEY)
        )


def rename_code(org_id: int, code_id: int, text: str) -> None:
    """A code's new text, in its totals: the table of codes orders by it."""
    database.execute(
        update(ReportTotal)
        .where(ReportTotal.org_id == org_id, ReportTotal.code_id == code_id, ReportTotal.code_text != text)
        .values(code_text=text)
    )


def forget_classroom(org_id: int, classroom_id: int) -> None:
    """A deleted classroom's rows go with it (an id SQLite may give again must
    not find them), its totals and its codes' totals in it too. The
    organization's and the codes' rows keep what it counted."""
    for model in (ReportDay, ReportMonth):
        database.execute(
            delete(model).where(
                model.org_id == org_id, model.code_id == ALL, model.classroom_id == classroom_id
            )
        )
    database.execute(
        delete(ReportTotal).where(ReportTotal.org_id == org_id, ReportTotal.classroom_id == classroom_id)
    )


def recount(org_id: int) -> None:
    """Count every row of an organization again from its redemptions and roster
    placements, on its days as its time zone now says: after a change of zone.
    The totals are the sums of the days counted."""
    for model in (ReportDay, ReportMonth, ReportTotal):
        database.execute(delete(model).where(model.org_id == org_id))
    _add(counted_from_history(org_id, _zone_now(org_id)))
    _total_days(org_id)


def _total_days(org_id: int) -> None:
    """An organization's totals, from its days: each code's and each classroom's
    (with the code's text), then each code's again in each classroom it places
    people in now."""
    day, total = ReportDay.__table__, ReportTotal.__table__
    sums = (
        select(
            day.c.org_id,
            day.c.code_id,
            day.c.classroom_id,
            func.coalesce(Code.text, ""),
            func.sum(day.c.redemptions),
            func.sum(day.c.new_members),
            func.sum(day.c.placed),
        )
        .outerjoin(Code, (Code.id == day.c.code_id) & (day.c.code_id != ALL))
        .where(day.c.org_id == org_id, (day.c.code_id != ALL) | (day.c.classroom_id != ALL))
        .group_by(day.c.org_id, day.c.code_id, day.c.classroom_id, Code.text)
    )
    database.execute(_insert(ReportTotal).from_select(_total_columns(), sums))
    in_classrooms = (
        select(
            total.c.org_id,
            total.c.code_id,
            CodeClassroom.classroom_id,
            total.c.code_text,
            total.c.redemptions,
            total.c.new_members,
            _int(0),
        )
        .join(CodeClassroom, CodeClassroom.code_id == total.c.code_id)
        .where(total.c.org_id == org_id, total.c.code_id != ALL, total.c.classroom_id == ALL)
    )
    database.execute(_insert(ReportTotal).from_select(_total_columns(), in_classrooms))


def counted_from_history(org_id: int, zone_name: str) -> Counter[tuple[int, int, int, date, str]]:
    """An organization's rows as its history gives them: each redemption on its
    day for the organization, its code and the code's classrooms now; each
    roster placement that took a seat for the organization and its classroom."""
    classrooms: dict[int, list[int]] = {}
    for code_id, classroom_id in database.execute(
        select(CodeClassroom.code_id, CodeClassroom.classroom_id)
        .join(Redemption, Redemption.code_id == CodeClassroom.code_id)
        .where(Redemption.org_id == org_id)
        .distinct()
    ):
        classrooms.setdefault(code_id, []).append(classroom_id)
    rows: Counter[tuple[int, int, int, date, str]] = Counter()
    for code_id, took_seat, at in database.execute(
        select(Redemption.code_id, Redemption.took_seat, Redemption.created_at).where(
            Redemption.org_id == org_id
        )
    ):
        day = day_of(zone_name, at)
        for key in [(ALL, ALL), (code_id, ALL)] + [(ALL, c) for c in classrooms.get(code_id, [])]:
            rows[(org_id, *key, day, "redemptions")] += 1
            if took_seat:
                rows[(org_id, *key, day, "new_members")] += 1
    # A deleted classroom has no rows (forget_classroom); its placements stay
    # in the organization's. SQLite may give its id to a classroom made later:
    # what was placed before that one was made was placed in another.
    present = dict(
        database.execute(select(Classroom.id, Classroom.created_at).where(Classroom.org_id == org_id)).all()
    )
    for detail, at in database.execute(
        select(AuditEvent.detail, AuditEvent.created_at).where(
            AuditEvent.org_id == org_id, AuditEvent.action == ROSTER_ADD
        )
    ):
        placed = json.loads(detail or "{}")
        if not placed.get("took_seat"):
            continue
        day = day_of(zone_name, at)
        rows[org_id, ALL, ALL, day, "placed"] += 1
        if placed.get("classroom_id") in present and at >= present[placed["classroom_id"]]:
            rows[org_id, ALL, placed["classroom_id"], day, "placed"] += 1
    return rows
