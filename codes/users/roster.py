"""Roster upload: an admin's CSV of email, name and classroom. Every row is
checked first; the whole file is then refused with a row-by-row list of
problems, or applied whole. Never commits.

An organization never attaches an existing account by itself (DESIGN.md "People
and what they may touch"): a row whose email has no account gets a new one,
which the organization owns, placed at once and mailed a link to set its
password; a row for one of the organization's own people places them; any
other email is invited, and joins (and takes its seat) when they accept."""

import csv
import io
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..errors import DomainError
from ..extensions import db
from ..invitations import operations as invitations
from ..models import Classroom, ClassroomMember, Invitation, Organization, OrgMember, User, utcnow
from ..reports import aggregates
from ..seats import operations as seats
from ..words import plural
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
    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        super().__init__(f"The file was not applied: {plural(count, 'problem')}.")
        self.problems = problems


# What a checked row does.
CREATE = "create"  # no account has the email: a new one, the organization's own
PLACE = "place"  # one of the organization's people: placed in the classroom
INVITE = "invite"  # any other email: invited, nothing said of any account


@dataclass
class RosterRow:
    number: int
    email: str
    name: str
    classroom: Classroom
    user: User | None = None
    action: str = CREATE


@dataclass
class RosterPlan:
    rows: list[RosterRow]


@dataclass
class RosterResult:
    created: int = 0
    placed: int = 0
    invited: int = 0
    unchanged: int = 0
    seats_taken: int = 0
    # What to mail once the change is committed: new accounts (to set their
    # password) and invitations.
    new_accounts: list[User] = field(default_factory=list)
    invitations: list[Invitation] = field(default_factory=list)

    @property
    def summary(self) -> str:
        parts = [plural(self.created, "new account")]
        if self.placed:
            parts.append(f"{plural(self.placed, 'person', 'people')} of yours placed")
        if self.invited:
            parts.append(f"{plural(self.invited, 'invitation')} sent (they join when they accept)")
        if self.unchanged:
            parts.append(f"{self.unchanged} already in their classroom")
        parts.append(f"{plural(self.seats_taken, 'seat')} taken")
        return "Roster applied: " + ", ".join(parts) + "."


def _text(data):
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterRefused(
            [Problem(None, ("The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8”."))]
        ) from None


# PostgreSQL can store no NUL character (it answered 500), and no name or email
# holds one: a file with one was saved wrongly.
NUL_IN_ROW = (
    "This row holds a NUL character, which no name or email can use. In your "
    "spreadsheet, save the file again as “CSV UTF-8”."
)


def _holds_nul(cells):
    return any("\x00" in cell for cell in cells)


def read_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """The file's data rows as (row number, {column: value}); row 1 is the header.
    Semicolons are read as separators when the header uses them (spreadsheets in
    many countries save CSV that way). Blank rows are skipped. A file with a NUL
    character is refused, naming every row that holds one."""
    if len(data) > MAX_ROSTER_BYTES:
        raise RosterRefused(
            [Problem(None, (f"The file is larger than {MAX_ROSTER_MB:g} MB. Split it into smaller files."))]
        )
    text = _text(data)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, [])
        if _holds_nul(header):
            raise RosterRefused([Problem(1, NUL_IN_ROW)])
        header = [cell.strip().lower() for cell in header]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise RosterRefused(
                [
                    Problem(
                        1,
                        (
                            "The first row must name the columns email, name and classroom "
                            f"(missing: {', '.join(missing)})."
                        ),
                    )
                ]
            )
        where = {c: header.index(c) for c in COLUMNS}
        rows: list[tuple[int, dict[str, str]]] = []
        with_nul = []
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if _holds_nul(cells):
                with_nul.append(Problem(number, NUL_IN_ROW))
            if len(rows) == MAX_ROSTER_ROWS:
                too_many = f"The file has more than {MAX_ROSTER_ROWS:,} people. Split it into smaller files."
                raise RosterRefused([Problem(None, too_many)])
            rows.append((number, {c: cells[i].strip() if i < len(cells) else "" for c, i in where.items()}))
    except csv.Error as e:
        raise RosterRefused([Problem(reader.line_num, f"The file is not valid CSV here: {e}.")]) from None
    if with_nul:
        raise RosterRefused(with_nul)
    if not rows:
        raise RosterRefused([Problem(None, "The file has no people in it, only the header row.")])
    return rows


def _classrooms_by_name(org):
    by_name: dict[str, list[Classroom]] = {}
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


