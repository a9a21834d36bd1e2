"""A classroom's join code: made with the classroom, changed by its staff, and
the old one stopped at once (DESIGN.md "Code text"). Every function flushes and
never commits."""

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError

from .. import audit, keys
from ..access import OutOfScope
from ..codetext import canonical, custom_code_problem, random_code
from ..database import lock_present
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..manage.operations import TAKEN, deactivate, text_problem
from ..models import REPLACED, ROLE_STUDENT, Classroom, Code, CodeClassroom, User

# A random code has 50 random bits: a clash with an existing code is next to
# impossible, but a second draw costs nothing.
RANDOM_TRIES = 5


def _insert(actor, classroom, text, allowed_domains):
    """The new code, or None if its key was taken between the check and the insert."""
    code = Code(
        org_id=classroom.org_id,
        text=text,
        key=canonical(text),
        role=ROLE_STUDENT,
        allowed_domains=allowed_domains,
        created_by_id=actor.id if actor else None,
        uses=0,
        enabled=True,
    )
    try:
        with db.session.begin_nested():
            db.session.add(code)
            db.session.flush()
    except IntegrityError:
        return None
    db.session.add(CodeClassroom(code_id=code.id, classroom_id=classroom.id))
    db.session.flush()
    audit.record(actor, "code.create", code, text=text, join_code_of=classroom.id)
    return code


def _new_code(actor, classroom, text=None, allowed_domains=""):
    if text is not None:
        code = _insert(actor, classroom, text, allowed_domains)
        if code is None:
            raise FieldErrors({"text": TAKEN})
        return code
    for _ in range(RANDOM_TRIES):
        text = random_code()
        if not keys.is_taken(canonical(text)):
            code = _insert(actor, classroom, text, allowed_domains)
            if code is not None:
                return code
    raise DomainError("No new code could be drawn. Try again.")


def make_join_code(actor: User, classroom: Classroom) -> Code:
    """Give a new classroom its join code: random, for its students, with no
    dates and no use limit."""
    code = _new_code(actor, classroom)
    classroom.join_code_id = code.id
    db.session.flush()
    db.session.expire(classroom, ["join_code"])
    return code


def check_custom_text(actor: User, classroom: Classroom, text: str | None) -> str:
    """The text staff chose for a join code, checked like a custom code (a taken
    text is a failed guess: codes.manage.operations.text_problem); returns it
    stripped."""
    text = (text or "").strip()
    problem = custom_code_problem(text)
    if problem:
        raise FieldErrors({"text": problem})
    current = classroom.join_code
    if current is not None and current.key == canonical(text):
        raise FieldErrors({"text": "That is already this classroom's join code."})
    problem = text_problem(actor, text)
    if problem:
        raise FieldErrors({"text": problem})
    return text


def change_join_code(
    actor: User, classroom: Classroom, text: str | None = None, now: datetime | None = None
) -> Code:
    """Give a classroom a new join code, random or the text staff chose (checked
    like a custom code), and stop the old one at once: it is deactivated with
    the reason REPLACED, so whoever types it learns it was replaced. The new
    code unlocks the classroom for students, with no dates and no use limit,
    and keeps the old one's email-domain rule.

    The old code's row is written first: a redemption of it locks that row
    before anything else, so the two wait for each other in one order. The
    classroom is kept from deletion next."""
    if text is not None:
        text = check_custom_text(actor, classroom, text)
    old = classroom.join_code
    domains = ""
    if old is not None:
        domains = old.allowed_domains if old.deleted_at is None else ""
        deactivate(actor, old, now, reason=REPLACED)
    # After the old code's row, as deleting the classroom locks them: deleted
    # meanwhile, the classroom is not found.
    if not lock_present(Classroom, [classroom.id]):
        raise OutOfScope()
    new = _new_code(actor, classroom, text, domains)
    # Guarded: if another member of staff changed it in the same moment, theirs stands.
    # (An UPDATE's result is a CursorResult, which Session.execute's type leaves out.)
    changed = cast(
        CursorResult[Any],
        db.session.execute(
            update(Classroom)
            .where(
                Classroom.id == classroom.id,
                Classroom.join_code_id.is_(None) if old is None else Classroom.join_code_id == old.id,
            )
            .values(join_code_id=new.id)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if changed != 1:
        raise DomainError(
            "Someone else changed this join code at the same moment. "
            "Look at the new one before changing it again."
        )
    db.session.expire(classroom, ["join_code_id", "join_code"])
    audit.record(actor, "classroom.join_code", classroom, old=old.text if old else None, new=new.text)
    return new
