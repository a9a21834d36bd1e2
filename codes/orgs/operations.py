"""Organizations, classrooms, courses and who teaches or leads them.
Every function flushes and never commits."""
from zoneinfo import available_timezones

from sqlalchemy import delete, select

from .. import audit
from ..database import insert_ignore
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..joincodes import operations as joincodes
from ..models import (
    Classroom,
    ClassroomCourse,
    ClassroomLeader,
    Course,
    CourseInstructor,
    Organization,
    OrgMember,
    User,
)
from ..seats import operations as seats

MAX_NAME = 120
# How long new codes last by default (DESIGN.md "Objects", issue 5).
DEFAULT_CODE_DAYS = 14


def _name(value, field="name"):
    name = (value or "").strip()
    if not name:
        raise FieldErrors({field: "Give it a name."})
    if len(name) > MAX_NAME:
        raise FieldErrors({field: f"Names are at most {MAX_NAME} characters."})
    return name


def _settings(name, timezone, seat_limit, default_code_days):
    errors = {}
    try:
        name = _name(name)
    except FieldErrors as e:
        errors.update(e.errors)
    if timezone not in available_timezones():
        errors["timezone"] = "Choose a time zone from the list, like Europe/Paris."
    if seat_limit is not None and seat_limit < 0:
        errors["seat_limit"] = "The seat limit can't be negative. Leave it empty for unlimited."
    if default_code_days is not None and not 1 <= default_code_days <= 3650:
        errors["default_code_days"] = "Between 1 and 3650 days, or empty for none."
    if errors:
        raise FieldErrors(errors)
    return name


def create_organization(actor, name, timezone="UTC", seat_limit=None,
                        default_code_days=DEFAULT_CODE_DAYS):
    """A new organization with the actor as its first admin. New codes last 14
    days unless it says otherwise; None for codes without an end."""
    name = _settings(name, timezone, seat_limit, default_code_days)
    org = Organization(name=name, timezone=timezone, seat_limit=seat_limit,
                       default_code_days=default_code_days, seats_taken=0)
    db.session.add(org)
    db.session.flush()
    db.session.add(OrgMember(org_id=org.id, user_id=actor.id, is_admin=True))
    db.session.flush()
    audit.record(actor, "org.create", org, org_id=org.id, name=name)
    return org


def update_organization(actor, org, name, timezone, seat_limit, default_code_days):
    """Change settings. The seat limit can't go below the seats already taken
    plus those classroom allotments reserve and have not used."""
    name = _settings(name, timezone, seat_limit, default_code_days)
    # Lock the row so a redemption can't take a seat between the check and the change.
    seats.lock_organization(org.id)
    db.session.refresh(org)
    seats.check_limit(org, seat_limit)
    org.name, org.timezone = name, timezone
    org.seat_limit, org.default_code_days = seat_limit, default_code_days
    db.session.flush()
    audit.record(actor, "org.update", org, org_id=org.id, seat_limit=seat_limit)
    return org


def create_classroom(actor, org, name):
    """A new classroom, with its join code."""
    classroom = Classroom(org_id=org.id, name=_name(name))
    db.session.add(classroom)
    db.session.flush()
    audit.record(actor, "classroom.create", classroom, name=classroom.name)
    joincodes.make_join_code(actor, classroom)
    return classroom


def rename_classroom(actor, classroom, name):
    classroom.name = _name(name)
    db.session.flush()
    audit.record(actor, "classroom.rename", classroom, name=classroom.name)


def delete_classroom(actor, classroom):
    """Delete a classroom. Its people stay members of the organization, seats
    are not given back, and enrollments it made stay; its join code stops."""
    audit.record(actor, "classroom.delete", classroom, name=classroom.name)
    joincodes.stop_join_code(actor, classroom)
    db.session.delete(classroom)
    db.session.flush()


def create_course(actor, org, name):
    course = Course(org_id=org.id, name=_name(name))
    db.session.add(course)
    db.session.flush()
    audit.record(actor, "course.create", course, name=course.name)
    return course


