"""Seats: an organization's limit, the allotments its classrooms reserve out of
it, and what is taken, reserved and free (DESIGN.md "Seats"; docs/SEATS.md).

One sum holds everything together: the seats taken plus the seats allotments
reserve and have not used never exceed the limit. Whatever changes a figure in
that sum (a new seat, an allotment, the limit) first locks the organization's
row, then reads the figures afresh, so each decision is made on numbers nobody
else is changing. Every function flushes and never commits."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, bindparam, case, func, or_, select, update
from sqlalchemy.orm import aliased

from .. import audit, database
from ..access import OutOfScope, Scope
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..models import Classroom, Organization, OrgMember, User
from ..notifications import alerts
from ..words import choose, plural

# Staff are warned when fewer than this share of the seats are free.
LOW_SHARE = alerts.LOW_SHARE
# The most seats a limit or an allotment may name: far past any organization,
# well within the integer columns.
MAX_SEATS = 1_000_000
LIMIT_RANGE = f"Enter 0 to {MAX_SEATS:,} seats, or leave it empty for unlimited."
ALLOTMENT_RANGE = f"Enter 0 to {MAX_SEATS:,} seats, or leave it empty for none."


class NoSeatLeft(DomainError):
    """No seat for a new student: the organization's or their classroom's are gone."""


def lock_organization(org_id: int) -> Row[tuple[int | None, int]]:
    """Lock the organization's row: FOR NO KEY UPDATE on PostgreSQL (one holder
    at a time, while rows that refer to the organization, an audit event or a
    code, are still written: their foreign key checks take FOR KEY SHARE, which
    FOR UPDATE would make wait, and deadlock with a holder waiting for a row
    they hold); SQLite's BEGIN IMMEDIATE already lets one writer in at a time.
    Reads after it see what the previous holder committed.

    Returns the row's (seat_limit, seats_taken) as locked, so a caller needs no
    second SELECT for them: PostgreSQL hands back the newest version of a row it
    waited for (what the previous holder committed), and nothing else changes
    them while the lock is held."""
    return database.execute(_LOCK, {"org_id": org_id}).one()


# The statements of a new seat, built once with their values as parameters:
# building them and their cache keys anew cost more than running them.
_LOCK = (
    select(Organization.seat_limit, Organization.seats_taken)
    .where(Organization.id == bindparam("org_id"))
    .with_for_update(key_share=True)
)


def _limit_and_taken(org_id):
    return db.session.execute(
        select(Organization.seat_limit, Organization.seats_taken).where(Organization.id == org_id)
    ).one()


def _reserved_and_allotted(org_id, except_classroom_id=None):
    """Seats allotments hold unused, and the sum of the allotments, read afresh.
    Not to be read in the statement that locks the organization: on PostgreSQL
    that statement's snapshot predates the wait for the lock."""
    if except_classroom_id is None:
        return db.session.execute(_SUMS, {"org_id": org_id}).one()
    return db.session.execute(_SUMS.where(Classroom.id != except_classroom_id), {"org_id": org_id}).one()


def _unused(classroom):
    """Seats an allotment reserves and its classroom has not used (never below 0)."""
    left = classroom.seat_allotment - classroom.seats_used
    return case((left > 0, left), else_=0)


_SUMS = select(
    func.coalesce(func.sum(_unused(Classroom)), 0), func.coalesce(func.sum(Classroom.seat_allotment), 0)
).where(Classroom.org_id == bindparam("org_id"), Classroom.seat_allotment.is_not(None))


def _figures(org_id, except_classroom_id=None):
    """(limit, taken, reserved, allotted), read afresh from the database: reserved
    is the seats allotments hold unused, allotted the sum of the allotments."""
    limit, taken = _limit_and_taken(org_id)
    reserved, allotted = _reserved_and_allotted(org_id, except_classroom_id)
    return limit, taken, reserved, allotted


def _names(rows):
    names = [r.name for r in rows]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# Each UPDATE guards its own limit too: a last line should a figure have been
# changed by something that skipped the lock. Built once, with the row's id as
# a parameter: building them on every new seat cost more than running them.
_TAKE_ORG_SEAT = (
    update(Organization)
    .where(
        Organization.id == bindparam("org_id"),
        or_(Organization.seat_limit.is_(None), Organization.seats_taken < Organization.seat_limit),
    )
    .values(seats_taken=Organization.seats_taken + 1)
    .execution_options(synchronize_session=False)
)
_TAKE_CLASSROOM_SEAT = (
    update(Classroom)
    .where(
        Classroom.id == bindparam("classroom_id"),
        or_(Classroom.seat_allotment.is_(None), Classroom.seats_used < Classroom.seat_allotment),
    )
    .values(seats_used=Classroom.seats_used + 1)
    .execution_options(synchronize_session=False)
)


