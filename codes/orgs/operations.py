"""Organizations, classrooms, courses and who teaches or leads them.
Every function flushes and never commits."""

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import delete, exists, func, select, update

from .. import audit
from .. import search as text_search
from ..access import OutOfScope
from ..database import CHANGE, DELETE, insert_ignore, lock_present
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..invitations import operations as invitations
from ..joincodes import operations as joincodes
from ..models import (
    Classroom,
    ClassroomCourse,
    ClassroomLeader,
    Code,
    CodeClassroom,
    CodeCourse,
    Course,
    CourseInstructor,
    Invitation,
    Organization,
    OrgMember,
    User,
    folded,
    utcnow,
)
from ..reports import aggregates
from ..seats import operations as seats
from ..timeutil import is_timezone

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
    if not is_timezone(timezone):
        errors["timezone"] = "Choose a time zone from the list, like Europe/Paris."
    if seat_limit is not None and seat_limit < 0:
        errors["seat_limit"] = "The seat limit can't be negative. Leave it empty for unlimited."
    elif seat_limit is not None and seat_limit > seats.MAX_SEATS:
        errors["seat_limit"] = seats.LIMIT_RANGE
    if default_code_days is not None and not 1 <= default_code_days <= 3650:
        errors["default_code_days"] = "Between 1 and 3650 days, or empty for none."
    if errors:
        raise FieldErrors(errors)
    return name


def create_organization(
    actor: User,
    name: str | None,
    timezone: str = "UTC",
    seat_limit: int | None = None,
    default_code_days: int | None = DEFAULT_CODE_DAYS,
) -> Organization:
    """A new organization with the actor as its first admin. New codes last 14
    days unless it says otherwise; None for codes without an end. Its admin is a
    staff role, so the actor's email must be verified."""
    name = _settings(name, timezone, seat_limit, default_code_days)
    if not actor.email_verified:
        raise FieldErrors(
            {
                "name": (
                    "Confirm your email address first (the link we sent you): an organization's admin "
                    "needs a confirmed address."
                )
            }
        )
    org = Organization(
        name=name,
        timezone=timezone,
        seat_limit=seat_limit,
        default_code_days=default_code_days,
        seats_taken=0,
    )
    db.session.add(org)
    db.session.flush()
    db.session.add(OrgMember(org_id=org.id, user_id=actor.id, is_admin=True))
    db.session.flush()
    audit.record(actor, "org.create", org, org_id=org.id, name=name)
    return org


def update_organization(
    actor: User,
    org: Organization,
    name: str | None,
    timezone: str,
    seat_limit: int | None,
    default_code_days: int | None,
) -> Organization:
    """Change settings. The seat limit can't go below the seats already taken
    plus those classroom allotments reserve and have not used."""
    name = _settings(name, timezone, seat_limit, default_code_days)
    # Lock the row so a redemption can't take a seat between the check and the change.
    seats.lock_organization(org.id)
    db.session.refresh(org)
    seats.check_limit(org, seat_limit)
    zone_before = org.timezone
    org.name, org.timezone = name, timezone
    org.default_code_days = default_code_days
    seats.set_limit(org, seat_limit)
    if timezone != zone_before:
        # Every day of its reports moves with the zone (codes.reports.aggregates).
        aggregates.recount(org.id)
    audit.record(actor, "org.update", org, org_id=org.id, seat_limit=seat_limit)
    return org


def create_classroom(actor: User, org: Organization, name: str | None) -> Classroom:
    """A new classroom, with its join code."""
    classroom = Classroom(org_id=org.id, name=_name(name))
    db.session.add(classroom)
    db.session.flush()
    audit.record(actor, "classroom.create", classroom, name=classroom.name)
    joincodes.make_join_code(actor, classroom)
    return classroom


def _lock_to_change(model, row, how=CHANGE):
    """Hold the organization's row, then this classroom's or course's to change
    or delete it (codes.database.lock_present says why in this order). Deleted
    meanwhile, it is answered as not found."""
    lock_present(Organization, [row.org_id])
    if not lock_present(model, [row.id], how):
        raise OutOfScope()


def rename_classroom(actor: User, classroom: Classroom, name: str | None) -> None:
    name = _name(name)
    _lock_to_change(Classroom, classroom)
    classroom.name = name
    db.session.flush()
    audit.record(actor, "classroom.rename", classroom, name=classroom.name)


def _mark_codes_placing_nobody(actor, org_id, now=None):
    """Mark the organization's codes left with no classroom and no course: they
    place nobody, and show as no longer valid. Run after the deletion's flush,
    in a statement of its own, so that on PostgreSQL it also sees a code made
    for the deleted row by a request that committed while the DELETE waited."""
    marked = db.session.scalars(
        update(Code)
        .where(
            Code.org_id == org_id,
            Code.targets_deleted_at.is_(None),
            ~exists().where(CodeClassroom.code_id == Code.id),
            ~exists().where(CodeCourse.code_id == Code.id),
        )
        .values(targets_deleted_at=now or utcnow())
        .returning(Code)
    ).all()
    for code in marked:
        audit.record(actor, "code.no_longer_valid", code, text=code.text)