def rename_course(actor, course, name):
    course.name = _name(name)
    db.session.flush()
    audit.record(actor, "course.rename", course, name=course.name)


def delete_course(actor, course):
    audit.record(actor, "course.delete", course, name=course.name)
    db.session.delete(course)
    db.session.flush()


def set_classroom_courses(actor, classroom, course_ids):
    """The courses assigned to a classroom: its members' codes enroll them there."""
    courses = [db.session.get(Course, i) for i in set(course_ids)]
    if any(c is None or c.org_id != classroom.org_id for c in courses):
        raise DomainError("Choose courses of this organization.")
    db.session.execute(delete(ClassroomCourse).where(ClassroomCourse.classroom_id == classroom.id))
    db.session.add_all([ClassroomCourse(classroom_id=classroom.id, course_id=c.id) for c in courses])
    db.session.flush()
    db.session.expire(classroom, ["courses"])
    audit.record(actor, "classroom.courses", classroom, course_ids=sorted(c.id for c in courses))


def organization_staff(org):
    """The organization's people who are not students: admins and staff members."""
    return db.session.scalars(
        select(User).join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == org.id, OrgMember.is_student.is_(False))
        .order_by(User.name, User.email_key)
    ).all()


def organization_people(org):
    """Everyone with a place in the organization, by name."""
    return db.session.scalars(
        select(User).join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == org.id).order_by(User.name, User.email_key)
    ).all()


def _person_of(org, user_id):
    member = db.session.scalar(
        select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id == user_id)
    )
    if member is None:
        raise FieldErrors({"user_id": "Choose one of the organization's people."})
    return member.user


def add_staff_member(actor, org, email):
    """Give an existing account a place in the organization so it can be named
    an instructor or group leader. Takes no seat."""
    email = (email or "").strip()
    user = db.session.scalar(select(User).where(User.email_key == User.key_for(email)))
    if user is None:
        raise FieldErrors({"email": "No account has that email. Ask them to sign up first."})
    member = db.session.scalar(
        select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id == user.id)
    )
    if member is None:
        db.session.add(OrgMember(org_id=org.id, user_id=user.id))
        db.session.flush()
        audit.record(actor, "member.add", user, org_id=org.id, email=user.email)
    return user


def set_admin(actor, org, user_id, admin):
    member = db.session.scalar(
        select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id == user_id)
    )
    if member is None:
        raise FieldErrors({"user_id": "Choose one of the organization's people."})
    if not admin and member.user_id == actor.id:
        raise DomainError("You can't remove your own admin role.")
    member.is_admin = bool(admin)
    db.session.flush()
    audit.record(actor, "member.admin" if admin else "member.unadmin", member.user, org_id=org.id)


def add_leader(actor, classroom, user_id):
    user = _person_of(classroom.organization, user_id)
    insert_ignore(db.session, ClassroomLeader, [{"classroom_id": classroom.id, "user_id": user.id}])
    db.session.expire(classroom, ["leaders"])
    audit.record(actor, "classroom.leader.add", classroom, user_id=user.id)


def remove_leader(actor, classroom, user_id):
    db.session.execute(delete(ClassroomLeader).where(
        ClassroomLeader.classroom_id == classroom.id, ClassroomLeader.user_id == user_id))
    db.session.expire(classroom, ["leaders"])
    audit.record(actor, "classroom.leader.remove", classroom, user_id=user_id)


def add_instructor(actor, course, user_id):
    user = _person_of(course.organization, user_id)
    insert_ignore(db.session, CourseInstructor, [{"course_id": course.id, "user_id": user.id}])
    db.session.expire(course, ["instructors"])
    audit.record(actor, "course.instructor.add", course, user_id=user.id)


def remove_instructor(actor, course, user_id):
    db.session.execute(delete(CourseInstructor).where(
        CourseInstructor.course_id == course.id, CourseInstructor.user_id == user_id))
    db.session.expire(course, ["instructors"])
    audit.record(actor, "course.instructor.remove", course, user_id=user_id)
