"""Redeeming a code: one transaction that re-checks the code, counts the use, takes
the seat if the person is new to the organization, and writes the redemption,
memberships, enrollments and the audit event (DESIGN.md "Redeeming")."""
import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, exists, func, literal_column, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload

from .. import audit, database, status
from ..codetext import MAX_TYPED, canonical
from ..database import begin_writing, insert_ignore
from ..errors import DomainError
from ..extensions import db
from ..models import (
    REPLACED,
    ROLE_TEACHER,
    AuditEvent,
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
    OrgMember,
    ParentCode,
    Redemption,
    utcnow,
)
from ..seats import operations as seats
from ..timeutil import format_local

UNKNOWN = "unknown"
INVALID = "invalid"
INACTIVE = "inactive"
USED_UP = "used"
DOMAIN = "domain"
NO_SEATS = "no_seats"
LIMITED = "limited"
OK = "ok"
ALREADY = "already"
PARENT_CODE = "parent_code"

# Outcomes that say nothing true about a code a person was given: the ones a
# guesser produces, and the ones the attempt limits count.
GUESS_OUTCOMES = (UNKNOWN, INVALID)


class RedeemRefused(DomainError):
    def __init__(self, outcome, message, code=None):
        super().__init__(message, field="code")
        self.outcome = outcome
        self.code = code


@dataclass
class Redeemed:
    code: Code
    already: bool
    took_seat: bool = False
    classrooms: list = field(default_factory=list)
    courses: list = field(default_factory=list)

    @property
    def outcome(self):
        return ALREADY if self.already else OK

    @property
    def places(self):
        names = [c.name for c in self.classrooms] + [c.name for c in self.courses]
        return ", ".join(names) or self.code.organization.name

    @property
    def message(self):
        if self.already:
            return f"You're already in {self.places}."
        if self.code.role == ROLE_TEACHER:
            return f"You now teach {self.places}."
        return f"You joined {self.places}."


class AuditTrailCounter:
    """Failed attempts counted from the audit trail in the app's own database,
    which every server worker shares: the default store."""

    def wait(self, user, ip, limits, now):
        return wait_needed(user, ip, limits, now)

    def count_failure(self, user, ip, limits):
        """Nothing to add: the attempt's audit event is the count."""


AUDIT_TRAIL = AuditTrailCounter()


@dataclass(frozen=True)
class AttemptLimits:
    """How many failed attempts an account, and separately an address, may make
    within the window before it must wait, and where they are counted."""

    per_account: int = 10
    per_address: int = 30
    window: timedelta = timedelta(minutes=15)
    counter: object = AUDIT_TRAIL


def _refusal_for_status(code, now):
    org = code.organization
    state = status.code_status(code, now)
    if state == status.DEACTIVATED and code.deactivated_reason == REPLACED:
        return RedeemRefused(
            INVALID,
            "That code is no longer valid: it was replaced by a new one. Ask whoever gave it "
            "to you for the new code.",
            code,
        )
    if state == status.DEACTIVATED:
        return RedeemRefused(
            INVALID,
            "That code is no longer valid. Ask whoever gave it to you for a new one.",
            code,
        )
    if state == status.EXPIRED:
        return RedeemRefused(
            INACTIVE,
            f"That code is not active any more: it expired on "
            f"{format_local(org, code.valid_until)}. Ask whoever gave it to you for a new one.",
            code,
        )
    if state == status.USED:
        return RedeemRefused(
            USED_UP,
            "That code has reached its limit of uses. Ask whoever gave it to you for another.",
            code,
        )
    if state == status.OFF:
        return RedeemRefused(
            INACTIVE,
            "That code is not active right now. Ask whoever gave it to you when it will be.",
            code,
        )
    if state == status.SCHEDULED:
        return RedeemRefused(
            INACTIVE,
            f"That code is not active yet. It opens on {format_local(org, code.valid_from)}.",
            code,
        )
    return None


def _check_domain(user, code):
    domains = code.domains
    if not domains:
        return
    needed = " or ".join("@" + d for d in domains)
    if user.email_domain not in domains:
        raise RedeemRefused(
            DOMAIN,
            f"This code is only for email addresses ending in {needed}. "
            f"Sign in with such an address to use it.",
            code,
        )
    if not user.email_verified:
        raise RedeemRefused(
            DOMAIN,
            f"This code is only for verified {needed} addresses. Verify your email "
            f"address with the link we sent you, then enter the code again.",
            code,
        )


