"""Enrolment duration (docs/CODES.md, "Duration"): a code may give membership
of its classrooms for a number of days or until a date. A redemption writes
when each membership ends; an hourly job ends those whose end has passed, as a
removal by staff would (their enrollments, records and seat stay), and tells
the person and the classroom's staff a few days before, once."""

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, delete, select, update

from . import audit, database, jobs, mail, messages
from .extensions import db
from .jobs import periodic
from .models import ROLE_STUDENT, Classroom, ClassroomLeader, ClassroomMember, Code, OrgMember, User, utcnow
from .timeutil import format_local, to_local, to_utc
from .urls import public_url

MAX_DAYS = 3650
DAYS_RANGE = f"Enter 1 to {MAX_DAYS:,} days, or leave it empty for no end."
NOT_BOTH = "Give a number of days or a date, not both."
REMIND_BEFORE = timedelta(days=3)
TASK = "memberships.end"
ENDED = "classroom.membership_ended"


def problems(
    days: int | None,
    until: datetime | None,
    role: str = ROLE_STUDENT,
    kept: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """What is wrong with a duration as staff typed it, by field: days within
    1..MAX_DAYS, not both days and a date, a date not past (unless it is the
    one the code has, `kept`), and only for a code that makes students."""
    errors = {}
    if days is not None and not 1 <= days <= MAX_DAYS:
        errors["member_days"] = DAYS_RANGE
    if days is not None and until is not None:
        errors["member_until"] = NOT_BOTH
    elif until is not None and until != kept and until < (now or utcnow()):
        errors["member_until"] = "That date has already passed."
    if (days is not None or until is not None) and role != ROLE_STUDENT:
        errors.setdefault("member_days", "Only a student code gives membership for a time.")
    return errors


def end_for(code: Code, now: datetime) -> datetime | None:
    """When membership given by a redemption of the code now ends (UTC): the
    last moment of the day, in the organization's zone, `member_days` days
    after today there; or the code's own `member_until`; or None, no end."""
    if code.member_days is not None:
        today = to_local(code.organization, now).date()
        return to_utc(code.organization, today + timedelta(days=code.member_days), end_of_day=True)
    return code.member_until


def later_end(current: datetime | None, new: datetime | None) -> datetime | None:
    """The rule for a membership a redemption finds: no end wins over any end,
    else the later of the two."""
    if current is None or new is None:
        return None
    return max(current, new)


def set_ends(user_id: int, classroom_ids: list[int], end: datetime | None) -> None:
    """After a redemption placed the person in these classrooms: each
    membership ends at the later of its end and `end` (later_end), in one
    guarded UPDATE. A changed end is told about again when it nears."""
    if not classroom_ids:
        return
    rows = and_(ClassroomMember.user_id == user_id, ClassroomMember.classroom_id.in_(classroom_ids))
    if end is None:
        changed = rows & ClassroomMember.ends_at.is_not(None)
    else:
        changed = rows & ClassroomMember.ends_at.is_not(None) & (ClassroomMember.ends_at < end)
    database.execute(
        update(ClassroomMember)
        .where(changed)
        .values(ends_at=end, reminded_at=None)
        .execution_options(synchronize_session=False)
    )


def ends_in(classroom: Classroom) -> dict[int, datetime]:
    """When each membership of the classroom that ends does (user id -> UTC)."""
    return dict(
        database.execute(
            select(ClassroomMember.user_id, ClassroomMember.ends_at).where(
                ClassroomMember.classroom_id == classroom.id, ClassroomMember.ends_at.is_not(None)
            )
        ).all()
    )


def end_memberships(now: datetime | None = None) -> list[tuple[int, int]]:
    """End every membership whose end has passed: one DELETE ... RETURNING, so
    that of any number of runs at once each row is removed, and audited, by
    exactly one (PostgreSQL: a second deleter waits for the first and finds
    the row gone; SQLite: one writer at a time). The (classroom id, user id)
    pairs this call removed. The caller commits."""
    now = now or utcnow()
    table = ClassroomMember.__table__
    removed = database.execute(
        delete(table)
        .where(table.c.ends_at.is_not(None), table.c.ends_at <= now)
        .returning(table.c.classroom_id, table.c.user_id, table.c.ends_at)
    ).all()
    orgs = _orgs_of({classroom_id for classroom_id, _, _ in removed})
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({r[1] for r in removed})))}
    for classroom_id, user_id, ends_at in removed:
        # Of the person, as a removal by staff is, so their page lists it.
        audit.insert(
            None,
            ENDED,
            people[user_id],
            org_id=orgs[classroom_id],
            at=now,
            classroom_id=classroom_id,
            ends_at=ends_at,
        )
    return [(classroom_id, user_id) for classroom_id, user_id, _ in removed]


