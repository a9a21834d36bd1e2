"""Alerts to staff, and the welcome mail to a student, each queued in the
transaction of the change that causes it (docs/JOBS.md, "Alerts").

An alert is sent at a crossing: the caller, holding the lock that orders such
changes (the organization's row for seats, the code's row for uses), passes the
figures before and after its change, so of any number of concurrent changes
exactly one sees each crossing, and a change rolled back takes its alert with it.
Every function flushes and never commits."""

import calendar
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import select, text

from .. import database, jobs, mail, messages
from ..access import Scope
from ..extensions import db
from ..models import (
    ClassroomLeader,
    Code,
    CodeClassroom,
    CodeCourse,
    CourseInstructor,
    Organization,
    OrgMember,
    User,
    utcnow,
)
from ..urls import public_url
from . import choices

if TYPE_CHECKING:
    # The leak guard calls this module: its type only, to name what it sends.
    from ..redeem.leakguard import Spike

# Free seats under this share of the limit are low (codes.seats.operations.LOW_SHARE).
LOW_SHARE = 0.10
SEATS_LOW, SEATS_OUT = "seats_low", "seats_out"
# A code's uses at 4/5 of its limit, and at its limit.
CODE_MOST, CODE_USED = "code_most", "code_used"
ALERTS = choices.ALERTS


def seat_crossing(limit: int | None, free_before: int, free_after: int) -> str | None:
    """Which alert a change of the free seats from free_before to free_after
    crosses into, if any: none left (SEATS_OUT), or under LOW_SHARE of the
    limit (SEATS_LOW). A change that crosses both says only that none are left."""
    if limit is None or limit <= 0 or free_after >= free_before:
        return None
    if free_after <= 0 < free_before:
        return SEATS_OUT
    if free_after < limit * LOW_SHARE <= free_before:
        return SEATS_LOW
    return None


def _most(uses: int, max_uses: int | None) -> bool:
    return max_uses is not None and uses * 5 >= max_uses * 4


def _used(uses: int, max_uses: int | None) -> bool:
    return max_uses is not None and uses >= max_uses


def code_crossing(
    uses_before: int, max_before: int | None, uses_after: int, max_after: int | None
) -> str | None:
    """Which alert a change of a code's uses or limit crosses into: its limit
    reached (CODE_USED), or 80% of it (CODE_MOST). One that crosses both says
    only that the limit is reached."""
    if _used(uses_after, max_after) and not _used(uses_before, max_before):
        return CODE_USED
    if _most(uses_after, max_after) and not _most(uses_before, max_before):
        return CODE_MOST
    return None


def wants_alerts(user: User, org: Organization) -> bool:
    """The person's choice of the organization's alerts, for the whole
    organization (a classroom's own choice may differ: choices.wants)."""
    return choices.org_wants(user, org, ALERTS)


def _admins(org: Organization) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(OrgMember, OrgMember.user_id == User.id)
            .where(OrgMember.org_id == org.id, OrgMember.is_admin, User.email_verified)
            .order_by(User.id)
        )
    )


def _code_staff(code: Code) -> list[User]:
    """The admins, and the leaders and instructors who may manage the code (its
    every target is theirs: codes.access.Scope.can_manage_code)."""
    org = code.organization
    leaders = select(ClassroomLeader.user_id).join(
        CodeClassroom, CodeClassroom.classroom_id == ClassroomLeader.classroom_id
    )
    instructors = select(CourseInstructor.user_id).join(
        CodeCourse, CodeCourse.course_id == CourseInstructor.course_id
    )
    ids = set(db.session.scalars(leaders.where(CodeClassroom.code_id == code.id)))
    ids |= set(db.session.scalars(instructors.where(CodeCourse.code_id == code.id)))
    people = {u.id: u for u in _admins(org)}
    for user in db.session.scalars(select(User).where(User.id.in_(ids), User.email_verified)):
        if user.id not in people and Scope(user, org).can_manage_code(code):
            people[user.id] = user
    return [people[i] for i in sorted(people)]


def _rooms_of(code: Code) -> list[int]:
    """The classrooms an alert about the code concerns: its own."""
    return sorted(
        db.session.scalars(select(CodeClassroom.classroom_id).where(CodeClassroom.code_id == code.id))
    )


def _send(people: list[User], org: Organization, build, room_ids: Collection[int] = ()) -> None:
    """One alert to each of the people who want it: an alert about a code
    concerns its classrooms (room_ids), and goes to whoever wants the alerts of
    any one of them (choices.wants); its unsubscribe link names them."""
    from .operations import unsubscribe_token

    for person in people:
        if not choices.wants(person, org, ALERTS, room_ids):
            continue
        token = unsubscribe_token(person.id, org.id, ALERTS, room_ids)
        link = public_url("notifications.unsubscribe", token=token)
        subject, body = build(person)
        mail.queue(person.email, subject, body, org=org, unsubscribe=link)


def seats_changed(org: Organization, limit: int | None, free_before: int, free_after: int) -> None:
    """Alert the organization's admins if the change crossed into few or no
    free seats. The caller holds the organization's lock
    (codes.seats.operations.lock_organization) and has made the change."""
    crossing = seat_crossing(limit, free_before, free_after)
    if crossing is None:
        return
    page = public_url("reports.organization", org_id=org.id)
    _send(
        _admins(org),
        org,
        lambda person: messages.seat_alert_mail(
            person.name, org.name, crossing == SEATS_OUT, free_after, limit, page
        ),
    )


