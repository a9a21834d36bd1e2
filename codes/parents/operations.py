"""Parent codes and parent links (DESIGN.md "Parents", docs/PARENTS.md).
Every function flushes and never commits."""
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..codetext import MAX_TYPED, canonical, random_code
from ..database import insert_ignore
from ..errors import DomainError
from ..extensions import db
from ..models import (
    ClassroomMember,
    Code,
    Organization,
    OrgMember,
    ParentCode,
    ParentLink,
    User,
    utcnow,
)
from ..redeem import operations as redeeming

CODE_LIFETIME = timedelta(days=14)
MAX_ACTIVE = 5
# Public, like a bulk prefix: it tells people (and the student code box) what
# the code is for; the ten random symbols after it carry its 50 bits.
PREFIX = "PARENT"
RANDOM_TRIES = 5

# Refusals only the parents' box has; the others are the code box's own.
OWN_CODE = "own_code"
STUDENT_CODE = "student_code"
# Where the code box's audit events say a parent code was typed.
BOX = "parents"
# Parent codes belong to no organization: their times are shown in the
# student's first organization's zone, or in UTC.
UTC = SimpleNamespace(timezone="UTC")


class LinkRefused(redeeming.RedeemRefused):
    """A parent code that links nobody, with what the person should read."""


@dataclass
class Linked:
    student: User
    already: bool

    @property
    def message(self):
        if self.already:
            return (f"You're already linked to {self.student.name}. This code was not used: "
                    f"it can still link another parent.")
        return f"You're now linked to {self.student.name}."


def is_active(parent_code, now=None):
    """Not used, not retired, and not past its 14 days."""
    now = now or utcnow()
    return (parent_code.used_at is None and parent_code.retired_at is None
            and parent_code.expires_at >= now)


def key_in_use(key):
    """Whether a code or a parent code already has this lookup key: one key, one
    code, across the whole site."""
    return (db.session.scalar(select(Code.id).where(Code.key == key)) is not None
            or db.session.scalar(select(ParentCode.id).where(ParentCode.key == key)) is not None)


def find_parent_code(text):
    if len(text or "") > MAX_TYPED:
        return None
    key = canonical(text)
    if not key:
        return None
    return db.session.scalar(select(ParentCode).where(ParentCode.key == key))


def home_org(student):
    """The organization whose time zone the student's parent codes are shown in:
    the first one that made them a student, else UTC."""
    org = db.session.scalar(
        select(Organization).join(OrgMember, OrgMember.org_id == Organization.id)
        .where(OrgMember.user_id == student.id, OrgMember.is_student)
        .order_by(OrgMember.joined_at, OrgMember.id).limit(1)
    )
    return org or UTC


def _student_org_ids(student):
    return list(db.session.scalars(
        select(OrgMember.org_id).where(OrgMember.user_id == student.id, OrgMember.is_student)
        .order_by(OrgMember.org_id)
    ))


def _audit_for_student(actor, action, obj, student, **detail):
    """One event in each organization the student belongs to, so each one's
    admins read it in their own log; one without an organization otherwise."""
    for org_id in _student_org_ids(student) or [None]:
        audit.record(actor, action, obj, org_id=org_id, **detail)


def active_codes(student, now=None):
    """The student's parent codes that can still link someone, oldest first."""
    now = now or utcnow()
    return db.session.scalars(
        select(ParentCode).where(
            ParentCode.student_id == student.id, ParentCode.used_at.is_(None),
            ParentCode.retired_at.is_(None), ParentCode.expires_at >= now,
        ).order_by(ParentCode.created_at, ParentCode.id)
    ).all()


def _lock_student(student_id):
    # Two codes made at once for one student must not both see four active:
    # PostgreSQL locks the student's row; SQLite's BEGIN IMMEDIATE already
    # lets one writer at a time.
    db.session.execute(select(User.id).where(User.id == student_id).with_for_update())


