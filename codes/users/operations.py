"""The users tab: an organization's people as a member of staff sees them, and
moving or removing a student between classrooms. Every function flushes and
never commits."""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import InstrumentedAttribute, joinedload

from .. import audit
from .. import search as text_search
from ..access import OutOfScope, Scope
from ..database import insert_ignore, lock_present
from ..errors import DomainError
from ..extensions import db
from ..listing import Counted, Cursor, keyset_page
from ..models import (
    AuditEvent,
    Classroom,
    ClassroomCourse,
    ClassroomLeader,
    ClassroomMember,
    Code,
    Course,
    CourseInstructor,
    Enrollment,
    OrgMember,
    Redemption,
    User,
    folded,
)

T = TypeVar("T")

PAGE_SIZE = 25
MAX_SEARCH = 100
# The audit action that marks a person put in a classroom by a roster upload:
# the users tab reads it to say how they joined.
ROSTER_ADD = "roster.add"


@dataclass
class Joined:
    """One way a person came in: a code they redeemed, a roster upload, or staff."""

    how: str
    at: datetime
    code: Code | None = None
    new_member: bool = False


@dataclass
class PersonRow:
    user: User
    roles: list[str] = field(default_factory=list)
    classrooms: list[Classroom] = field(default_factory=list)
    courses: list[Course] = field(default_factory=list)
    joined: list[Joined] = field(default_factory=list)
    student: bool = False
    # classroom id -> when the membership ends (codes.duration), for those that end
    ends: dict[int, datetime] = field(default_factory=dict)


@dataclass
class PeoplePage:
    rows: list[PersonRow]
    counted: Counted
    # The people in front of this page (None: the last page of a list counted
    # past the cap), and whether pages come before and after it.
    before: Counted | None
    previous: bool
    next: bool
    search: str = ""
    classroom: Classroom | None = None

    @property
    def total(self) -> int:
        return self.counted.total


