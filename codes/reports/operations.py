"""Reports: redemptions over time, new members against people who were already
members, seats, and side-by-side comparisons of codes or classrooms.

Every figure counts only redemptions of codes in the viewer's scope
(access.Scope.codes_in_scope: deleted codes included, since what they did
stays), and the people a roster placed in the classrooms the viewer manages.
Days are the organization's days, in its time zone. The figures are read from
the daily aggregates (codes.reports.aggregates). Nothing here writes."""

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CompoundSelect, Select, func, literal, select, union_all

from ..access import Scope
from ..byids import among
from ..codetext import canonical
from ..extensions import db
from ..models import (
    EXACT_BANDS,
    Classroom,
    Code,
    CodeClassroom,
    Organization,
    Redemption,
    ReportDay,
    ReportMonth,
    ReportTotal,
    User,
    folded,
    utcnow,
)
from ..timeutil import to_local
from .aggregates import ALL

DAY, WEEK, MONTH, YEAR = "day", "week", "month", "year"
# "All time" is drawn by month until that would make more bars than this.
MAX_MONTH_BARS = 36
MAX_TABLE_CODES = 15
MIN_COMPARED, MAX_COMPARED = 2, 6
MAX_SEARCH = 80


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    unit: str
    count: int | None = None


PERIODS = (
    Period("30d", "Last 30 days", DAY, 30),
    Period("12w", "Last 12 weeks", WEEK, 12),
    Period("12m", "Last 12 months", MONTH, 12),
    Period("all", "All time", MONTH),
)
DEFAULT_PERIOD = PERIODS[0]


def period_named(key: str | None) -> Period:
    return next((p for p in PERIODS if p.key == key), DEFAULT_PERIOD)


def today_in(org: Organization, now: datetime | None = None) -> date:
    """The organization's current day."""
    return to_local(org, now or utcnow()).date()


# --- buckets of days ------------------------------------------------------------------------


def bucket_start(day: date, unit: str) -> date:
    if unit == WEEK:
        return day - timedelta(days=day.weekday())
    if unit == MONTH:
        return day.replace(day=1)
    if unit == YEAR:
        return day.replace(month=1, day=1)
    return day


def _add_months(day, months):
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def next_start(start: date, unit: str) -> date:
    if unit == WEEK:
        return start + timedelta(days=7)
    if unit == MONTH:
        return _add_months(start, 1)
    if unit == YEAR:
        return start.replace(year=start.year + 1)
    return start + timedelta(days=1)


def _back(start, unit, steps):
    if unit == WEEK:
        return start - timedelta(days=7 * steps)
    if unit == MONTH:
        return _add_months(start, -steps)
    return start - timedelta(days=steps)


def _labels(start, unit):
    """A long label for tables and tooltips, a short one for the chart's axis."""
    if unit == DAY:
        return f"{start:%a} {start.isoformat()}", f"{start:%b} {start.day}"
    if unit == WEEK:
        return f"Week of {start.isoformat()}", f"{start:%b} {start.day}"
    if unit == MONTH:
        return f"{start:%B %Y}", f"{start:%b}" if start.month != 1 else f"{start:%b %Y}"
    return str(start.year), str(start.year)


@dataclass
class Bucket:
    start: date
    label: str
    short: str
    # New members (by a code that took a seat, or placed by a roster), and
    # redemptions by people who were members already.
    new: int = 0
    existing: int = 0
    # Of the new members, those a roster placed (no redemption).
    placed: int = 0

    @property
    def total(self) -> int:
        return self.new + self.existing

    @property
    def redemptions(self) -> int:
        return self.total - self.placed


@dataclass
class Figures:
    """Redemptions, how many of them brought a new member (took a seat), and the
    people a roster placed who took a seat: new members too, by no redemption."""

    redemptions: int = 0
    redeemed_new: int = 0
    placed: int = 0

    @property
    def new_members(self) -> int:
        return self.redeemed_new + self.placed

    @property
    def existing(self) -> int:
        return self.redemptions - self.redeemed_new

    @property
    def conversion(self) -> int | None:
        """The share of redemptions that brought a new member, in percent."""
        if not self.redemptions:
            return None
        return round(100 * self.redeemed_new / self.redemptions)