_NEW_STUDENT = OrgMember.__table__.insert().values(is_student=True, took_seat=True)
_NOW_A_STUDENT = (
    OrgMember.__table__.update()
    .where(OrgMember.org_id == bindparam("m_org_id"), OrgMember.user_id == bindparam("m_user_id"))
    .values(is_student=True, took_seat=True)
)


def take_seat(user, org, classroom_ids=()):
    """Make the person a student member, taking one seat the first time only,
    as a code (or a roster) that places them in `classroom_ids` does.

    The seat comes from the allotment of those classrooms, or else from the
    free pool (codes.seats.operations.take_one and docs/SEATS.md say which).
    The organization's row is locked first (FOR UPDATE on PostgreSQL; SQLite's
    BEGIN IMMEDIATE already serializes writers), then membership and the seat
    figures are read again, so two codes redeemed at once by one person never
    take two seats, and no limit or allotment is ever passed. Raises
    RedeemRefused when no seat is left; the caller rolls back."""
    locked = seats.lock_organization(org.id)
    figures = seats.seat_figures(org.id, user.id, classroom_ids)
    if figures.member:
        return False
    try:
        seats.take_one(org, locked, figures)
    except seats.NoSeatLeft as no_seat:
        raise RedeemRefused(NO_SEATS, no_seat.message) from None
    # Core statements built once: nothing here reads the membership back as an
    # object, so the unit of work has nothing to track.
    if figures.member is None:
        database.execute(_NEW_STUDENT, {"org_id": org.id, "user_id": user.id})
    else:
        database.execute(_NOW_A_STUDENT, {"m_org_id": org.id, "m_user_id": user.id})
    return True


_COUNT_USE = (
    update(Code)
    .where(
        Code.id == bindparam("code_id"),
        Code.deactivated_at.is_(None),
        Code.deleted_at.is_(None),
        Code.enabled.is_(True),
        or_(Code.valid_from.is_(None), Code.valid_from <= bindparam("now")),
        or_(Code.valid_until.is_(None), Code.valid_until >= bindparam("now")),
        or_(Code.max_uses.is_(None), Code.uses < Code.max_uses),
    )
    .values(uses=Code.uses + 1)
    .execution_options(synchronize_session=False)
)


def _count_use(code, now):
    """Count one use, re-checking every limit in the UPDATE itself: on PostgreSQL
    a second writer waits for the first and re-evaluates the WHERE on the new
    row, so exactly max_uses requests win."""
    counted = database.execute(_COUNT_USE, {"code_id": code.id, "now": now}).rowcount
    if counted != 1:
        db.session.refresh(code)
        raise _refusal_for_status(code, now) or RedeemRefused(
            USED_UP, "That code has reached its limit of uses."
        )


def _place(user, found):
    """Put the person where the code says; returns the courses it enrolls them in
    (the code's own and, for a student, those of its classrooms), by name."""
    code = found.code
    classroom_ids = [c.id for c in found.classrooms]
    courses = {c.id: c for c in found.courses}
    if code.role == ROLE_TEACHER:
        insert_ignore(db.session, ClassroomLeader,
                      [{"classroom_id": cid, "user_id": user.id} for cid in classroom_ids])
        insert_ignore(db.session, CourseInstructor,
                      [{"course_id": cid, "user_id": user.id} for cid in sorted(courses)])
        insert_ignore(db.session, OrgMember, [{"org_id": code.org_id, "user_id": user.id}])
        return _by_name(courses)
    courses.update((c.id, c) for c in found.classroom_courses)
    insert_ignore(db.session, ClassroomMember,
                  [{"classroom_id": cid, "user_id": user.id} for cid in classroom_ids])
    insert_ignore(db.session, Enrollment,
                  [{"course_id": cid, "user_id": user.id} for cid in sorted(courses)])
    return _by_name(courses)


_FIND_CODE = select(Code).where(Code.key == bindparam("key"))


def find_code(text):
    """The code a typed text names, deleted ones included, or None."""
    key = _key(text)
    return db.session.scalar(_FIND_CODE, {"key": key}) if key else None


def _key(text):
    return canonical(text) if len(text or "") <= MAX_TYPED else ""


class Place(NamedTuple):
    """A classroom or course a code leads to, as redeeming reads it."""
    id: int
    name: str


