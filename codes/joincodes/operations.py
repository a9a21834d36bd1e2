"""A classroom's join code: made with the classroom, changed by its staff, and
the old one stopped at once (DESIGN.md "Code text"). Every function flushes and
never commits."""
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..codetext import canonical, custom_code_problem, random_code
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..manage.operations import key_taken
from ..models import REPLACED, ROLE_STUDENT, Classroom, Code, CodeClassroom, utcnow

# A random code has 50 random bits: a clash with an existing code is next to
# impossible, but a second draw costs nothing.
RANDOM_TRIES = 5


def _insert(actor, classroom, text, allowed_domains):
    """The new code, or None if its key was taken between the check and the insert."""
    code = Code(org_id=classroom.org_id, text=text, key=canonical(text), role=ROLE_STUDENT,
                allowed_domains=allowed_domains, created_by_id=actor.id if actor else None,
                uses=0, enabled=True)
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
            raise FieldErrors({"text": "That code is already taken. Choose another."})
        return code
    for _ in range(RANDOM_TRIES):
        text = random_code()
        if not key_taken(canonical(text)):
            code = _insert(actor, classroom, text, allowed_domains)
            if code is not None:
                return code
    raise DomainError("No new code could be drawn. Try again.")


def make_join_code(actor, classroom):
    """Give a new classroom its join code: random, for its students, with no
    dates and no use limit."""
    code = _new_code(actor, classroom)
    classroom.join_code_id = code.id
    db.session.flush()
    db.session.expire(classroom, ["join_code"])
    return code


def check_custom_text(classroom, text):
    """The text staff chose for a join code, checked like a custom code; returns it stripped."""
    text = (text or "").strip()
    problem = custom_code_problem(text)
    if problem:
        raise FieldErrors({"text": problem})
    current = classroom.join_code
    if current is not None and current.key == canonical(text):
        raise FieldErrors({"text": "That is already this classroom's join code."})
    if key_taken(canonical(text)):
        raise FieldErrors({"text": "That code is already taken. Choose another."})
    return text


def change_join_code(actor, classroom, text=None, now=None):
    """Give a classroom a new join code, random or the text staff chose (checked
    like a custom code), and stop the old one at once: it is deactivated with
    the reason REPLACED, so whoever types it learns it was replaced. The new
    code unlocks the classroom for students, with no dates and no use limit,
    and keeps the old one's email-domain rule.

    The old code's row is written first: a redemption of it locks that row
    before anything else, so the two wait for each other in one order."""
    if text is not None:
        text = check_custom_text(classroom, text)
    old = classroom.join_code
    domains = ""
    if old is not None:
        domains = old.allowed_domains if old.deleted_at is None else ""
        if old.deactivated_at is None:
            old.deactivated_at = now or utcnow()
            old.deactivated_reason = REPLACED
            db.session.flush()
    new = _new_code(actor, classroom, text, domains)
    # Guarded: if another member of staff changed it in the same moment, theirs stands.
    changed = db.session.execute(
        update(Classroom)
        .where(Classroom.id == classroom.id,
               Classroom.join_code_id.is_(None) if old is None else Classroom.join_code_id == old.id)
        .values(join_code_id=new.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise DomainError("Someone else changed this join code at the same moment. "
                          "Look at the new one before changing it again.")
    db.session.expire(classroom, ["join_code_id", "join_code"])
    audit.record(actor, "classroom.join_code", classroom, old=old.text if old else None,
                 new=new.text)
    return new


def stop_join_code(actor, classroom, now=None):
    """Deactivate the join code of a classroom being deleted: left on, it would
    still take seats and place people nowhere."""
    code = classroom.join_code
    if code is not None and code.deactivated_at is None:
        code.deactivated_at = now or utcnow()
        db.session.flush()
        audit.record(actor, "code.deactivate", code, classroom_deleted=classroom.id)
