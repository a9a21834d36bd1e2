"""Redeeming a code: one transaction that re-checks the code, counts the use, takes
the seat if the person is new to the organization, and writes the redemption,
memberships, enrollments and the audit event (DESIGN.md "Redeeming")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, cast

from flask import current_app
from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload

from .. import attempts, audit, database, duration, status
from ..codetext import MAX_TYPED, canonical
from ..database import begin_writing, insert_ignore
from ..errors import DomainError
from ..extensions import db
from ..models import DECLINED as REQUEST_DECLINED
from ..models import PENDING as REQUEST_PENDING
from ..models import REFUSED as REQUEST_REFUSED
from ..models import (
    REPLACED,
    ROLE_TEACHER,
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
    JoinRequest,
    OrgMember,
    ParentCode,
    Redemption,
    RetiredKey,
    User,
    utcnow,
)
from ..notifications import alerts
from ..reports import aggregates
from ..seats import operations as seats
from ..timeutil import format_local
from . import leakguard

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
LEFT = "left"
UNVERIFIED = "unverified"
REQUESTED = "requested"
DECLINED = "declined"

# Outcomes that say nothing true about a code a person was given: the ones a
# guesser produces, and the ones the attempt limits count.
GUESS_OUTCOMES = (UNKNOWN, INVALID)
# Outcomes of an attempt that worked: every other one failed.
SUCCESS_OUTCOMES = (OK, ALREADY, REQUESTED)


class RedeemRefused(DomainError):
    def __init__(self, outcome: str, message: str, code: Code | None = None) -> None:
        super().__init__(message, field="code")
        self.outcome = outcome
        self.code = code


@dataclass
class Redeemed:
    code: Code
    already: bool
    took_seat: bool = False
    classrooms: Sequence[Place] = field(default_factory=list)
    courses: Sequence[Place] = field(default_factory=list)
    # The code is in approval mode: a request waits for its staff (pending),
    # made now or before (asked_before); nothing is counted yet.
    pending: bool = False
    asked_before: bool = False

    @property
    def outcome(self) -> str:
        if self.pending:
            return REQUESTED
        return ALREADY if self.already else OK

    @property
    def places(self) -> str:
        names = [c.name for c in self.classrooms] + [c.name for c in self.courses]
        return ", ".join(names) or self.code.organization.name

    @property
    def message(self) -> str:
        if self.asked_before:
            return f"You asked to join {self.places} already: your request is waiting for approval."
        if self.pending:
            return (
                f"Your request to join {self.places} is waiting for approval by its staff. "
                f"Your profile will say when they answer."
            )
        if self.already and self.code.role == ROLE_TEACHER:
            return f"You already teach {self.places}."
        if self.already:
            return f"You're already in {self.places}."
        if self.code.role == ROLE_TEACHER:
            return f"You now teach {self.places}."
        return f"You joined {self.places}."


def refusal_for_status(code: Code, now: datetime) -> RedeemRefused | None:
    org = code.organization
    state = status.code_status(code, now)
    if state == status.DEACTIVATED and code.deactivated_reason == REPLACED:
        return RedeemRefused(
            INVALID,
            "That code is no longer valid: it was replaced by a new one. Ask whoever gave it "
            "to you for the new code.",
            code,
        )
    if state in (status.DEACTIVATED, status.NO_LONGER_VALID):
        return RedeemRefused(
            INVALID, "That code is no longer valid. Ask whoever gave it to you for a new one.", code
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
            USED_UP, "That code has reached its limit of uses. Ask whoever gave it to you for another.", code
        )
    if state == status.OFF:
        return RedeemRefused(
            INACTIVE, "That code is not active right now. Ask whoever gave it to you when it will be.", code
        )
    if state == status.SCHEDULED:
        return RedeemRefused(
            INACTIVE,
            f"That code is not active yet. It opens on {format_local(org, code.valid_from, with_zone=True)}.",
            code,
        )
    return None


def domain_refusal(code: Code, email_domain: str) -> RedeemRefused | None:
    """The refusal for an email whose domain the code's rule does not allow, or None."""
    domains = code.domains
    if not domains or email_domain in domains:
        return None
    needed = " or ".join("@" + d for d in domains)
    return RedeemRefused(
        DOMAIN,
        f"This code is only for email addresses ending in {needed}. Sign in with such an address to use it.",
        code,
    )


