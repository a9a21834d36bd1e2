"""Who may see or change what: the one place scope is decided.

Views, partials, exports and templates all ask here. Whatever is out of a
person's scope is answered as if it did not exist (404), never 403.
"""
from dataclasses import dataclass

from flask import abort
from sqlalchemy import and_, exists, false, not_, or_, select

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
    Organization,
    OrgMember,
    ParentCode,
    ParentLink,
    User,
)


def is_admin(user, org_id):
    if not user.is_authenticated:
        return False
    return db.session.scalar(
        select(OrgMember.id).where(
            OrgMember.org_id == org_id, OrgMember.user_id == user.id, OrgMember.is_admin
        )
    ) is not None


def led_classroom_ids(user, org_id):
    return set(db.session.scalars(
        select(ClassroomLeader.classroom_id)
        .join(Classroom, Classroom.id == ClassroomLeader.classroom_id)
        .where(ClassroomLeader.user_id == user.id, Classroom.org_id == org_id)
    ))


def taught_course_ids(user, org_id):
    return set(db.session.scalars(
        select(CourseInstructor.course_id)
        .join(Course, Course.id == CourseInstructor.course_id)
        .where(CourseInstructor.user_id == user.id, Course.org_id == org_id)
    ))


class Scope:
    """What one person may manage in one organization."""

    def __init__(self, user, org):
        self.user = user
        self.org = org
        self.admin = is_admin(user, org.id)
        self.classroom_ids = led_classroom_ids(user, org.id)
        self.course_ids = taught_course_ids(user, org.id)

    @property
    def is_staff(self):
        return self.admin or bool(self.classroom_ids or self.course_ids)

    def can_manage_classroom(self, classroom):
        return self.admin or classroom.id in self.classroom_ids

    def can_manage_course(self, course):
        return self.admin or course.id in self.course_ids

    def can_manage_targets(self, classroom_ids, course_ids):
        """Every target must be in scope: a classroom one leads or a course one teaches."""
        if self.admin:
            return True
        return set(classroom_ids) <= self.classroom_ids and set(course_ids) <= self.course_ids

    def can_manage_code(self, code):
        return self.can_manage_targets(
            [c.id for c in code.classrooms], [c.id for c in code.courses]
        )

    def visible_codes(self):
        """A select of the organization's live codes this person may manage."""
        return self.codes_in_scope().where(Code.deleted_at.is_(None))

    def codes_in_scope(self):
        """A select of the organization's codes whose every target is in scope,
        deleted ones included: their redemptions stay in reports."""
        query = select(Code).where(Code.org_id == self.org.id)
        if self.admin:
            return query
        outside_classroom = exists().where(
            CodeClassroom.code_id == Code.id,
            not_(CodeClassroom.classroom_id.in_(self.classroom_ids or [-1])),
        )
        outside_course = exists().where(
            CodeCourse.code_id == Code.id,
            not_(CodeCourse.course_id.in_(self.course_ids or [-1])),
        )
        has_target = or_(
            exists().where(CodeClassroom.code_id == Code.id),
            exists().where(CodeCourse.code_id == Code.id),
        )
        return query.where(and_(has_target, not_(outside_classroom), not_(outside_course)))

    def visible_batches(self):
        """A select of the organization's bulk batches holding at least one code this
        person may manage: a batch of codes all outside one's scope stays unseen."""
        return select(Batch).where(
            Batch.org_id == self.org.id,
            self.visible_codes().with_only_columns(Code.id).where(Code.batch_id == Batch.id).exists(),
        )

    def manageable_classrooms(self):
        return [c for c in self.org.classrooms if self.can_manage_classroom(c)]

    def manageable_courses(self):
        return [c for c in self.org.courses if self.can_manage_course(c)]

    def visible_people(self):
        """A select of the ids of the people this person may see on the users tab:
        everyone in the organization for an admin; otherwise the members of the
        classrooms one leads and the students of the courses one teaches."""
        if self.admin:
            return select(OrgMember.user_id).where(OrgMember.org_id == self.org.id)
        members = select(ClassroomMember.user_id).where(
            ClassroomMember.classroom_id.in_(self.classroom_ids or [-1]))
        students = select(Enrollment.user_id).where(
            Enrollment.course_id.in_(self.course_ids or [-1]))
        return members.union(students)

    def can_see_person(self, user_id):
        return db.session.scalar(
            select(User.id).where(User.id == user_id, User.id.in_(self.visible_people()))
        ) is not None


def staff_scope_or_404(user, org):
    scope = Scope(user, org)
    if not scope.is_staff:
        abort(404)
    return scope


def admin_scope_or_404(user, org):
    scope = Scope(user, org)
    if not scope.admin:
        abort(404)
    return scope


def org_for_staff(user, org_id):
    """The organization and the person's scope in it, or 404."""
    org = db.session.get(Organization, org_id) or abort(404)
    return org, staff_scope_or_404(user, org)


def org_for_admin(user, org_id):
    org = db.session.get(Organization, org_id) or abort(404)
    return org, admin_scope_or_404(user, org)


def classroom_for_staff(user, classroom_id):
    """A classroom the person leads or administers, with their scope, or 404."""
    classroom = db.session.get(Classroom, classroom_id) or abort(404)
    scope = Scope(user, classroom.organization)
    if not scope.can_manage_classroom(classroom):
        abort(404)
    return classroom, scope


def classroom_for_admin(user, classroom_id):
    classroom = db.session.get(Classroom, classroom_id) or abort(404)
    return classroom, admin_scope_or_404(user, classroom.organization)


def course_for_staff(user, course_id):
    course = db.session.get(Course, course_id) or abort(404)
    scope = Scope(user, course.organization)
    if not scope.can_manage_course(course):
        abort(404)
    return course, scope