def _member_state():
    return (
        select(OrgMember.is_student)
        .where(OrgMember.org_id == bindparam("org_id"), OrgMember.user_id == bindparam("user_id"))
        .scalar_subquery()
    )


def _reserved():
    pool = aliased(Classroom)  # not the classrooms of the outer statement
    return (
        select(func.coalesce(func.sum(_unused(pool)), 0))
        .where(pool.org_id == bindparam("org_id"), pool.seat_allotment.is_not(None))
        .scalar_subquery()
    )


# What a new seat is decided on, read in one statement once the organization
# is locked: the person's membership (no row: not a member; else whether a
# student), the seats allotments reserve unused, and the classrooms joined.
_FIGURES = select(_member_state().label("member"), _reserved().label("reserved"))
_FIGURES_AND_CLASSROOMS = (
    select(
        Classroom.id,
        Classroom.name,
        Classroom.seat_allotment,
        Classroom.seats_used,
        _member_state().label("member"),
        _reserved().label("reserved"),
    )
    .where(
        Classroom.org_id == bindparam("org_id"), Classroom.id.in_(bindparam("classroom_ids", expanding=True))
    )
    .order_by(Classroom.name, Classroom.id)
)


@dataclass(frozen=True)
class SeatFigures:
    member: bool | None  # None: not a member; else whether a student
    reserved: int
    classrooms: list[Row[Any]]


def seat_figures(org_id: int, user_id: int, classroom_ids: Collection[int] = ()) -> SeatFigures:
    """Read, holding the organization's lock (lock_organization) and in one
    statement after it, what take_one decides on. Not to be read in the
    statement that locks: on PostgreSQL that one's snapshot predates the wait."""
    params = {"org_id": org_id, "user_id": user_id}
    if classroom_ids:
        rows = database.execute(
            _FIGURES_AND_CLASSROOMS, {**params, "classroom_ids": list(classroom_ids)}
        ).all()
        if rows:
            return SeatFigures(rows[0].member, rows[0].reserved, rows)
    row = database.execute(_FIGURES, params).one()
    return SeatFigures(row.member, row.reserved, [])


def take_one(org: Organization, locked: Row[tuple[int | None, int]], figures: SeatFigures) -> int | None:
    """Count one new seat for a person joining some classrooms; the caller
    holds the organization's lock and passes what taking it returned
    (`locked`: the limit and the seats taken) and the seat_figures read after
    it. Returns the id of the classroom the seat is counted in, or None.

    Where the seat comes from: if any of the classrooms has an allotment, from
    the allotment of the first of those (by name) that has room, and nowhere
    else, so no classroom takes more new seats than its allotment; otherwise
    from the free pool (the limit less the seats taken and the seats
    allotments reserve unused), counted in the first classroom (by name), if
    any. Raises NoSeatLeft when there is none."""
    rows = figures.classrooms
    allotted = [r for r in rows if r.seat_allotment is not None]
    if allotted:
        source = next((r for r in allotted if r.seats_used < r.seat_allotment), None)
        if source is None:
            verb = choose(len(allotted), "has", "have")
            raise NoSeatLeft(
                f"{_names(allotted)} {verb} no seats left. Contact the administrator of {org.name}."
            )
    else:
        limit, taken = locked
        if limit is not None and taken + figures.reserved >= limit:
            raise NoSeatLeft(f"{org.name} has no seats left. Contact its administrator.")
        source = rows[0] if rows else None
    counted = database.execute(_TAKE_ORG_SEAT, {"org_id": org.id}).rowcount
    if source is not None and counted == 1:
        counted = database.execute(_TAKE_CLASSROOM_SEAT, {"classroom_id": source.id}).rowcount
    if counted != 1:
        raise NoSeatLeft(f"{org.name} has no seats left. Contact its administrator.")
    if not allotted and locked[0] is not None:
        # A seat of the free pool (an allotment's leaves the pool as it was).
        free = locked[0] - locked[1] - figures.reserved
        alerts.seats_changed(org, locked[0], free, free - 1)
    return source.id if source is not None else None


