"""Roster upload: an admin's CSV of email, name and classroom that creates or
attaches accounts in bulk. Every row is checked first; the whole file is then
refused with a row-by-row list of problems, or applied whole. Never commits."""
import csv
import io
import secrets
from collections import Counter
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..errors import DomainError
from ..extensions import db
from ..models import ClassroomMember, OrgMember, User
from ..redeem.operations import RedeemRefused, take_seat
from ..seats import operations as seats
from .operations import ROSTER_ADD, place_in_classrooms

MAX_ROSTER_BYTES = 1_000_000
MAX_ROSTER_ROWS = 2_000
MAX_ROSTER_MB = MAX_ROSTER_BYTES / 1_000_000
COLUMNS = ("email", "name", "classroom")
MAX_NAME = 120
MAX_EMAIL = 254
# A password hash that no password matches (Werkzeug reads a hash without "$" as
# no match): nobody can log in to the account until a password is set for it.
UNUSABLE_PASSWORD_PREFIX = "!"


@dataclass
class Problem:
    """What is wrong with one row (row None: with the whole file)."""

    row: int | None
    message: str
    email: str = ""


class RosterRefused(DomainError):
    def __init__(self, problems):
        count = len(problems)
        super().__init__(f"The file was not applied: {count} problem{'s' if count != 1 else ''}.")
        self.problems = problems


@dataclass
class RosterRow:
    number: int
    email: str
    name: str
    classroom: object
    user: User | None = None
    created: bool = False


@dataclass
class RosterPlan:
    rows: list[RosterRow]


@dataclass
class RosterResult:
    created: int = 0
    attached: int = 0
    unchanged: int = 0
    seats_taken: int = 0

    @property
    def summary(self):
        parts = [f"{self.created} new account{'s' if self.created != 1 else ''}",
                 f"{self.attached} existing account{'s' if self.attached != 1 else ''} added"]
        if self.unchanged:
            parts.append(f"{self.unchanged} already in their classroom")
        parts.append(f"{self.seats_taken} seat{'s' if self.seats_taken != 1 else ''} taken")
        return "Roster applied: " + ", ".join(parts) + "."


def _text(data):
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterRefused([Problem(None, (
            "The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8”."
        ))]) from None


def read_rows(data):
    """The file's data rows as (row number, {column: value}); row 1 is the header.
    Semicolons are read as separators when the header uses them (spreadsheets in
    many countries save CSV that way). Blank rows are skipped."""
    if len(data) > MAX_ROSTER_BYTES:
        raise RosterRefused([Problem(None, (
            f"The file is larger than {MAX_ROSTER_MB:g} MB. Split it into smaller files."
        ))])
    text = _text(data)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise RosterRefused([Problem(1, (
                "The first row must name the columns email, name and classroom "
                f"(missing: {', '.join(missing)})."
            ))])
        where = {c: header.index(c) for c in COLUMNS}
        rows = []
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) == MAX_ROSTER_ROWS:
                raise RosterRefused([Problem(None, (
                    f"The file has more than {MAX_ROSTER_ROWS:,} people. Split it into smaller files."
                ))])
            rows.append((number, {c: cells[i].strip() if i < len(cells) else ""
                                  for c, i in where.items()}))
    except csv.Error as e:
        raise RosterRefused([Problem(reader.line_num, f"The file is not valid CSV here: {e}.")]) from None
    if not rows:
        raise RosterRefused([Problem(None, "The file has no people in it, only the header row.")])
    return rows


def _classrooms_by_name(org):
    by_name = {}
    for classroom in org.classrooms:
        by_name.setdefault(classroom.name.strip().casefold(), []).append(classroom)
    return by_name


def _email_problem(email):
    if not email:
        return "The email is missing."
    if len(email) > MAX_EMAIL:
        return f"The email is longer than {MAX_EMAIL} characters."
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return "That doesn't look like an email address."
    return None


def _people(count):
    return f"{count} {'person' if count == 1 else 'people'}"


def _seat_problems(org, needed):
    """Whether the new seats a file needs (per classroom id) are there, counted
    as take_seat counts them: a classroom with an allotment takes from what its
    allotment has left, the others from the organization's free seats."""
    summary = seats.summary(org)
    problems = []
    from_pool = 0
    for place in summary.classrooms:
        count = needed.get(place.classroom.id, 0)
        if not count:
            continue
        if place.allotment is None:
            from_pool += count
        elif count > place.left:
            problems.append(Problem(None, (
                f"This file puts {_people(count)} new to {org.name} in {place.classroom.name}, "
                f"whose allotment has {place.left} seat{'s' if place.left != 1 else ''} left. "
                f"Remove {count - place.left} of them from the file, or raise the allotment."
            )))
    if summary.limit is not None and from_pool > summary.free:
        problems.append(Problem(None, (
            f"This file needs {from_pool} new seat{'s' if from_pool != 1 else ''} and {org.name} "
            f"has {summary.free} free. Remove {_people(from_pool - summary.free)} new to "
            f"{org.name} from the file, or raise the seat limit."
        )))
    return problems


