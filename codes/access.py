"""Who may see or change what: the one place scope is decided.

Views, partials, exports and templates all ask here. Whatever is out of a
person's scope is answered as if it did not exist (404), never 403.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from flask import abort
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    exists,
    false,
    literal,
    not_,
    or_,
    select,
    union_all,
)

from .extensions import db
from .models import (
    AuditEvent,
    Batch,
    Classroom,
    ClassroomCourse,
    ClassroomLeader,
    ClassroomMember,
    Code,
    CodeClassroom,
    CodeCourse,
    Course,
    CourseInstructor,
    Enrollment,
    ExpectedPerson,
    Invitation,
    Job,
    JoinRequest,
    Organization,
    OrgMember,
    ParentCode,
    ParentLink,
    User,
)


class OutOfScope(Exception):
    """Something a request names (in its URL or inside its form) lies outside the
    person's scope: answered 404, as if it did not exist (codes.web). Not a
    DomainError, so no view words it as a refusal beside a field."""


_ADMIN, _LEADS, _TEACHES = "admin", "leads", "teaches"


def _roles(user: User, org_id: int) -> tuple[bool, set[int], set[int]]:
    """Whether the person administers the organization, the classrooms of it
    they lead and the courses of it they teach: one statement, read on every
    staff page (on PostgreSQL each statement is a round trip)."""
    if not user.is_authenticated:
        return False, set(), set()
    rows = db.session.execute(
        union_all(
            select(literal(_ADMIN), OrgMember.id).where(
                OrgMember.org_id == org_id, OrgMember.user_id == user.id, OrgMember.is_admin
            ),
            select(literal(_LEADS), ClassroomLeader.classroom_id)
            .join(Classroom, Classroom.id == ClassroomLeader.classroom_id)
            .where(ClassroomLeader.user_id == user.id, Classroom.org_id == org_id),
            select(literal(_TEACHES), CourseInstructor.course_id)
            .join(Course, Course.id == CourseInstructor.course_id)
            .where(CourseInstructor.user_id == user.id, Course.org_id == org_id),
        )
    ).all()
    return (
        any(kind == _ADMIN for kind, _ in rows),
        {thing for kind, thing in rows if kind == _LEADS},
        {thing for kind, thing in rows if kind == _TEACHES},
    )


class Scope:
    """What one person may manage in one organization."""

    def __init__(self, user: User, org: Organization) -> None:
        self.user = user
        self.org = org
        self.admin, self.classroom_ids, self.course_ids = _roles(user, org.id)

    @property
    def is_staff(self) -> bool:
        return self.admin or bool(self.classroom_ids or self.course_ids)

    def can_manage_classroom(self, classroom: Classroom) -> bool:
        return self.admin or classroom.id in self.classroom_ids

    def can_manage_course(self, course: Course) -> bool:
        return self.admin or course.id in self.course_ids

    def can_manage_targets(self, classroom_ids: Iterable[int], course_ids: Iterable[int]) -> bool:
        """Every target must be in scope: a classroom one leads or a course one teaches."""
        if self.admin:
            return True
        return set(classroom_ids) <= self.classroom_ids and set(course_ids) <= self.course_ids

    def can_manage_code(self, code: Code) -> bool:
        # An admin manages every code: its targets are not read (nor loaded).
        return self.admin or self.can_manage_targets(
            [c.id for c in code.classrooms], [c.id for c in code.courses]
        )

    def visible_codes(self) -> Select[tuple[Code]]:
        """A select of the organization's live codes this person may manage."""
        return self.codes_in_scope().where(Code.deleted_at.is_(None))

    def codes_in_scope(self) -> Select[tuple[Code]]:
        """A select of the organization's codes whose every target is in scope,
        deleted ones included: their redemptions stay in reports."""
        query = select(Code).where(Code.org_id == self.org.id)
        if self.admin:
            return query
        outside_classroom = exists().where(
            CodeClassroom.code_id == Code.id, not_(CodeClassroom.classroom_id.in_(self.classroom_ids or [-1]))
        )
        outside_course = exists().where(
            CodeCourse.code_id == Code.id, not_(CodeCourse.course_id.in_(self.course_ids or [-1]))
        )
        has_target = or_(
            exists().where(CodeClassroom.code_id == Code.id), exists().where(CodeCourse.code_id == Code.id)
        )
        return query.where(and_(has_target, not_(outside_classroom), not_(outside_course)))

    def visible_batches(self) -> Select[tuple[Batch]]:
        """A select of the organization's bulk batches holding at least one code this
        person may manage: a batch of codes all outside one's scope stays unseen."""
        return select(Batch).where(
            Batch.org_id == self.org.id,
            self.visible_codes().with_only_columns(Code.id).where(Code.batch_id == Batch.id).exists(),
        )

    def manageable_classrooms(self) -> list[Classroom]:
        return [c for c in self.org.classrooms if self.can_manage_classroom(c)]

    def manageable_courses(self) -> list[Course]:
        return [c for c in self.org.courses if self.can_manage_course(c)]

    def visible_people(self) -> Select[tuple[int]] | CompoundSelect:
        """A select of the ids of the people this person may see on the users tab:
        everyone in the organization for an admin; otherwise the members of the
        classrooms one leads and the students of the courses one teaches."""
        if self.admin:
            return select(OrgMember.user_id).where(OrgMember.org_id == self.org.id)
        members = select(ClassroomMember.user_id).where(
            ClassroomMember.classroom_id.in_(self.classroom_ids or [-1])
        )
        students = select(Enrollment.user_id).where(Enrollment.course_id.in_(self.course_ids or [-1]))
        return members.union(students)

    def can_see_person(self, user_id: int) -> bool:
        return (
            db.session.scalar(select(User.id).where(User.id == user_id, User.id.in_(self.visible_people())))
            is not None
        )