def code_changed(
    code: Code, uses_before: int, max_before: int | None, uses_after: int, max_after: int | None
) -> None:
    """Alert the code's staff if the change crossed 80% or 100% of its uses. The
    caller holds the code's row (the UPDATE that counted the use, or the edit)."""
    crossing = code_crossing(uses_before, max_before, uses_after, max_after)
    if crossing is None:
        return
    org = code.organization
    page = public_url("reports.code", code_id=code.id)
    _send(
        _code_staff(code),
        org,
        lambda person: messages.code_alert_mail(
            person.name, org.name, code.text, crossing == CODE_USED, uses_after, max_after, page
        ),
        _rooms_of(code),
    )


def welcome(user: User, code: Code, classroom_names: list[str]) -> None:
    """The welcome mail to a student who joined classrooms through a code, when
    the organization sends one (on unless turned off) and the address is
    confirmed (no mail to an address nobody proved is theirs)."""
    org = code.organization
    if not org.welcome_mail or not user.email_verified or not classroom_names:
        return
    page = public_url("redeem.profile")
    subject, body = messages.welcome_mail(user.name, org.name, classroom_names, page)
    mail.queue(user.email, subject, body, org=org)


def code_waits_for_approval(code: Code, spike: "Spike") -> None:
    """Alert the code's staff that the leak guard switched it to approval mode,
    and why (codes.redeem.leakguard.switch_to_approval, which calls this once
    per switch, holding the code's row): redemptions wait for them from now on."""
    org = code.organization
    page = public_url("reports.code", code_id=code.id)
    _send(
        _code_staff(code),
        org,
        lambda person: messages.approval_alert_mail(
            person.name, org.name, code.text, spike.reason, page, spike.count, spike.usual
        ),
        _rooms_of(code),
    )


BURST = "burst_alert"

# The failures at an organization's codes in the burst window: a new key starts
# at 1, a key whose window ended starts a new one, any other adds 1 (as
# codes.attempts counts), returning the count as this writer left it.
_BURST_COUNT = text("""
    INSERT INTO attempt_counts (name, count, started_at, expires_at)
    VALUES (:name, 1, :now, :expires)
    ON CONFLICT (name) DO UPDATE SET
      count = CASE WHEN attempt_counts.expires_at <= excluded.started_at THEN 1
                   ELSE attempt_counts.count + 1 END,
      started_at = CASE WHEN attempt_counts.expires_at <= excluded.started_at
                        THEN excluded.started_at ELSE attempt_counts.started_at END,
      expires_at = CASE WHEN attempt_counts.expires_at <= excluded.started_at
                        THEN excluded.expires_at ELSE attempt_counts.expires_at END
    RETURNING count
""")
# The last burst alerted at: a row written only when there is none or its
# window has ended, so of any number of failures past the threshold at once
# exactly one gets a row back and queues the alert (the upsert takes the row's
# lock; a second writer sees what the first wrote).
_BURST_ALERTED = text("""
    INSERT INTO attempt_counts (name, count, started_at, expires_at)
    VALUES (:name, 1, :now, :expires)
    ON CONFLICT (name) DO UPDATE SET
      count = attempt_counts.count + 1, started_at = excluded.started_at, expires_at = excluded.expires_at
    WHERE attempt_counts.expires_at <= excluded.started_at
    RETURNING name
""")


def _epoch(instant: datetime) -> int:
    return calendar.timegm(instant.utctimetuple())


def failed_attempt(code: Code, now: datetime | None = None) -> None:
    """Count a failed attempt at one of the organization's codes (the code box,
    sign-up with a code), apart from the request's transaction as the attempt
    limits are (database.run_apart). The one failure that finds the count at
    BURST_FAILURES or more within BURST_WINDOW_MINUTES, and no burst alerted in
    the window before, writes the "alerted at" row and queues the alert task in
    the same transaction as its count: one mail per admin per burst. A failure
    counted in a request's transaction that is then rolled back (SQLite) is
    counted again apart, with its alert."""
    config = current_app.config
    threshold = int(config["BURST_FAILURES"])
    window = timedelta(minutes=int(config["BURST_WINDOW_MINUTES"]))
    start = _epoch(now or utcnow())
    end = start + int(window.total_seconds())
    org_id, code_id, code_text = code.org_id, code.id, code.text

    def count(connection: Any) -> None:
        counted = connection.execute(
            _BURST_COUNT, {"name": f"burst:org:{org_id}", "now": start, "expires": end}
        ).scalar_one()
        if counted < threshold:
            return
        guard = {"name": f"burst-alerted:org:{org_id}", "now": start, "expires": end}
        if connection.execute(_BURST_ALERTED, guard).first() is None:
            return
        payload = {"org_id": org_id, "code_id": code_id, "code": code_text, "count": counted}
        payload["minutes"] = int(window.total_seconds() // 60)
        jobs.enqueue_on(connection, BURST, payload, org_id=org_id)

    _, in_session = database.run_apart(count, one_transaction=True)
    if in_session:
        database.again_if_rolled_back(count)


@jobs.task(BURST)
def send_burst_alerts(payload: dict[str, Any]) -> None:
    """The burst alert: a mail to each of the organization's admins who wants
    alerts, queued in the task's own transaction."""
    org = db.session.get(Organization, payload["org_id"])
    if org is None:
        return
    page = public_url("auditlog.log", org_id=org.id)
    _send(
        _admins(org),
        org,
        lambda person: messages.burst_alert_mail(
            person.name, org.name, payload["count"], payload["minutes"], payload["code"], page
        ),
    )