def free_seats(org_id: int) -> int | None:
    """Seats any code may take (SeatSummary.free), read afresh; None when unlimited."""
    limit, taken, reserved, _ = _figures(org_id)
    return None if limit is None else limit - taken - reserved


_NEW_STUDENT = OrgMember.__table__.insert().values(is_student=True, took_seat=True)
_NOW_A_STUDENT = (
    OrgMember.__table__.update()
    .where(OrgMember.org_id == bindparam("m_org_id"), OrgMember.user_id == bindparam("m_user_id"))
    .values(is_student=True, took_seat=True)
)


def take_seat(user: User, org: Organization, classroom_ids: Collection[int] = ()) -> bool:
    """Make the person a student member, taking one seat the first time only,
    as a code (or a roster) that places them in `classroom_ids` does.

    The seat comes from the allotment of those classrooms, or else from the
    free pool (take_one and docs/SEATS.md say which).
    The organization's row is locked first (lock_organization; SQLite's
    BEGIN IMMEDIATE already serializes writers), then membership and the seat
    figures are read again, so two codes redeemed at once by one person never
    take two seats, and no limit or allotment is ever passed. Raises
    NoSeatLeft when no seat is left; the caller rolls back. Returns whether a
    seat was taken."""
    locked = lock_organization(org.id)
    figures = seat_figures(org.id, user.id, classroom_ids)
    if figures.member:
        return False
    take_one(org, locked, figures)
    # Core statements built once: nothing here reads the membership back as an
    # object, so the unit of work has nothing to track.
    if figures.member is None:
        database.execute(_NEW_STUDENT, {"org_id": org.id, "user_id": user.id})
    else:
        database.execute(_NOW_A_STUDENT, {"m_org_id": org.id, "m_user_id": user.id})
    return True


def _free_changed(org: Organization, free_before: int | None) -> None:
    """After a change of the limit or of an allotment, under the organization's
    lock: alert its admins if the free seats crossed into few or none."""
    free_after = free_seats(org.id)
    if free_before is not None and free_after is not None:
        alerts.seats_changed(org, _limit_and_taken(org.id)[0], free_before, free_after)
    elif free_after is not None:
        # From unlimited to a limit: as if every seat of it had been free.
        limit = _limit_and_taken(org.id)[0]
        alerts.seats_changed(org, limit, limit, free_after)


def set_limit(org: Organization, seat_limit: int | None) -> None:
    """Set the organization's seat limit (checked by check_limit first, under
    its lock), alerting its admins if that leaves few or no seats free."""
    free_before = free_seats(org.id)
    org.seat_limit = seat_limit
    db.session.flush()
    _free_changed(org, free_before)


def check_limit(org: Organization, seat_limit: int | None) -> None:
    """A seat limit never below the seats taken plus the seats allotments
    reserve and have not used. Call it holding the organization's lock."""
    if seat_limit is None:
        return
    _, taken, reserved, _ = _figures(org.id)
    if seat_limit < taken:
        raise FieldErrors(
            {
                "seat_limit": (
                    f"{plural(taken, 'seat is', 'seats are')} already taken; the limit can't be lower."
                )
            }
        )
    if seat_limit < taken + reserved:
        raise FieldErrors(
            {
                "seat_limit": (
                    f"{plural(taken, 'seat is', 'seats are')} taken and classroom allotments reserve "
                    f"{reserved} more, so the "
                    f"limit can't be lower than {taken + reserved}. Lower or remove an allotment first."
                )
            }
        )