T = TypeVar("T")


def found(thing: T | None, allowed: bool = True) -> T:
    """The thing, or 404 when it is missing or the person may not have it: the
    one way a getter below answers "out of scope", as if it did not exist."""
    if thing is None or not allowed:
        abort(404)
    return thing


def _scoped(user, model, object_id, may):
    """An organization's object by id and the person's Scope in its organization,
    or 404 unless may(scope, object)."""
    thing = found(db.session.get(model, object_id))
    scope = Scope(user, thing if isinstance(thing, Organization) else thing.organization)
    found(thing, may(scope, thing))
    return thing, scope


def org_for_staff(user: User, org_id: int) -> tuple[Organization, Scope]:
    """The organization and the person's scope in it, or 404."""
    return _scoped(user, Organization, org_id, lambda scope, org: scope.is_staff)


def org_for_admin(user: User, org_id: int) -> tuple[Organization, Scope]:
    return _scoped(user, Organization, org_id, lambda scope, org: scope.admin)


def classroom_for_staff(user: User, classroom_id: int) -> tuple[Classroom, Scope]:
    """A classroom the person leads or administers, with their scope, or 404."""
    return _scoped(user, Classroom, classroom_id, Scope.can_manage_classroom)


def classroom_for_admin(user: User, classroom_id: int) -> tuple[Classroom, Scope]:
    return _scoped(user, Classroom, classroom_id, lambda scope, classroom: scope.admin)


def course_for_staff(user: User, course_id: int) -> tuple[Course, Scope]:
    return _scoped(user, Course, course_id, Scope.can_manage_course)


def course_for_admin(user: User, course_id: int) -> tuple[Course, Scope]:
    return _scoped(user, Course, course_id, lambda scope, course: scope.admin)


def code_for_staff(user: User, code_id: int) -> tuple[Code, Scope]:
    """A live code whose every target is in the person's scope, or 404."""
    return _scoped(
        user, Code, code_id, lambda scope, code: code.deleted_at is None and scope.can_manage_code(code)
    )


