"""Codes that defend themselves (docs/APPROVAL.md): the queue of requests a code
in approval mode collects, accepted or declined by its staff; the leak guard's
settings and warning; rotating a leaked code and reviewing who joined through
it. Every function flushes and never commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.exc import IntegrityError

from .. import audit, database, keys
from ..access import Scope
from ..codetext import canonical, random_code
from ..database import begin_writing
from ..errors import DomainError
from ..extensions import db
from ..models import (
    ACCEPTED,
    DECLINED,
    PENDING,
    REFUSED,
    Batch,
    Classroom,
    ClassroomMember,
    Code,
    JoinRequest,
    Organization,
    Redemption,
    RetiredKey,
    User,
    utcnow,
)
from ..redeem import operations as redeem
from ..reports import aggregates

# The most requests the queue shows at once; "accept all" takes every one.
QUEUE_SHOWN = 200
# Draws of a new random text before giving up (each is 50 random bits: a
# second draw is already all but never needed).
ROTATE_ATTEMPTS = 5


@dataclass(frozen=True)
class Decision:
    """What an accept or a decline did to one request: ACCEPTED, DECLINED,
    REFUSED (accepted, but the code could no longer place the person, `reason`
    says why), or "" when someone had decided it already."""

    request: JoinRequest
    state: str
    reason: str = ""


_DECIDE = (
    JoinRequest.__table__.update()
    .where(JoinRequest.id == bindparam("r_id"), JoinRequest.state == PENDING)
    .values(state=bindparam("r_state"), decided_at=bindparam("r_now"), decided_by_id=bindparam("r_actor"))
)
_REFUSE = (
    JoinRequest.__table__.update()
    .where(JoinRequest.id == bindparam("r_id"))
    .values(state=REFUSED, reason=bindparam("r_reason"))
)


def _claim(actor, request, state, now):
    """Decide a pending request, once: the UPDATE holds its row, so of two staff
    deciding it at once the second finds it decided and does nothing."""
    claimed = database.execute(
        _DECIDE, {"r_id": request.id, "r_state": state, "r_now": now, "r_actor": actor.id}
    ).rowcount
    db.session.expire(request)
    return claimed == 1


def _place(user: User, code: Code, now: datetime) -> None:
    """Redeem for the person now, with every rule of a redemption checked again
    on the code as it is now (dates, on/off, max uses, domain, seats,
    allotments, deactivation, deletion): the use is counted and the seat taken
    here, not when the request was made. Raises RedeemRefused."""
    found = redeem.found_afresh(code, user)
    if found.code is None or found.code.deleted_at is not None or not (found.classrooms or found.courses):
        raise redeem.RedeemRefused(
            redeem.INVALID, "That code is no longer valid. Ask whoever gave it to you for a new one."
        )
    if found.already or not found.missing:
        return  # in every place already, through another code or a roster: nothing to count
    redeem.check_may_join(user, found.code, now)
    redeem.count_use(found.code, now)
    redeem.join(user, found, now, through_request=True)


def accept(actor: User, request: JoinRequest, now: datetime | None = None) -> Decision:
    """Accept a pending request: the person is placed as by a redemption made
    now, whole or not at all, and exactly within every limit however many staff
    accept at once. A request the code can no longer honour is marked so, with
    the reason the person will read; one decided already is left as it is."""
    now = now or utcnow()
    begin_writing(db.session)
    if not _claim(actor, request, ACCEPTED, now):
        return Decision(request, "")
    user = db.session.get(User, request.user_id)
    code = db.session.get(Code, request.code_id)
    assert user is not None and code is not None  # the request's keys cascade
    try:
        with db.session.begin_nested():
            _place(user, code, now)
    except redeem.RedeemRefused as refusal:
        database.execute(_REFUSE, {"r_id": request.id, "r_reason": refusal.message})
        db.session.expire(request)
        audit.insert(actor, "request.refused", request, org_id=code.org_id, at=now, reason=refusal.message)
        return Decision(request, REFUSED, refusal.message)
    except IntegrityError:
        # The person redeemed the code themselves meanwhile (approval was turned
        # off): they are in, and nothing more is counted.
        pass
    audit.insert(actor, "request.accept", request, org_id=code.org_id, at=now, user_id=user.id)
    return Decision(request, ACCEPTED)


def decline(actor: User, request: JoinRequest, now: datetime | None = None) -> Decision:
    """Decline a pending request: nothing is counted, and the person's profile
    says so; typing the code again does not ask again."""
    now = now or utcnow()
    begin_writing(db.session)
    if not _claim(actor, request, DECLINED, now):
        return Decision(request, "")
    audit.insert(actor, "request.decline", request, org_id=request.org_id, at=now, user_id=request.user_id)
    return Decision(request, DECLINED)


def _pending(code):
    return (
        select(JoinRequest)
        .where(JoinRequest.code_id == code.id, JoinRequest.state == PENDING)
        .order_by(JoinRequest.created_at, JoinRequest.id)
    )


def accept_all(actor: User, code: Code, now: datetime | None = None) -> list[Decision]:
    """Accept every pending request of the code, oldest first, each as accept()
    does: once the code is used up or the seats run out, the rest are marked
    with the reason."""
    now = now or utcnow()
    begin_writing(db.session)
    return [accept(actor, r, now) for r in db.session.scalars(_pending(code)).all()]


def decline_all(actor: User, code: Code, now: datetime | None = None) -> list[Decision]:
    """Decline every pending request of the code."""
    now = now or utcnow()
    begin_writing(db.session)
    return [decline(actor, r, now) for r in db.session.scalars(_pending(code)).all()]


@dataclass(frozen=True)
class Queue:
    """A code's pending requests as its staff see them: the oldest QUEUE_SHOWN,
    with the people who made them, and how many there are in all."""

    code: Code
    rows: Sequence[Row[tuple[JoinRequest, User]]]
    total: int


def queue(code: Code) -> Queue:
    rows = db.session.execute(
        _pending(code).add_columns(User).join(User, User.id == JoinRequest.user_id).limit(QUEUE_SHOWN)
    ).all()
    total = db.session.scalar(
        select(func.count()).where(JoinRequest.code_id == code.id, JoinRequest.state == PENDING)
    )
    return Queue(code, rows, total or 0)


def pending_counts(code_ids: Collection[int]) -> dict[int, int]:
    """How many requests wait for each of these codes (codes with none left out)."""
    if not code_ids:
        return {}
    rows = db.session.execute(
        select(JoinRequest.code_id, func.count())
        .where(JoinRequest.code_id.in_(list(code_ids)), JoinRequest.state == PENDING)
        .group_by(JoinRequest.code_id)
    ).all()
    return {code_id: n for code_id, n in rows}


@dataclass(frozen=True)
class MyRequest:
    """One of a person's requests as their profile shows it."""

    code_text: str
    org_name: str
    timezone: str
    state: str
    reason: str
    created_at: datetime
    decided_at: datetime | None
    # Deactivated or deleted since: a pending request it can never honour.
    code_gone: bool