def _new_code(actor, student, now):
    for _ in range(RANDOM_TRIES):
        text = random_code(PREFIX)
        key = canonical(text)
        if key_in_use(key):
            continue
        parent_code = ParentCode(student_id=student.id, text=text, key=key, created_at=now,
                                 expires_at=now + CODE_LIFETIME, created_by_id=actor.id)
        try:
            with db.session.begin_nested():
                db.session.add(parent_code)
                db.session.flush()
        except IntegrityError:
            # Drawn at the same moment by another request: draw again.
            continue
        return parent_code
    raise DomainError("No new parent code could be drawn. Try again.")


def _make(actor, student, now):
    _lock_student(student.id)
    active = active_codes(student, now)
    for old in active[:max(0, len(active) - MAX_ACTIVE + 1)]:
        old.retired_at = now
    return _new_code(actor, student, now)


def make_parent_code(actor, student, now=None):
    """A new parent code for the student: it links one parent, once, within 14
    days. A student has at most five active codes: making another retires the
    oldest. Only a student makes their own, once a code has made them a student
    of some organization (a teacher makes them for a whole classroom with
    make_classroom_parent_codes)."""
    now = now or utcnow()
    if not _student_org_ids(student):
        raise DomainError("Parent codes are for students: join a classroom with a code first.")
    parent_code = _make(actor, student, now)
    _audit_for_student(actor, "parent.code", parent_code, student)
    return parent_code


def class_students(classroom):
    """The classroom's members, by name: whom its parent letters are for."""
    return db.session.scalars(
        select(User).join(ClassroomMember, ClassroomMember.user_id == User.id)
        .where(ClassroomMember.classroom_id == classroom.id).order_by(User.name, User.id)
    ).all()


def make_classroom_parent_codes(actor, classroom, now=None):
    """A fresh parent code for every member of the classroom, as
    make_parent_code makes one (each student's five-code limit holds). The
    caller has checked that the actor leads the classroom or is an admin.
    Returns (student, parent code) pairs by the student's name."""
    now = now or utcnow()
    students = class_students(classroom)
    if not students:
        raise DomainError(f"Nobody has joined {classroom.name} yet: there is nobody to make "
                          f"parent letters for.")
    # In id order, so two teachers printing overlapping classrooms lock rows in one order.
    made = {s.id: _make(actor, s, now) for s in sorted(students, key=lambda s: s.id)}
    audit.record(actor, "parent.letters", classroom, count=len(students))
    return [(s, made[s.id]) for s in students]


def cancel_parent_code(student, parent_code, now=None):
    """The student takes back one of their codes: it links nobody from now on."""
    if parent_code.retired_at is None and parent_code.used_at is None:
        parent_code.retired_at = now or utcnow()
        db.session.flush()
        _audit_for_student(student, "parent.code.cancel", parent_code, student)
    return parent_code


def _refusal(parent_code, now):
    """Why a parent code no longer links anyone. Never names its student: whoever
    typed it may be a stranger."""
    ask = "Ask whoever gave it to you for a new one."
    if parent_code.retired_at is not None:
        return LinkRefused(redeeming.INVALID, f"That parent code is no longer valid. {ask}")
    if parent_code.used_at is not None:
        return LinkRefused(redeeming.USED_UP,
                           f"That parent code has already been used: each one links one parent. {ask}")
    if parent_code.expires_at < now:
        return LinkRefused(redeeming.INACTIVE,
                           f"That parent code has expired: parent codes work for 14 days. {ask}")
    return None


