"""Parent codes and parent links (DESIGN.md "Parents", docs/PARENTS.md).
Every function flushes and never commits."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from .. import attempts, audit, keys
from ..codetext import MAX_TYPED, canonical, random_code
from ..database import insert_ignore
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..models import Classroom, ClassroomMember, Organization, OrgMember, ParentCode, ParentLink, User, utcnow
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


class LinkRefused(redeeming.RedeemRefused):
    """A parent code that links nobody, with what the person should read."""


@dataclass
class Linked:
    student: User
    already: bool
    # Whether the code typed can still link someone: only then is it worth saying.
    still_usable: bool = False

    @property
    def message(self) -> str:
        if self.already and self.still_usable:
            return (
                f"You're already linked to {self.student.name}. This code was not used: "
                f"it can still link another parent."
            )
        if self.already:
            return f"You're already linked to {self.student.name}."
        return f"You're now linked to {self.student.name}."


def is_active(parent_code: ParentCode, now: datetime | None = None) -> bool:
    """Not used, not retired, and not past its 14 days."""
    now = now or utcnow()
    return parent_code.used_at is None and parent_code.retired_at is None and parent_code.expires_at >= now


def find_parent_code(text: str | None) -> ParentCode | None:
    if len(text or "") > MAX_TYPED:
        return None
    key = canonical(text)
    if not key:
        return None
    return db.session.scalar(select(ParentCode).where(ParentCode.key == key))


def student_organizations(student: User) -> Sequence[Organization]:
    """The organizations the person is a student of, by name: a parent code of
    theirs belongs to one of them."""
    return db.session.scalars(
        select(Organization)
        .join(OrgMember, OrgMember.org_id == Organization.id)
        .where(OrgMember.user_id == student.id, OrgMember.is_student)
        .order_by(Organization.name, Organization.id)
    ).all()


def active_codes(student: User, now: datetime | None = None) -> Sequence[ParentCode]:
    """The student's parent codes that can still link someone, oldest first."""
    now = now or utcnow()
    return db.session.scalars(
        select(ParentCode)
        .where(
            ParentCode.student_id == student.id,
            ParentCode.used_at.is_(None),
            ParentCode.retired_at.is_(None),
            ParentCode.expires_at >= now,
        )
        .order_by(ParentCode.created_at, ParentCode.id)
    ).all()


def retired_by(parent_code: ParentCode) -> Sequence[ParentCode]:
    """The student's codes that making `parent_code` cancelled (a student keeps at
    most MAX_ACTIVE): _make retires them at the very instant it makes the new one."""
    return db.session.scalars(
        select(ParentCode)
        .where(
            ParentCode.student_id == parent_code.student_id,
            ParentCode.id != parent_code.id,
            ParentCode.retired_at == parent_code.created_at,
        )
        .order_by(ParentCode.created_at, ParentCode.id)
    ).all()


def _lock_student(student_id):
    # Two codes made at once for one student must not both see four active:
    # PostgreSQL locks the student's row; SQLite's BEGIN IMMEDIATE already
    # lets one writer at a time.
    db.session.execute(select(User.id).where(User.id == student_id).with_for_update(key_share=True))


def _new_code(actor, student, org_id, now):
    for _ in range(RANDOM_TRIES):
        text = random_code(PREFIX)
        key = canonical(text)
        if keys.is_taken(key):
            continue
        parent_code = ParentCode(
            student_id=student.id,
            org_id=org_id,
            text=text,
            key=key,
            created_at=now,
            expires_at=now + CODE_LIFETIME,
            created_by_id=actor.id,
        )
        try:
            with db.session.begin_nested():
                db.session.add(parent_code)
                db.session.flush()
        except IntegrityError:
            # Drawn at the same moment by another request: draw again.
            continue
        return parent_code
    raise DomainError("No new parent code could be drawn. Try again.")


def _make(actor, student, org_id, now):
    _lock_student(student.id)
    active = active_codes(student, now)
    for old in active[: max(0, len(active) - MAX_ACTIVE + 1)]:
        old.retired_at = now
    return _new_code(actor, student, org_id, now)