def _lock_for_deletion(model, row, link, link_column):
    """Lock what deleting a classroom or course changes, in the order every
    other change locks it (codes.database.lock_present): the codes that target
    it, then its organization (which the deletion's audit event refers to),
    then the row itself. A redemption locks its code, then the organization,
    then refers to the classroom; deleting in another order made the two wait
    for each other until PostgreSQL gave one up (503). A row already deleted by
    a request that committed meanwhile is answered as not found."""
    lock_present(Code, db.session.scalars(select(link.code_id).where(link_column == row.id)).all(), CHANGE)
    _lock_to_change(model, row, DELETE)


def delete_classroom(actor: User, classroom: Classroom) -> None:
    """Delete a classroom. Its people stay members of the organization, seats
    are not given back, and enrollments it made stay; codes left with no
    classroom or course, its join code among them, are no longer valid.

    Those codes are marked (codes.status shows them as no longer valid), not
    deactivated: the join code, deactivated apart as it was, showed as
    Deactivated beside its classroom's other codes, and a code given a target
    again on its edit page could not work again. A redemption that read one
    before the deletion fails on the classroom gone and, tried again, is told
    it is no longer valid."""
    org_id = classroom.org_id
    _lock_for_deletion(Classroom, classroom, CodeClassroom, CodeClassroom.classroom_id)
    audit.record(actor, "classroom.delete", classroom, name=classroom.name)
    aggregates.forget_classroom(org_id, classroom.id)
    db.session.delete(classroom)
    db.session.flush()
    _mark_codes_placing_nobody(actor, org_id)


def create_course(actor: User, org: Organization, name: str | None) -> Course:
    course = Course(org_id=org.id, name=_name(name))
    db.session.add(course)
    db.session.flush()
    audit.record(actor, "course.create", course, name=course.name)
    return course


def rename_course(actor: User, course: Course, name: str | None) -> None:
    name = _name(name)
    _lock_to_change(Course, course)
    course.name = name
    db.session.flush()
    audit.record(actor, "course.rename", course, name=course.name)


def delete_course(actor: User, course: Course) -> None:
    """Delete a course. Enrollments go with it; codes left with no classroom or
    course are no longer valid."""
    org_id = course.org_id
    _lock_for_deletion(Course, course, CodeCourse, CodeCourse.course_id)
    audit.record(actor, "course.delete", course, name=course.name)
    db.session.delete(course)
    db.session.flush()
    _mark_codes_placing_nobody(actor, org_id)


def set_classroom_courses(actor: User, classroom: Classroom, course_ids: Collection[int]) -> None:
    """The courses assigned to a classroom: its members' codes enroll them there.
    The classroom and the courses are locked against deletion first, and one
    deleted meanwhile is answered as not there."""
    if not lock_present(Classroom, [classroom.id]):
        raise OutOfScope()
    present = lock_present(Course, course_ids)
    courses = [db.session.get(Course, i) if i in present else None for i in set(course_ids)]
    if any(c is None or c.org_id != classroom.org_id for c in courses):
        # Another organization's course, or none: as if it did not exist (404).
        raise OutOfScope()
    # No None is left in them, which mypy does not follow through any().
    found = cast(list[Course], courses)
    db.session.execute(delete(ClassroomCourse).where(ClassroomCourse.classroom_id == classroom.id))
    db.session.add_all([ClassroomCourse(classroom_id=classroom.id, course_id=c.id) for c in found])
    db.session.flush()
    db.session.expire(classroom, ["courses"])
    audit.record(actor, "classroom.courses", classroom, course_ids=sorted(c.id for c in found))


def organization_staff(org: Organization) -> Sequence[User]:
    """The organization's people who are not students: admins and staff members."""
    return db.session.scalars(
        select(User)
        .join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == org.id, OrgMember.is_student.is_(False))
        .order_by(User.name, User.email_key)
    ).all()


def organization_people(org: Organization) -> Sequence[User]:
    """Everyone with a place in the organization, by name."""
    return db.session.scalars(
        select(User)
        .join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == org.id)
        .order_by(User.name, User.email_key)
    ).all()


PICK_LIMIT = 50  # people a picker lists at once; a search narrows the rest
MAX_PICK_SEARCH = 100


class Candidate(NamedTuple):
    """One person a leader or instructor picker offers, and whether they are
    staff of the organization already (no student there), or in this place's
    staff already."""

    user: User
    staff: bool
    here: bool