def _check_domain(user, code):
    refusal = domain_refusal(code, user.email_domain)
    if refusal is not None:
        raise refusal
    if not code.domains:
        return
    needed = " or ".join("@" + d for d in code.domains)
    if not user.email_verified:
        raise RedeemRefused(
            DOMAIN,
            f"This code is only for verified {needed} addresses. Verify your email "
            f"address with the link we sent you, then enter the code again.",
            code,
        )


_COUNT_USE = (
    update(Code)
    .where(
        Code.id == bindparam("code_id"), Code.deleted_at.is_(None), status.sql_redeemable(bindparam("now"))
    )
    .values(uses=Code.uses + 1)
    .returning(Code.uses, Code.max_uses)
    .execution_options(synchronize_session=False)
)
# The same for a person's own redemption: only while the code is not in
# approval mode, which the leak guard may switch on at any moment.
_COUNT_DIRECT_USE = _COUNT_USE.where(status.sql_joins_directly())


def count_use(code, now, directly=False):
    """Count one use, re-checking every limit in the UPDATE itself: on PostgreSQL
    a second writer waits for the first and re-evaluates the WHERE on the new
    row, so exactly max_uses requests win. `directly`, for a person's own
    redemption, also asks that the code not be in approval mode: returns False
    when it was switched to it meanwhile (nothing counted). The UPDATE holds the
    code's row until the transaction ends. The count it reads back is the row's
    as this writer left it, so exactly one use crosses 80% and 100% of max uses,
    and that one queues the alert (codes.notifications.alerts)."""
    statement = _COUNT_DIRECT_USE if directly else _COUNT_USE
    counted = database.execute(statement, {"code_id": code.id, "now": now}).first()
    if counted is None:
        db.session.refresh(code)
        refusal = refusal_for_status(code, now)
        if refusal is not None:
            raise refusal
        if directly and code.approval:
            return False
        raise RedeemRefused(USED_UP, "That code has reached its limit of uses.")
    uses, max_uses = counted
    alerts.code_changed(code, uses - 1, max_uses, uses, max_uses)
    return True


def _place(user, found, now):
    """Put the person where the code says; returns the courses it enrolls them in
    (the code's own and, for a student, those of its classrooms), by name. A
    student's membership ends when the code's duration says (codes.duration)."""
    code = found.code
    classroom_ids = [c.id for c in found.classrooms]
    courses = {c.id: c for c in found.courses}
    if code.role == ROLE_TEACHER:
        insert_ignore(
            db.session, ClassroomLeader, [{"classroom_id": cid, "user_id": user.id} for cid in classroom_ids]
        )
        insert_ignore(
            db.session, CourseInstructor, [{"course_id": cid, "user_id": user.id} for cid in sorted(courses)]
        )
        insert_ignore(db.session, OrgMember, [{"org_id": code.org_id, "user_id": user.id}])
        return _by_name(courses)
    courses.update((c.id, c) for c in found.classroom_courses)
    end = duration.end_for(code, now)
    insert_ignore(
        db.session,
        ClassroomMember,
        [{"classroom_id": cid, "user_id": user.id, "ends_at": end} for cid in classroom_ids],
    )
    duration.set_ends(user.id, classroom_ids, end)
    insert_ignore(db.session, Enrollment, [{"course_id": cid, "user_id": user.id} for cid in sorted(courses)])
    return _by_name(courses)


_FIND_CODE = select(Code).where(Code.key == bindparam("key"))


