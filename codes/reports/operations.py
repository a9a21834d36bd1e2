"""Reports: redemptions over time, new members against people who were already
members, seats, and side-by-side comparisons of codes or classrooms.

Every figure counts only redemptions of codes in the viewer's scope
(access.Scope.codes_in_scope: deleted codes included, since what they did
stays). Days are the organization's days, in its time zone. Nothing here
writes."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, case, func, select

from ..access import Scope
from ..codetext import canonical
from ..extensions import db
from ..models import (
    Classroom,
    ClassroomMember,
    Code,
    CodeClassroom,
    Organization,
    Redemption,
    User,
    folded,
    utcnow,
)
from ..timeutil import to_local, to_utc

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
    new: int = 0
    existing: int = 0

    @property
    def total(self) -> int:
        return self.new + self.existing


@dataclass
class Figures:
    """Redemptions, and how many of them brought a new member (took a seat)."""

    redemptions: int = 0
    new_members: int = 0

    @property
    def existing(self) -> int:
        return self.redemptions - self.new_members

    @property
    def conversion(self) -> int | None:
        """The share of redemptions that brought a new member, in percent."""
        if not self.redemptions:
            return None
        return round(100 * self.new_members / self.redemptions)


@dataclass
class Timeline:
    period: Period
    unit: str
    buckets: list[Bucket]

    @property
    def figures(self) -> Figures:
        return Figures(sum(b.total for b in self.buckets), sum(b.new for b in self.buckets))

    @property
    def empty(self) -> bool:
        return not any(b.total for b in self.buckets)


def _empty_buckets(period, today, first_day):
    """The buckets a period shows, oldest first, ending with the one holding today.
    "All time" starts at the first redemption's month, by year if months would
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


def in_scope(scope: Scope) -> list[ColumnElement[bool]]:
    """Redemptions of the organization's codes that the scope may count."""
    conditions = [Redemption.org_id == scope.org.id]
    if not scope.admin:
        conditions.append(Redemption.code_id.in_(scope.codes_in_scope().with_only_columns(Code.id)))
    return conditions


def of_classroom(classroom: Classroom) -> list[ColumnElement[bool]]:
    return [
        Redemption.code_id.in_(
            select(CodeClassroom.code_id).where(CodeClassroom.classroom_id == classroom.id)
        )
    ]


def of_code(code: Code) -> list[ColumnElement[bool]]:
    return [Redemption.code_id == code.id]


def first_day_of(org: Organization, conditions: Sequence[ColumnElement[bool]]) -> date | None:
    """The organization's day of the first redemption the conditions select, or None."""
    first = db.session.scalar(select(func.min(Redemption.created_at)).where(*conditions))
    return to_local(org, first).date() if first else None


def timeline(
    org: Organization,
    conditions: Sequence[ColumnElement[bool]],
    period: Period,
    today: date,
    first_day: date | None = None,
) -> Timeline:
    """Redemptions per day (week, month or year) in the organization's time zone,
    new members apart from people who were already members. "All time" starts
    at first_day, or else at the first redemption the conditions select."""
    if period.count is None and first_day is None:
        first_day = first_day_of(org, conditions)
    unit, buckets = _empty_buckets(period, today, first_day)
    # Where each bucket starts, as a UTC instant; the database counts what falls
    # in each (the last bucket starting at or before the redemption), so no row
    # travels and no time zone arithmetic is done per row.
    bounds = [to_utc(org, b.start) for b in buckets]
    until = to_utc(org, next_start(buckets[-1].start, unit))
    which = case(*[(Redemption.created_at >= bound, i) for i, bound in reversed(list(enumerate(bounds)))])
    placed = (
        select(which.label("bucket"), Redemption.took_seat.label("took_seat"))
        .where(*conditions, Redemption.created_at >= bounds[0], Redemption.created_at < until)
        .subquery()
    )
    for index, took_seat, count in db.session.execute(
        select(placed.c.bucket, placed.c.took_seat, func.count()).group_by(
            placed.c.bucket, placed.c.took_seat
        )
    ):
        if took_seat:
            buckets[index].new += count
        else:
            buckets[index].existing += count
    return Timeline(period, unit, buckets)


def _window(org, timeline_):
    return (
        to_utc(org, timeline_.buckets[0].start),
        to_utc(org, next_start(timeline_.buckets[-1].start, timeline_.unit)),
    )


