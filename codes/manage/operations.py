"""Making and changing codes. Every function flushes and never commits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import attempts, audit, duration, keys
from ..access import OutOfScope, Scope
from ..codetext import canonical, custom_code_problem, is_guessable
from ..database import lock_present
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..models import (
    ROLE_STUDENT,
    ROLE_TEACHER,
    Classroom,
    Code,
    CodeClassroom,
    CodeCourse,
    Course,
    User,
    utcnow,
)
from ..notifications import alerts
from ..reports import aggregates
from ..words import plural

if TYPE_CHECKING:
    from ..bulk.operations import BatchInput

ROLES = (ROLE_STUDENT, ROLE_TEACHER)
DOMAIN_RE = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_DOMAINS = 20
# The most uses a code may allow: far past any class, well within the integer column.
MAX_USES = 1_000_000
# How a form says "no limit": custom codes leave the box empty, batches choose it.
LEAVE_EMPTY = "Leave it empty for unlimited."
CHOOSE_UNLIMITED = "Choose unlimited for no limit."


def uses_at_least_one(unlimited: str = LEAVE_EMPTY) -> str:
    return f"Max uses is at least 1. {unlimited}"


def uses_range(unlimited: str = LEAVE_EMPTY) -> str:
    return f"Max uses is 1 to {MAX_USES:,}. {unlimited}"


MAX_USES_RANGE = uses_range()


@dataclass
class CodeInput:
    """What staff typed for a code, already parsed (dates in UTC)."""

    text: str = ""
    classroom_ids: list[int] = field(default_factory=list)
    course_ids: list[int] = field(default_factory=list)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    max_uses: int | None = None
    domains_text: str = ""
    role: str = ROLE_STUDENT
    # Approval mode and the leak guard (docs/APPROVAL.md).
    approval: bool = False
    surge_guard: bool = False
    hourly_limit: int | None = None
    expected_text: str = ""
    # How long membership of its classrooms lasts (codes.duration).
    member_days: int | None = None
    member_until: datetime | None = None


def parse_domains(text: str | None, name: str = "allowed_domains") -> list[str]:
    """Email domains from what staff typed (the field `name`): commas or spaces
    between, an optional leading @, compared in lower case."""
    domains = []
    for item in re.split(r"[\s,;]+", (text or "").strip().lower()):
        item = item.lstrip("@")
        if item and item not in domains:
            domains.append(item)
    bad = [d for d in domains if not DOMAIN_RE.match(d)]
    if bad:
        raise FieldErrors({name: f"{bad[0]} is not an email domain like school.org."})
    if len(domains) > MAX_DOMAINS:
        raise FieldErrors({name: f"At most {MAX_DOMAINS} domains."})
    return domains


def targets_in_scope(scope: Scope, data: CodeInput | BatchInput) -> tuple[list[Classroom], list[Course]]:
    """The classrooms and courses a code will unlock, each checked against scope
    and locked against deletion until the code is saved (one deleted meanwhile
    is not there)."""
    rooms, kept = lock_present(Classroom, data.classroom_ids), lock_present(Course, data.course_ids)
    classrooms = [
        db.session.get(Classroom, i) if i in rooms else None for i in dict.fromkeys(data.classroom_ids)
    ]
    courses = [db.session.get(Course, i) if i in kept else None for i in dict.fromkeys(data.course_ids)]
    for target in classrooms + courses:
        if target is None or target.org_id != scope.org.id:
            raise OutOfScope()
    # No None is left in them, which mypy does not follow through the loop.
    found_rooms, found_courses = cast(list[Classroom], classrooms), cast(list[Course], courses)
    if not scope.can_manage_targets([c.id for c in found_rooms], [c.id for c in found_courses]):
        raise OutOfScope()
    return found_rooms, found_courses


def limit_problems(
    data: CodeInput | BatchInput,
    code: Code | None = None,
    now: datetime | None = None,
    unlimited: str = LEAVE_EMPTY,
) -> dict[str, str]:
    """What is wrong with a code's limits as staff typed them (max uses, dates,
    role), by field, for a new code or batch (code None) or a change to `code`:
    the one place these rules are written, for custom codes and batches alike."""
    errors = {}
    max_uses, valid_from = data.max_uses, getattr(data, "valid_from", None)
    if max_uses is not None and max_uses < 1:
        errors["max_uses"] = uses_at_least_one(unlimited)
    elif max_uses is not None and max_uses > MAX_USES:
        errors["max_uses"] = uses_range(unlimited)
    elif code is not None and max_uses is not None and max_uses < code.uses:
        errors["max_uses"] = (
            f"This code has been used {plural(code.uses, 'time')} already; max uses can't be lower."
        )
    if valid_from and data.valid_until and data.valid_until <= valid_from:
        errors["valid_until"] = "Valid until must be after valid from."
    elif code is None and data.valid_until and data.valid_until < (now or utcnow()):
        errors["valid_until"] = "That date has already passed."
    if data.role not in ROLES:
        errors["role"] = "Choose student or teacher."
    return errors


def _set_targets(code, classrooms, courses):
    db.session.execute(CodeClassroom.__table__.delete().where(CodeClassroom.code_id == code.id))
    db.session.execute(CodeCourse.__table__.delete().where(CodeCourse.code_id == code.id))
    db.session.add_all([CodeClassroom(code_id=code.id, classroom_id=c.id) for c in classrooms])
    db.session.add_all([CodeCourse(code_id=code.id, course_id=c.id) for c in courses])


TAKEN = "That code is already taken. Choose another."


class TextTaken(DomainError):
    def __init__(self) -> None:
        super().__init__(TAKEN, field="text")


def text_problem(actor: User, text: str, except_id: int | None = None) -> str | None:
    """Why staff may not give a code this text (it is taken), or None. Asking
    whether a text is taken tells whether a code exists, so each "taken" is a
    failed guess in the budget of the code boxes (codes.attempts), per account
    and per address, and while the person must wait, no text is checked at all.
    The answer never says whose code it is."""
    key = canonical(text)

    def check():
        if keys.is_taken(key, except_id):
            raise TextTaken()

    try:
        attempts.attempt(
            attempts.codes_policy(), actor.id, audit.client_address(), check, lambda refusal: True
        )
    except (attempts.Limited, TextTaken) as refusal:
        return refusal.message
    return None


def _validated(scope, data, code=None):
    # Scope first: a code for a target out of scope is answered as if the target
    # did not exist (OutOfScope, 404) before its text is looked up, so that such
    # a request neither counts as a guess nor leaves a count row behind.
    classrooms, courses = targets_in_scope(scope, data)
    errors = {}
    text = (data.text or "").strip()
    problem = custom_code_problem(text) or (
        None
        if code is not None and canonical(text) == code.key
        else text_problem(scope.user, text, code.id if code else None)
    )
    if problem:
        errors["text"] = problem
    try:
        domains = parse_domains(data.domains_text)
    except FieldErrors as e:
        errors.update(e.errors)
        domains = []
    try:
        expected = parse_domains(data.expected_text, "expected_domains")
    except FieldErrors as e:
        errors.update(e.errors)
        expected = []
    errors.update(limit_problems(data, code))
    if data.hourly_limit is not None and not 1 <= data.hourly_limit <= MAX_USES:
        errors["hourly_limit"] = HOURLY_RANGE
    errors.update(
        duration.problems(
            data.member_days, data.member_until, data.role, code.member_until if code is not None else None
        )
    )
    if not classrooms and not courses:
        errors["targets"] = "Choose at least one classroom or course."
    if errors:
        raise FieldErrors(errors)
    return text, domains, expected, classrooms, courses


HOURLY_RANGE = f"Enter 1 to {MAX_USES:,} redemptions an hour, or leave it empty for no such check."


def _set_guard(code, data, expected):
    code.approval = bool(data.approval)
    code.surge_guard = bool(data.surge_guard)
    code.hourly_limit = data.hourly_limit
    code.expected_domains = " ".join(expected)
    code.member_days, code.member_until = data.member_days, data.member_until


def _flush_or_taken():
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise FieldErrors({"text": TAKEN}) from None


def create_code(actor: User, scope: Scope, data: CodeInput) -> Code:
    """A custom code in scope's organization. Its text is unique site-wide by its
    lookup key; every target must lie in the actor's scope."""
    text, domains, expected, classrooms, courses = _validated(scope, data)
    code = Code(
        org_id=scope.org.id,
        text=text,
        key=canonical(text),
        role=data.role,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        max_uses=data.max_uses,
        allowed_domains=" ".join(domains),
        created_by_id=actor.id,
        uses=0,
        enabled=True,
    )
    _set_guard(code, data, expected)
    db.session.add(code)
    _flush_or_taken()
    _set_targets(code, classrooms, courses)
    db.session.flush()
    audit.record(actor, "code.create", code, text=text)
    return code