def link_parent(parent, text, now=None):
    """Link the person who typed a parent code to its student, whole or not at all.

    Keeps: a code links one parent, once, within its 14 days; a parent and a
    student are linked by one row however many codes they use (a code typed by
    a parent already linked is not used up); the use is counted with a
    conditional UPDATE, so of two parents racing for one code exactly one wins.
    Raises LinkRefused with the message the person should read."""
    now = now or utcnow()
    parent_code = find_parent_code(text)
    if parent_code is None:
        if redeeming.find_code(text) is not None:
            raise LinkRefused(STUDENT_CODE, (
                "That's a code for joining a classroom, not a parent code: the student enters "
                "it on their profile page."))
        raise LinkRefused(redeeming.UNKNOWN,
                          "We don't recognize that parent code. Check it and try again.")
    if parent_code.student_id == parent.id:
        raise LinkRefused(OWN_CODE, (
            "That is your own parent code: give it to your parent or guardian, who enters it "
            "here with their own account."))
    student = parent_code.student
    link = db.session.scalar(select(ParentLink).where(
        ParentLink.parent_id == parent.id, ParentLink.student_id == student.id))
    if link is not None and link.revoked_at is None:
        return Linked(student, already=True)
    refusal = _refusal(parent_code, now)
    if refusal is not None:
        raise refusal
    used = db.session.execute(
        update(ParentCode)
        .where(ParentCode.id == parent_code.id, ParentCode.used_at.is_(None),
               ParentCode.retired_at.is_(None), ParentCode.expires_at >= now)
        .values(used_at=now, used_by_id=parent.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:
        db.session.refresh(parent_code)
        raise _refusal(parent_code, now) or LinkRefused(
            redeeming.USED_UP, "That parent code has already been used.")
    if link is None:
        insert_ignore(db.session, ParentLink,
                      [{"parent_id": parent.id, "student_id": student.id, "created_at": now}])
        link = db.session.scalar(select(ParentLink).where(
            ParentLink.parent_id == parent.id, ParentLink.student_id == student.id))
    else:
        # Revoked before; the new code, given on purpose, links the pair again.
        link.revoked_at, link.revoked_by_id, link.created_at = None, None, now
    db.session.flush()
    _audit_for_student(parent, "parent.link", link, student, student_id=student.id,
                       parent_code_id=parent_code.id)
    return Linked(student, already=False)


def attempt_link(parent, text, limits, now=None):
    """A parent's attempt as the parents' code box makes it. Failed attempts
    count against the same limits as the student code box (one budget per
    account and per address for guessing any code), and every refusal is
    audited like a code attempt; a refusal leaves nothing else."""
    now = now or utcnow()
    key = canonical(text)[:MAX_TYPED]
    ip = audit.client_address()
    wait = limits.counter.wait(parent, ip, limits, now)
    if wait is not None:
        audit.record(parent, f"redeem.{redeeming.LIMITED}", at=now, key=key, box=BOX)
        raise LinkRefused(redeeming.LIMITED, redeeming.describe_wait(wait))
    try:
        with db.session.begin_nested():
            return link_parent(parent, text, now)
    except LinkRefused as refusal:
        audit.record(parent, f"redeem.{refusal.outcome}", at=now, key=key, box=BOX)
        if refusal.outcome in redeeming.GUESS_OUTCOMES:
            limits.counter.count_failure(parent, ip, limits)
        raise


def linked_parents(student):
    """The parents linked to the student now, by name: the student sees who they are."""
    return db.session.scalars(
        select(User).join(ParentLink, ParentLink.parent_id == User.id)
        .where(ParentLink.student_id == student.id, ParentLink.revoked_at.is_(None))
        .order_by(User.name, User.id)
    ).all()


def revoke_link(actor, org, link, now=None):
    """End a parent link at once: from the next request the parent sees nothing
    of the student. The caller has checked that the actor is an admin of an
    organization the student belongs to."""
    if link.revoked_at is None:
        link.revoked_at = now or utcnow()
        link.revoked_by_id = actor.id
        db.session.flush()
        audit.record(actor, "parent.revoke", link, org_id=org.id, student_id=link.student_id,
                     parent_id=link.parent_id)
    return link


def set_parents_can_see(actor, classroom, on):
    """Turn a classroom's parent-visibility switch on or off."""
    classroom.parents_can_see = bool(on)
    db.session.flush()
    audit.record(actor, "parent.visibility", classroom, on=classroom.parents_can_see)
    return classroom