def list_people(
    scope: Scope, search: str | None = "", classroom: Classroom | None = None, cursor: Cursor | None = None
) -> PeoplePage:
    """One page of the people the scope may see, by name (then email, then id);
    optionally only those whose name or email contains `search`, whatever its
    case and accents, in any script (models.folded), and only one classroom's
    members. The page starts at `cursor`: after or before a person the scope may
    see (looked up within the scope, whatever the search and classroom), or at
    the end; a cursor naming anyone else is page one."""
    search = (search or "").strip()[:MAX_SEARCH]
    cursor = cursor or Cursor()
    person: InstrumentedAttribute[int]
    if scope.admin:
        # Everyone in the organization, by the names the memberships carry
        # (codes.membernames): counted and paged from that index alone, so a
        # page reads its own 25 index entries, then only its 25 people.
        query = select(OrgMember.user_id).where(OrgMember.org_id == scope.org.id)
        person = OrgMember.user_id
        order = (OrgMember.name, OrgMember.email_key, OrgMember.user_id)
    else:
        query = select(User.id).where(User.id.in_(scope.visible_people()))
        person = User.id
        order = (User.name, User.email_key, User.id)
    start = None
    named = cursor.after if cursor.after is not None else cursor.before
    if named is not None:
        start = db.session.execute(query.with_only_columns(*order).where(person == named)).first()
    backward = cursor.last if start is None else cursor.after is None
    if scope.admin and search:
        query = query.join(User, User.id == OrgMember.user_id)
    if classroom is not None:
        query = query.where(
            person.in_(select(ClassroomMember.user_id).where(ClassroomMember.classroom_id == classroom.id))
        )
    if search:
        wanted = folded(search)
        query = query.where(text_search.contains(User.search_key, wanted))
        query = text_search.read_first(query, User.search_key, wanted, on=person)
    page = keyset_page(query, order, start, backward, PAGE_SIZE)
    ids = [row[-1] for row in page.rows]
    found = (
        {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    )
    users = [found[user_id] for user_id in ids]
    return PeoplePage(
        person_rows(scope, users), page.counted, page.before, page.previous, page.next, search, classroom
    )


def _pairs(statement):
    """(user_id, object) pairs grouped into a dict of lists, in query order."""
    grouped: dict[int, list[Any]] = {}
    for user_id, obj in db.session.execute(statement):
        grouped.setdefault(user_id, []).append(obj)
    return grouped


def _held(things: dict[int, T], rows: Iterable[tuple[int, int]]) -> dict[int, list[T]]:
    """(user_id, thing id) rows as each person's things among `things` (those
    one manages, in their order), the others left out: a person's memberships
    of other organizations, and of what one does not manage."""
    place = {thing_id: n for n, thing_id in enumerate(things)}
    held: dict[int, set[int]] = {}
    for user_id, thing_id in rows:
        if thing_id in things:
            held.setdefault(user_id, set()).add(thing_id)
    return {
        user_id: [things[i] for i in sorted(mine, key=place.__getitem__)] for user_id, mine in held.items()
    }


def _redeemed_in_scope(scope):
    """For those who manage part of the organization, only redemptions of the codes
    they manage; an admin manages them all, and needs no list of them."""
    if scope.admin:
        return []
    return [Redemption.code_id.in_(scope.codes_in_scope().with_only_columns(Code.id))]


def person_rows(scope: Scope, users: Sequence[User]) -> list[PersonRow]:
    """What the users tab shows of each person, only what lies in the scope:
    classrooms one manages, courses one manages, codes one manages."""
    org = scope.org
    ids = [u.id for u in users]
    if not ids:
        return []
    members = {
        m.user_id: m
        for m in db.session.scalars(
            select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id.in_(ids))
        )
    }
    # The classrooms and courses one manages, each kind in the organization's
    # order of names; a person's memberships are read by their ids alone and
    # named from these, so that no statement reads the organization's classrooms
    # or courses and then every membership of each (tests/test_people_plans.py).
    rooms = {c.id: c for c in scope.manageable_classrooms()}
    courses = {c.id: c for c in scope.manageable_courses()}
    memberships = db.session.execute(
        select(ClassroomMember.user_id, ClassroomMember.classroom_id, ClassroomMember.ends_at).where(
            ClassroomMember.user_id.in_(ids)
        )
    ).all()
    in_classrooms = _held(rooms, [(user_id, classroom_id) for user_id, classroom_id, _ in memberships])
    ends: dict[int, dict[int, datetime]] = {}
    for user_id, classroom_id, ends_at in memberships:
        if ends_at is not None and classroom_id in rooms:
            ends.setdefault(user_id, {})[classroom_id] = ends_at
    leads = _held(
        rooms,
        db.session.execute(
            select(ClassroomLeader.user_id, ClassroomLeader.classroom_id).where(
                ClassroomLeader.user_id.in_(ids)
            )
        ).tuples(),
    )
    teaches = _held(
        courses,
        db.session.execute(
            select(CourseInstructor.user_id, CourseInstructor.course_id).where(
                CourseInstructor.user_id.in_(ids)
            )
        ).tuples(),
    )
    enrolled = _held(
        courses,
        db.session.execute(
            select(Enrollment.user_id, Enrollment.course_id).where(Enrollment.user_id.in_(ids))
        ).tuples(),
    )
    redemptions = _pairs(
        select(Redemption.user_id, Redemption)
        .options(joinedload(Redemption.code))
        .where(Redemption.org_id == org.id, Redemption.user_id.in_(ids), *_redeemed_in_scope(scope))
        .order_by(Redemption.created_at)
    )
    roster_adds: dict[int | None, datetime] = {}
    for user_id, at in db.session.execute(
        select(AuditEvent.object_id, AuditEvent.created_at).where(
            AuditEvent.org_id == org.id,
            AuditEvent.action == ROSTER_ADD,
            AuditEvent.object_type == User.__name__,
            AuditEvent.object_id.in_(ids),
        )
    ):
        # The first placement of each; sorted here, not by the query, so that it
        # reads the page's people from their index rather than the whole log by time.
        roster_adds[user_id] = min(at, roster_adds.get(user_id, at))

    rows = []
    for user in users:
        member = members.get(user.id)
        row = PersonRow(user)
        if member is not None and member.is_admin:
            row.roles.append("Admin")
        row.roles += [f"Leader of {c.name}" for c in leads.get(user.id, [])]
        row.roles += [f"Instructor of {c.name}" for c in teaches.get(user.id, [])]
        if member is not None and member.is_student:
            row.roles.append("Student")
            row.student = True
        row.classrooms = in_classrooms.get(user.id, [])
        row.ends = ends.get(user.id, {})
        row.courses = enrolled.get(user.id, [])
        row.joined = [
            Joined(r.code.text, r.created_at, r.code, r.took_seat) for r in redemptions.get(user.id, [])
        ]
        if user.id in roster_adds:
            row.joined.append(Joined("Roster upload", roster_adds[user.id]))
        if not row.joined and member is not None:
            row.joined.append(Joined("Added by staff", member.joined_at))
        row.joined.sort(key=lambda j: j.at)
        rows.append(row)
    return rows


