"""The daily digest and the choices that govern it. Every function flushes and
never commits."""

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from .. import audit, jobs, mail, messages
from ..access import Scope
from ..extensions import db
from ..jobs import periodic
from ..models import (
    Classroom,
    ClassroomLeader,
    ClassroomMember,
    Course,
    CourseInstructor,
    Enrollment,
    Organization,
    OrgMember,
    Redemption,
    User,
)
from ..urls import public_url
from . import choices
from .choices import DIGEST, KINDS

# An unsubscribe link names at most this many classrooms (a code's); a mail
# about more is unsubscribed for the whole organization.
MAX_LINK_ROOMS = 20
# Longer than any token unsubscribe_token makes: not looked at.
MAX_TOKEN = 600


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="unsubscribe")


def unsubscribe_token(user_id: int, org_id: int, kind: str = DIGEST, room_ids: Collection[int] = ()) -> str:
    """The token of a notification mail's one-click unsubscribe link: it names
    one person, one organization, which mails (DIGEST or ALERTS) and, for a
    mail about classrooms (an alert about a code), those classrooms; it works
    for as long as the mail is kept."""
    data: dict[str, Any] = {"u": user_id, "o": org_id, "k": kind}
    if room_ids and len(room_ids) <= MAX_LINK_ROOMS:
        data["c"] = sorted(room_ids)
    return _serializer().dumps(data)


@dataclass(frozen=True)
class Unsubscribe:
    """What an unsubscribe link names: the person, the organization, the kind
    of mail and, for a mail about classrooms, their ids (else empty: the whole
    organization)."""

    user: User
    org: Organization
    kind: str
    room_ids: tuple[int, ...] = field(default=())


def for_unsubscribe_token(token: str) -> Unsubscribe | None:
    """What an unsubscribe link names, or None."""
    if len(token) > MAX_TOKEN:
        return None
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k", DIGEST) not in KINDS:
        return None
    rooms = data.get("c", [])
    if not isinstance(rooms, list) or not all(isinstance(r, int) for r in rooms):
        return None
    user, org = db.session.get(User, data.get("u")), db.session.get(Organization, data.get("o"))
    if user is None or org is None:
        return None
    return Unsubscribe(user, org, data.get("k", DIGEST), tuple(rooms))


def rooms_named(link: Unsubscribe) -> list[Classroom]:
    """The classrooms of the organization an unsubscribe link names that are
    still there, by name."""
    if not link.room_ids:
        return []
    return list(
        db.session.scalars(
            select(Classroom)
            .where(Classroom.org_id == link.org.id, Classroom.id.in_(link.room_ids))
            .order_by(Classroom.name, Classroom.id)
        )
    )


def unsubscribe(link: Unsubscribe) -> list[Classroom]:
    """The one-click unsubscribe (RFC 8058). A mail about classrooms (an alert
    about a code) turns off that kind of mail for those classrooms alone; any
    other (the digest, the alerts about seats and failed attempts) turns that
    kind off for the whole organization, the classrooms turned on included.
    The classrooms turned off: those the link names that are still there (a
    classroom deleted since sends no more mail anyway)."""
    if link.room_ids:
        return choices.stop_rooms(link.user, link.org, link.kind, [r.id for r in rooms_named(link)])
    choices.stop_all(link.user, link.org, link.kind)
    return []


def wants_digest(user: User, org: Organization) -> bool:
    """The person's choice of the organization's daily digest, for the whole
    organization (a classroom's own choice may differ: choices.wants)."""
    return choices.org_wants(user, org, DIGEST)


def set_choice(user: User, org: Organization, kind: str, on: bool) -> None:
    """The person's choice of the organization's daily digest (DIGEST) or of its
    alerts (ALERTS), each on by default."""
    choices.set_choice(user, org, kind, on)


def set_welcome(actor: User, org: Organization, on: bool) -> None:
    """Whether students who join a classroom through the organization's codes
    get a welcome mail (on by default): the organization's choice, its admins'."""
    org.welcome_mail = on
    db.session.flush()
    audit.record(actor, "org.welcome_mail", org, org_id=org.id, on=on)


