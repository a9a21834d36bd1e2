"""Bulk codes: generating a batch of random codes, and the list, redemptions and
export of the codes a person may manage. Every function flushes and never commits."""

import functools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import audit, csvfile, database, duration, keys, search, status
from ..access import Scope
from ..codetext import MAX_TYPED, PREFIX_RE, canonical, random_code
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..listing import Counted, capped_count
from ..manage.operations import (
    CHOOSE_UNLIMITED,
    limit_problems,
    targets_in_scope,
    uses_at_least_one,
    uses_range,
)
from ..models import (
    ROLE_STUDENT,
    Batch,
    Classroom,
    Code,
    CodeClassroom,
    CodeCourse,
    Course,
    Redemption,
    User,
    utcnow,
)
from ..timeutil import to_local, to_utc

MAX_COUNT = 500
MAX_PREFIX = 20  # letters and digits; dashes between them not counted
MAX_PREFIX_TEXT = 2 * MAX_PREFIX  # with its dashes: more can be no prefix
PER_PAGE = 50
BATCH_USES_AT_LEAST = uses_at_least_one(CHOOSE_UNLIMITED)
BATCH_USES_RANGE = uses_range(CHOOSE_UNLIMITED)
# Rounds of drawing and inserting before giving up. With 50 random bits a code,
# a second round is already a rarity; a fifth means something else is wrong.
ATTEMPTS = 5
EXPORT_CHUNK = 1000
# Distinct sets of a row's cells after the code kept written (export_pieces).
TAILS_KEPT = 4096


@dataclass
class BatchInput:
    """What staff asked for in the generate form (expiry already in UTC)."""

    classroom_ids: list[int] = field(default_factory=list)
    course_ids: list[int] = field(default_factory=list)
    count: int | None = None
    prefix: str = ""
    valid_until: datetime | None = None
    max_uses: int | None = 1
    role: str = ROLE_STUDENT
    # Approval mode and the usual-rate guard for every code of the batch
    # (docs/APPROVAL.md).
    approval: bool = False
    surge_guard: bool = False
    # How long membership of its classrooms lasts (codes.duration).
    member_days: int | None = None
    member_until: datetime | None = None


def _validated(scope, data, now):
    errors = {}
    if data.count is None or not 1 <= data.count <= MAX_COUNT:
        errors["count"] = f"Make 1 to {MAX_COUNT} codes at a time."
    # A dash typed at either end is the one random_code puts there anyway.
    prefix = (data.prefix or "").strip().upper().strip("-")
    if len(prefix) > MAX_PREFIX_TEXT or len(prefix.replace("-", "")) > MAX_PREFIX:
        errors["prefix"] = f"A prefix is at most {MAX_PREFIX} letters and digits."
    elif not PREFIX_RE.fullmatch(prefix):
        errors["prefix"] = (
            "Use only the letters A to Z and digits in a prefix, with single dashes between them if you like."
        )
    errors.update(limit_problems(data, now=now, unlimited=CHOOSE_UNLIMITED))
    errors.update(duration.problems(data.member_days, data.member_until, data.role, now=now))
    classrooms, courses = targets_in_scope(scope, data)
    if not classrooms and not courses:
        errors["targets"] = "Choose at least one classroom or course."
    if errors:
        raise FieldErrors(errors)
    return prefix, classrooms, courses


def _draw(texts, count, prefix):
    """Add random codes to texts (lookup key -> text) towards count, leaving out
    any whose key is already taken. Twice the draws needed is plenty: a repeat
    among 50 random bits is next to impossible."""
    needed = count - len(texts)
    fresh: dict[str, str] = {}
    for _ in range(2 * needed):
        text = random_code(prefix)
        key = canonical(text)
        if key not in texts:
            fresh.setdefault(key, text)
        if len(fresh) == needed:
            break
    for key in keys.taken(fresh):
        del fresh[key]
    texts.update(fresh)