# Rows per INSERT: well under the bound parameters SQLite allows in one statement.
CHUNK = 500


def place_in_classrooms(places: Collection[tuple[int, int]]) -> None:
    """Make each (user id, classroom id) a membership and enroll the person in
    that classroom's courses, as a code for the classroom would; rows that
    exist already are left as they are. Takes no seat."""
    classroom_ids = sorted({classroom_id for _, classroom_id in places})
    courses: dict[int, list[int]] = {}
    for classroom_id, course_id in db.session.execute(
        select(ClassroomCourse.classroom_id, ClassroomCourse.course_id)
        .where(ClassroomCourse.classroom_id.in_(classroom_ids))
        .order_by(ClassroomCourse.classroom_id, ClassroomCourse.course_id)
    ):
        courses.setdefault(classroom_id, []).append(course_id)
    members = [{"classroom_id": c, "user_id": u} for u, c in places]
    enrollments = [
        {"course_id": course_id, "user_id": u} for u, c in places for course_id in courses.get(c, [])
    ]
    for rows, model in ((members, ClassroomMember), (enrollments, Enrollment)):
        for start in range(0, len(rows), CHUNK):
            insert_ignore(db.session, model, rows[start : start + CHUNK])


def _is_member(user, classroom):
    return (
        db.session.scalar(
            select(ClassroomMember.user_id).where(
                ClassroomMember.classroom_id == classroom.id, ClassroomMember.user_id == user.id
            )
        )
        is not None
    )


def _leave(user, classroom):
    db.session.execute(
        delete(ClassroomMember).where(
            ClassroomMember.classroom_id == classroom.id, ClassroomMember.user_id == user.id
        )
    )


def move_student(actor: User, scope: Scope, person: User, source: Classroom, target: Classroom) -> None:
    """Move a student from one classroom to another, both in the actor's scope.

    They are enrolled in the new classroom's courses and keep every enrollment
    they had; their seat is neither given back nor taken again."""
    if not (scope.can_manage_classroom(source) and scope.can_manage_classroom(target)):
        raise OutOfScope()
    if source.org_id != scope.org.id or target.org_id != scope.org.id:
        raise OutOfScope()
    if source.id == target.id:
        raise DomainError(
            f"{person.name} is already in {target.name}. Choose another classroom.", field="to_classroom_id"
        )
    if len(lock_present(Classroom, [source.id, target.id])) != 2:
        raise OutOfScope()
    if not _is_member(person, source):
        raise DomainError(f"{person.name} is not in {source.name}.", field="from_classroom_id")
    _leave(person, source)
    place_in_classrooms([(person.id, target.id)])
    db.session.flush()
    audit.record(
        actor,
        "classroom.move",
        person,
        org_id=scope.org.id,
        from_classroom_id=source.id,
        to_classroom_id=target.id,
    )


def place_student(actor: User, scope: Scope, person: User, target: Classroom) -> None:
    """Put a student of the organization who is in none of its classrooms (taken
    out of their last one, say) into one in the actor's scope, with its courses,
    as its code would. Only a student: staff and parents are never made students
    this way. Their seat is neither given back nor taken again."""
    if target.org_id != scope.org.id or not scope.can_manage_classroom(target):
        raise OutOfScope()
    if not lock_present(Classroom, [target.id]):
        raise OutOfScope()
    member = db.session.scalar(
        select(OrgMember).where(OrgMember.org_id == scope.org.id, OrgMember.user_id == person.id)
    )
    if member is None or not member.is_student:
        raise DomainError(f"{person.name} is not a student of {scope.org.name}.", field="to_classroom_id")
    if _is_member(person, target):
        raise DomainError(
            f"{person.name} is already in {target.name}. Choose another classroom.", field="to_classroom_id"
        )
    place_in_classrooms([(person.id, target.id)])
    db.session.flush()
    audit.record(actor, "classroom.place", person, org_id=scope.org.id, to_classroom_id=target.id)


def remove_from_classroom(actor: User, scope: Scope, person: User, classroom: Classroom) -> None:
    """Take a student out of one classroom in the actor's scope. Their other
    classrooms, every enrollment, and their place and seat in the organization
    stay."""
    if classroom.org_id != scope.org.id or not scope.can_manage_classroom(classroom):
        raise OutOfScope()
    if not _is_member(person, classroom):
        raise DomainError(f"{person.name} is not in {classroom.name}.", field="classroom_id")
    _leave(person, classroom)
    db.session.flush()
    audit.record(actor, "classroom.remove_member", person, org_id=scope.org.id, classroom_id=classroom.id)