def set_allotment(actor: User, classroom: Classroom, allotment: int | None) -> Classroom:
    """Reserve seats for a classroom's codes, or stop reserving (None).

    An allotment is never below the new seats the classroom's codes already
    took; allotments never add up to more than the organization's limit; and
    a reservation never counts a seat that is already taken or reserved
    elsewhere (seats taken plus unused reservations stay within the limit)."""
    if allotment is not None and allotment < 0:
        raise FieldErrors({"seat_allotment": "An allotment can't be negative. Leave it empty for none."})
    if allotment is not None and allotment > MAX_SEATS:
        raise FieldErrors({"seat_allotment": ALLOTMENT_RANGE})
    lock_organization(classroom.org_id)
    # Read again under the lock; deleted meanwhile, it is not there.
    if (
        db.session.scalar(
            select(Classroom)
            .where(Classroom.id == classroom.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        is None
    ):
        raise OutOfScope()
    was, used = classroom.seat_allotment, classroom.seats_used
    if allotment is not None:
        if allotment < used:
            raise FieldErrors(
                {
                    "seat_allotment": (
                        f"{classroom.name}'s codes have already taken {plural(used, 'seat')}; the "
                        f"allotment can't be lower."
                    )
                }
            )
        limit, taken, others_reserved, others_allotted = _figures(classroom.org_id, classroom.id)
        if limit is not None:
            most = limit - taken - others_reserved + used
            if others_allotted + allotment > limit:
                raise FieldErrors(
                    {
                        "seat_allotment": (
                            f"Allotments would add up to {plural(others_allotted + allotment, 'seat')}, "
                            f"more than the organization's limit of {limit}. "
                            f"At most {most} can be reserved here."
                        )
                    }
                )
            if allotment > most:
                raise FieldErrors(
                    {
                        "seat_allotment": (
                            f"At most {plural(most, 'seat')} can be reserved here: {taken} of the {limit} "
                            f"{choose(taken, 'is', 'are')} taken and {others_reserved} more "
                            f"{choose(others_reserved, 'is', 'are')} reserved by other classrooms."
                        )
                    }
                )
    free_before = free_seats(classroom.org_id)
    classroom.seat_allotment = allotment
    db.session.flush()
    _free_changed(classroom.organization, free_before)
    audit.record(actor, "classroom.allotment", classroom, allotment=allotment, was=was)
    return classroom


@dataclass
class ClassroomSeats:
    classroom: Classroom

    @property
    def allotment(self) -> int | None:
        return self.classroom.seat_allotment

    @property
    def used(self) -> int:
        return self.classroom.seats_used

    @property
    def left(self) -> int | None:
        """Seats its allotment still holds for it, or None without an allotment."""
        if self.allotment is None:
            return None
        return max(self.allotment - self.used, 0)


@dataclass
class SeatSummary:
    """What staff see of an organization's seats."""

    limit: int | None
    taken: int
    reserved: int
    classrooms: list[ClassroomSeats]

    @property
    def free(self) -> int | None:
        """Seats any code may take: the limit less the taken and the reserved."""
        if self.limit is None:
            return None
        return max(self.limit - self.taken - self.reserved, 0)

    @property
    def low(self) -> bool:
        """Fewer than LOW_SHARE of the seats are free, or none at all."""
        # free is None only when limit is.
        return self.limit is not None and (self.free == 0 or cast(int, self.free) < self.limit * LOW_SHARE)

    @property
    def allotted(self) -> list[ClassroomSeats]:
        return [c for c in self.classrooms if c.allotment is not None]

    def classrooms_in(self, scope: Scope) -> list[ClassroomSeats]:
        """The classrooms a person may manage (codes.access.Scope)."""
        return [c for c in self.classrooms if scope.can_manage_classroom(c.classroom)]


def summary(org: Organization) -> SeatSummary:
    """Seats taken, reserved and free, and each classroom's allotment and use."""
    limit, taken, reserved, _ = _figures(org.id)
    classrooms = db.session.scalars(
        select(Classroom).where(Classroom.org_id == org.id).order_by(Classroom.name, Classroom.id)
    ).all()
    return SeatSummary(limit, taken, reserved, [ClassroomSeats(c) for c in classrooms])


def new_seat_problems(org: Organization, needed: Mapping[int, int]) -> list[str]:
    """Whether the new seats a batch of people needs (how many per classroom id)
    are there, counted as take_seat counts them: a classroom with an allotment
    takes from what its allotment has left, the others from the organization's
    free seats. Returns what is short, in words (the roster upload's preview)."""
    figures = summary(org)
    problems = []
    from_pool = 0
    for place in figures.classrooms:
        count = needed.get(place.classroom.id, 0)
        if not count:
            continue
        left = place.left  # None without an allotment
        if left is None:
            from_pool += count
        elif count > left:
            problems.append(
                f"This file puts {_people(count)} new to {org.name} in {place.classroom.name}, "
                f"whose allotment has {plural(left, 'seat')} left. "
                f"Remove {count - left} of them from the file, or raise the allotment."
            )
    free = figures.free  # None without a limit
    if free is not None and from_pool > free:
        problems.append(
            f"This file needs {plural(from_pool, 'new seat')} and {org.name} "
            f"has {free} free. Remove {_people(from_pool - free)} new to "
            f"{org.name} from the file, or raise the seat limit."
        )
    return problems


def _people(count):
    return plural(count, "person", "people")