@dataclass(frozen=True)
class Found:
    """The code a person typed (None if no code has that text), whether they have
    redeemed it before, and where it leads, each list by name: its classrooms,
    its own courses, and the courses of its classrooms."""
    code: Code | None
    already: bool = False
    classrooms: tuple = ()
    courses: tuple = ()
    classroom_courses: tuple = ()


_ROOM_COURSE = aliased(Course)
_OWN_COURSE = aliased(Course)
# The code, its organization, whether this person redeemed it before, and
# where it leads, in one statement: one row for each classroom x classroom
# course x own course (a handful), the places read as plain columns. Loading
# the classrooms and courses as objects, with their collections, took three
# times as long.
_FIND_CODE_TO_REDEEM = (
    select(
        Code,
        exists().where(Redemption.code_id == Code.id,
                       Redemption.user_id == bindparam("user_id")).label("already"),
        Classroom.id.label("classroom_id"), Classroom.name.label("classroom_name"),
        _ROOM_COURSE.id.label("room_course_id"), _ROOM_COURSE.name.label("room_course_name"),
        _OWN_COURSE.id.label("own_course_id"), _OWN_COURSE.name.label("own_course_name"),
    )
    .outerjoin(CodeClassroom, CodeClassroom.code_id == Code.id)
    .outerjoin(Classroom, Classroom.id == CodeClassroom.classroom_id)
    .outerjoin(ClassroomCourse, ClassroomCourse.classroom_id == Classroom.id)
    .outerjoin(_ROOM_COURSE, _ROOM_COURSE.id == ClassroomCourse.course_id)
    .outerjoin(CodeCourse, CodeCourse.code_id == Code.id)
    .outerjoin(_OWN_COURSE, _OWN_COURSE.id == CodeCourse.course_id)
    .where(Code.key == bindparam("key"))
    .options(joinedload(Code.organization))
)


def _by_name(places):
    return tuple(sorted(places.values(), key=lambda p: (p.name, p.id)))


def find_to_redeem(text, user):
    """The code a typed text names, deleted ones included, with what redeeming
    reads of it (Found)."""
    key = _key(text)
    rows = db.session.execute(
        _FIND_CODE_TO_REDEEM, {"key": key, "user_id": user.id}).all() if key else []
    if not rows:
        return Found(None)
    classrooms, courses, classroom_courses = {}, {}, {}
    for row in rows:
        for places, place_id, name in ((classrooms, row.classroom_id, row.classroom_name),
                                       (classroom_courses, row.room_course_id, row.room_course_name),
                                       (courses, row.own_course_id, row.own_course_name)):
            if place_id is not None:
                places[place_id] = Place(place_id, name)
    return Found(rows[0][0], bool(rows[0].already), _by_name(classrooms), _by_name(courses),
                 _by_name(classroom_courses))


def is_parent_code(text):
    """Whether the text is a parent code (codes.parents), which this box does not take."""
    key = _key(text)
    return bool(key) and db.session.scalar(
        select(ParentCode.id).where(ParentCode.key == key)) is not None


_NEW_REDEMPTION = Redemption.__table__.insert()


def redeem(user, text, now=None):
    """Redeem a typed code for a person, whole or not at all (redeem_code)."""
    return redeem_code(user, find_to_redeem(text, user), text, now)


def redeem_code(user, found, text, now=None):
    """Redeem the code a person typed (`found`, by find_to_redeem), whole or not
    at all.

    Keeps: never more redemptions than max uses; never more seats than the
    organization's limit; one seat per person per organization whatever codes
    they redeem; a second redemption of one code counts nothing. Each is checked
    again by the writes themselves, so the code may have been read before the
    transaction began writing. Raises RedeemRefused with the message the person
    should read."""
    now = now or utcnow()
    code = found.code
    if code is None:
        if is_parent_code(text):
            raise RedeemRefused(PARENT_CODE, (
                "That's a parent code: enter it on the parents page, where it links a parent "
                "to their child."))
        raise RedeemRefused(UNKNOWN, "We don't recognize that code. Check it and try again.")
    if code.deleted_at is not None or not (found.classrooms or found.courses):
        # A code whose classrooms and courses were all deleted leads nowhere.
        raise RedeemRefused(
            INVALID,
            "That code is no longer valid. Ask whoever gave it to you for a new one.",
            code,
        )
    if found.already:
        return Redeemed(code, already=True, classrooms=found.classrooms, courses=found.courses)
    refusal = _refusal_for_status(code, now)
    if refusal is not None:
        raise refusal
    _check_domain(user, code)
    _count_use(code, now)
    took_seat = False
    if code.role != ROLE_TEACHER:
        took_seat = take_seat(user, code.organization, [c.id for c in found.classrooms])
    courses = _place(user, found)
    # Core, as in take_seat: the redemption is not read back as an object. A
    # parallel redemption of the same code by the same person fails here, on
    # the unique key, as it did when flushed (attempt_redeem retries).
    database.execute(_NEW_REDEMPTION, {"code_id": code.id, "user_id": user.id,
                                       "org_id": code.org_id, "took_seat": took_seat,
                                       "created_at": now})
    return Redeemed(code, already=False, took_seat=took_seat,
                    classrooms=found.classrooms, courses=courses)


