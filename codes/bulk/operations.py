"""Bulk codes: generating a batch of random codes, and the list, redemptions and
export of the codes a person may manage. Every function flushes and never commits."""
import csv
import functools
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Integer, any_, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import audit, status
from ..codetext import MAX_TYPED, PREFIX_RE, canonical, random_code
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..manage.operations import ROLES, _targets
from ..models import (
    ROLE_STUDENT,
    Batch,
    Classroom,
    Code,
    CodeClassroom,
    CodeCourse,
    Course,
    ParentCode,
    Redemption,
    User,
    utcnow,
)
from ..timeutil import to_local

MAX_COUNT = 500
MAX_PREFIX = 20
PER_PAGE = 50
# Rounds of drawing and inserting before giving up. With 50 random bits a code,
# a second round is already a rarity; a fifth means something else is wrong.
ATTEMPTS = 5
EXPORT_CHUNK = 1000
# Cells a spreadsheet would read as a formula (OWASP "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


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


def _validated(scope, data, now):
    errors = {}
    if data.count is None or not 1 <= data.count <= MAX_COUNT:
        errors["count"] = f"Make 1 to {MAX_COUNT} codes at a time."
    prefix = (data.prefix or "").strip().upper()
    if len(prefix) > MAX_PREFIX:
        errors["prefix"] = f"A prefix is at most {MAX_PREFIX} characters."
    elif not PREFIX_RE.fullmatch(prefix):
        errors["prefix"] = "Use only the letters A to Z and digits in a prefix."
    if data.valid_until is not None and data.valid_until < now:
        errors["valid_until"] = "That date has already passed."
    if data.max_uses is not None and data.max_uses < 1:
        errors["max_uses"] = "Max uses is at least 1. Choose unlimited for no limit."
    if data.role not in ROLES:
        errors["role"] = "Choose student or teacher."
    classrooms, courses = _targets(scope, data)
    if not classrooms and not courses:
        errors["targets"] = "Choose at least one classroom or course."
    if errors:
        raise FieldErrors(errors)
    return prefix, classrooms, courses


def _taken(keys):
    """Which of these lookup keys some code or parent code already has, in one query:
    one key names one thing across the whole site."""
    if not keys:
        return set()
    keys = list(keys)
    return set(db.session.scalars(
        select(Code.key).where(Code.key.in_(keys))
        .union(select(ParentCode.key).where(ParentCode.key.in_(keys)))
    ))


def _draw(texts, count, prefix):
    """Add random codes to texts (lookup key -> text) towards count, leaving out
    any whose key is already taken. Twice the draws needed is plenty: a repeat
    among 50 random bits is next to impossible."""
    needed = count - len(texts)
    fresh = {}
    for _ in range(2 * needed):
        text = random_code(prefix)
        key = canonical(text)
        if key not in texts:
            fresh.setdefault(key, text)
        if len(fresh) == needed:
            break
    for key in _taken(fresh):
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
            db.session.execute(insert(CodeClassroom).values(
                [{"code_id": i, "classroom_id": c.id} for i in ids for c in classrooms]))
        if courses:
            db.session.execute(insert(CodeCourse).values(
                [{"code_id": i, "course_id": c.id} for i in ids for c in courses]))


def generate_batch(actor, scope, data, now=None):
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
    batch = Batch(org_id=scope.org.id, created_by_id=actor.id, created_at=now, count=data.count,
                  prefix=prefix, options=json.dumps(options, sort_keys=True))
    db.session.add(batch)
    db.session.flush()
    values = dict(
        org_id=scope.org.id, batch_id=batch.id, role=data.role, valid_from=None,
        valid_until=data.valid_until, max_uses=data.max_uses, uses=0, allowed_domains="",
        enabled=True, deactivated_at=None, deleted_at=None, created_by_id=actor.id,
        created_at=now,
    )
    texts = {}
    for _ in range(ATTEMPTS):
        _draw(texts, data.count, prefix)
        if len(texts) < data.count:
            continue
        try:
            _insert(texts, values, classrooms, courses)
        except IntegrityError:
            # Another request wrote one of these keys after we looked.
            taken = _taken(texts)
            if not taken:
                raise
            for key in taken:
                del texts[key]
            continue
        audit.record(actor, "batch.create", batch, count=data.count, prefix=prefix)
        return batch
    raise DomainError("We couldn't make unique codes just now. Try again.")


def batch_codes(scope, batch_id):
    """The texts of a batch's codes that the person may manage, in the order made."""
    return db.session.scalars(
        scope.visible_codes().where(Code.batch_id == batch_id)
        .with_only_columns(Code.text).order_by(Code.id)
    ).all()


def visible_batch(scope, batch_id):
    if batch_id is None:
        return None
    return db.session.scalar(scope.visible_batches().where(Batch.id == batch_id))


def batches(scope):
    """The batches in the filter: those with at least one code the person may manage."""
    return db.session.scalars(
        scope.visible_batches().options(selectinload(Batch.created_by))
        .order_by(Batch.created_at.desc(), Batch.id.desc())
    ).all()


