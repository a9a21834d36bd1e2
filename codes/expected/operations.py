"""Expected people: the emails staff expect in a classroom, and which of them
have joined it (docs/EXPECTED.md). Whether an email has joined is read from the
classroom's own members only, so the list tells nothing about any account
outside it. Every function flushes and never commits."""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select

from .. import audit
from ..access import OutOfScope, Scope
from ..database import insert_ignore
from ..errors import FieldErrors
from ..extensions import db
from ..models import Classroom, ClassroomMember, ExpectedPerson, User, utcnow
from ..words import plural

# The most addresses a classroom expects, and the most one list may hold.
MAX_EXPECTED = 2_000
# The most characters pasted, and bytes uploaded, read at all.
MAX_PASTED = 200_000
MAX_FILE_BYTES = 1_000_000
MAX_EMAIL = 254
MAX_NAME = 120
# Problems named one by one before the rest are counted.
SHOWN_PROBLEMS = 10

_SEPARATORS = re.compile(r"[,;\t]")
# "Ana Lima <ana@example.org>", as mail programs copy an address.
_NAMED = re.compile(r"^(?P<name>[^<>]{0,200})<(?P<email>[^<>]{1,300})>$")


@dataclass(frozen=True)
class Entry:
    email: str
    name: str


def _email_problem(email: str) -> str | None:
    if len(email) > MAX_EMAIL:
        return f"the email is longer than {MAX_EMAIL} characters"
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return f"“{email}” doesn't look like an email address"
    return None


def _entries_of(line: str) -> list[tuple[str, str]] | None:
    """The (email, name) pairs of one line, or None when it holds no address
    (a header such as "email,name" is skipped the same way)."""
    named = _NAMED.match(line)
    if named:
        return [(named["email"].strip(), named["name"].strip().strip('"').strip())]
    parts = [p.strip().strip('"').strip() for p in _SEPARATORS.split(line)]
    parts = [p for p in parts if p]
    emails = [p for p in parts if "@" in p]
    if not emails:
        return None
    if len(emails) == len(parts):
        return [(e, "") for e in emails]
    if len(emails) == 1:
        return [(emails[0], " ".join(p for p in parts if "@" not in p))]
    return [(e, "") for e in emails]


def read_list(text: str) -> list[Entry]:
    """The people of a pasted list or an uploaded file: one a line, an email and
    optionally a name beside it (after a comma, a semicolon or a tab, before or
    after the email), or "Name <email>"; several emails on a line are several
    people; lines without an @ (a header row) are skipped; an email given twice
    counts once. Refused whole, with the problems by line, when any email is
    malformed, a name is too long, or there are more than MAX_EXPECTED people."""
    seen: dict[str, Entry] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        for email, name in _entries_of(line) or []:
            problem = _email_problem(email)
            if problem is None and len(name) > MAX_NAME:
                problem = f"the name is longer than {MAX_NAME} characters"
            if problem is not None:
                problems.append(f"Line {number}: {problem}.")
                continue
            key = User.key_for(email)
            if key not in seen:
                seen[key] = Entry(email, name)
                if len(seen) > MAX_EXPECTED:
                    raise FieldErrors(
                        {"emails": f"The list has more than {MAX_EXPECTED:,} people. Split it."}
                    )
    if problems:
        more = len(problems) - SHOWN_PROBLEMS
        shown = problems[:SHOWN_PROBLEMS] + ([f"And {plural(more, 'more problem')}."] if more > 0 else [])
        raise FieldErrors({"emails": "Nothing was added. " + " ".join(shown)})
    if not seen:
        raise FieldErrors({"emails": "Paste the email addresses you expect, one a line, or choose a file."})
    return list(seen.values())


def file_text(data: bytes) -> str:
    """An uploaded list as text: UTF-8, with or without a byte-order mark."""
    if len(data) > MAX_FILE_BYTES:
        raise FieldErrors({"file": f"The file is larger than {MAX_FILE_BYTES // 1_000_000} MB. Split it."})
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FieldErrors({"file": "Save the file as UTF-8 text (in a spreadsheet: CSV UTF-8)."}) from None


