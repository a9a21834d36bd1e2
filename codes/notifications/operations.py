"""The daily digest and the choices that govern it. Every function flushes and
never commits."""

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
    NotificationSetting,
    Organization,
    OrgMember,
    Redemption,
    User,
)
from ..urls import public_url
from .alerts import ALERTS

DIGEST = "digest"
KINDS = (DIGEST, ALERTS)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="unsubscribe")


def unsubscribe_token(user_id: int, org_id: int, kind: str = DIGEST) -> str:
    """The token of a notification mail's one-click unsubscribe link: it names
    one person, one organization and which mails (DIGEST or alerts.ALERTS), and
    works for as long as the mail is kept."""
    return _serializer().dumps({"u": user_id, "o": org_id, "k": kind})


def for_unsubscribe_token(token: str) -> tuple[User, Organization, str] | None:
    """The person, organization and kind of mail an unsubscribe link names, or None."""
    try:
        data = _serializer().loads(token[:200])
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k", DIGEST) not in KINDS:
        return None
    user, org = db.session.get(User, data.get("u")), db.session.get(Organization, data.get("o"))
    if user is None or org is None:
        return None
    return user, org, data.get("k", DIGEST)


def wants_digest(user: User, org: Organization) -> bool:
    setting = db.session.get(NotificationSetting, (user.id, org.id))
    return setting is None or setting.daily_digest


def set_choice(user: User, org: Organization, kind: str, on: bool) -> None:
    """The person's choice of the organization's daily digest (DIGEST) or of its
    alerts (alerts.ALERTS), each on by default."""
    setting = db.session.get(NotificationSetting, (user.id, org.id))
    if setting is None:
        setting = NotificationSetting(user_id=user.id, org_id=org.id, daily_digest=True, alerts=True)
        db.session.add(setting)
    if kind == DIGEST:
        setting.daily_digest = on
    else:
        setting.alerts = on
    db.session.flush()


def set_welcome(actor: User, org: Organization, on: bool) -> None:
    """Whether students who join a classroom through the organization's codes
    get a welcome mail (on by default): the organization's choice, its admins'."""
    org.welcome_mail = on
    db.session.flush()
    audit.record(actor, "org.welcome_mail", org, org_id=org.id, on=on)


def joined_on(
    org: Organization, start: datetime, end: datetime, scope: Scope | None = None
) -> list[tuple[str, str]]:
    """Who first joined the organization as a student between start and end, and
    where (the classrooms the code placed them in), in order. With a leader's or
    instructor's scope: only those now in its classrooms or courses, and where
    among them."""
    rows = db.session.execute(
        select(User.name, Redemption.user_id)
        .join(User, User.id == Redemption.user_id)
        .where(Redemption.org_id == org.id, Redemption.created_at >= start, Redemption.created_at < end)
        .order_by(Redemption.created_at, Redemption.id)
    ).all()
    limited = scope is not None and not scope.admin
    seen, joined = set(), []
    for name, user_id in rows:
        if user_id in seen:
            continue
        seen.add(user_id)
        rooms_query = (
            select(Classroom.name)
            .join(ClassroomMember, ClassroomMember.classroom_id == Classroom.id)
            .where(Classroom.org_id == org.id, ClassroomMember.user_id == user_id)
            .order_by(Classroom.name)
        )
        if scope is not None and limited:
            rooms_query = rooms_query.where(Classroom.id.in_(scope.classroom_ids or {0}))
            courses = db.session.scalars(
                select(Course.name)
                .join(Enrollment, Enrollment.course_id == Course.id)
                .where(Enrollment.user_id == user_id, Course.id.in_(scope.course_ids or {0}))
                .order_by(Course.name)
            ).all()
        rooms = db.session.scalars(rooms_query).all()
        if limited:
            places = [*rooms, *courses]
            if places:
                joined.append((name, ", ".join(places)))
            continue
        joined.append((name, ", ".join(rooms) or org.name))
    return joined


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
    verified email, who has not turned it off) of each organization someone
    joined that day gets one mail, queued in the task's own transaction; each
    leader and instructor likewise, of who joined their own classrooms and
    courses, when anyone did."""
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
        everyone = joined_on(org, start, end)
        for person, admin in _staff(org):
            if not wants_digest(person, org):
                continue
            joined = everyone if admin else joined_on(org, start, end, Scope(person, org))
            if not joined:
                continue
            link = public_url("notifications.unsubscribe", token=unsubscribe_token(person.id, org.id))
            subject, body = messages.digest_mail(person.name, org.name, start.date().isoformat(), joined)
            mail.queue(person.email, subject, body, org=org, unsubscribe=link)


periodic.every(DIGEST, periodic.daily)