@dataclass
class CodeFilter:
    """The state of the existing-codes table, as the URL carries it."""

    batch_id: int | None = None
    search: str = ""
    page: int = 1

    @property
    def key(self):
        return canonical(self.search[:MAX_TYPED])

    def args(self, **changes):
        """Query arguments for a URL of this state with some changes; empty ones left out."""
        values = {"batch": self.batch_id, "q": self.search, "page": self.page, **changes}
        return {name: value for name, value in values.items()
                if value not in (None, "") and not (name == "page" and value == 1)}


def filtered_codes(scope, filters):
    """The codes the table and its export show: those the person may manage,
    newest first, narrowed to one batch and to keys containing what was typed
    (read as a lookup key, so case, dashes and O/0 do not matter)."""
    query = scope.visible_codes()
    if filters.batch_id is not None:
        query = query.where(Code.batch_id == filters.batch_id)
    if filters.key:
        query = query.where(Code.key.contains(filters.key, autoescape=True))
    return query.order_by(Code.created_at.desc(), Code.id.desc())


@dataclass
class CodePage:
    codes: list
    total: int
    number: int
    pages: int


def codes_page(scope, filters, per_page=PER_PAGE):
    """One page of the filtered codes, with their targets loaded in two queries."""
    query = filtered_codes(scope, filters)
    total = db.session.scalar(query.with_only_columns(func.count(Code.id)).order_by(None))
    pages = max(1, math.ceil(total / per_page))
    number = min(max(filters.page, 1), pages)
    codes = db.session.scalars(
        query.options(selectinload(Code.classrooms), selectinload(Code.courses))
        .limit(per_page).offset((number - 1) * per_page)
    ).all()
    return CodePage(codes=codes, total=total, number=number, pages=pages)


def redemptions(code):
    """Who redeemed a code and when, first first."""
    return db.session.execute(
        select(User.name, User.email, Redemption.created_at)
        .join(User, User.id == Redemption.user_id)
        .where(Redemption.code_id == code.id)
        .order_by(Redemption.created_at, Redemption.id)
    ).all()


EXPORT_HEADER = ["Code", "Course / classroom", "Uses", "Max uses", "Expires", "Status",
                 "Role", "Batch", "Created"]


def _among_ids(column):
    """column IN the list passed as "ids" when the query runs. PostgreSQL gets one
    array parameter; elsewhere the list expands when the query runs. Both keep the
    query compiled once: a thousand ids as a thousand parameters built each time
    cost more than the query does to run."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", type_=ARRAY(Integer)))
    return column.in_(bindparam("ids", expanding=True))


def _target_names_of():
    """A function giving, for a list of code ids, each code's targets as the table
    shows them: classrooms, then courses, by name."""
    queries = [
        select(link.code_id, model.name).join(model, model.id == column)
        .where(_among_ids(link.code_id)).order_by(model.name)
        for link, model, column in ((CodeClassroom, Classroom, CodeClassroom.classroom_id),
                                    (CodeCourse, Course, CodeCourse.course_id))
    ]

    def names_of(code_ids):
        names = defaultdict(list)
        for query in queries:
            for code_id, name in db.session.execute(query, {"ids": code_ids}):
                names[code_id].append(name)
        return {code_id: ", ".join(items) for code_id, items in names.items()}

    return names_of


def _iso_in(org):
    """ISO 8601 in the organization's zone. The codes of a batch share their dates,
    so each distinct instant is converted once."""

    @functools.lru_cache(maxsize=4096)
    def iso(instant):
        local = to_local(org, instant)
        return local.isoformat(timespec="seconds") if local else ""

    return iso


def export_rows(scope, filters, now=None):
    """Every row the filtered table shows, across all its pages, as lists of cells
    with dates in ISO 8601 in the organization's time zone. Rows are read in
    chunks over a server-side cursor, so memory does not grow with their number."""
    now = now or utcnow()
    iso = _iso_in(scope.org)
    target_names = _target_names_of()
    query = filtered_codes(scope, filters).with_only_columns(
        Code.id, Code.text, Code.uses, Code.max_uses, Code.valid_from, Code.valid_until,
        Code.enabled, Code.deactivated_at, Code.role, Code.batch_id, Code.created_at,
    )
    result = db.session.execute(query.execution_options(yield_per=EXPORT_CHUNK))
    for chunk in result.partitions():
        targets = target_names([row.id for row in chunk])
        for row in chunk:
            yield [row.text, targets.get(row.id, ""), row.uses,
                   "" if row.max_uses is None else row.max_uses, iso(row.valid_until),
                   status.code_status(row, now), row.role, row.batch_id or "",
                   iso(row.created_at)]


def inert(cell):
    """A cell a spreadsheet shows as text: one that would start a formula gets a
    leading apostrophe."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def csv_chunks(header, rows, chunk=EXPORT_CHUNK):
    """CSV text in pieces of `chunk` rows, every cell made inert. It starts with a
    byte-order mark so spreadsheets read names in UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for number, row in enumerate(rows, 1):
        writer.writerow([inert(cell) for cell in row])
        if number % chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