@dataclass(frozen=True)
class Added:
    added: int
    already: int


def _check(scope: Scope, classroom: Classroom) -> None:
    if classroom.org_id != scope.org.id or not scope.can_manage_classroom(classroom):
        raise OutOfScope()


def add_expected(actor: User, scope: Scope, classroom: Classroom, entries: Sequence[Entry]) -> Added:
    """Expect these people in a classroom the actor manages. An email expected
    already is left as it is; a classroom expects at most MAX_EXPECTED. Nothing
    here looks at accounts: the answer is the same whether an email has one."""
    _check(scope, classroom)
    keys = {User.key_for(e.email) for e in entries}
    there = set(
        db.session.scalars(
            select(ExpectedPerson.email_key).where(
                ExpectedPerson.classroom_id == classroom.id, ExpectedPerson.email_key.in_(sorted(keys))
            )
        )
    )
    total = cast(
        int,
        db.session.scalar(
            select(func.count(ExpectedPerson.id)).where(ExpectedPerson.classroom_id == classroom.id)
        ),
    )
    new = [e for e in entries if User.key_for(e.email) not in there]
    if total + len(new) > MAX_EXPECTED:
        room = MAX_EXPECTED - total
        raise FieldErrors(
            {
                "emails": f"{classroom.name} can expect at most {MAX_EXPECTED:,} people; "
                f"it expects {total:,}, so at most {room:,} more can be added."
            }
        )
    now = utcnow()
    insert_ignore(
        db.session,
        ExpectedPerson,
        [
            {
                "classroom_id": classroom.id,
                "email": e.email,
                "email_key": User.key_for(e.email),
                "name": e.name,
                "added_by_id": actor.id,
                "created_at": now,
            }
            for e in new
        ],
    )
    db.session.flush()
    audit.record(actor, "expected.add", classroom, added=len(new), already=len(entries) - len(new))
    return Added(len(new), len(entries) - len(new))


def remove_expected(actor: User, scope: Scope, expected: ExpectedPerson) -> None:
    """No longer expect one person in the classroom (their membership, if they
    joined, stays)."""
    classroom = cast(Classroom, db.session.get(Classroom, expected.classroom_id))
    _check(scope, classroom)
    db.session.execute(delete(ExpectedPerson).where(ExpectedPerson.id == expected.id))
    db.session.flush()
    audit.record(actor, "expected.remove", classroom, email=expected.email)


@dataclass
class ExpectedList:
    joined: list[tuple[ExpectedPerson, datetime]] = field(default_factory=list)
    waiting: list[ExpectedPerson] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.joined) + len(self.waiting)

    @property
    def waiting_addresses(self) -> str:
        """The addresses of those not joined yet, as a mail's To: line takes them."""
        return ", ".join(e.email for e in self.waiting)


def expected_list(classroom: Classroom) -> ExpectedList:
    """Who of the expected people has joined the classroom (a member of it now
    whose account's email is the one expected, and since when) and who has not
    yet. Only this classroom's members are read: an expected email with an
    account elsewhere, or in another of the organization's classrooms, is "not
    yet", exactly as one with no account at all."""
    members = (
        select(User.email_key, ClassroomMember.added_at)
        .join(ClassroomMember, ClassroomMember.user_id == User.id)
        .where(ClassroomMember.classroom_id == classroom.id)
        .subquery()
    )
    found = ExpectedList()
    for expected, joined_at in db.session.execute(
        select(ExpectedPerson, members.c.added_at)
        .outerjoin(members, members.c.email_key == ExpectedPerson.email_key)
        .where(ExpectedPerson.classroom_id == classroom.id)
        .order_by(ExpectedPerson.email_key)
    ):
        if joined_at is None:
            found.waiting.append(expected)
        else:
            found.joined.append((expected, joined_at))
    return found