def find_code(text: str | None) -> Code | None:
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
    redeemed it before, where it leads, each list by name (its classrooms, its own
    courses, and the courses of its classrooms), and which of those places the
    person is not in now (for a teacher code: does not lead or teach)."""

    code: Code | None
    already: bool = False
    classrooms: tuple[Place, ...] = ()
    courses: tuple[Place, ...] = ()
    classroom_courses: tuple[Place, ...] = ()
    missing: tuple[Place, ...] = ()
    # What became of the person's request to join through this code, if any
    # (codes.models PENDING, DECLINED, ...).
    request_state: str | None = None


_ROOM_COURSE = aliased(Course)
_OWN_COURSE = aliased(Course)


def _holds(model, column, place):
    return exists().where(column == place, model.user_id == bindparam("user_id"))


# The code, its organization, whether this person redeemed it before, where it
# leads, and whether the person is in each place already, in one statement: one
# row for each classroom x classroom course x own course (a handful), the places
# read as plain columns. Loading the classrooms and courses as objects, with
# their collections, took three times as long.
_FIND_CODE_TO_REDEEM = (
    select(
        Code,
        exists()
        .where(Redemption.code_id == Code.id, Redemption.user_id == bindparam("user_id"))
        .label("already"),
        select(JoinRequest.state)
        .where(JoinRequest.code_id == Code.id, JoinRequest.user_id == bindparam("user_id"))
        .scalar_subquery()
        .label("request_state"),
        Classroom.id.label("classroom_id"),
        Classroom.name.label("classroom_name"),
        _ROOM_COURSE.id.label("room_course_id"),
        _ROOM_COURSE.name.label("room_course_name"),
        _OWN_COURSE.id.label("own_course_id"),
        _OWN_COURSE.name.label("own_course_name"),
        _holds(ClassroomMember, ClassroomMember.classroom_id, Classroom.id).label("in_classroom"),
        _holds(ClassroomLeader, ClassroomLeader.classroom_id, Classroom.id).label("leads_classroom"),
        _holds(Enrollment, Enrollment.course_id, _ROOM_COURSE.id).label("in_room_course"),
        _holds(Enrollment, Enrollment.course_id, _OWN_COURSE.id).label("in_own_course"),
        _holds(CourseInstructor, CourseInstructor.course_id, _OWN_COURSE.id).label("teaches_own_course"),
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


def find_to_redeem(text: str | None, user: User) -> Found:
    """The code a typed text names, deleted ones included, with what redeeming
    reads of it (Found)."""
    return _found(_key(text), user)


def found_afresh(code: Code, user: User) -> Found:
    """What redeeming reads of a code for a person, read again now, the code's
    own columns too (accepting a request long after it was made)."""
    return _found(code.key, user, fresh=True)


def _found(key, user, fresh=False):
    options = {"populate_existing": True} if fresh else {}
    rows = (
        db.session.execute(
            _FIND_CODE_TO_REDEEM, {"key": key, "user_id": user.id}, execution_options=options
        ).all()
        if key
        else []
    )
    if not rows:
        return Found(None)
    teacher = rows[0][0].role == ROLE_TEACHER
    classrooms: dict[int, Place] = {}
    courses: dict[int, Place] = {}
    classroom_courses: dict[int, Place] = {}
    missing: dict[tuple[str, int], Place] = {}
    for row in rows:
        places = [
            (
                classrooms,
                "c",
                row.classroom_id,
                row.classroom_name,
                row.leads_classroom if teacher else row.in_classroom,
            ),
            (
                courses,
                "o",
                row.own_course_id,
                row.own_course_name,
                row.teaches_own_course if teacher else row.in_own_course,
            ),
        ]
        if not teacher:
            # A teacher code makes its holder teach the code's own courses only.
            places.append(
                (classroom_courses, "o", row.room_course_id, row.room_course_name, row.in_room_course)
            )
        for found, kind, place_id, name, held in places:
            if place_id is not None:
                found[place_id] = Place(place_id, name)
                if not held:
                    missing[kind, place_id] = Place(place_id, name)
    return Found(
        rows[0][0],
        bool(rows[0].already),
        _by_name(classrooms),
        _by_name(courses),
        _by_name(classroom_courses),
        _by_name(missing),
        rows[0].request_state,
    )


def rotated_code(text: str | None) -> Code | None:
    """The code whose text this was before it was rotated, or None."""
    key = _key(text)
    if not key:
        return None
    return db.session.scalar(
        select(Code).join(RetiredKey, RetiredKey.code_id == Code.id).where(RetiredKey.key == key)
    )


ROTATED = (
    "That code is no longer valid: it was replaced by a new one. Ask whoever gave it to you for the new code."
)


def is_parent_code(text: str | None) -> bool:
    """Whether the text is a parent code (codes.parents), which this box does not take."""
    key = _key(text)
    return bool(key) and db.session.scalar(select(ParentCode.id).where(ParentCode.key == key)) is not None


_NEW_REDEMPTION = Redemption.__table__.insert()


def redeem(user: User, text: str | None, now: datetime | None = None) -> Redeemed:
    """Redeem a typed code for a person, whole or not at all (redeem_code)."""
    return redeem_code(user, find_to_redeem(text, user), text, now)


def redeem_code(user: User, found: Found, text: str | None, now: datetime | None = None) -> Redeemed:
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
            raise RedeemRefused(
                PARENT_CODE,
                (
                    "That's a parent code: enter it on the parents page, where it links a parent "
                    "to their child."
                ),
            )
        rotated = rotated_code(text)
        if rotated is not None:
            raise RedeemRefused(INVALID, ROTATED, rotated)
        raise RedeemRefused(UNKNOWN, "We don't recognize that code. Check it and try again.")
    if code.deleted_at is not None or not (found.classrooms or found.courses):
        # A code whose classrooms and courses were all deleted leads nowhere.
        raise RedeemRefused(
            INVALID, "That code is no longer valid. Ask whoever gave it to you for a new one.", code
        )
    if found.already and found.missing:
        names = ", ".join(p.name for p in found.missing)
        raise RedeemRefused(
            LEFT,
            (
                f"You used this code before, and you are no longer in {names}: whoever runs it took "
                f"you out or moved you. The code does not put you back; ask them if you should be "
                f"in it again."
            ),
            code,
        )
    if found.already or not found.missing:
        # Nothing to give that they lack: no use and no seat are counted.
        return Redeemed(code, already=True, classrooms=found.classrooms, courses=found.courses)
    if found.request_state == REQUEST_PENDING:
        return Redeemed(
            code,
            already=False,
            pending=True,
            asked_before=True,
            classrooms=found.classrooms,
            courses=found.courses,
        )
    if found.request_state == REQUEST_DECLINED:
        raise RedeemRefused(
            DECLINED,
            (
                f"The staff of {code.organization.name} declined your request to join through this code. "
                f"Ask whoever gave it to you if you should be in it."
            ),
            code,
        )
    check_may_join(user, code, now)
    if not code.approval and leakguard.unexpected_domain(code, user):
        leakguard.switch_to_approval(code, leakguard.Spike(leakguard.SPIKE_DOMAIN, now), now)
    if code.approval or not count_use(code, now, directly=True):
        return ask_to_join(user, found, now)
    if code.hourly_limit is not None or code.surge_guard:
        # The code's row is held (the UPDATE above): every earlier redemption of
        # it has committed, and every later one waits, so the counts are exact.
        spike = leakguard.rate_spike(code, now)
        if spike is not None:
            leakguard.switch_to_approval(code, spike, now, give_back_use=True)
            return ask_to_join(user, found, now)
    return join(user, found, now)


def check_may_join(user: User, code: Code, now: datetime) -> None:
    """The code's status, its email-domain rule and, for a teacher code, a
    verified address: what a redemption checks before counting anything, and an
    acceptance checks again. Raises RedeemRefused."""
    refusal = refusal_for_status(code, now)
    if refusal is not None:
        raise refusal
    _check_domain(user, code)
    if code.role == ROLE_TEACHER and not user.email_verified:
        # Staff roles go only to accounts whose email is verified (DESIGN.md).
        raise RedeemRefused(
            UNVERIFIED,
            (
                "Teacher codes are for confirmed email addresses. Confirm yours with the link we "
                "sent you, then enter the code again."
            ),
            code,
        )


_ASK_AGAIN = (
    JoinRequest.__table__.update()
    .where(
        JoinRequest.code_id == bindparam("r_code_id"),
        JoinRequest.user_id == bindparam("r_user_id"),
        JoinRequest.state == REQUEST_REFUSED,
    )
    .values(
        state=REQUEST_PENDING, created_at=bindparam("r_now"), decided_at=None, decided_by_id=None, reason=""
    )
)


def ask_to_join(user: User, found: Found, now: datetime) -> Redeemed:
    """A redemption of a code in approval mode: a request waits for the code's
    staff, and nothing is counted. One request per code and person (its unique
    key): a request made at the same moment by the same person is the same
    request; one that could not be accepted before waits again."""
    code = cast(Code, found.code)
    if found.request_state == REQUEST_REFUSED:
        database.execute(_ASK_AGAIN, {"r_code_id": code.id, "r_user_id": user.id, "r_now": now})
    else:
        insert_ignore(
            db.session,
            JoinRequest,
            [
                {
                    "code_id": code.id,
                    "user_id": user.id,
                    "org_id": code.org_id,
                    "state": REQUEST_PENDING,
                    "created_at": now,
                    "reason": "",
                }
            ],
        )
    return Redeemed(code, already=False, pending=True, classrooms=found.classrooms, courses=found.courses)


def join(user: User, found: Found, now: datetime, through_request: bool = False) -> Redeemed:
    """Once the use is counted: take the seat if the person is new, place them
    and write the redemption. The end of every redemption, a person's own or
    an accepted request (`through_request`)."""
    code = cast(Code, found.code)
    took_seat = False
    if code.role != ROLE_TEACHER:
        try:
            took_seat = seats.take_seat(user, code.organization, [c.id for c in found.classrooms])
        except seats.NoSeatLeft as no_seat:
            raise RedeemRefused(NO_SEATS, no_seat.message) from None
    courses = _place(user, found, now)
    # Core, as in seats.take_seat: the redemption is not read back as an object. A
    # parallel redemption of the same code by the same person fails here, on
    # the unique key, as it did when flushed (attempt_redeem retries).
    database.execute(
        _NEW_REDEMPTION,
        {
            "code_id": code.id,
            "user_id": user.id,
            "org_id": code.org_id,
            "took_seat": took_seat,
            "created_at": now,
            "through_request": through_request,
        },
    )
    aggregates.count_redemption(code.org_id, code.id, took_seat, now)
    if code.role != ROLE_TEACHER:
        alerts.welcome(user, code, [c.name for c in found.classrooms])
    return Redeemed(code, already=False, took_seat=took_seat, classrooms=found.classrooms, courses=courses)


def record_attempt(
    user: User | None, outcome: str, code: Code | None, key: str, now: datetime, **detail: object
) -> None:
    """An attempt at one organization's code goes in that organization's audit
    trail, and a failed one counts toward the organization's burst alert
    (codes.notifications.alerts.failed_attempt); one that named no code
    belongs to no organization and goes to the server's log alone, where the
    site's operators read it."""
    if code is None:
        current_app.logger.info(
            "Code attempt %s by user %s from %s: %r %s",
            outcome,
            user.id if user is not None else None,
            audit.client_address(),
            key,
            detail or "",
        )
        return
    audit.insert(user, f"redeem.{outcome}", code, org_id=code.org_id, at=now, key=key, **detail)
    if outcome not in SUCCESS_OUTCOMES:
        alerts.failed_attempt(code, now)