def course_for_admin(user, course_id):
    course = db.session.get(Course, course_id) or abort(404)
    return course, admin_scope_or_404(user, course.organization)


def code_for_staff(user, code_id):
    """A live code whose every target is in the person's scope, or 404."""
    code = db.session.get(Code, code_id)
    if code is None or code.deleted_at is not None:
        abort(404)
    scope = Scope(user, code.organization)
    if not scope.can_manage_code(code):
        abort(404)
    return code, scope


def visible_code_or_404(scope, code_id):
    """One of the codes scope.visible_codes() lists, or 404."""
    code = db.session.scalar(scope.visible_codes().where(Code.id == code_id))
    if code is None:
        abort(404)
    return code


def person_in_scope_or_404(scope, user_id):
    """One of the people scope.visible_people() lists, or 404."""
    if not scope.can_see_person(user_id):
        abort(404)
    return db.session.get(User, user_id)


def classroom_in_scope_or_404(scope, classroom_id):
    """A classroom of the scope's organization that the person manages, or 404."""
    classroom = db.session.get(Classroom, classroom_id)
    if classroom is None or classroom.org_id != scope.org.id:
        abort(404)
    if not scope.can_manage_classroom(classroom):
        abort(404)
    return classroom


def staff_organizations(user):
    """Organizations where the person is an admin, leads a classroom or teaches a course."""
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
    ids = admin_orgs.union(led, taught)
    return db.session.scalars(
        select(Organization).where(Organization.id.in_(ids)).order_by(Organization.name)
    ).all()


def visible_audit_events(scope):
    """A condition on AuditEvent for the organization's audit log, which only its
    admins read: every event of the organization (codes, classrooms, courses,
    seats, memberships, parent links, attempts at its codes), and the attempts of
    its own people that named no code of any organization. Other people's stray
    attempts stay unseen: they would tell one organization about another's people."""
    if not scope.admin:
        return false()
    own_people = select(OrgMember.user_id).where(OrgMember.org_id == scope.org.id)
    return or_(
        AuditEvent.org_id == scope.org.id,
        and_(AuditEvent.org_id.is_(None), AuditEvent.action.like("redeem.%"),
             AuditEvent.actor_id.in_(own_people)),
    )


def linked_students(parent):
    """The students linked to the parent now (revoked links show nothing), by name."""
    return db.session.scalars(
        select(User).join(ParentLink, ParentLink.student_id == User.id)
        .where(ParentLink.parent_id == parent.id, ParentLink.revoked_at.is_(None))
        .order_by(User.name, User.id)
    ).all()


def is_student(user):
    """A student member of any organization."""
    return db.session.scalar(
        select(OrgMember.id).where(OrgMember.user_id == user.id, OrgMember.is_student).limit(1)
    ) is not None


def is_parent(user):
    return db.session.scalar(
        select(ParentLink.id).where(ParentLink.parent_id == user.id,
                                    ParentLink.revoked_at.is_(None)).limit(1)
    ) is not None


def student_for_parent_or_404(parent, student_id):
    """A student linked to the parent now, or 404: any other person's id in the
    URL answers as if there were no such student."""
    linked = db.session.scalar(
        select(ParentLink.id).where(ParentLink.parent_id == parent.id,
                                    ParentLink.student_id == student_id,
                                    ParentLink.revoked_at.is_(None))
    )
    if linked is None:
        abort(404)
    return db.session.get(User, student_id)


@dataclass(frozen=True)
class SharedClassroom:
    """What parents read of one classroom: names only, never its members."""

    name: str
    organization: str
    teachers: tuple
    courses: tuple


def shown_to_parents(student):
    """What a linked parent sees of a student: each classroom the student is a
    member of whose parent-visibility switch is on, with its organization, its
    leaders and those of its courses the student is enrolled in. Nothing from a
    classroom with the switch off, and nothing about any other student."""
    classrooms = db.session.scalars(
        select(Classroom).join(ClassroomMember, ClassroomMember.classroom_id == Classroom.id)
        .where(ClassroomMember.user_id == student.id, Classroom.parents_can_see)
        .order_by(Classroom.name, Classroom.id)
    ).all()
    if not classrooms:
        return []
    pairs = db.session.execute(
        select(ClassroomCourse.classroom_id, Course.name)
        .join(Course, Course.id == ClassroomCourse.course_id)
        .join(Enrollment, and_(Enrollment.course_id == Course.id,
                               Enrollment.user_id == student.id))
        .where(ClassroomCourse.classroom_id.in_([c.id for c in classrooms]))
        .order_by(Course.name, Course.id)
    ).all()
    return [
        SharedClassroom(
            name=c.name, organization=c.organization.name,
            teachers=tuple(u.name for u in c.leaders),
            courses=tuple(name for cid, name in pairs if cid == c.id),
        )
        for c in classrooms
    ]


def own_parent_code_or_404(student, parent_code_id):
    """One of the student's own parent codes, or 404."""
    parent_code = db.session.get(ParentCode, parent_code_id)
    if parent_code is None or parent_code.student_id != student.id:
        abort(404)
    return parent_code


def org_parent_links(scope):
    """A select of the parent links an organization's admins see and may revoke:
    those whose student is a student member of the organization."""
    if not scope.admin:
        return select(ParentLink).where(false())
    students = select(OrgMember.user_id).where(OrgMember.org_id == scope.org.id,
                                               OrgMember.is_student)
    return select(ParentLink).where(ParentLink.student_id.in_(students))


def parent_link_for_admin_or_404(scope, link_id):
    """One of the links org_parent_links(scope) lists, or 404."""
    link = db.session.scalar(org_parent_links(scope).where(ParentLink.id == link_id))
    if link is None:
        abort(404)
    return link
