"""Making and changing codes. Every function flushes and never commits."""
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..codetext import canonical, custom_code_problem, is_guessable
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
    ParentCode,
    utcnow,
)

ROLES = (ROLE_STUDENT, ROLE_TEACHER)
DOMAIN_RE = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_DOMAINS = 20


class OutOfScope(DomainError):
    """Something named in a request lies outside the person's scope: answered 404."""

    def __init__(self):
        super().__init__("Not found.")


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


def parse_domains(text):
    """Allowed email domains from what staff typed: commas or spaces between,
    an optional leading @, compared in lower case."""
    domains = []
    for item in re.split(r"[\s,;]+", (text or "").strip().lower()):
        item = item.lstrip("@")
        if item and item not in domains:
            domains.append(item)
    bad = [d for d in domains if not DOMAIN_RE.match(d)]
    if bad:
        raise FieldErrors({"allowed_domains": f"{bad[0]} is not an email domain like school.org."})
    if len(domains) > MAX_DOMAINS:
        raise FieldErrors({"allowed_domains": f"At most {MAX_DOMAINS} domains."})
    return domains


def _targets(scope, data):
    """The classrooms and courses a code will unlock, each checked against scope."""
    classrooms = [db.session.get(Classroom, i) for i in dict.fromkeys(data.classroom_ids)]
    courses = [db.session.get(Course, i) for i in dict.fromkeys(data.course_ids)]
    for target in classrooms + courses:
        if target is None or target.org_id != scope.org.id:
            raise OutOfScope()
    if not scope.can_manage_targets([c.id for c in classrooms], [c.id for c in courses]):
        raise OutOfScope()
    return classrooms, courses


def _check_limits(data, errors, code=None, now=None):
    if data.max_uses is not None and data.max_uses < 1:
        errors["max_uses"] = "Max uses is at least 1. Leave it empty for unlimited."
    elif code is not None and data.max_uses is not None and data.max_uses < code.uses:
        errors["max_uses"] = (
            f"This code has been used {code.uses} times already; max uses can't be lower."
        )
    if data.valid_from and data.valid_until and data.valid_until <= data.valid_from:
        errors["valid_until"] = "Valid until must be after valid from."
    elif code is None and data.valid_until and data.valid_until < (now or utcnow()):
        errors["valid_until"] = "That date has already passed."
    if data.role not in ROLES:
        errors["role"] = "Choose student or teacher."


def _set_targets(code, classrooms, courses):
    db.session.execute(CodeClassroom.__table__.delete().where(CodeClassroom.code_id == code.id))
    db.session.execute(CodeCourse.__table__.delete().where(CodeCourse.code_id == code.id))
    db.session.add_all([CodeClassroom(code_id=code.id, classroom_id=c.id) for c in classrooms])
    db.session.add_all([CodeCourse(code_id=code.id, course_id=c.id) for c in courses])


def key_taken(key, except_id=None):
    """Whether another code, or a parent code, already has this lookup key: one
    key names one thing across the whole site."""
    query = select(Code.id).where(Code.key == key)
    if except_id is not None:
        query = query.where(Code.id != except_id)
    if db.session.scalar(select(ParentCode.id).where(ParentCode.key == key)) is not None:
        return True
    return db.session.scalar(query) is not None


def _validated(scope, data, code=None):
    errors = {}
    text = (data.text or "").strip()
    problem = custom_code_problem(text)
    if problem:
        errors["text"] = problem
    elif key_taken(canonical(text), code.id if code else None):
        errors["text"] = "That code is already taken. Choose another."
    try:
        domains = parse_domains(data.domains_text)
    except FieldErrors as e:
        errors.update(e.errors)
        domains = []
    _check_limits(data, errors, code)
    classrooms, courses = _targets(scope, data)
    if not classrooms and not courses:
        errors["targets"] = "Choose at least one classroom or course."
    if errors:
        raise FieldErrors(errors)
    return text, domains, classrooms, courses


def _flush_or_taken():
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise FieldErrors({"text": "That code is already taken. Choose another."}) from None


def create_code(actor, scope, data):
    """A custom code in scope's organization. Its text is unique site-wide by its
    lookup key; every target must lie in the actor's scope."""
    text, domains, classrooms, courses = _validated(scope, data)
    code = Code(
        org_id=scope.org.id, text=text, key=canonical(text), role=data.role,
        valid_from=data.valid_from, valid_until=data.valid_until, max_uses=data.max_uses,
        allowed_domains=" ".join(domains), created_by_id=actor.id, uses=0, enabled=True,
    )
    db.session.add(code)
    _flush_or_taken()
    _set_targets(code, classrooms, courses)
    db.session.flush()
    audit.record(actor, "code.create", code, text=text)
    return code


def update_code(actor, scope, code, data):
    """Change a code's text, targets, dates, limits or role. Max uses never drops
    below the uses already counted; a join code's text changes only through
    codes.joincodes.operations.change_join_code."""
    text, domains, classrooms, courses = _validated(scope, data, code)
    if code.join_code_of is not None and canonical(text) != code.key:
        # Changed here, the old text would become unknown; changed on the
        # classroom's page, it answers that it was replaced.
        raise FieldErrors({"text": (
            f"This is the join code of {code.join_code_of.name}: change its text on the "
            f"classroom's page, so whoever types the old one learns it was replaced."
        )})
    code.text, code.key = text, canonical(text)
    code.role = data.role
    code.valid_from, code.valid_until = data.valid_from, data.valid_until
    code.max_uses = data.max_uses
    code.allowed_domains = " ".join(domains)
    _flush_or_taken()
    _set_targets(code, classrooms, courses)
    db.session.flush()
    db.session.expire(code, ["classrooms", "courses"])
    audit.record(actor, "code.update", code, text=text)
    return code


def set_enabled(actor, code, enabled):
    """Pause or resume a code. A deactivated code stays off for good."""
    if code.deactivated_at is not None:
        raise DomainError("This code was deactivated for good and can't be turned on.")
    code.enabled = bool(enabled)
    db.session.flush()
    audit.record(actor, "code.on" if code.enabled else "code.off", code)
    return code


def deactivate(actor, code, now=None):
    """Turn a code off for good: it cannot be undone."""
    if code.deactivated_at is None:
        code.deactivated_at = now or utcnow()
        db.session.flush()
        audit.record(actor, "code.deactivate", code)
    return code


def delete_code(actor, code, now=None):
    """Remove a code from every list. Its redemptions and the enrollments it made
    stay, and its text keeps answering 'no longer valid'."""
    code.deleted_at = now or utcnow()
    db.session.flush()
    audit.record(actor, "code.delete", code, text=code.text)


def weak_code_warning(code):
    """A warning, not a refusal, for a short or guessable code left unprotected."""
    if is_guessable(code.text) and not code.domains and code.max_uses is None:
        return ("This code is short or easy to guess and has no email domain rule or max uses: "
                "anyone who guesses it can join. Consider a longer code or a limit.")
    return None