def is_guess(refusal: DomainError) -> bool:
    """Whether a refusal is what guessing produces: the attempt limits count these."""
    return getattr(refusal, "outcome", None) in GUESS_OUTCOMES


def attempt_redeem(user: User, text: str | None, now: datetime | None = None) -> Redeemed:
    """A person's attempt to redeem, as the code box makes it, through the one
    attempt pipeline (codes.attempts.attempt): refused while the account or
    address must wait; otherwise redeemed in a savepoint, so a refusal leaves
    nothing but its audit event."""
    now = now or utcnow()
    key = _key(text)[:MAX_TYPED]
    # Found before the transaction begins writing: on SQLite, the fewer reads
    # under the one write lock, the more redemptions a second (database.reads_first).
    found = find_to_redeem(text, user)
    begin_writing(db.session)

    def work() -> Redeemed:
        try:
            with db.session.begin_nested():
                return redeem_code(user, found, text, now)
        except IntegrityError:
            # The same person redeemed the same code in a parallel request that
            # committed first; this second try finds it and counts nothing. (The
            # savepoint's rollback expired the code, so it is found again.)
            return redeem(user, text, now)

    try:
        result = attempts.attempt(
            attempts.codes_policy(), user.id, audit.client_address(), work, is_guess, now
        )
    except attempts.Limited as limited:
        # Named with the code it was aimed at, if any, so that code's staff see
        # someone held back still trying it.
        record_attempt(user, LIMITED, found.code, key, now)
        raise RedeemRefused(LIMITED, limited.message) from None
    except RedeemRefused as refusal:
        record_attempt(user, refusal.outcome, refusal.code, key, now)
        raise
    record_attempt(user, result.outcome, result.code, key, now, took_seat=result.took_seat)
    return result