def check_roster(org, data):
    """Read and check every row of a roster file against the organization.

    A row needs a well-formed email not used by an earlier row, a name, and the
    name of one of the organization's classrooms. The new seats the file needs
    (people not yet student members, counted as codes count them) must be
    there, in the allotments and among the free seats. Raises RosterRefused
    listing every problem; returns the plan."""
    rows = read_rows(data)
    problems = []
    classrooms = _classrooms_by_name(org)
    seen = {}
    plan_rows = []
    for number, cells in rows:
        email, name, classroom_name = cells["email"], cells["name"], cells["classroom"]
        row_problems = []
        email_problem = _email_problem(email)
        key = User.key_for(email)
        if email_problem:
            row_problems.append(email_problem)
        elif key in seen:
            row_problems.append(f"The same email as row {seen[key]}.")
        else:
            seen[key] = number
        if not name:
            row_problems.append("The name is missing.")
        elif len(name) > MAX_NAME:
            row_problems.append(f"The name is longer than {MAX_NAME} characters.")
        matches = classrooms.get(classroom_name.casefold(), [])
        if not classroom_name:
            row_problems.append("The classroom is missing.")
        elif not matches:
            row_problems.append(f"{org.name} has no classroom called “{classroom_name}”.")
        elif len(matches) > 1:
            row_problems.append(f"Several classrooms are called “{classroom_name}”: rename one first.")
        problems += [Problem(number, message, email) for message in row_problems]
        if not row_problems:
            plan_rows.append(RosterRow(number, email, name, matches[0]))

    keys = [User.key_for(r.email) for r in plan_rows]
    users = {u.email_key: u for u in db.session.scalars(select(User).where(User.email_key.in_(keys)))}
    students = set(db.session.scalars(select(OrgMember.user_id).where(
        OrgMember.org_id == org.id, OrgMember.is_student,
        OrgMember.user_id.in_([u.id for u in users.values()]))))
    needed = Counter()
    for row in plan_rows:
        row.user = users.get(User.key_for(row.email))
        if row.user is None or row.user.id not in students:
            needed[row.classroom.id] += 1
    problems += _seat_problems(org, needed)
    if problems:
        problems.sort(key=lambda p: (p.row is not None, p.row or 0))
        raise RosterRefused(problems)
    return RosterPlan(plan_rows)


def _create_accounts(rows):
    """Accounts for the rows whose email has none: unverified, with no usable
    password, all inserted in one statement."""
    new = []
    for row in rows:
        if row.user is None:
            row.created = True
            row.user = User(name=row.name, email=row.email, email_key=User.key_for(row.email),
                            email_verified=False,
                            password_hash=UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(24))
            new.append(row.user)
    db.session.add_all(new)
    try:
        db.session.flush()
    except IntegrityError:
        raise RosterRefused([Problem(None, (
            "Someone made an account with one of these emails while the file was being "
            "applied. Nothing was changed: upload the file again."
        ))]) from None


def apply_roster(actor, org, plan):
    """Apply a checked roster whole: create the missing accounts, give each
    person who is not yet a student member a seat through take_seat (exactly as
    a code would, so every seat rule holds under concurrency), and place them in
    their classroom and its courses. Raises RosterRefused if a seat is refused."""
    result = RosterResult()
    _create_accounts(plan.rows)
    already_in = set(db.session.execute(
        select(ClassroomMember.user_id, ClassroomMember.classroom_id).where(
            ClassroomMember.user_id.in_([r.user.id for r in plan.rows if not r.created]))
    ).tuples())
    added = []
    for row in plan.rows:
        try:
            took_seat = take_seat(row.user, org, classroom_ids=[row.classroom.id])
        except RedeemRefused as refusal:
            raise RosterRefused([Problem(row.number, refusal.message, row.email)]) from None
        result.seats_taken += took_seat
        if (row.user.id, row.classroom.id) in already_in:
            result.unchanged += 1
            continue
        if row.created:
            result.created += 1
        else:
            result.attached += 1
        added.append((row, took_seat))
    place_in_classrooms([(row.user.id, row.classroom.id) for row, _ in added])
    for row, took_seat in added:
        audit.record(actor, ROSTER_ADD, row.user, org_id=org.id, classroom_id=row.classroom.id,
                     created=row.created, took_seat=took_seat, row=row.number)
    audit.record(actor, "roster.upload", org, org_id=org.id, rows=len(plan.rows),
                 created=result.created, attached=result.attached, seats_taken=result.seats_taken)
    db.session.flush()
    return result


def upload_roster(actor, org, data):
    """Check a roster file, then apply it whole. On RosterRefused the caller
    rolls back, so a refused file changes nothing."""
    return apply_roster(actor, org, check_roster(org, data))