def _counts():
    return (func.count(Redemption.id), func.count(Redemption.id).filter(Redemption.took_seat.is_(True)))


@dataclass
class CodeLine:
    code: Code
    figures: Figures


def code_lines(
    conditions: Sequence[ColumnElement[bool]], window: tuple[datetime, datetime], limit: int = MAX_TABLE_CODES
) -> list[CodeLine]:
    """The codes with most redemptions in the window, with their figures."""
    since, until = window
    redemptions, new = _counts()
    rows = db.session.execute(
        select(Code, redemptions, new)
        .join(Redemption, Redemption.code_id == Code.id)
        .where(*conditions, Redemption.created_at >= since, Redemption.created_at < until)
        .group_by(Code.id)
        .order_by(redemptions.desc(), Code.text)
        .limit(limit)
    )
    return [CodeLine(code, Figures(count, new_count)) for code, count, new_count in rows]


@dataclass
class ClassroomLine:
    classroom: Classroom
    figures: Figures
    members: int


def classroom_lines(
    scope: Scope, conditions: Sequence[ColumnElement[bool]], window: tuple[datetime, datetime]
) -> list[ClassroomLine]:
    """Every classroom of the scope with its figures in the window and its members now."""
    since, until = window
    redemptions, new = _counts()
    counted = {
        classroom_id: Figures(count, new_count)
        for classroom_id, count, new_count in db.session.execute(
            select(CodeClassroom.classroom_id, redemptions, new)
            .join(Redemption, Redemption.code_id == CodeClassroom.code_id)
            .where(*conditions, Redemption.created_at >= since, Redemption.created_at < until)
            .group_by(CodeClassroom.classroom_id)
        )
    }
    classrooms = scope.manageable_classrooms()
    members = dict(
        db.session.execute(
            select(ClassroomMember.classroom_id, func.count())
            .where(ClassroomMember.classroom_id.in_([c.id for c in classrooms]))
            .group_by(ClassroomMember.classroom_id)
        )
        .tuples()
        .all()
    )
    return [ClassroomLine(c, counted.get(c.id, Figures()), members.get(c.id, 0)) for c in classrooms]


def seats_through(conditions: Sequence[ColumnElement[bool]]) -> int:
    """Seats ever taken by the redemptions the conditions select (a code's)."""
    # A count is always one row: never None.
    return cast(
        int,
        db.session.scalar(
            select(func.count(Redemption.id)).where(*conditions, Redemption.took_seat.is_(True))
        ),
    )


def members_of(classroom: Classroom) -> int:
    return cast(
        int, db.session.scalar(select(func.count()).where(ClassroomMember.classroom_id == classroom.id))
    )


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
    conditions = in_scope(scope)
    line = timeline(scope.org, conditions, period, today)
    window = _window(scope.org, line)
    return Report(
        line,
        line.figures,
        codes=code_lines(conditions, window),
        classrooms=classroom_lines(scope, conditions, window),
    )


def classroom_report(scope: Scope, classroom: Classroom, period: Period, today: date) -> Report:
    """A classroom: redemptions of the codes (in scope) that place people in it,
    and the seats counted in it against its allotment."""
    conditions = in_scope(scope) + of_classroom(classroom)
    line = timeline(scope.org, conditions, period, today)
    return Report(
        line,
        line.figures,
        codes=code_lines(conditions, _window(scope.org, line)),
        seats_taken=classroom.seats_used,
        seat_allotment=classroom.seat_allotment,
        members=members_of(classroom),
    )


def code_report(scope: Scope, code: Code, period: Period, today: date) -> Report:
    conditions = in_scope(scope) + of_code(code)
    line = timeline(scope.org, conditions, period, today)
    return Report(line, line.figures, seats_taken=seats_through(conditions))


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
    (for "All time", from the earliest first redemption among them)."""
    targets = [("code", c.text, c, in_scope(scope) + of_code(c)) for c in codes] + [
        ("classroom", c.name, c, in_scope(scope) + of_classroom(c)) for c in classrooms
    ]
    first_day = None
    if period.count is None:
        firsts = [first_day_of(scope.org, conditions) for *_, conditions in targets]
        first_day = min((f for f in firsts if f is not None), default=None)
    items = [
        Compared(
            name,
            kind,
            target,
            timeline(scope.org, conditions, period, today, first_day),
            seats_through(conditions) if kind == "code" else target.seats_used,
            members_of(target) if kind == "classroom" else None,
        )
        for kind, name, target, conditions in targets
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
