"""The users tab: an organization's people as a member of staff sees them, and
moving or removing a student between classrooms. Every function flushes and
never commits."""
from dataclasses import dataclass, field
from datetime import datetime
from math import ceil

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import joinedload

from .. import audit
from ..database import insert_ignore
from ..errors import DomainError
from ..extensions import db
from ..manage.operations import OutOfScope
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
)

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


@dataclass
class PeoplePage:
    rows: list[PersonRow]
    total: int
    page: int
    pages: int
    search: str = ""
    classroom: Classroom | None = None

    @property
    def first(self):
        return (self.page - 1) * PAGE_SIZE + 1 if self.total else 0

    @property
    def last(self):
        return min(self.page * PAGE_SIZE, self.total)


def list_people(scope, search="", classroom=None, page=1):
    """One page of the people the scope may see, by name; optionally only those
    whose name or email contains `search`, and only one classroom's members."""
    search = (search or "").strip()[:MAX_SEARCH]
    query = select(User).where(User.id.in_(scope.visible_people()))
    if classroom is not None:
        query = query.where(User.id.in_(
            select(ClassroomMember.user_id).where(ClassroomMember.classroom_id == classroom.id)))
    if search:
        query = query.where(or_(User.name.icontains(search, autoescape=True),
                                User.email_key.contains(search.lower(), autoescape=True)))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, ceil(total / PAGE_SIZE))
    page = min(max(page, 1), pages)
    users = db.session.scalars(
        query.order_by(User.name, User.email_key).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    return PeoplePage(person_rows(scope, users), total, page, pages, search, classroom)


def _pairs(statement):
    """(user_id, object) pairs grouped into a dict of lists, in query order."""
    grouped = {}
    for user_id, obj in db.session.execute(statement):
        grouped.setdefault(user_id, []).append(obj)
    return grouped


def person_rows(scope, users):
    """What the users tab shows of each person, only what lies in the scope:
    classrooms one manages, courses one manages, codes one manages."""
    org = scope.org
    ids = [u.id for u in users]
    if not ids:
        return []
    members = {m.user_id: m for m in db.session.scalars(
        select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id.in_(ids)))}
    in_classrooms = _pairs(
        select(ClassroomMember.user_id, Classroom)
        .join(Classroom, Classroom.id == ClassroomMember.classroom_id)
        .where(Classroom.org_id == org.id, ClassroomMember.user_id.in_(ids))
        .order_by(Classroom.name))
    leads = _pairs(
        select(ClassroomLeader.user_id, Classroom)
        .join(Classroom, Classroom.id == ClassroomLeader.classroom_id)
        .where(Classroom.org_id == org.id, ClassroomLeader.user_id.in_(ids))
        .order_by(Classroom.name))
    teaches = _pairs(
        select(CourseInstructor.user_id, Course)
        .join(Course, Course.id == CourseInstructor.course_id)
        .where(Course.org_id == org.id, CourseInstructor.user_id.in_(ids))
        .order_by(Course.name))
    enrolled = _pairs(
        select(Enrollment.user_id, Course)
        .join(Course, Course.id == Enrollment.course_id)
        .where(Course.org_id == org.id, Enrollment.user_id.in_(ids))
        .order_by(Course.name))
    redemptions = _pairs(
        select(Redemption.user_id, Redemption)
        .options(joinedload(Redemption.code))
        .where(Redemption.org_id == org.id, Redemption.user_id.in_(ids),
               Redemption.code_id.in_(scope.codes_in_scope().with_only_columns(Code.id)))
        .order_by(Redemption.created_at))
    roster_adds = {}
    for user_id, at in db.session.execute(
        select(AuditEvent.object_id, AuditEvent.created_at).where(
            AuditEvent.org_id == org.id, AuditEvent.action == ROSTER_ADD,
            AuditEvent.object_type == User.__name__, AuditEvent.object_id.in_(ids))
        .order_by(AuditEvent.created_at)
    ):
        roster_adds.setdefault(user_id, at)

    rows = []
    for user in users:
        member = members.get(user.id)
        row = PersonRow(user)
        if member is not None and member.is_admin:
            row.roles.append("Admin")
        row.roles += [f"Leader of {c.name}" for c in leads.get(user.id, [])
                      if scope.can_manage_classroom(c)]
        row.roles += [f"Instructor of {c.name}" for c in teaches.get(user.id, [])
                      if scope.can_manage_course(c)]
        if member is not None and member.is_student:
            row.roles.append("Student")
        row.classrooms = [c for c in in_classrooms.get(user.id, []) if scope.can_manage_classroom(c)]
        row.courses = [c for c in enrolled.get(user.id, []) if scope.can_manage_course(c)]
        row.joined = [Joined(r.code.text, r.created_at, r.code, r.took_seat)
                      for r in redemptions.get(user.id, [])]
        if user.id in roster_adds:
            row.joined.append(Joined("Roster upload", roster_adds[user.id]))
        if not row.joined and member is not None:
            row.joined.append(Joined("Added by staff", member.joined_at))
        row.joined.sort(key=lambda j: j.at)
        rows.append(row)
    return rows