def _insert(texts, values, classrooms, courses):
    """The codes in one multi-row INSERT, then their targets in one INSERT for
    each kind, all in a savepoint so a key taken meanwhile undoes only this try."""
    rows = [{**values, "text": text, "key": key} for key, text in texts.items()]
    with db.session.begin_nested():
        # Rows as parameters, not .values(rows): SQLAlchemy's "insertmanyvalues"
        # sends them as one multi-row INSERT from a statement compiled once and
        # cached, where .values() would compile 500 rows of parameters each time.
        ids = db.session.scalars(insert(Code).returning(Code.id), rows).all()
        if classrooms:
            db.session.execute(
                insert(CodeClassroom).values(
                    [{"code_id": i, "classroom_id": c.id} for i in ids for c in classrooms]
                )
            )
        if courses:
            db.session.execute(
                insert(CodeCourse).values([{"code_id": i, "course_id": c.id} for i in ids for c in courses])
            )


def generate_batch(actor: User, scope: Scope, data: BatchInput, now: datetime | None = None) -> Batch:
    """Make 1 to 500 random codes in one batch for targets all within the actor's
    scope. Each code's lookup key is unique across the site: keys found taken,
    before the insert or by a concurrent writer during it, are drawn again and
    never shown to the person. Prefix: up to 20 of A-Z and 0-9 (typed case is
    raised); expiry not already past; max uses at least 1, or none for unlimited."""
    now = now or utcnow()
    prefix, classrooms, courses = _validated(scope, data, now)
    options = {
        "expiry": data.valid_until.isoformat() if data.valid_until else None,
        "max_uses": data.max_uses,
        "role": data.role,
        "targets": {"classrooms": [c.id for c in classrooms], "courses": [c.id for c in courses]},
    }
    if data.approval:
        options["approval"] = True
    if data.surge_guard:
        options["surge_guard"] = True
    if data.member_days is not None:
        options["member_days"] = data.member_days
    if data.member_until is not None:
        options["member_until"] = data.member_until.isoformat()
    batch = Batch(
        org_id=scope.org.id,
        created_by_id=actor.id,
        created_at=now,
        count=data.count,
        prefix=prefix,
        options=json.dumps(options, sort_keys=True),
    )
    db.session.add(batch)
    db.session.flush()
    values = dict(
        org_id=scope.org.id,
        batch_id=batch.id,
        role=data.role,
        valid_from=None,
        valid_until=data.valid_until,
        max_uses=data.max_uses,
        uses=0,
        allowed_domains="",
        approval=bool(data.approval),
        surge_guard=bool(data.surge_guard),
        member_days=data.member_days,
        member_until=data.member_until,
        enabled=True,
        deactivated_at=None,
        deleted_at=None,
        created_by_id=actor.id,
        created_at=now,
    )
    texts: dict[str, str] = {}
    count = cast(int, data.count)  # _validated has refused a batch without one
    for _ in range(ATTEMPTS):
        _draw(texts, count, prefix)
        if len(texts) < count:
            continue
        try:
            _insert(texts, values, classrooms, courses)
        except IntegrityError:
            # Another request wrote one of these keys after we looked.
            taken = keys.taken(texts)
            if not taken:
                raise
            for key in taken:
                del texts[key]
            continue
        audit.record(actor, "batch.create", batch, count=data.count, prefix=prefix)
        return batch
    raise DomainError("We couldn't make unique codes just now. Try again.")


def batch_codes(scope: Scope, batch_id: int) -> Sequence[str]:
    """The texts of a batch's codes that the person may manage, in the order made."""
    return db.session.scalars(
        scope.visible_codes().where(Code.batch_id == batch_id).with_only_columns(Code.text).order_by(Code.id)
    ).all()


def visible_batch(scope: Scope, batch_id: int | None) -> Batch | None:
    if batch_id is None:
        return None
    return db.session.scalar(scope.visible_batches().where(Batch.id == batch_id))


# Batches the filter lists at once: a district makes thousands over the years.
BATCHES_LISTED = 25
MAX_BATCH_FIND = 40
_DAY_OR_MONTH = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")


@dataclass(frozen=True)
class BatchChoices:
    """The batches the filter offers, newest first; `more` when more batches
    than these are there (or match `find`), for a search to reach."""

    batches: Sequence[Batch]
    more: bool
    find: str = ""