def join_request_for_staff(user: User, request_id: int) -> tuple[JoinRequest, Code, Scope]:
    """A request to join through a code the person may manage (code_for_staff),
    with that code and their scope, or 404."""
    request = found(db.session.get(JoinRequest, request_id))
    code, scope = code_for_staff(user, request.code_id)
    return request, code, scope


def visible_code_or_404(scope: Scope, code_id: int) -> Code:
    """One of the codes scope.visible_codes() lists, or 404."""
    return found(db.session.scalar(scope.visible_codes().where(Code.id == code_id)))


def person_in_scope_or_404(scope: Scope, user_id: int) -> User:
    """One of the people scope.visible_people() lists, or 404."""
    found(user_id, scope.can_see_person(user_id))
    return found(db.session.get(User, user_id))


def classroom_in_scope_or_404(scope: Scope, classroom_id: int) -> Classroom:
    """A classroom of the scope's organization that the person manages, or 404."""
    classroom = found(db.session.get(Classroom, classroom_id))
    return found(classroom, classroom.org_id == scope.org.id and scope.can_manage_classroom(classroom))


def course_in_scope_or_404(scope: Scope, course_id: int) -> Course:
    """A course of the scope's organization that the person manages, or 404."""
    course = found(db.session.get(Course, course_id))
    return found(course, course.org_id == scope.org.id and scope.can_manage_course(course))


def expected_for_staff(user: User, expected_id: int) -> tuple[ExpectedPerson, Classroom, Scope]:
    """One of the people a classroom expects, its classroom and the person's scope,
    when they manage that classroom; or 404."""
    expected = found(db.session.get(ExpectedPerson, expected_id))
    classroom, scope = classroom_for_staff(user, expected.classroom_id)
    return expected, classroom, scope


def _staff_org_ids(user: User) -> CompoundSelect:
    """The ids of the organizations where the person is an admin, leads a
    classroom or teaches a course."""
    admin_orgs = select(OrgMember.org_id).where(OrgMember.user_id == user.id, OrgMember.is_admin)
    led = (
        select(Classroom.org_id)
        .join(ClassroomLeader, ClassroomLeader.classroom_id == Classroom.id)
        .where(ClassroomLeader.user_id == user.id)
    )
    taught = (
        select(Course.org_id)
        .join(CourseInstructor, CourseInstructor.course_id == Course.id)
        .where(CourseInstructor.user_id == user.id)
    )
    return admin_orgs.union(led, taught)


def staff_organizations(user: User) -> Sequence[Organization]:
    """Organizations where the person is an admin, leads a classroom or teaches a course."""
    return db.session.scalars(
        select(Organization).where(Organization.id.in_(_staff_org_ids(user))).order_by(Organization.name)
    ).all()


@dataclass(frozen=True)
class Workplace:
    """One organization where a person is staff, with the classrooms they may
    manage there and the courses they may manage: the list staff in several
    places land on."""

    org: Organization
    classrooms: Sequence[Classroom]
    courses: Sequence[Course]


def workplaces(user: User) -> list[Workplace]:
    places = []
    for org in staff_organizations(user):
        scope = Scope(user, org)
        places.append(Workplace(org, scope.manageable_classrooms(), scope.manageable_courses()))
    return places


def manages_any(user: User, scope: Scope | None = None) -> bool:
    """Whether the person is staff anywhere (admin, leader or teacher): who the
    navigation shows the organizations to. A page that has the person's scope
    in an organization where they are staff already knows."""
    if not user.is_authenticated:
        return False
    if isinstance(scope, Scope) and scope.user.id == user.id and scope.is_staff:
        return True
    return db.session.scalar(_staff_org_ids(user).limit(1)) is not None


@dataclass(frozen=True)
class Landing:
    """Where a person lands after logging in, or at the site's root: an endpoint
    and its arguments, for url_for."""

    endpoint: str
    args: dict[str, int]