# Rows per INSERT: well under the bound parameters SQLite allows in one statement.
CHUNK = 500


def place_in_classrooms(places):
    """Make each (user id, classroom id) a membership and enroll the person in
    that classroom's courses, as a code for the classroom would; rows that
    exist already are left as they are. Takes no seat."""
    classroom_ids = sorted({classroom_id for _, classroom_id in places})
    courses = {}
    for classroom_id, course_id in db.session.execute(
        select(ClassroomCourse.classroom_id, ClassroomCourse.course_id)
        .where(ClassroomCourse.classroom_id.in_(classroom_ids))
        .order_by(ClassroomCourse.classroom_id, ClassroomCourse.course_id)
    ):
        courses.setdefault(classroom_id, []).append(course_id)
    members = [{"classroom_id": c, "user_id": u} for u, c in places]
    enrollments = [{"course_id": course_id, "user_id": u}
                   for u, c in places for course_id in courses.get(c, [])]
    for rows, model in ((members, ClassroomMember), (enrollments, Enrollment)):
        for start in range(0, len(rows), CHUNK):
            insert_ignore(db.session, model, rows[start:start + CHUNK])


def _is_member(user, classroom):
    return db.session.scalar(select(ClassroomMember.user_id).where(
        ClassroomMember.classroom_id == classroom.id, ClassroomMember.user_id == user.id)) is not None


def _leave(user, classroom):
    db.session.execute(delete(ClassroomMember).where(
        ClassroomMember.classroom_id == classroom.id, ClassroomMember.user_id == user.id))


def move_student(actor, scope, person, source, target):
    """Move a student from one classroom to another, both in the actor's scope.

    They are enrolled in the new classroom's courses and keep every enrollment
    they had; their seat is neither given back nor taken again."""
    if not (scope.can_manage_classroom(source) and scope.can_manage_classroom(target)):
        raise OutOfScope()
    if source.org_id != scope.org.id or target.org_id != scope.org.id:
        raise OutOfScope()
    if source.id == target.id:
        raise DomainError(f"{person.name} is already in {target.name}. Choose another classroom.",
                          field="to_classroom_id")
    if not _is_member(person, source):
        raise DomainError(f"{person.name} is not in {source.name}.", field="from_classroom_id")
    _leave(person, source)
    place_in_classrooms([(person.id, target.id)])
    db.session.flush()
    audit.record(actor, "classroom.move", person, org_id=scope.org.id,
                 from_classroom_id=source.id, to_classroom_id=target.id)


def remove_from_classroom(actor, scope, person, classroom):
    """Take a student out of one classroom in the actor's scope. Their other
    classrooms, every enrollment, and their place and seat in the organization
    stay."""
    if classroom.org_id != scope.org.id or not scope.can_manage_classroom(classroom):
        raise OutOfScope()
    if not _is_member(person, classroom):
        raise DomainError(f"{person.name} is not in {classroom.name}.", field="classroom_id")
    _leave(person, classroom)
    db.session.flush()
    audit.record(actor, "classroom.remove_member", person, org_id=scope.org.id,
                 classroom_id=classroom.id)