def check_roster(org: Organization, data: bytes) -> RosterPlan:
    """Read and check every row of a roster file against the organization.

    A row needs a well-formed email not used by an earlier row, a name, and the
    name of one of the organization's classrooms. The new seats the file needs
    (people not yet student members, counted as codes count them) must be
    there, in the allotments and among the free seats. Raises RosterRefused
    listing every problem; returns the plan."""
    rows = read_rows(data)
    problems = []
    classrooms = _classrooms_by_name(org)
    seen: dict[str, int] = {}
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
    members = dict(
        db.session.execute(
            select(OrgMember.user_id, OrgMember.is_student).where(
                OrgMember.org_id == org.id, OrgMember.user_id.in_([u.id for u in users.values()])
            )
        )
        .tuples()
        .all()
    )
    needed: Counter[int] = Counter()
    for row in plan_rows:
        user = users.get(User.key_for(row.email))
        if user is None:
            row.action = CREATE
        elif user.id in members:
            row.action, row.user = PLACE, user
        else:
            # Not theirs to place: nothing about the account is read or shown.
            row.action = INVITE
        # A row to place has its user, set just above.
        if row.action == CREATE or (row.action == PLACE and not members[cast(User, row.user).id]):
            needed[row.classroom.id] += 1
    problems += [Problem(None, message) for message in seats.new_seat_problems(org, needed)]
    if problems:
        problems.sort(key=lambda p: (p.row is not None, p.row or 0))
        raise RosterRefused(problems)
    return RosterPlan(plan_rows)


def _create_accounts(rows):
    """Accounts for the rows whose email has none: unverified, with no usable
    password, all inserted in one statement."""
    new = []
    for row in rows:
        if row.action == CREATE:
            row.user = User(
                name=row.name,
                email=row.email,
                email_key=User.key_for(row.email),
                search_key=User.search_key_for(row.name, row.email),
                email_verified=False,
                password_hash=UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(24),
            )
            new.append(row.user)
    db.session.add_all(new)
    try:
        db.session.flush()
    except IntegrityError:
        raise RosterRefused(
            [
                Problem(
                    None,
                    (
                        "Someone made an account with one of these emails while the file was being "
                        "applied. Nothing was changed: upload the file again."
                    ),
                )
            ]
        ) from None
    return new


def apply_roster(actor: User, org: Organization, plan: RosterPlan) -> RosterResult:
    """Apply a checked roster whole: create the missing accounts and give them and
    the organization's own people who are not yet students a seat through
    seats.take_seat (exactly as a code would, so every seat rule holds under
    concurrency), placing them in their classroom and its courses; invite every
    other email to its classroom. Raises RosterRefused if a seat is refused."""
    now = utcnow()
    result = RosterResult()
    result.new_accounts = _create_accounts(plan.rows)
    # Every row placed has its account by now, found by check_roster or made just
    # above: the casts say so.
    placing = [r for r in plan.rows if r.action in (CREATE, PLACE)]
    already_in = set(
        db.session.execute(
            select(ClassroomMember.user_id, ClassroomMember.classroom_id).where(
                ClassroomMember.user_id.in_([cast(User, r.user).id for r in placing if r.action == PLACE])
            )
        ).tuples()
    )
    added = []
    for row in placing:
        user = cast(User, row.user)
        try:
            took_seat = seats.take_seat(user, org, classroom_ids=[row.classroom.id])
        except seats.NoSeatLeft as refusal:
            raise RosterRefused([Problem(row.number, refusal.message, row.email)]) from None
        result.seats_taken += took_seat
        if (user.id, row.classroom.id) in already_in:
            result.unchanged += 1
            continue
        if row.action == CREATE:
            result.created += 1
        else:
            result.placed += 1
        added.append((row, took_seat))
    place_in_classrooms([(cast(User, row.user).id, row.classroom.id) for row, _ in added])
    for row, took_seat in added:
        audit.record(
            actor,
            ROSTER_ADD,
            row.user,
            org_id=org.id,
            classroom_id=row.classroom.id,
            created=row.action == CREATE,
            took_seat=took_seat,
            row=row.number,
            at=now,
        )
    # New members on the reports, as a code's would be (codes.reports.aggregates).
    aggregates.count_placements(org.id, [(row.classroom.id, now) for row, took_seat in added if took_seat])
    for row in plan.rows:
        if row.action == INVITE:
            result.invitations.append(invitations.invite(actor, org, row.email, row.classroom))
    result.invited = len(result.invitations)
    audit.record(
        actor,
        "roster.upload",
        org,
        org_id=org.id,
        rows=len(plan.rows),
        created=result.created,
        placed=result.placed,
        invited=result.invited,
        seats_taken=result.seats_taken,
    )
    db.session.flush()
    return result


def upload_roster(actor: User, org: Organization, data: bytes) -> RosterResult:
    """Check a roster file, then apply it whole. On RosterRefused the caller
    rolls back, so a refused file changes nothing."""
    return apply_roster(actor, org, check_roster(org, data))