def make_parent_code(
    actor: User, student: User, now: datetime | None = None, org_id: int | None = None
) -> ParentCode:
    """A new parent code for the student, of one organization they are a student
    of (`org_id`; may be left out when there is only one): it links one parent,
    once, within 14 days, and the link belongs to that organization. A student
    has at most five active codes: making another retires the oldest. Only a
    student makes their own (a teacher makes them for a whole classroom with
    make_classroom_parent_codes)."""
    now = now or utcnow()
    orgs = {org.id: org for org in student_organizations(student)}
    if not orgs:
        raise DomainError("Parent codes are for students: join a classroom with a code first.")
    if org_id is None and len(orgs) == 1:
        org_id = next(iter(orgs))
    if org_id not in orgs:
        raise FieldErrors({"org_id": "Choose the school or organization the code is for."})
    parent_code = _make(actor, student, org_id, now)
    audit.record(actor, "parent.code", parent_code, org_id=org_id)
    return parent_code


def class_students(classroom: Classroom) -> Sequence[User]:
    """The classroom's members, by name: whom its parent letters are for."""
    return db.session.scalars(
        select(User)
        .join(ClassroomMember, ClassroomMember.user_id == User.id)
        .where(ClassroomMember.classroom_id == classroom.id)
        .order_by(User.name, User.id)
    ).all()


def make_classroom_parent_codes(
    actor: User, classroom: Classroom, now: datetime | None = None
) -> list[tuple[User, ParentCode]]:
    """A fresh parent code for every member of the classroom, as
    make_parent_code makes one (each student's five-code limit holds). The
    caller has checked that the actor leads the classroom or is an admin.
    Returns (student, parent code) pairs by the student's name."""
    now = now or utcnow()
    students = class_students(classroom)
    if not students:
        raise DomainError(
            f"Nobody has joined {classroom.name} yet: there is nobody to make parent letters for."
        )
    # In id order, so two teachers printing overlapping classrooms lock rows in one order.
    made = {s.id: _make(actor, s, classroom.org_id, now) for s in sorted(students, key=lambda s: s.id)}
    audit.record(actor, "parent.letters", classroom, count=len(students))
    return [(s, made[s.id]) for s in students]


def cancel_parent_code(student: User, parent_code: ParentCode, now: datetime | None = None) -> ParentCode:
    """The student takes back one of their codes: it links nobody from now on."""
    if parent_code.retired_at is None and parent_code.used_at is None:
        parent_code.retired_at = now or utcnow()
        db.session.flush()
        audit.record(student, "parent.code.cancel", parent_code, org_id=parent_code.org_id)
    return parent_code


def refusal_for(parent_code: ParentCode, now: datetime) -> LinkRefused | None:
    """Why a parent code no longer links anyone. Never names its student: whoever
    typed it may be a stranger."""
    ask = "Ask whoever gave it to you for a new one."
    if parent_code.retired_at is not None:
        return LinkRefused(redeeming.INVALID, f"That parent code is no longer valid. {ask}")
    if parent_code.used_at is not None:
        return LinkRefused(
            redeeming.USED_UP, f"That parent code has already been used: each one links one parent. {ask}"
        )
    if parent_code.expires_at < now:
        return LinkRefused(
            redeeming.INACTIVE, f"That parent code has expired: parent codes work for 14 days. {ask}"
        )
    return None