@dataclass
class Timeline:
    period: Period
    unit: str
    buckets: list[Bucket]

    @property
    def figures(self) -> Figures:
        return Figures(
            sum(b.redemptions for b in self.buckets),
            sum(b.new - b.placed for b in self.buckets),
            sum(b.placed for b in self.buckets),
        )

    @property
    def empty(self) -> bool:
        return not any(b.total for b in self.buckets)


def _empty_buckets(period, today, first_day):
    """The buckets a period shows, oldest first, ending with the one holding today.
    "All time" starts at the first counted day's month, by year if months would
    be too many."""
    unit = period.unit
    if period.count is None:
        first_day = min(first_day or today, today)
        months = (today.year - first_day.year) * 12 + today.month - first_day.month + 1
        if months > MAX_MONTH_BARS:
            unit = YEAR
        start = bucket_start(first_day, unit)
    else:
        start = _back(bucket_start(today, unit), unit, period.count - 1)
    last = bucket_start(today, unit)
    buckets = []
    while start <= last:
        buckets.append(Bucket(start, *_labels(start, unit)))
        start = next_start(start, unit)
    return unit, buckets


# --- what a report counts -------------------------------------------------------------------
#
# The figures are sums of the daily aggregates (codes.reports.aggregates,
# models.ReportDay), never counts of the redemptions: a report reads at most
# one row per day of its period for the whole organization or one classroom,
# and one per day and code for its codes.


# The rows a report sums: (day, redemptions, new_members, placed).
Days = Select[Any] | CompoundSelect[Any]


def _codes_in_scope(scope: Scope) -> Select:
    return scope.codes_in_scope().with_only_columns(Code.id)