def staff_candidates(
    org: Organization, search: str | None, here_ids: Collection[int]
) -> tuple[list[Candidate], int]:
    """The organization's people a picker offers for a staff role, by name, only
    those whose name or email contains `search` (case and accents aside), at
    most PICK_LIMIT of them; and how many matched in all."""
    search = (search or "").strip()[:MAX_PICK_SEARCH]
    query = (
        select(User, OrgMember.is_student)
        .join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == org.id)
    )
    if search:
        wanted = folded(search)
        query = query.where(text_search.contains(User.search_key, wanted))
        query = text_search.read_first(query, User.search_key, wanted, on=User.id)
    total = cast(int, db.session.scalar(select(func.count()).select_from(query.subquery())))
    rows = db.session.execute(query.order_by(OrgMember.name, OrgMember.email_key).limit(PICK_LIMIT)).all()
    return [Candidate(user, not is_student, user.id in here_ids) for user, is_student in rows], total


def _person_of(org, user_id):
    """One of the organization's people; anyone else (another organization's, or
    nobody) is answered as if they did not exist (404), never named in a
    message: the form offers only the organization's people."""
    member = db.session.scalar(
        select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id == user_id)
    )
    if member is None:
        raise OutOfScope()
    return member.user


def invite_person(
    actor: User, org: Organization, email: str | None, now: datetime | None = None
) -> Invitation:
    """Invite an email to be one of the organization's people, so that once they
    accept it they can be named an instructor or group leader. The same answer
    whether or not the email has an account: the organization sees only the
    email it typed until they accept (codes.invitations). Someone who is one of
    its people already is told so, as they are known to it."""
    email = (email or "").strip()
    if invitations.is_member(org, email):
        raise FieldErrors({"email": f"{email} is already one of {org.name}'s people."})
    return invitations.invite(actor, org, email, now=now)


def _verified_for_staff(user):
    # Staff roles go only to accounts whose email is verified (DESIGN.md).
    if not user.email_verified:
        raise FieldErrors(
            {
                "user_id": (
                    f"{user.name} has not confirmed their email address yet: staff roles go only to "
                    f"confirmed addresses. Ask them to confirm it, then try again."
                )
            }
        )


def set_admin(actor: User, org: Organization, user_id: int, admin: bool) -> None:
    member = db.session.scalar(
        select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id == user_id)
    )
    if member is None:
        raise FieldErrors({"user_id": "Choose one of the organization's people."})
    if not admin and member.user_id == actor.id:
        raise DomainError("You can't remove your own admin role.")
    if admin:
        _verified_for_staff(member.user)
    member.is_admin = bool(admin)
    db.session.flush()
    audit.record(actor, "member.admin" if admin else "member.unadmin", member.user, org_id=org.id)


# How a place's staff are linked: the link's column naming the place, the place's
# relationship to them, and the audit events' name.
_STAFF: dict[type, tuple[str, str, str]] = {
    ClassroomLeader: ("classroom_id", "leaders", "classroom.leader"),
    CourseInstructor: ("course_id", "instructors", "course.instructor"),
}


def _add_staff(actor: User, place: Classroom | Course, user_id: int, link: Any) -> tuple[User, bool]:
    """One of the organization's people (confirmed) made staff of a place
    through `link` (ClassroomLeader, CourseInstructor). Returns them and whether
    they were not already: who is one already is left as they are, and no event
    is written."""
    user = _person_of(place.organization, user_id)
    _verified_for_staff(user)
    column, relation, event = _STAFF[link]
    place_id = getattr(link, column)
    added = (
        db.session.scalar(select(link.user_id).where(place_id == place.id, link.user_id == user.id)) is None
    )
    insert_ignore(db.session, link, [{column: place.id, "user_id": user.id}])
    db.session.expire(place, [relation])
    if added:
        audit.record(actor, f"{event}.add", place, user_id=user.id)
    return user, added


def _remove_staff(actor: User, place: Classroom | Course, user_id: int, link: Any) -> User | None:
    """Staff taken off a place. Returns whom, or None if they were not."""
    column, relation, event = _STAFF[link]
    place_id = getattr(link, column)
    removed = db.session.scalar(
        delete(link).where(place_id == place.id, link.user_id == user_id).returning(link.user_id)
    )
    db.session.expire(place, [relation])
    audit.record(actor, f"{event}.remove", place, user_id=user_id)
    return db.session.get(User, removed) if removed is not None else None


def add_leader(actor: User, classroom: Classroom, user_id: int) -> tuple[User, bool]:
    """Make one of the organization's people a leader of the classroom."""
    return _add_staff(actor, classroom, user_id, ClassroomLeader)


def remove_leader(actor: User, classroom: Classroom, user_id: int) -> User | None:
    """Take a leader off the classroom. Returns whom, or None if they led it not."""
    return _remove_staff(actor, classroom, user_id, ClassroomLeader)


def add_instructor(actor: User, course: Course, user_id: int) -> tuple[User, bool]:
    """Make one of the organization's people an instructor of the course."""
    return _add_staff(actor, course, user_id, CourseInstructor)


def remove_instructor(actor: User, course: Course, user_id: int) -> User | None:
    """Take an instructor off the course. Returns whom, or None if they taught it not."""
    return _remove_staff(actor, course, user_id, CourseInstructor)
