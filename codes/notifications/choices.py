"""Who wants which staff mail: each person's choice per organization, and per
classroom over it (docs/JOBS.md, "Choices"). The one place the most specific
choice is decided, for the digest, the alerts and the notifications page.
Every function flushes and never commits."""

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import and_, false, func, select, update

from .. import messages
from ..access import Scope
from ..errors import FieldErrors
from ..extensions import db
from ..listing import Counted, capped_count
from ..models import Classroom, ClassroomNotificationSetting, NotificationSetting, Organization, User

DIGEST, ALERTS = "digest", "alerts"
KINDS = (DIGEST, ALERTS)
# A classroom's choice: as for the organization, on, or off.
FOLLOW, ON, OFF = "org", "on", "off"
CHOICES = (FOLLOW, ON, OFF)
# Classrooms a page of the notifications page lists.
PER_PAGE = 20

_Room = ClassroomNotificationSetting


def _room_column(kind: str):
    return _Room.daily_digest if kind == DIGEST else _Room.alerts


def org_wants(user: User, org: Organization, kind: str) -> bool:
    """The person's choice for the whole organization: on unless turned off."""
    setting = db.session.get(NotificationSetting, (user.id, org.id))
    if setting is None:
        return True
    return bool(setting.daily_digest if kind == DIGEST else setting.alerts)


def room_choices(user: User, org: Organization, kind: str) -> dict[int, bool]:
    """The person's own choices for the organization's classrooms that say on
    or off (the others follow the organization's), by classroom id."""
    column = _room_column(kind)
    rows = db.session.execute(
        select(_Room.classroom_id, column)
        .join(Classroom, Classroom.id == _Room.classroom_id)
        .where(_Room.user_id == user.id, Classroom.org_id == org.id, column.is_not(None))
    ).all()
    return {room_id: bool(on) for room_id, on in rows}


def wanted_rooms(user: User, org: Organization, kind: str, room_ids: Collection[int]) -> set[int]:
    """Those of the classrooms whose mail of this kind the person wants: the
    classroom's own choice where they made one, else the organization's."""
    default = org_wants(user, org, kind)
    own = room_choices(user, org, kind)
    return {room_id for room_id in room_ids if own.get(room_id, default)}


def wants(user: User, org: Organization, kind: str, room_ids: Collection[int] = ()) -> bool:
    """Whether the person gets a mail of this kind that concerns these
    classrooms (an alert about a code: its classrooms), by the most specific
    choice: if they want the mail of any one of them. A mail that concerns no
    classroom (the seats, a burst of failures, a code of courses only) follows
    the organization's choice."""
    if not room_ids:
        return org_wants(user, org, kind)
    return bool(wanted_rooms(user, org, kind, room_ids))


def set_choice(user: User, org: Organization, kind: str, on: bool) -> None:
    """The person's choice of the organization's daily digest (DIGEST) or of its
    alerts (ALERTS), each on by default. Their classrooms' own choices stay."""
    setting = db.session.get(NotificationSetting, (user.id, org.id))
    if setting is None:
        setting = NotificationSetting(user_id=user.id, org_id=org.id, daily_digest=True, alerts=True)
        db.session.add(setting)
    if kind == DIGEST:
        setting.daily_digest = on
    else:
        setting.alerts = on
    db.session.flush()


def stop_all(user: User, org: Organization, kind: str) -> None:
    """The one-click unsubscribe of a mail of the whole organization: no more
    mail of this kind from it, so the organization's choice goes off and the
    classrooms the person had turned on follow it again."""
    set_choice(user, org, kind, False)
    column = _room_column(kind)
    in_org = select(Classroom.id).where(Classroom.org_id == org.id)
    db.session.execute(
        update(_Room)
        .where(_Room.user_id == user.id, _Room.classroom_id.in_(in_org), column.is_(True))
        .values({column.key: None})
        .execution_options(synchronize_session=False)
    )
    _drop_empty(user)