def _failed_attempts(tag, condition):
    return select(literal_column(str(tag)), func.count(), func.min(AuditEvent.created_at)).where(
        AuditEvent.action.in_([f"redeem.{o}" for o in GUESS_OUTCOMES]),
        AuditEvent.created_at > bindparam("since"),
        condition,
    )


# Failed attempts per account (tag 0) and per address (tag 1), each count in one
# branch of a UNION ALL, so one statement answers both and each branch still
# reads its own index (actor or address, then action and time), which one WHERE
# joining the two with OR might not. The tag names a row: UNION ALL promises no
# order. Built once, by which of the two are asked for, as building them (and
# their cache keys) on every attempt cost more than running them.
_BY_ACCOUNT = _failed_attempts(0, AuditEvent.actor_id == bindparam("user_id"))
_BY_ADDRESS = _failed_attempts(1, AuditEvent.ip == bindparam("ip"))
_FAILED_ATTEMPTS = {
    (True, True): union_all(_BY_ACCOUNT, _BY_ADDRESS),
    (True, False): union_all(_BY_ACCOUNT),
    (False, True): union_all(_BY_ADDRESS),
}


def wait_needed(user, ip, limits, now=None):
    """How long this account or address must wait before trying again (a
    timedelta), or None. Failed attempts are counted per account and, apart,
    per address, from the audit trail every server worker shares. With no user
    (an account being made by sign-up), per address only."""
    now = now or utcnow()
    if user is None and not ip:
        return None
    counted = database.execute(
        _FAILED_ATTEMPTS[user is not None, bool(ip)],
        {"since": now - limits.window, "user_id": user.id if user is not None else None, "ip": ip},
    )
    limit = {0: limits.per_account, 1: limits.per_address}
    waits = [oldest + limits.window - now for tag, count, oldest in counted if count >= limit[tag]]
    return max(waits) if waits else None


def describe_wait(wait):
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many codes that didn't work. Wait {minutes} {unit}, then try again."


def attempt_redeem(user, text, limits, now=None):
    """A person's attempt to redeem, as the code box makes it: refused while the
    account or address must wait; otherwise redeemed in a savepoint, so a
    refusal leaves nothing but its audit event. Every attempt is audited."""
    now = now or utcnow()
    key = canonical(text)[:MAX_TYPED]
    ip = audit.client_address()
    wait = limits.counter.wait(user, ip, limits, now)
    # Found before the transaction begins writing: on SQLite, the fewer reads
    # under the one write lock, the more redemptions a second (database.reads_first).
    found = find_to_redeem(text, user) if wait is None else Found(find_code(text))
    begin_writing(db.session)
    if wait is not None:
        # Named with the code it was aimed at, if any, so that code's staff see
        # someone held back still trying it.
        code = found.code
        audit.insert(user, f"redeem.{LIMITED}", code, org_id=code.org_id if code else None,
                     at=now, key=key)
        raise RedeemRefused(LIMITED, describe_wait(wait))
    for retry in (False, True):
        try:
            with db.session.begin_nested():
                # A retry finds the code again: the savepoint's rollback expired it.
                result = redeem(user, text, now) if retry else redeem_code(user, found, text, now)
            break
        except RedeemRefused as refusal:
            code = refusal.code
            audit.insert(user, f"redeem.{refusal.outcome}", code,
                         org_id=code.org_id if code else None, at=now, key=key)
            if refusal.outcome in GUESS_OUTCOMES:
                limits.counter.count_failure(user, ip, limits)
            raise
        except IntegrityError:
            # The same person redeemed the same code in a parallel request that
            # committed first; the second try finds it and counts nothing.
            if retry:
                raise
    audit.insert(user, f"redeem.{result.outcome}", result.code, at=now, key=key,
                 took_seat=result.took_seat)
    return result