def landing(user: User) -> Landing:
    """Each person lands where their work is: the admin of one organization on it;
    whoever leads one classroom, or teaches one course, and has nothing else to
    manage, on it; other staff on the list of their organizations; a parent who
    is no student on the parents' page; everyone else on their profile, where
    codes are entered (never on the form that makes an organization)."""
    admin_of = db.session.scalars(
        select(OrgMember.org_id).where(OrgMember.user_id == user.id, OrgMember.is_admin)
    ).all()
    led = db.session.scalars(
        select(ClassroomLeader.classroom_id).where(ClassroomLeader.user_id == user.id)
    ).all()
    taught = db.session.scalars(
        select(CourseInstructor.course_id).where(CourseInstructor.user_id == user.id)
    ).all()
    if admin_of:
        if len(admin_of) == 1 and not led and not taught:
            return Landing("orgs.show", {"org_id": admin_of[0]})
        return Landing("orgs.index", {})
    if len(led) == 1 and not taught:
        return Landing("orgs.classroom", {"classroom_id": led[0]})
    if len(taught) == 1 and not led:
        return Landing("orgs.course", {"course_id": taught[0]})
    if led or taught:
        return Landing("orgs.index", {})
    if is_parent(user) and not is_student(user):
        return Landing("parents.index", {})
    return Landing("redeem.profile", {})


@dataclass(frozen=True)
class StaffRoles:
    """The classrooms a person leads and the courses they teach, everywhere, by
    name: what their profile says they do (staff pages are for these)."""

    leads: Sequence[Classroom]
    teaches: Sequence[Course]


def staff_roles(user: User) -> StaffRoles:
    leads = db.session.scalars(
        select(Classroom)
        .join(ClassroomLeader, ClassroomLeader.classroom_id == Classroom.id)
        .where(ClassroomLeader.user_id == user.id)
        .order_by(Classroom.name, Classroom.id)
    ).all()
    teaches = db.session.scalars(
        select(Course)
        .join(CourseInstructor, CourseInstructor.course_id == Course.id)
        .where(CourseInstructor.user_id == user.id)
        .order_by(Course.name, Course.id)
    ).all()
    return StaffRoles(leads, teaches)


def teachers_of(classroom_ids: Iterable[int], course_ids: Iterable[int]) -> dict[tuple[str, int], list[str]]:
    """What a student sees of their classrooms and courses besides the names: who
    leads or teaches each, by name, keyed ("classroom", id) or ("course", id).
    Never the other members."""
    found: dict[tuple[str, int], list[str]] = {}
    rows = db.session.execute(
        select(literal("classroom"), ClassroomLeader.classroom_id, User.name)
        .join(User, User.id == ClassroomLeader.user_id)
        .where(ClassroomLeader.classroom_id.in_(list(classroom_ids)))
        .union_all(
            select(literal("course"), CourseInstructor.course_id, User.name)
            .join(User, User.id == CourseInstructor.user_id)
            .where(CourseInstructor.course_id.in_(list(course_ids)))
        )
    ).all()
    for kind, place_id, name in sorted(rows, key=lambda r: (r[2], r[1])):
        found.setdefault((kind, place_id), []).append(name)
    return found


def visible_audit_events(scope: Scope) -> ColumnElement[bool]:
    """A condition on AuditEvent for the organization's audit log, which only its
    admins read: the events of the organization, decided by the organization
    written on each event (its codes, classrooms, courses, seats, memberships,
    invitations, the parent links made through its codes, attempts at its codes).
    Nothing else: an attempt that named no code belongs to no organization, and
    what its members did elsewhere is not its business."""
    if not scope.admin:
        return false()
    return AuditEvent.org_id == scope.org.id


def _live_links(parent):
    return select(ParentLink).where(ParentLink.parent_id == parent.id, ParentLink.revoked_at.is_(None))


def linked_students(parent: User) -> Sequence[User]:
    """The students linked to the parent now, through any organization (revoked
    links show nothing), by name."""
    return db.session.scalars(
        select(User)
        .where(User.id.in_(_live_links(parent).with_only_columns(ParentLink.student_id)))
        .order_by(User.name, User.id)
    ).all()