def stop_rooms(user: User, org: Organization, kind: str, room_ids: Collection[int]) -> list[Classroom]:
    """The one-click unsubscribe of a mail about classrooms (an alert about a
    code): this kind of mail about these classrooms goes off, each of them
    still the organization's; the others are untouched. The classrooms
    turned off (those that are still there)."""
    rooms = db.session.scalars(
        select(Classroom)
        .where(Classroom.org_id == org.id, Classroom.id.in_(list(room_ids) or [0]))
        .order_by(Classroom.name, Classroom.id)
    ).all()
    for room in rooms:
        _set_room(user, room, kind, False)
    db.session.flush()
    return list(rooms)


def _set_room(user: User, room: Classroom, kind: str, on: bool | None) -> None:
    setting = db.session.get(_Room, (user.id, room.id))
    if setting is None:
        if on is None:
            return
        setting = _Room(user_id=user.id, classroom_id=room.id)
        db.session.add(setting)
    if kind == DIGEST:
        setting.daily_digest = on
    else:
        setting.alerts = on
    if setting.daily_digest is None and setting.alerts is None:
        db.session.delete(setting)


def _drop_empty(user: User) -> None:
    db.session.execute(
        _Room.__table__.delete().where(
            _Room.user_id == user.id, _Room.daily_digest.is_(None), _Room.alerts.is_(None)
        )
    )


_AS_CHOICE = {None: FOLLOW, True: ON, False: OFF}
_FROM_CHOICE = {FOLLOW: None, ON: True, OFF: False}


def set_room_choices(user: User, room: Classroom, digest: str, alerts: str) -> None:
    """The person's choice of one classroom's digest and alerts, each FOLLOW
    (as for the organization), ON or OFF. The caller has checked the classroom
    is in their scope (codes.access). Anything else is refused beside its
    field, and nothing changes."""
    errors = {
        field: messages.room_choice_unknown()
        for field, value in (("digest", digest), ("alerts", alerts))
        if value not in CHOICES
    }
    if errors:
        raise FieldErrors(errors)
    _set_room(user, room, DIGEST, _FROM_CHOICE[digest])
    _set_room(user, room, ALERTS, _FROM_CHOICE[alerts])
    db.session.flush()


@dataclass(frozen=True)
class RoomChoice:
    """One classroom as the notifications page lists it: its choices, each
    FOLLOW, ON or OFF."""

    room: Classroom
    digest: str
    alerts: str


@dataclass(frozen=True)
class RoomPage:
    rows: list[RoomChoice]
    number: int
    pages: int
    counted: Counted


def _in_scope(scope: Scope):
    query = select(Classroom).where(Classroom.org_id == scope.org.id)
    if scope.admin:
        return query
    if not scope.classroom_ids:
        return query.where(false())
    return query.where(Classroom.id.in_(scope.classroom_ids))


def room_page(scope: Scope, number: int | None) -> RoomPage:
    """One page of the classrooms whose mail the person may choose (an admin:
    every classroom of the organization; a leader: those they lead): first
    those they made a choice for, then the others, by name; PER_PAGE a page."""
    user = scope.user
    query = _in_scope(scope)
    counted = capped_count(query)
    pages = counted.pages(PER_PAGE)
    number = min(max(number or 1, 1), pages)
    rows = db.session.execute(
        query.add_columns(_Room.daily_digest, _Room.alerts)
        .outerjoin(_Room, and_(_Room.classroom_id == Classroom.id, _Room.user_id == user.id))
        .order_by(_Room.user_id.is_(None), func.lower(Classroom.name), Classroom.id)
        .offset((number - 1) * PER_PAGE)
        .limit(PER_PAGE)
    ).all()
    return RoomPage(
        [RoomChoice(room, _AS_CHOICE[digest], _AS_CHOICE[alerts]) for room, digest, alerts in rows],
        number,
        pages,
        counted,
    )


def room_choice(user: User, room: Classroom) -> RoomChoice:
    setting = db.session.get(_Room, (user.id, room.id))
    if setting is None:
        return RoomChoice(room, FOLLOW, FOLLOW)
    return RoomChoice(room, _AS_CHOICE[setting.daily_digest], _AS_CHOICE[setting.alerts])