def my_requests(user: User) -> list[MyRequest]:
    """The person's requests, newest first: waiting, accepted, declined, or
    not accepted and why. Names only their codes and organizations."""
    rows = db.session.execute(
        select(
            JoinRequest,
            Code.text,
            Code.deactivated_at,
            Code.deleted_at,
            Organization.name,
            Organization.timezone,
        )
        .join(Code, Code.id == JoinRequest.code_id)
        .join(Organization, Organization.id == JoinRequest.org_id)
        .where(JoinRequest.user_id == user.id)
        .order_by(JoinRequest.created_at.desc(), JoinRequest.id.desc())
    ).all()
    return [
        MyRequest(
            code_text=text,
            org_name=org_name,
            timezone=timezone,
            state=r.state,
            reason=r.reason,
            created_at=r.created_at,
            decided_at=r.decided_at,
            code_gone=deactivated is not None or deleted is not None,
        )
        for r, text, deactivated, deleted, org_name, timezone in rows
    ]


def dismiss_spike(actor: User, code: Code) -> Code:
    """Staff have seen the warning: it goes, and the guard may warn again. The
    code stays in approval mode until they turn that off."""
    if code.spike_at is not None:
        code.spike_at, code.spike_reason = None, None
        code.spike_count, code.spike_usual = None, None
        db.session.flush()
        audit.record(actor, "code.spike_dismissed", code)
    return code


def rotate(actor: User, code: Code, now: datetime | None = None) -> Code:
    """Give a leaked code a new random text (with its batch's prefix, if any).
    The old text answers "no longer valid, replaced" from now on, and no code
    or parent code may take it again (codes.keys); the code keeps its uses,
    limits, requests and redemptions. A deactivated code has nothing to rotate."""
    now = now or utcnow()
    if code.deactivated_at is not None:
        raise DomainError("This code was deactivated for good: it has no text to replace.")
    prefix = ""
    if code.batch_id is not None:
        batch = db.session.get(Batch, code.batch_id)
        prefix = batch.prefix if batch is not None else ""
    old_text, old_key = code.text, code.key
    for _ in range(ROTATE_ATTEMPTS):
        text = random_code(prefix)
        if keys.is_taken(canonical(text)):
            continue
        try:
            with db.session.begin_nested():
                code.text, code.key = text, canonical(text)
                db.session.add(RetiredKey(key=old_key, code_id=code.id, retired_at=now))
                db.session.flush()
        except IntegrityError:
            db.session.refresh(code)
            continue
        aggregates.rename_code(code.org_id, code.id, code.text)
        audit.record(actor, "code.rotate", code, at=now, was=old_text, text=text)
        return code
    raise DomainError("No new text could be drawn just now. Try again.")


@dataclass(frozen=True)
class Joined:
    """Someone who joined through a code since its spike began, and which of the
    code's classrooms in the actor's scope they are in still (to remove them)."""

    user: User
    joined_at: datetime
    classrooms: Sequence[Classroom]


def joined_since_spike(scope: Scope, code: Code) -> list[Joined]:
    """Who redeemed the code (or was accepted) since its spike began, oldest
    first: what staff review after a leak. Empty without a spike."""
    if code.spike_at is None:
        return []
    rows = db.session.execute(
        select(User, Redemption.created_at)
        .join(Redemption, Redemption.user_id == User.id)
        .where(Redemption.code_id == code.id, Redemption.created_at >= code.spike_at)
        .order_by(Redemption.created_at, Redemption.id)
    ).all()
    if not rows:
        return []
    rooms = [c for c in code.classrooms if scope.can_manage_classroom(c)]
    memberships = set(
        db.session.execute(
            select(ClassroomMember.user_id, ClassroomMember.classroom_id).where(
                ClassroomMember.user_id.in_([u.id for u, _ in rows]),
                ClassroomMember.classroom_id.in_([c.id for c in rooms] or [-1]),
            )
        ).all()
    )
    return [Joined(user, at, [c for c in rooms if (user.id, c.id) in memberships]) for user, at in rows]