def remind(now: datetime | None = None) -> list[tuple[int, int]]:
    """Mark the memberships ending within REMIND_BEFORE that nobody was told
    about, in one guarded UPDATE ... RETURNING (each row marked by exactly one
    run), and queue the mails: one to the person (a confirmed address), and one
    per classroom to each of its leaders (or, with none, the organization's
    admins) naming everyone whose end nears. The pairs marked."""
    now = now or utcnow()
    table = ClassroomMember.__table__
    marked = database.execute(
        update(table)
        .where(
            table.c.reminded_at.is_(None),
            table.c.ends_at.is_not(None),
            table.c.ends_at > now,
            table.c.ends_at <= now + REMIND_BEFORE,
        )
        .values(reminded_at=now)
        .returning(table.c.classroom_id, table.c.user_id, table.c.ends_at)
    ).all()
    by_room: dict[int, list[tuple[User, datetime]]] = defaultdict(list)
    page = public_url("redeem.profile") if marked else ""
    for classroom_id, user_id, ends_at in marked:
        # The membership's keys cascade: its person and classroom exist.
        person = cast(User, db.session.get(User, user_id))
        by_room[classroom_id].append((person, ends_at))
    for classroom_id, people in sorted(by_room.items()):
        room = cast(Classroom, db.session.get(Classroom, classroom_id))
        org = room.organization
        for person, ends_at in people:
            if person.email_verified:
                day = format_local(org, ends_at, with_time=False)
                subject, body = messages.membership_ending_mail(person.name, org.name, room.name, day, page)
                mail.queue(person.email, subject, body, org=org)
        listed = [(p.name, format_local(org, e, with_time=False)) for p, e in people]
        for staff in _staff(room):
            subject, body = messages.memberships_ending_mail(staff.name, org.name, room.name, listed)
            mail.queue(staff.email, subject, body, org=org)
    return [(classroom_id, user_id) for classroom_id, user_id, _ in marked]


def _staff(room: Classroom) -> list[User]:
    verified_leaders = (
        select(User)
        .join(ClassroomLeader, ClassroomLeader.user_id == User.id)
        .where(ClassroomLeader.classroom_id == room.id, User.email_verified)
        .order_by(User.id)
    )
    leaders = list(db.session.scalars(verified_leaders))
    if leaders:
        return leaders
    admins = (
        select(User)
        .join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == room.org_id, OrgMember.is_admin, User.email_verified)
        .order_by(User.id)
    )
    return list(db.session.scalars(admins))


def _orgs_of(classroom_ids: set[int]) -> dict[int, int]:
    if not classroom_ids:
        return {}
    return dict(
        database.execute(select(Classroom.id, Classroom.org_id).where(Classroom.id.in_(classroom_ids))).all()
    )


def hourly(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H")


@jobs.task(TASK)
def run(payload: dict[str, Any]) -> None:
    """The hourly job: end what has ended, then tell whoever's end nears."""
    end_memberships()
    remind()


periodic.every(TASK, hourly)
