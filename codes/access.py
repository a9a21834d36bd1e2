"""Who may see or change what: the one place scope is decided.

Views, partials, exports and templates all ask here. Whatever is out of a
person's scope is answered as if it did not exist (404), never 403.
"""
from flask import abort
from sqlalchemy import and_, exists, not_, or_, select

from .extensions import db
from .models import (
    Classroom,
    ClassroomLeader,
    Code,
    CodeClassroom,
    CodeCourse,
    Course,
    CourseInstructor,
    Organization,
    OrgMember,
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
        query = select(Code).where(Code.org_id == self.org.id, Code.deleted_at.is_(None))
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

    def manageable_classrooms(self):
        return [c for c in self.org.classrooms if self.can_manage_classroom(c)]

    def manageable_courses(self):
        return [c for c in self.org.courses if self.can_manage_course(c)]


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