def _code_rows(scope: Scope, *conditions: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """The day rows of codes (the scope's: for others than an admin, those whose
    every target they manage, deleted ones included)."""
    return _scoped_codes(scope, ReportDay.__table__, None) + list(conditions)


def _days(*conditions):
    return select(
        ReportDay.day.label("day"),
        ReportDay.redemptions.label("redemptions"),
        ReportDay.new_members.label("new_members"),
        ReportDay.placed.label("placed"),
    ).where(*conditions)


def _code_days(*conditions):
    return select(
        ReportDay.day.label("day"),
        ReportDay.redemptions.label("redemptions"),
        ReportDay.new_members.label("new_members"),
        literal(0).label("placed"),
    ).where(*conditions)


def _placed_days(*conditions):
    return select(
        ReportDay.day.label("day"),
        literal(0).label("redemptions"),
        literal(0).label("new_members"),
        ReportDay.placed.label("placed"),
    ).where(*conditions, ReportDay.placed != 0)


def in_scope(scope: Scope) -> Days:
    """The days the scope counts in the organization: the whole organization's
    for an admin; for others, the days of the codes in scope, and the people
    a roster placed in the classrooms they manage."""
    if scope.admin:
        return _days(
            ReportDay.org_id == scope.org.id, ReportDay.code_id == ALL, ReportDay.classroom_id == ALL
        )
    classroom_ids = [c.id for c in scope.manageable_classrooms()]
    return union_all(
        _code_days(*_code_rows(scope)),
        _placed_days(
            ReportDay.org_id == scope.org.id,
            ReportDay.code_id == ALL,
            ReportDay.classroom_id.in_(classroom_ids),
        ),
    )


def of_classroom(scope: Scope, classroom: Classroom) -> Days:
    """A classroom's days: the redemptions of the codes (in scope) that place
    people in it, and the people a roster placed in it."""
    rows = [
        ReportDay.org_id == scope.org.id,
        ReportDay.code_id == ALL,
        ReportDay.classroom_id == classroom.id,
    ]
    if scope.admin:
        return _days(*rows)
    return union_all(
        _code_days(*_code_rows(scope, ReportDay.code_id.in_(_codes_of(classroom)))), _placed_days(*rows)
    )


def _codes_of(classroom: Classroom) -> Select:
    return select(CodeClassroom.code_id).where(CodeClassroom.classroom_id == classroom.id)


def of_code(scope: Scope, code: Code) -> Days:
    return _code_days(*_code_rows(scope, ReportDay.code_id == code.id))


def first_day_of(days: Days) -> date | None:
    """The first day with a figure among the days selected, or None."""
    counted = days.subquery()
    return db.session.scalar(
        select(func.min(counted.c.day)).where((counted.c.redemptions != 0) | (counted.c.placed != 0))
    )


def timeline(
    org: Organization, days: Days, period: Period, today: date, first_day: date | None = None
) -> Timeline:
    """Redemptions per day (week, month or year) in the organization's time zone,
    new members apart from people who were already members. "All time" starts
    at first_day, or else at the first day the selection counts."""
    if period.count is None and first_day is None:
        first_day = first_day_of(days)
    unit, buckets = _empty_buckets(period, today, first_day)
    starts = [b.start for b in buckets]
    until = next_start(buckets[-1].start, unit)
    counted = days.subquery()
    for day, redemptions, new, placed in db.session.execute(
        select(
            counted.c.day,
            func.sum(counted.c.redemptions),
            func.sum(counted.c.new_members),
            func.sum(counted.c.placed),
        )
        .where(counted.c.day >= starts[0], counted.c.day < until)
        .group_by(counted.c.day)
    ):
        bucket = buckets[bisect_right(starts, day) - 1]
        bucket.new += new + placed
        bucket.existing += redemptions - new
        bucket.placed += placed
    return Timeline(period, unit, buckets)


def _window(timeline_: Timeline, period: Period) -> tuple[date, date] | None:
    """The days a timeline's tables count; None for "all time": they read the
    totals since the start (models.ReportTotal), the sums of every day."""
    if period.count is None:
        return None
    return timeline_.buckets[0].start, next_start(timeline_.buckets[-1].start, timeline_.unit)


def _spans(window: tuple[date, date]) -> list[tuple[Any, Any, date, date]]:
    """Where a window's rows are, as (table, its day or month column, since,
    until): month rows (models.ReportMonth) for the whole months inside it, day
    rows for the days before the first and after the last."""
    since, until = window
    days, months = ReportDay.__table__, ReportMonth.__table__
    first = since if since.day == 1 else next_start(since.replace(day=1), "month")
    last = until.replace(day=1)
    if first >= last:
        return [(days, days.c.day, since, until)]
    spans = [
        (days, days.c.day, since, first),
        (months, months.c.month, first, last),
        (days, days.c.day, last, until),
    ]
    return [span for span in spans if span[2] < span[3]]


def _rows(window: tuple[date, date], where: Callable[[Any], Iterable[ColumnElement[bool]]]) -> Any:
    """The rows of a window, as a subquery (code_id, classroom_id, redemptions,
    new_members, placed); where(table) gives the conditions on each table."""
    parts = [
        select(
            table.c.code_id, table.c.classroom_id, table.c.redemptions, table.c.new_members, table.c.placed
        ).where(*where(table), bucket >= since, bucket < until)
        for table, bucket, since, until in _spans(window)
    ]
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()


def _scoped_codes(scope: Scope, table: Any, codes: Select | None) -> list[ColumnElement[bool]]:
    rows = [table.c.org_id == scope.org.id, table.c.code_id != ALL, table.c.classroom_id == ALL]
    if not scope.admin:
        rows.append(table.c.code_id.in_(_codes_in_scope(scope)))
    if codes is not None:
        rows.append(table.c.code_id.in_(codes))
    return rows


@dataclass
class CodeLine:
    code: Code
    figures: Figures


def code_lines(
    scope: Scope, classroom: Classroom | None, window: tuple[date, date] | None, limit: int = MAX_TABLE_CODES
) -> list[CodeLine]:
    """The codes (of the classroom, if any) with most redemptions in the window,
    or since the start when there is none, with their figures: most redeemed
    first, then by text."""
    if window is None:
        return _top_codes_ever(scope, classroom, limit)
    codes = _codes_of(classroom) if classroom is not None else None
    counted = _rows(window, lambda table: _scoped_codes(scope, table, codes))
    sums = db.session.execute(
        select(counted.c.code_id, func.sum(counted.c.redemptions), func.sum(counted.c.new_members)).group_by(
            counted.c.code_id
        )
    ).all()
    return _most_redeemed({code_id: Figures(count, new) for code_id, count, new in sums}, limit)


def _most_redeemed(figures: dict[int, Figures], limit: int) -> list[CodeLine]:
    """The `limit` codes of most redemptions among `figures` (by code id), most
    first, ties by text. The sums are grouped by code id alone, and only the
    codes that tie at the table's last place are read for their text to choose
    among them: not every code of the period."""
    ranked = sorted(figures.items(), key=lambda item: -item[1].redemptions)
    chosen = [code_id for code_id, _ in ranked]
    if len(ranked) > limit:
        last = ranked[limit - 1][1].redemptions
        chosen = [code_id for code_id, f in ranked if f.redemptions > last]
        tied = [code_id for code_id, f in ranked if f.redemptions == last]
        chosen += db.session.scalars(
            among(select(Code.id), Code.id, tied).order_by(Code.text, Code.id).limit(limit - len(chosen))
        ).all()
    in_order = db.session.scalars(among(select(Code), Code.id, chosen).order_by(Code.text, Code.id)).all()
    # Sorted again by count only: the sort is stable, so ties keep the text's order.
    lines = sorted(
        (CodeLine(code, figures[code.id]) for code in in_order), key=lambda line: -line.figures.redemptions
    )
    return lines


def _code_totals(scope: Scope, *conditions: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """The totals of codes (models.ReportTotal): the scope's, as _scoped_codes."""
    rows = [ReportTotal.org_id == scope.org.id, ReportTotal.code_id != ALL, *conditions]
    if not scope.admin:
        rows.append(ReportTotal.code_id.in_(_codes_in_scope(scope)))
    return rows


def _top_codes_ever(scope: Scope, classroom: Classroom | None, limit: int) -> list[CodeLine]:
    """The table of codes since the start, from the totals, read band by band
    from the top (ix_report_totals_order): the highest band left, then its rows
    in the table's order, until the table is full. A band below EXACT_BANDS
    holds one count only, so the index gives its rows by text, and reading stops
    after the rows needed, however many codes tie (every code used once has 1);
    a higher band's few rows are sorted by their counts."""
    total = ReportTotal
    where = _code_totals(scope, total.classroom_id == (classroom.id if classroom is not None else ALL))
    lines: list[CodeLine] = []
    below: int | None = None
    while len(lines) < limit:
        higher = [] if below is None else [total.band < below]
        band = db.session.scalar(
            select(total.band).where(*where, *higher).order_by(total.band.desc()).limit(1)
        )
        if band is None:
            break
        order = [total.code_text] if band < EXACT_BANDS else [total.redemptions.desc(), total.code_text]
        rows = db.session.execute(
            select(Code, total.redemptions, total.new_members)
            .join(Code, Code.id == total.code_id)
            .where(*where, total.band == band)
            .order_by(*order)
            .limit(limit - len(lines))
        )
        lines += [CodeLine(code, Figures(count, new_count)) for code, count, new_count in rows]
        below = band
    return lines


@dataclass
class ClassroomLine:
    classroom: Classroom
    figures: Figures
    members: int


def classroom_lines(scope: Scope, window: tuple[date, date] | None) -> list[ClassroomLine]:
    """Every classroom of the scope with its figures in the window (or since the
    start, from the totals, when there is none) and its members now."""
    classrooms = scope.manageable_classrooms()
    ids = [c.id for c in classrooms]
    counted: dict[int, Figures] = {}
    if window is None:
        rooms: Any = (
            select(ReportTotal)
            .where(
                ReportTotal.org_id == scope.org.id,
                ReportTotal.code_id == ALL,
                ReportTotal.classroom_id.in_(ids),
            )
            .subquery()
        )
    else:
        rooms = _rows(
            window, lambda t: (t.c.org_id == scope.org.id, t.c.code_id == ALL, t.c.classroom_id.in_(ids))
        )
    for classroom_id, count, new_count, placed in db.session.execute(
        select(
            rooms.c.classroom_id,
            func.sum(rooms.c.redemptions),
            func.sum(rooms.c.new_members),
            func.sum(rooms.c.placed),
        ).group_by(rooms.c.classroom_id)
    ):
        counted[classroom_id] = Figures(count, new_count, placed) if scope.admin else Figures(placed=placed)
    if not scope.admin:
        # Only the codes in scope count: a code that also places people in a
        # classroom one does not manage is not theirs.
        if window is None:
            # Each code's total in each classroom it places people in now.
            by_code = select(
                ReportTotal.classroom_id, func.sum(ReportTotal.redemptions), func.sum(ReportTotal.new_members)
            ).where(*_code_totals(scope, ReportTotal.classroom_id.in_(ids)))
            sums = by_code.group_by(ReportTotal.classroom_id)
        else:
            codes = _rows(window, lambda table: _scoped_codes(scope, table, None))
            sums = (
                select(
                    CodeClassroom.classroom_id, func.sum(codes.c.redemptions), func.sum(codes.c.new_members)
                )
                .join(codes, codes.c.code_id == CodeClassroom.code_id)
                .where(CodeClassroom.classroom_id.in_(ids))
                .group_by(CodeClassroom.classroom_id)
            )
        for classroom_id, count, new_count in db.session.execute(sums):
            figures = counted.setdefault(classroom_id, Figures())
            figures.redemptions, figures.redeemed_new = count, new_count
    # Read afresh, not from the classrooms loaded: the database keeps the counts.
    members = dict(
        db.session.execute(select(Classroom.id, Classroom.member_count).where(Classroom.id.in_(ids)))
        .tuples()
        .all()
    )
    return [ClassroomLine(c, counted.get(c.id, Figures()), members.get(c.id, 0)) for c in classrooms]


def seats_through(scope: Scope, code: Code) -> int:
    """Seats ever taken by a code's redemptions: its total's."""
    return (
        db.session.scalar(
            select(ReportTotal.new_members).where(
                *_code_totals(scope, ReportTotal.code_id == code.id, ReportTotal.classroom_id == ALL)
            )
        )
        or 0
    )


def members_of(classroom: Classroom) -> int:
    """Its members now, as the database counts them (codes.classroomcounts)."""
    return cast(int, db.session.scalar(select(Classroom.member_count).where(Classroom.id == classroom.id)))


# --- the reports ----------------------------------------------------------------------------


@dataclass
class Report:
    timeline: Timeline
    figures: Figures
    codes: list[CodeLine] = field(default_factory=list)
    classrooms: list[ClassroomLine] = field(default_factory=list)
    seats_taken: int | None = None
    seat_allotment: int | None = None
    members: int | None = None


def organization_report(scope: Scope, period: Period, today: date) -> Report:
    """The organization as the scope sees it: over time, per classroom, per code."""
    line = timeline(scope.org, in_scope(scope), period, today)
    window = _window(line, period)
    return Report(
        line, line.figures, codes=code_lines(scope, None, window), classrooms=classroom_lines(scope, window)
    )


def classroom_report(scope: Scope, classroom: Classroom, period: Period, today: date) -> Report:
    """A classroom: redemptions of the codes (in scope) that place people in it,
    and the seats counted in it against its allotment."""
    line = timeline(scope.org, of_classroom(scope, classroom), period, today)
    return Report(
        line,
        line.figures,
        codes=code_lines(scope, classroom, _window(line, period)),
        seats_taken=classroom.seats_used,
        seat_allotment=classroom.seat_allotment,
        members=members_of(classroom),
    )


def code_report(scope: Scope, code: Code, period: Period, today: date) -> Report:
    line = timeline(scope.org, of_code(scope, code), period, today)
    return Report(line, line.figures, seats_taken=seats_through(scope, code))


@dataclass
class Compared:
    """One code or classroom in a comparison."""

    name: str
    kind: str
    target: Code | Classroom
    timeline: Timeline
    seats_taken: int
    members: int | None = None

    @property
    def figures(self) -> Figures:
        return self.timeline.figures


@dataclass
class Comparison:
    period: Period
    items: list[Compared]

    @property
    def buckets(self) -> list[Bucket]:
        """The buckets every item shares (their labels)."""
        return self.items[0].timeline.buckets if self.items else []


def compare(
    scope: Scope,
    period: Period,
    today: date,
    codes: Sequence[Code] = (),
    classrooms: Sequence[Classroom] = (),
) -> Comparison:
    """Codes and classrooms side by side over one period, in the same buckets
    (for "All time", from the earliest first day counted among them)."""
    targets = [("code", c.text, c, of_code(scope, c)) for c in codes] + [
        ("classroom", c.name, c, of_classroom(scope, c)) for c in classrooms
    ]
    first_day = None
    if period.count is None:
        firsts = [first_day_of(days) for *_, days in targets]
        first_day = min((f for f in firsts if f is not None), default=None)
    items = [
        Compared(
            name,
            kind,
            target,
            timeline(scope.org, days, period, today, first_day),
            seats_through(scope, target) if isinstance(target, Code) else target.seats_used,
            members_of(target) if isinstance(target, Classroom) else None,
        )
        for kind, name, target, days in targets
    ]
    return Comparison(period, items)


REDEEMERS_PAGE_SIZE = 50


@dataclass
class Redeemers:
    """One page of the people who redeemed a code, the latest first."""

    rows: Sequence[tuple[str, str, datetime]]  # (name, email, when, in UTC)
    number: int
    pages: int
    total: int


def redeemers(code: Code, number: int) -> Redeemers:
    """Who redeemed a code (name, email, when), a page at a time; a number past
    the end shows the last page."""
    total = cast(
        int,
        db.session.scalar(select(func.count()).select_from(Redemption).where(Redemption.code_id == code.id)),
    )
    pages = max(1, -(-total // REDEEMERS_PAGE_SIZE))
    number = min(max(number, 1), pages)
    rows = (
        db.session.execute(
            select(User.name, User.email, Redemption.created_at)
            .join(User, User.id == Redemption.user_id)
            .where(Redemption.code_id == code.id)
            .order_by(Redemption.created_at.desc(), Redemption.id.desc())
            .limit(REDEEMERS_PAGE_SIZE)
            .offset((number - 1) * REDEEMERS_PAGE_SIZE)
        )
        .tuples()
        .all()
    )
    return Redeemers(rows, number, pages, total)


def code_choices(scope: Scope, chosen: Sequence[Code], search: str, limit: int) -> list[Code]:
    """The codes one may compare, those already chosen first, then the most used
    matching the search (by lookup key, so dashes, case and O or 0 do not matter)."""
    query = scope.visible_codes()
    search = search.strip()[:MAX_SEARCH]
    if search:
        query = query.where(Code.key.contains(canonical(search) or search, autoescape=True))
    found = db.session.scalars(query.order_by(Code.uses.desc(), Code.text).limit(limit)).all()
    return [*chosen, *(c for c in found if c not in chosen)]


def classroom_choices(scope: Scope, chosen: Sequence[Classroom], search: str) -> list[Classroom]:
    """The classrooms one may compare: those chosen, then those whose name holds
    the search (compared folded, as every search is)."""
    wanted = folded(search.strip()[:MAX_SEARCH])
    rest = [
        c
        for c in scope.manageable_classrooms()
        if c not in chosen and (not wanted or wanted in folded(c.name))
    ]
    return [*chosen, *rest]
