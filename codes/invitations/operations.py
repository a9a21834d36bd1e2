"""Invitations: how an organization asks a person to join (DESIGN.md "People and
what they may touch"). An organization never attaches an existing account by
itself: it invites the email it typed, sees only that email and "invited" until
the person accepts, logged in as the account with that email, and takes no seat
before. Every function flushes and never commits."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from .. import audit, mail
from ..database import insert_ignore
from ..errors import DomainError
from ..extensions import db
from ..models import Classroom, Invitation, Organization, OrgMember, User, utcnow
from ..urls import public_url

LIFETIME = timedelta(days=14)


class InvitationClosed(DomainError):
    """Accepted, declined, cancelled or expired: there is nothing to accept."""


def _pending(now):
    return (
        Invitation.accepted_at.is_(None),
        Invitation.declined_at.is_(None),
        Invitation.cancelled_at.is_(None),
        Invitation.expires_at >= now,
    )


def invite(
    actor: User,
    org: Organization,
    email: str,
    classroom: Classroom | None = None,
    now: datetime | None = None,
) -> Invitation:
    """Invite an email to the organization (and, from a roster, to one of its
    classrooms). Nothing here reads whether the email has an account: the answer
    is the same either way. An invitation still open for the same email and
    classroom is renewed rather than doubled. Returns the invitation."""
    now = now or utcnow()
    email = email.strip()
    key = User.key_for(email)
    invitation = db.session.scalar(
        select(Invitation)
        .where(
            Invitation.org_id == org.id,
            Invitation.email_key == key,
            Invitation.classroom_id.is_(None)
            if classroom is None
            else Invitation.classroom_id == classroom.id,
            *_pending(now),
        )
        .limit(1)
    )
    if invitation is None:
        invitation = Invitation(
            org_id=org.id,
            email=email,
            email_key=key,
            classroom_id=classroom.id if classroom else None,
            invited_by_id=actor.id,
            created_at=now,
        )
        db.session.add(invitation)
    invitation.expires_at = now + LIFETIME
    invitation.sent_at = now
    db.session.flush()
    audit.record(
        actor,
        "invitation.create",
        invitation,
        org_id=org.id,
        email=email,
        classroom_id=classroom.id if classroom else None,
    )
    return invitation


def is_member(org: Organization, email: str) -> bool:
    """Whether the email belongs to a person who has joined the organization (whom
    its staff already know)."""
    return (
        db.session.scalar(
            select(OrgMember.id)
            .join(User, User.id == OrgMember.user_id)
            .where(OrgMember.org_id == org.id, User.email_key == User.key_for(email))
        )
        is not None
    )


def _serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="invitation")


def token_for(invitation: Invitation) -> str:
    return _serializer().dumps({"i": invitation.id, "e": invitation.email_key})


def for_token(token: str) -> Invitation | None:
    """The invitation a mailed link names, or None: signed, within its lifetime."""
    try:
        data = _serializer().loads(token, max_age=int(LIFETIME.total_seconds()))
    except BadSignature:
        return None
    invitation = db.session.get(Invitation, data.get("i"))
    if invitation is None or invitation.email_key != data.get("e"):
        return None
    return invitation


def for_person(user: User, now: datetime | None = None) -> Sequence[Invitation]:
    """The invitations open for the person's email, oldest first."""
    now = now or utcnow()
    return db.session.scalars(
        select(Invitation)
        .where(Invitation.email_key == user.email_key, *_pending(now))
        .order_by(Invitation.created_at, Invitation.id)
    ).all()