def update_code(actor: User, scope: Scope, code: Code, data: CodeInput) -> Code:
    """Change a code's text, targets, dates, limits or role. Max uses never drops
    below the uses already counted; a join code's text changes only through
    codes.joincodes.operations.change_join_code."""
    text, domains, expected, classrooms, courses = _validated(scope, data, code)
    if code.join_code_of is not None and canonical(text) != code.key:
        # Changed here, the old text would become unknown; changed on the
        # classroom's page, it answers that it was replaced.
        raise FieldErrors(
            {
                "text": (
                    f"This is the join code of {code.join_code_of.name}: change its text on the "
                    f"classroom's page, so whoever types the old one learns it was replaced."
                )
            }
        )
    code.text, code.key = text, canonical(text)
    code.role = data.role
    code.valid_from, code.valid_until = data.valid_from, data.valid_until
    max_before, code.max_uses = code.max_uses, data.max_uses
    code.allowed_domains = " ".join(domains)
    approval_was = code.approval
    _set_guard(code, data, expected)
    # It has targets again (_validated asks for one): it places people again.
    code.targets_deleted_at = None
    _flush_or_taken()
    # The code's row is held since the flush: no redemption of it counts meanwhile.
    before = set(
        db.session.scalars(select(CodeClassroom.classroom_id).where(CodeClassroom.code_id == code.id))
    )
    _set_targets(code, classrooms, courses)
    db.session.flush()
    after = {c.id for c in classrooms}
    aggregates.move_code(code.org_id, code.id, before - after, after - before)
    aggregates.rename_code(code.org_id, code.id, code.text)
    db.session.expire(code, ["classrooms", "courses"])
    audit.record(actor, "code.update", code, text=text)
    if code.approval != approval_was:
        audit.record(actor, "code.approval", code, approval=code.approval)
    # The row is this transaction's since the flush: its uses, read again, are
    # what every redemption that counts one after it will see.
    db.session.refresh(code, ["uses"])
    alerts.code_changed(code, code.uses, max_before, code.uses, code.max_uses)
    return code