def joined_on(
    org: Organization,
    start: datetime,
    end: datetime,
    rooms: Collection[int] | None = None,
    courses: Collection[int] = (),
    rest: bool = True,
) -> list[tuple[str, str]]:
    """Who first joined the organization as a student between start and end, and
    where, in order: each with those of their classrooms in `rooms` (None: all)
    and of their courses in `courses`; someone in none of those is left out,
    except, with `rest`, someone in no classroom of the organization at all,
    named with the organization's name (an admin's digest). A leader's or
    instructor's digest passes their own classrooms and courses, without rest."""
    rows = db.session.execute(
        select(User.name, Redemption.user_id)
        .join(User, User.id == Redemption.user_id)
        .where(Redemption.org_id == org.id, Redemption.created_at >= start, Redemption.created_at < end)
        .order_by(Redemption.created_at, Redemption.id)
    ).all()
    seen, joined = set(), []
    for name, user_id in rows:
        if user_id in seen:
            continue
        seen.add(user_id)
        in_rooms = db.session.execute(
            select(Classroom.id, Classroom.name)
            .join(ClassroomMember, ClassroomMember.classroom_id == Classroom.id)
            .where(Classroom.org_id == org.id, ClassroomMember.user_id == user_id)
            .order_by(Classroom.name)
        ).all()
        places = [room for room_id, room in in_rooms if rooms is None or room_id in rooms]
        if courses:
            places += db.session.scalars(
                select(Course.name)
                .join(Enrollment, Enrollment.course_id == Course.id)
                .where(Enrollment.user_id == user_id, Course.id.in_(list(courses)))
                .order_by(Course.name)
            ).all()
        if places:
            joined.append((name, ", ".join(places)))
        elif rest and not in_rooms:
            joined.append((name, org.name))
    return joined


def digest_places(person: User, org: Organization, admin: bool) -> tuple[set[int], set[int], bool]:
    """What the person's digest covers, by the most specific choice: the
    classrooms (all of the organization's for an admin, their own for a
    leader) whose digest they want, by each one's own choice or else the
    organization's; their courses, and for an admin the people in no
    classroom, when they want the organization's."""
    whole = choices.org_wants(person, org, DIGEST)
    if admin:
        room_ids: Collection[int] = db.session.scalars(
            select(Classroom.id).where(Classroom.org_id == org.id)
        ).all()
        course_ids: set[int] = set()
    else:
        scope = Scope(person, org)
        room_ids, course_ids = scope.classroom_ids, scope.course_ids if whole else set()
    return choices.wanted_rooms(person, org, DIGEST, room_ids), set(course_ids), whole and admin


def _staff(org: Organization) -> list[tuple[User, bool]]:
    """The organization's admins and its classrooms' leaders and courses'
    instructors with a verified email, each once, with whether an admin."""
    admins = set(
        db.session.scalars(select(OrgMember.user_id).where(OrgMember.org_id == org.id, OrgMember.is_admin))
    )
    ids = set(admins)
    ids |= set(
        db.session.scalars(
            select(ClassroomLeader.user_id)
            .join(Classroom, Classroom.id == ClassroomLeader.classroom_id)
            .where(Classroom.org_id == org.id)
        )
    )
    ids |= set(
        db.session.scalars(
            select(CourseInstructor.user_id)
            .join(Course, Course.id == CourseInstructor.course_id)
            .where(Course.org_id == org.id)
        )
    )
    people = db.session.scalars(
        select(User).where(User.id.in_(ids or {0}), User.email_verified).order_by(User.id)
    )
    return [(person, person.id in admins) for person in people]


@jobs.task(DIGEST)
def send_digests(payload: dict[str, Any]) -> None:
    """The daily digest for the day before the period's: each admin (with a
    verified email) of each organization someone joined that day gets one mail
    of who joined it, queued in the task's own transaction; each leader and
    instructor likewise, of who joined their own classrooms and courses, when
    anyone did. Each covers only the places whose digest the person wants
    (digest_places: a classroom's own choice over the organization's)."""
    end = datetime.combine(date.fromisoformat(payload["period"]), datetime.min.time())
    start = end - timedelta(days=1)
    org_ids = db.session.scalars(
        select(Redemption.org_id)
        .where(Redemption.created_at >= start, Redemption.created_at < end)
        .distinct()
        .order_by(Redemption.org_id)
    ).all()
    for org_id in org_ids:
        org = db.session.get(Organization, org_id)
        if org is None:
            continue
        # Staff whose choices cover the same places share one list.
        lists: dict[tuple[frozenset[int], frozenset[int], bool], list[tuple[str, str]]] = {}
        for person, admin in _staff(org):
            rooms, courses, rest = digest_places(person, org, admin)
            if not rooms and not courses and not rest:
                continue
            key = (frozenset(rooms), frozenset(courses), rest)
            if key not in lists:
                lists[key] = joined_on(org, start, end, rooms, courses, rest)
            joined = lists[key]
            if not joined:
                continue
            link = public_url("notifications.unsubscribe", token=unsubscribe_token(person.id, org.id))
            subject, body = messages.digest_mail(person.name, org.name, start.date().isoformat(), joined)
            mail.queue(person.email, subject, body, org=org, unsubscribe=link)


periodic.every(DIGEST, periodic.daily)