def own_or_none(user: User, invitation_id: int) -> Invitation | None:
    """One of the invitations addressed to the person's email, or None."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.email_key != user.email_key:
        return None
    return invitation


def open_for_org(org: Organization, now: datetime | None = None) -> Sequence[Invitation]:
    """The organization's invitations still open, newest first: all its staff
    learn of a person until they accept is the email typed."""
    now = now or utcnow()
    return db.session.scalars(
        select(Invitation)
        .where(Invitation.org_id == org.id, *_pending(now))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    ).all()


def _check_open(invitation, now):
    if not invitation.is_pending(now):
        raise InvitationClosed(
            "This invitation is no longer open: it was answered, cancelled or is over "
            f"{LIFETIME.days} days old. Ask whoever sent it for a new one."
        )


@dataclass(frozen=True)
class Accepted:
    invitation: Invitation
    took_seat: bool

    @property
    def message(self) -> str:
        org = self.invitation.organization.name
        room = self.invitation.classroom
        return f"You joined {org}" + (f" and {room.name}." if room is not None else ".")


def accept(
    user: User, invitation: Invitation, via_link: bool = False, now: datetime | None = None
) -> Accepted:
    """The person joins the organization by their own act. Only the account with
    the invited email may accept; through the mailed link (which proves the
    address) that also verifies it, while on the profile it needs an address
    verified already. An invitation to a classroom places them there and takes
    their seat as a code would (codes.seats.operations.take_seat), which may be
    refused when none is left."""
    from ..seats.operations import NoSeatLeft, take_seat
    from ..users.operations import place_in_classrooms

    now = now or utcnow()
    _check_open(invitation, now)
    if invitation.email_key != user.email_key:
        raise InvitationClosed("This invitation is for another email address.")
    if via_link:
        user.email_verified = True
    elif not user.email_verified:
        raise DomainError(
            "Confirm your email address first (the link we sent you), or open the "
            "invitation's own link from your mail."
        )
    org = invitation.organization
    took_seat = False
    classroom = invitation.classroom
    if classroom is not None and classroom.org_id == org.id:
        try:
            took_seat = take_seat(user, org, [classroom.id])
        except NoSeatLeft as refusal:
            raise DomainError(refusal.message) from None
        place_in_classrooms([(user.id, classroom.id)])
    else:
        insert_ignore(db.session, OrgMember, [{"org_id": org.id, "user_id": user.id}])
    invitation.accepted_at, invitation.accepted_by_id = now, user.id
    db.session.flush()
    audit.record(
        user,
        "invitation.accept",
        invitation,
        org_id=org.id,
        took_seat=took_seat,
        classroom_id=classroom.id if classroom is not None else None,
    )
    return Accepted(invitation, took_seat)


def decline(user: User, invitation: Invitation, now: datetime | None = None) -> None:
    """The person says no. The organization is not told (its list simply no
    longer shows the invitation): a refusal would tell it the email has an
    account."""
    now = now or utcnow()
    _check_open(invitation, now)
    if invitation.email_key != user.email_key:
        raise InvitationClosed("This invitation is for another email address.")
    invitation.declined_at = now
    db.session.flush()
    current_app.logger.info("Invitation %s declined by user %s", invitation.id, user.id)


def cancel(actor: User, org: Organization, invitation: Invitation, now: datetime | None = None) -> None:
    """Staff take an open invitation back; the caller has checked it is the
    organization's."""
    _check_open(invitation, now or utcnow())
    invitation.cancelled_at = now or utcnow()
    db.session.flush()
    audit.record(actor, "invitation.cancel", invitation, org_id=org.id, email=invitation.email)


def send(invitation: Invitation) -> bool:
    """Queue the invitation's mail in the transaction that made (or renewed) it:
    limited per recipient (codes.mail.queue_limited), its link on PUBLIC_URL,
    working LIFETIME from now. Whether it was queued."""
    link = public_url("invitations.link", token=token_for(invitation))
    return mail.queue_limited(
        invitation.email, *mail_for(invitation, link), per_address=False, org=invitation.organization
    )


def mail_for(invitation: Invitation, link: str) -> tuple[str, str]:
    """The invitation's mail: the same whether or not the address has an account,
    since whoever sent it must not learn which."""
    org = invitation.organization.name
    room = f" ({invitation.classroom.name})" if invitation.classroom is not None else ""
    return (
        f"{org} invites you to join",
        f"Hello,\n\n{org} invites you to join it{room} on Codes. To accept, open this link "
        f"within {LIFETIME.days} days and log in with this address:\n{link}\n\n"
        f"No account with this address yet? The page lets you sign up first.\n\n"
        f"Nothing happens unless you accept: {org} sees only your email address until then. "
        f"If you don't know {org}, ignore this message.\n",
    )