def set_enabled(actor: User, code: Code, enabled: bool) -> Code:
    """Pause or resume a code. A deactivated code stays off for good."""
    if code.deactivated_at is not None:
        raise DomainError("This code was deactivated for good and can't be turned on.")
    code.enabled = bool(enabled)
    db.session.flush()
    audit.record(actor, "code.on" if code.enabled else "code.off", code)
    return code


def deactivate(
    actor: User, code: Code, now: datetime | None = None, reason: str | None = None, **detail: object
) -> Code:
    """Turn a code off for good: it cannot be undone. `reason` says why, when
    the person typing it should know (REPLACED: a classroom's new join code took
    over). The one place a code is deactivated."""
    if code.deactivated_at is None:
        code.deactivated_at = now or utcnow()
        code.deactivated_reason = reason
        db.session.flush()
        audit.record(actor, "code.deactivate", code, **({"reason": reason} if reason else {}), **detail)
    return code


def delete_code(actor: User, code: Code, now: datetime | None = None) -> None:
    """Remove a code from every list. Its redemptions and the enrollments it made
    stay, and its text keeps answering 'no longer valid'."""
    code.deleted_at = now or utcnow()
    db.session.flush()
    audit.record(actor, "code.delete", code, text=code.text)


def weak_code_warning(code: Code) -> str | None:
    """A warning, not a refusal, for a short or guessable code left unprotected."""
    if is_guessable(code.text) and not code.domains and code.max_uses is None:
        return (
            "This code is short or easy to guess and has no email domain rule or max uses: "
            "anyone who guesses it can join. Consider a longer code or a limit."
        )
    return None