def is_student(user: User) -> bool:
    """A student member of any organization."""
    return (
        db.session.scalar(
            select(OrgMember.id).where(OrgMember.user_id == user.id, OrgMember.is_student).limit(1)
        )
        is not None
    )


def is_parent(user: User) -> bool:
    return (
        db.session.scalar(
            select(ParentLink.id)
            .where(ParentLink.parent_id == user.id, ParentLink.revoked_at.is_(None))
            .limit(1)
        )
        is not None
    )


def student_for_parent_or_404(parent: User, student_id: int) -> User:
    """A student linked to the parent now, or 404: any other person's id in the
    URL answers as if there were no such student."""
    found(
        db.session.scalar(
            _live_links(parent)
            .with_only_columns(ParentLink.id)
            .where(ParentLink.student_id == student_id)
            .limit(1)
        )
    )
    return found(db.session.get(User, student_id))


@dataclass(frozen=True)
class SharedClassroom:
    """What parents read of one classroom: names only, never its members."""

    name: str
    organization: str
    teachers: tuple[str, ...]
    courses: tuple[str, ...]


def shown_to_parent(parent: User, student: User) -> list[SharedClassroom]:
    """What a linked parent sees of a student: each classroom the student is a
    member of, in an organization through which the two are linked now, whose
    parent-visibility switch is on, with its organization, its leaders and those
    of its courses the student is enrolled in. Nothing from a classroom with the
    switch off, nothing from an organization that did not make their link, and
    nothing about any other student."""
    linked_orgs = (
        _live_links(parent).with_only_columns(ParentLink.org_id).where(ParentLink.student_id == student.id)
    )
    classrooms = db.session.scalars(
        select(Classroom)
        .join(ClassroomMember, ClassroomMember.classroom_id == Classroom.id)
        .where(
            ClassroomMember.user_id == student.id,
            Classroom.parents_can_see,
            Classroom.org_id.in_(linked_orgs),
        )
        .order_by(Classroom.name, Classroom.id)
    ).all()
    if not classrooms:
        return []
    pairs = db.session.execute(
        select(ClassroomCourse.classroom_id, Course.name)
        .join(Course, Course.id == ClassroomCourse.course_id)
        .join(Enrollment, and_(Enrollment.course_id == Course.id, Enrollment.user_id == student.id))
        .where(ClassroomCourse.classroom_id.in_([c.id for c in classrooms]))
        .order_by(Course.name, Course.id)
    ).all()
    return [
        SharedClassroom(
            name=c.name,
            organization=c.organization.name,
            teachers=tuple(u.name for u in c.leaders),
            courses=tuple(name for cid, name in pairs if cid == c.id),
        )
        for c in classrooms
    ]


def own_parent_code_or_404(student: User, parent_code_id: int) -> ParentCode:
    """One of the student's own parent codes, or 404."""
    parent_code = found(db.session.get(ParentCode, parent_code_id))
    return found(parent_code, parent_code.student_id == student.id)


def org_parent_links(scope: Scope) -> Select[tuple[ParentLink]]:
    """A select of the parent links an organization's admins see and may revoke:
    those made through its parent codes. A link another organization made for
    the same student is that organization's alone."""
    if not scope.admin:
        return select(ParentLink).where(false())
    return select(ParentLink).where(ParentLink.org_id == scope.org.id)


def parent_link_for_admin_or_404(scope: Scope, link_id: int) -> ParentLink:
    """One of the links org_parent_links(scope) lists, or 404."""
    return found(db.session.scalar(org_parent_links(scope).where(ParentLink.id == link_id)))


def invitation_for_admin_or_404(scope: Scope, invitation_id: int) -> Invitation:
    """One of the organization's invitations, for its admins, or 404."""
    invitation = found(db.session.get(Invitation, invitation_id), scope.admin)
    return found(invitation, invitation.org_id == scope.org.id)


def job_for_admin_or_404(scope: Scope, job_id: int) -> Job:
    """One of the organization's queued deliveries, for its admins, or 404."""
    job = found(db.session.get(Job, job_id), scope.admin)
    return found(job, job.org_id == scope.org.id)