def link_parent(parent: User, text: str | None, now: datetime | None = None) -> Linked:
    """Link the person who typed a parent code to its student, through the code's
    organization, whole or not at all.

    Keeps: a code links one parent, once, within its 14 days; a parent and a
    student are linked by one row per organization however many of its codes
    they use (a code typed by a parent already linked that way is not used up);
    the use is counted with a conditional UPDATE, so of two parents racing for
    one code exactly one wins. Raises LinkRefused with the message the person
    should read."""
    now = now or utcnow()
    parent_code = find_parent_code(text)
    if parent_code is None:
        if redeeming.find_code(text) is not None:
            raise LinkRefused(
                STUDENT_CODE,
                (
                    "That's a code for joining a classroom, not a parent code: the student enters "
                    "it on their profile page."
                ),
            )
        raise LinkRefused(redeeming.UNKNOWN, "We don't recognize that parent code. Check it and try again.")
    if parent_code.student_id == parent.id:
        raise LinkRefused(
            OWN_CODE,
            (
                "That is your own parent code: give it to your parent or guardian, who enters it "
                "here with their own account."
            ),
        )
    student = parent_code.student
    link = db.session.scalar(
        select(ParentLink).where(
            ParentLink.parent_id == parent.id,
            ParentLink.student_id == student.id,
            ParentLink.org_id == parent_code.org_id,
        )
    )
    if link is not None and link.revoked_at is None:
        return Linked(student, already=True, still_usable=is_active(parent_code, now))
    refusal = refusal_for(parent_code, now)
    if refusal is not None:
        raise refusal
    # (An UPDATE's result is a CursorResult, which Session.execute's type leaves out.)
    used = cast(
        CursorResult[Any],
        db.session.execute(
            update(ParentCode)
            .where(
                ParentCode.id == parent_code.id,
                ParentCode.used_at.is_(None),
                ParentCode.retired_at.is_(None),
                ParentCode.expires_at >= now,
            )
            .values(used_at=now, used_by_id=parent.id)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if used != 1:
        db.session.refresh(parent_code)
        raise refusal_for(parent_code, now) or LinkRefused(
            redeeming.USED_UP, "That parent code has already been used."
        )
    if link is None:
        insert_ignore(
            db.session,
            ParentLink,
            [
                {
                    "parent_id": parent.id,
                    "student_id": student.id,
                    "org_id": parent_code.org_id,
                    "created_at": now,
                }
            ],
        )
        # There now: inserted just above, or by a request that committed first.
        link = cast(
            ParentLink,
            db.session.scalar(
                select(ParentLink).where(
                    ParentLink.parent_id == parent.id,
                    ParentLink.student_id == student.id,
                    ParentLink.org_id == parent_code.org_id,
                )
            ),
        )
    else:
        # Revoked before; the new code, given on purpose, links the pair again.
        link.revoked_at, link.revoked_by_id, link.created_at = None, None, now
    db.session.flush()
    audit.record(
        parent, "parent.link", link, org_id=link.org_id, student_id=student.id, parent_code_id=parent_code.id
    )
    return Linked(student, already=False)


def attempt_link(parent: User, text: str | None, now: datetime | None = None) -> Linked:
    """A parent's attempt as the parents' code box makes it, through the one
    attempt pipeline (codes.attempts.attempt): failed attempts count against the
    same budget as the student code box (one per account and per address for
    guessing any code); an attempt at one organization's parent code goes in its
    audit trail, one at no code to the server's log alone."""
    now = now or utcnow()
    key = canonical(text)[:MAX_TYPED] if len(text or "") <= MAX_TYPED else ""

    def record(outcome):
        found = find_parent_code(text)
        if found is None:
            current_app.logger.info(
                "Parent code attempt %s by user %s from %s: %r",
                outcome,
                parent.id,
                audit.client_address(),
                key,
            )
        else:
            audit.record(parent, f"redeem.{outcome}", found, org_id=found.org_id, at=now, key=key, box=BOX)

    try:
        result = attempts.attempt(
            attempts.codes_policy(),
            parent.id,
            audit.client_address(),
            lambda: link_parent(parent, text, now),
            redeeming.is_guess,
            now,
        )
    except attempts.Limited as limited:
        record(redeeming.LIMITED)
        raise LinkRefused(redeeming.LIMITED, limited.message) from None
    except LinkRefused as refusal:
        record(refusal.outcome)
        raise
    return result


def linked_parents(student: User) -> Sequence[User]:
    """The parents linked to the student now, through any organization, by name:
    the student sees who they are."""
    return db.session.scalars(
        select(User)
        .where(
            User.id.in_(
                select(ParentLink.parent_id).where(
                    ParentLink.student_id == student.id, ParentLink.revoked_at.is_(None)
                )
            )
        )
        .order_by(User.name, User.id)
    ).all()


def revoke_link(actor: User, org: Organization, link: ParentLink, now: datetime | None = None) -> ParentLink:
    """End a parent link at once: from the next request the parent sees nothing
    of the student through this organization. The caller has checked that the
    actor is an admin of the organization the link belongs to."""
    if link.revoked_at is None:
        link.revoked_at = now or utcnow()
        link.revoked_by_id = actor.id
        db.session.flush()
        audit.record(
            actor, "parent.revoke", link, org_id=org.id, student_id=link.student_id, parent_id=link.parent_id
        )
    return link


def set_parents_can_see(actor: User, classroom: Classroom, on: bool) -> Classroom:
    """Turn a classroom's parent-visibility switch on or off."""
    classroom.parents_can_see = bool(on)
    db.session.flush()
    audit.record(actor, "parent.visibility", classroom, on=classroom.parents_can_see)
    return classroom