def _made_within(org, find):
    """The instants a typed day (2027-01-15) or month (2027-01) spans, in the
    organization's zone; None for any other text, or a day no calendar has."""
    typed = _DAY_OR_MONTH.fullmatch(find)
    if typed is None:
        return None
    year, month = int(typed[1]), int(typed[2])
    try:
        if typed[3] is None:
            start = date(year, month, 1)
            end = date(year + month // 12, month % 12 + 1, 1)
        else:
            start = date(year, month, int(typed[3]))
            end = start + timedelta(days=1)
        return to_utc(org, start), to_utc(org, end)
    except (ValueError, OverflowError):
        return None


def batch_choices(scope: Scope, chosen_id: int | None = None, find: str = "") -> BatchChoices:
    """The batches the filter lists, among those with at least one code the
    person may manage: the BATCHES_LISTED most recent, or, when `find` is given,
    the most recent whose prefix contains it or that were made on the day or in
    the month it names; and the chosen one whatever its age, so the filter
    always shows what it filters by."""
    find = find.strip()[:MAX_BATCH_FIND]
    query = scope.visible_batches()
    if find:
        made = _made_within(scope.org, find)
        if made is None:
            query = query.where(Batch.prefix.contains(find.upper(), autoescape=True))
        else:
            query = query.where(Batch.created_at >= made[0], Batch.created_at < made[1])
    listed = list(
        db.session.scalars(
            query.options(selectinload(Batch.created_by))
            .order_by(Batch.created_at.desc(), Batch.id.desc())
            .limit(BATCHES_LISTED + 1)
        )
    )
    more = len(listed) > BATCHES_LISTED
    listed = listed[:BATCHES_LISTED]
    chosen = visible_batch(scope, chosen_id)
    if chosen is not None and chosen not in listed:
        listed = sorted([*listed, chosen], key=lambda b: (b.created_at, b.id), reverse=True)
    return BatchChoices(listed, more, find)


# The status filter: the word the URL carries, what the filter calls it, and the
# status (codes/status.py) of the codes it lists (None: any). Live, the codes
# that work now, is what the table shows unless asked otherwise.
LIVE, ANY_STATUS = "live", "all"
STATUS_FILTERS = {
    LIVE: ("Live (usable now)", status.ACTIVE),
    "scheduled": ("Scheduled", status.SCHEDULED),
    "off": ("Off", status.OFF),
    "used": ("Used up", status.USED),
    "expired": ("Expired", status.EXPIRED),
    "deactivated": ("Deactivated or replaced", status.DEACTIVATED),
    "gone": ("No longer valid", status.NO_LONGER_VALID),
    ANY_STATUS: ("Any status", None),
}


@dataclass
class CodeFilter:
    """The state of the existing-codes table, as the URL carries it. The
    classroom and course, when given, are ones the person manages (the route
    has answered any other 404)."""

    batch_id: int | None = None
    search: str = ""
    page: int = 1
    status: str = LIVE
    classroom_id: int | None = None
    course_id: int | None = None

    @property
    def key(self) -> str:
        return canonical(self.search[:MAX_TYPED])

    def args(self, **changes: object) -> dict[str, object]:
        """Query arguments for a URL of this state with some changes; empty ones left out."""
        values = {
            "batch": self.batch_id,
            "status": self.status,
            "classroom": self.classroom_id,
            "course": self.course_id,
            "q": self.search,
            "page": self.page,
            **changes,
        }
        defaults = {"page": 1, "status": LIVE}
        return {
            name: value
            for name, value in values.items()
            if value not in (None, "") and defaults.get(name) != value
        }

    @property
    def narrowed(self) -> bool:
        """Whether the table shows fewer codes than the person may manage."""
        return bool(
            self.batch_id or self.search or self.classroom_id or self.course_id or self.status != ANY_STATUS
        )


def status_clause(filters: CodeFilter, now: datetime) -> ColumnElement[bool] | None:
    """The codes of the status the filter asks for, by the status's own SQL
    (status.sql_is), so a code listed under a status shows that status; None
    for any status."""
    shown = STATUS_FILTERS.get(filters.status, STATUS_FILTERS[LIVE])[1]
    return None if shown is None else status.sql_is(shown, now)


def target_clauses(filters: CodeFilter) -> list[ColumnElement[bool]]:
    """The codes for the classroom and the course the filter names (each among
    the code's targets)."""
    clauses: list[ColumnElement[bool]] = []
    if filters.classroom_id is not None:
        clauses.append(
            exists().where(
                CodeClassroom.code_id == Code.id, CodeClassroom.classroom_id == filters.classroom_id
            )
        )
    if filters.course_id is not None:
        clauses.append(
            exists().where(CodeCourse.code_id == Code.id, CodeCourse.course_id == filters.course_id)
        )
    return clauses


def filter_clauses(filters: CodeFilter, now: datetime) -> list[ColumnElement[bool]]:
    """The WHERE of the table's state (batch, status, targets, search), for
    whatever query lists the codes: the table's pages, the export, and the
    codes a bulk action takes as "all the filter shows"."""
    clauses: list[ColumnElement[bool]] = []
    if filters.batch_id is not None:
        clauses.append(Code.batch_id == filters.batch_id)
    by_status = status_clause(filters, now)
    if by_status is not None:
        clauses.append(by_status)
    clauses += target_clauses(filters)
    if filters.key:
        clauses.append(search.contains(Code.key, filters.key))
    return clauses


def filtered_codes(scope: Scope, filters: CodeFilter, now: datetime | None = None) -> Select[tuple[Code]]:
    """The codes the table and its export show: those the person may manage,
    newest first, a batch's codes (made at one instant) in the order made, as
    the generated-codes panel and its Copy all list them; narrowed to one
    batch, to a status at `now`, to a classroom and a course, and to keys
    containing what was typed (read as a lookup key, so case, dashes and O/0
    do not matter). A search reads its matches from the trigram index first."""
    query = scope.visible_codes().where(*filter_clauses(filters, now or utcnow()))
    if filters.key:
        query = search.read_first(query, Code.key, filters.key, on=Code.id)
    return query.order_by(Code.created_at.desc(), Code.id)


@dataclass
class CodePage:
    codes: Sequence[Code]
    counted: Counted
    number: int
    pages: int
    # The moment the statuses were filtered at: the table shows them at it too.
    now: datetime | None = None
    # What each code unlocks, as its row shows it (target_names).
    targets: dict[int, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.counted.total


def unlocks(names: Sequence[str]) -> str:
    """What a code unlocks as a row shows it: its classrooms' names, then its
    courses', each kind by name, joined by commas."""
    return ", ".join(names)


def code_unlocks(code: Code) -> str:
    """unlocks for one code whose classrooms and courses are loaded (the
    relationships are ordered by name)."""
    return unlocks([c.name for c in code.classrooms] + [c.name for c in code.courses])


def target_names(code_ids: Sequence[int]) -> dict[int, str]:
    """What each code unlocks (`unlocks`), for a page of codes (no entry for a
    code that unlocks nothing). One statement of plain rows for a whole page: loading
    each code's classrooms and courses as objects cost a page of fifty codes
    more than reading the codes themselves."""
    if not code_ids:
        return {}
    named = union_all(
        select(CodeClassroom.code_id, literal(0).label("kind"), Classroom.name, Classroom.id)
        .join(Classroom, Classroom.id == CodeClassroom.classroom_id)
        .where(CodeClassroom.code_id.in_(code_ids)),
        select(CodeCourse.code_id, literal(1).label("kind"), Course.name, Course.id)
        .join(Course, Course.id == CodeCourse.course_id)
        .where(CodeCourse.code_id.in_(code_ids)),
    ).subquery()
    listed: dict[int, list[str]] = {}
    for code_id, name in db.session.execute(
        select(named.c.code_id, named.c.name).order_by(
            named.c.code_id, named.c.kind, named.c.name, named.c.id
        )
    ):
        listed.setdefault(code_id, []).append(name)
    return {code_id: unlocks(names) for code_id, names in listed.items()}


def codes_page(
    scope: Scope, filters: CodeFilter, per_page: int = PER_PAGE, now: datetime | None = None
) -> CodePage:
    """One page of the filtered codes, with what each unlocks (target_names).
    Counted and paged to listing.COUNT_CAP: a number past the last page shows
    the last page."""
    now = now or utcnow()
    query = filtered_codes(scope, filters, now)
    counted = capped_count(query)
    pages = counted.pages(per_page)
    number = min(max(filters.page, 1), pages)
    codes = db.session.scalars(query.limit(per_page).offset((number - 1) * per_page)).all()
    targets = target_names([code.id for code in codes])
    return CodePage(codes=codes, counted=counted, number=number, pages=pages, now=now, targets=targets)


# The redemptions shown under a code's row: the latest few; the code's report
# pages through them all.
REDEMPTIONS_SHOWN = 10


@dataclass(frozen=True)
class Redemptions:
    """The latest redemptions of a code (name, email, when), and how many it has."""

    rows: Sequence[Row[tuple[str, str, datetime]]]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def redemptions(code: Code) -> Redemptions:
    """Who redeemed a code and when, the latest first (as the code's report), at
    most REDEMPTIONS_SHOWN of them: a code used by a whole school stays a short
    list under its row."""
    total = db.session.scalar(
        select(func.count()).select_from(Redemption).where(Redemption.code_id == code.id)
    )
    rows = db.session.execute(
        select(User.name, User.email, Redemption.created_at)
        .join(User, User.id == Redemption.user_id)
        .where(Redemption.code_id == code.id)
        .order_by(Redemption.created_at.desc(), Redemption.id.desc())
        .limit(REDEMPTIONS_SHOWN)
    ).all()
    return Redemptions(rows, total or 0)


EXPORT_HEADER = [
    "Code",
    "Course / classroom",
    "Uses",
    "Max uses",
    "Expires",
    "Status",
    "Role",
    "Batch",
    "Created",
]


def _targets_column(link, target_id):
    """A code's targets of one kind (its classrooms, or its courses) as their ids
    joined by commas, read in the same statement as the code: an index lookup in
    the database rather than a query of ids for each chunk of rows."""
    return (
        select(func.aggregate_strings(target_id.cast(String), ","))
        .where(link.code_id == Code.id)
        .scalar_subquery()
    )


def _target_names_of(org_id, cell=csvfile.inert):
    """A function giving, for a code's classroom ids and course ids as
    _targets_column reads them, its targets as the table shows them: classrooms,
    then courses, by name, made a cell by `cell` (inert, or inert and quoted
    for CSV text). The organization's names are read once, in the database's
    order of names; codes mostly share their targets (a batch's codes, all of
    them), so each set of targets is named once."""
    conn = db.session.connection()
    ranked = {}  # (kind, id) -> (kind's place, place of its name, name)
    named = [
        select(Classroom.id, Classroom.name).where(Classroom.org_id == org_id).order_by(Classroom.name),
        select(Course.id, Course.name).where(Course.org_id == org_id).order_by(Course.name),
    ]
    for place, query in enumerate(named):
        for rank, (thing_id, name) in enumerate(conn.execute(query)):
            ranked[place, thing_id] = (place, rank, name)

    @functools.lru_cache(maxsize=4096)
    def names_of(classroom_ids, course_ids):
        targets = [
            ranked[place, int(thing_id)]
            for place, listed in enumerate((classroom_ids, course_ids))
            if listed
            for thing_id in listed.split(",")
        ]
        return cell(", ".join(name for *_, name in sorted(targets)))

    return names_of


def _iso_in(org):
    """ISO 8601 in the organization's zone, of an instant or of the text SQLite
    keeps it as. The codes of a batch share their dates, so each distinct instant
    is converted once."""

    @functools.lru_cache(maxsize=4096)
    def iso(instant):
        if isinstance(instant, str):
            instant = datetime.fromisoformat(instant)
        local = to_local(org, instant)
        return local.isoformat(timespec="seconds") if local else ""

    return iso


def _as_stored(column):
    """A date column as the database gives it: on SQLite its text, which _iso_in
    reads once per distinct value, rather than a datetime parsed for every row."""
    if db.session.get_bind().dialect.name == "sqlite":
        return type_coerce(column, String)
    return column


def _export_result(scope: Scope, filters: CodeFilter, now: datetime) -> Iterator[Sequence[Sequence[Any]]]:
    """The export's rows as the database gives them, EXPORT_CHUNK at a time:
    (text, classroom ids, course ids, uses, max uses, expiry, status, role,
    batch, made). One statement read in chunks (database.chunked_rows): one
    consistent read, in flat memory; the database words each status
    (status.sql_status), and the rows are plain tuples, not objects."""
    query = filtered_codes(scope, filters, now).with_only_columns(
        Code.text,
        _targets_column(CodeClassroom, CodeClassroom.classroom_id),
        _targets_column(CodeCourse, CodeCourse.course_id),
        Code.uses,
        Code.max_uses,
        _as_stored(Code.valid_until),
        status.sql_status(now),
        Code.role,
        Code.batch_id,
        _as_stored(Code.created_at),
    )
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        # The plan's cost for a million rows makes PostgreSQL compile it (JIT):
        # 0.8 s of compiling for every export, more than it saves. For this
        # transaction only.
        conn.execute(text("SET LOCAL jit = off"))
    return database.chunked_rows(conn, query, EXPORT_CHUNK)


def export_rows(scope: Scope, filters: CodeFilter, now: datetime | None = None) -> Iterator[list[object]]:
    """Every row the filtered table shows, across all its pages, as lists of cells
    under EXPORT_HEADER, with dates in ISO 8601 in the organization's time zone,
    each cell inert (csvfile.inert: those that hold what people typed are passed
    through it, the others are numbers, dates and the app's own words). Read in
    chunks (_export_result), so memory does not grow with their number."""
    now = now or utcnow()
    iso = _iso_in(scope.org)
    target_names = _target_names_of(scope.org.id)
    inert = csvfile.inert
    for chunk in _export_result(scope, filters, now):
        yield from [
            [
                inert(code),
                target_names(classrooms, courses),
                uses,
                "" if max_uses is None else max_uses,
                iso(until),
                shown,
                role,
                "" if batch_id is None else batch_id,
                iso(made),
            ]
            for code, classrooms, courses, uses, max_uses, until, shown, role, batch_id, made in chunk
        ]


def export_pieces(
    scope: Scope, filters: CodeFilter, now: datetime | None = None
) -> Iterator[tuple[str, int]]:
    """export_rows as CSV text, each piece with the number of rows it holds: the
    byte-order mark and the header (no row), then a piece for each chunk of
    rows, the bytes csvfile.chunks writes of export_rows (tests/test_bulk_export.py
    holds the two to agreeing). Only the code's text and its targets' names can
    hold what CSV quotes (csvfile.typed); the other cells are numbers, ISO dates
    and the app's own words. A batch's codes share all but their text (and, once
    used, their uses and status), so the cells after the code are written once
    for each distinct set of values (TAILS_KEPT of them at a time) and each line
    is the code's cell and those: a third less time than formatting every row."""
    now = now or utcnow()
    iso = _iso_in(scope.org)
    targets = _target_names_of(scope.org.id, csvfile.typed)
    typed, changed = csvfile.typed, csvfile.changed
    tails: dict[Sequence[Any], str] = {}
    written = tails.get

    def tail(rest: Sequence[Any]) -> str:
        classrooms, courses, uses, max_uses, until, shown, role, batch_id, made = rest
        if len(tails) >= TAILS_KEPT:
            tails.clear()
        cells = tails[rest] = (
            f",{targets(classrooms, courses)},{uses},{'' if max_uses is None else max_uses},"
            f"{iso(until)},{shown},{role},{'' if batch_id is None else batch_id},{iso(made)}\r\n"
        )
        return cells

    yield csvfile.BOM + csvfile.line(EXPORT_HEADER), 0
    for chunk in _export_result(scope, filters, now):
        text = "".join(
            [
                (typed(code) if changed(code) else code) + (written(rest) or tail(rest))
                for code, rest in [(row[0], row[1:]) for row in chunk]
            ]
        )
        yield text, len(chunk)


def export_csv(scope: Scope, filters: CodeFilter, now: datetime | None = None) -> Iterator[str]:
    """export_pieces' text alone, as a request streams it."""
    return (text for text, _ in export_pieces(scope, filters, now))
