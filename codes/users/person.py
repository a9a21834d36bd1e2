"""One person, in detail, as a member of staff sees them: where they are now and
since when, and everything that happened to them in this organization, within the
viewer's scope only (codes.access.Scope). Reads only."""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select

from ..access import Scope, org_parent_links
from ..extensions import db
from ..models import (
    AuditEvent,
    Classroom,
    ClassroomMember,
    Code,
    Course,
    Enrollment,
    Invitation,
    OrgMember,
    ParentLink,
    Redemption,
    User,
)
from ..timeutil import format_local
from .operations import ROSTER_ADD

# The audit actions about a person's classrooms that the page tells.
MOVE, PLACE, REMOVE = "classroom.move", "classroom.place", "classroom.remove_member"
ENDED = "classroom.membership_ended"
ACCEPT = "invitation.accept"
# A classroom out of the viewer's scope, named in a move that concerns one of theirs.
ANOTHER_CLASSROOM = "another classroom"
DELETED_CLASSROOM = "a deleted classroom"

# How a person came in, as the page and the CSV say it.
BY_CODE, BY_ROSTER, BY_INVITATION = "Code", "Roster upload", "Invitation"


@dataclass(frozen=True)
class Place:
    """A classroom or course the person is in now, and since when."""

    kind: str  # "Classroom" or "Course"
    name: str
    since: datetime


@dataclass(frozen=True)
class Happened:
    """One thing that happened to the person in this organization."""

    at: datetime
    what: str
    where: str = ""
    code: str = ""
    # How they came in (BY_CODE, BY_ROSTER, BY_INVITATION), for the ways of joining.
    joined_by: str = ""
    took_seat: bool = False


@dataclass
class PersonDetail:
    person: User
    places: list[Place] = field(default_factory=list)
    history: list[Happened] = field(default_factory=list)
    # Only for admins, who see the organization's seats: whether they hold one.
    holds_seat: bool | None = None
    roles: list[str] = field(default_factory=list)

    @property
    def joined(self) -> list[Happened]:
        """The ways they came in that the viewer may see, oldest first."""
        return [h for h in self.history if h.joined_by]

    @property
    def seat(self) -> Happened | None:
        """What took their seat, when the viewer may see it."""
        return next((h for h in self.history if h.took_seat), None)


def _classroom_words(scope: Scope, names: dict[int, Classroom], classroom_id: object) -> str | None:
    """A classroom of an event as the viewer may read it: its name when they
    manage it; None when the event does not concern them."""
    if not isinstance(classroom_id, int):
        return None
    classroom = names.get(classroom_id)
    if classroom is None:
        return DELETED_CLASSROOM if scope.admin else None
    return classroom.name if scope.can_manage_classroom(classroom) else None


def person_detail(scope: Scope, person: User) -> PersonDetail:
    """Everything the viewer may know of one person they may see (the caller
    checked with access.person_in_scope_or_404): the classrooms and courses they
    are in and since when, every code of the viewer's scope they used, how they
    joined (code, roster, invitation), their moves and removals, the seat they
    took, and (for admins) the parent links made through this organization. A
    group leader reads only what concerns the classrooms they lead, an instructor
    the courses they teach; a move from one of theirs names the other classroom
    only if they manage it too. Nothing from any other organization."""
    org = scope.org
    detail = PersonDetail(person)
    member = db.session.scalar(
        select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id == person.id)
    )
    if member is not None and member.is_admin:
        detail.roles.append("Admin")
    if member is not None and member.is_student:
        detail.roles.append("Student")

    for classroom, since in db.session.execute(
        select(Classroom, ClassroomMember.added_at)
        .join(ClassroomMember, ClassroomMember.classroom_id == Classroom.id)
        .where(Classroom.org_id == org.id, ClassroomMember.user_id == person.id)
        .order_by(Classroom.name, Classroom.id)
    ):
        if scope.can_manage_classroom(classroom):
            detail.places.append(Place("Classroom", classroom.name, since))
    for course, since in db.session.execute(
        select(Course, Enrollment.enrolled_at)
        .join(Enrollment, Enrollment.course_id == Course.id)
        .where(Course.org_id == org.id, Enrollment.user_id == person.id)
        .order_by(Course.name, Course.id)
    ):
        if scope.can_manage_course(course):
            detail.places.append(Place("Course", course.name, since))

    history = detail.history
    for redemption in db.session.scalars(
        select(Redemption).where(
            Redemption.org_id == org.id,
            Redemption.user_id == person.id,
            Redemption.code_id.in_(scope.codes_in_scope().with_only_columns(Code.id)),
        )
    ):
        code = redemption.code
        targets = [c.name for c in code.classrooms] + [c.name for c in code.courses]
        history.append(
            Happened(
                redemption.created_at,
                "Used a code",
                ", ".join(targets),
                code=code.text,
                joined_by=BY_CODE,
                took_seat=redemption.took_seat,
            )
        )

    events = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.org_id == org.id,
            or_(
                (AuditEvent.object_type == User.__name__)
                & (AuditEvent.object_id == person.id)
                & AuditEvent.action.in_([ROSTER_ADD, MOVE, PLACE, REMOVE, ENDED]),
                (AuditEvent.action == ACCEPT)
                & (AuditEvent.actor_id == person.id)
                & (AuditEvent.object_type == Invitation.__name__),
            ),
        )
    ).all()
    facts = [(event, json.loads(event.detail) if event.detail else {}) for event in events]
    mentioned = {
        value
        for _, said in facts
        for key in ("classroom_id", "from_classroom_id", "to_classroom_id")
        if isinstance(value := said.get(key), int)
    }
    names = {
        c.id: c for c in db.session.scalars(select(Classroom).where(Classroom.id.in_(sorted(mentioned))))
    }
    for event, said in facts:
        took_seat = bool(said.get("took_seat"))
        if event.action == MOVE:
            source = _classroom_words(scope, names, said.get("from_classroom_id"))
            target = _classroom_words(scope, names, said.get("to_classroom_id"))
            if source is None and target is None:
                continue
            where = f"from {source or ANOTHER_CLASSROOM} to {target or ANOTHER_CLASSROOM}"
            history.append(Happened(event.created_at, "Moved", where))
            continue
        where_or_none = _classroom_words(
            scope, names, said.get("classroom_id") or said.get("to_classroom_id")
        )
        if event.action == ACCEPT and said.get("classroom_id") is None:
            # An invitation to the organization itself, named to its admins only.
            if not scope.admin:
                continue
            where_or_none = org.name
        if where_or_none is None:
            continue
        what, joined_by = {
            ROSTER_ADD: ("Added from a roster", BY_ROSTER),
            ACCEPT: ("Accepted an invitation", BY_INVITATION),
            PLACE: ("Placed in a classroom", ""),
            REMOVE: ("Removed from a classroom", ""),
            ENDED: ("Membership ended, as the code gave", ""),
        }[event.action]
        history.append(
            Happened(event.created_at, what, where_or_none, joined_by=joined_by, took_seat=took_seat)
        )

    if scope.admin:
        detail.holds_seat = bool(member is not None and member.took_seat)
        for link in db.session.scalars(org_parent_links(scope).where(ParentLink.student_id == person.id)):
            parent = f"{link.parent.name} ({link.parent.email})"
            history.append(Happened(link.created_at, "Parent linked", parent))
            if link.revoked_at is not None:
                history.append(Happened(link.revoked_at, "Parent link revoked", parent))
    # Stable: what happened at the same instant keeps the order it was read in.
    history.sort(key=lambda h: h.at)
    return detail


CSV_HEADER = ("section", "when", "what", "where", "code", "took a seat")


def csv_rows(scope: Scope, detail: PersonDetail) -> Iterator[tuple[object, ...]]:
    """The person page as CSV rows (made inert by codes.csvfile): their places
    now, then what happened, in the organization's time."""
    org = scope.org
    yield ("person", "", detail.person.name, detail.person.email, "", "")
    if detail.holds_seat is not None:
        seat = detail.seat
        yield (
            "seat",
            format_local(org, seat.at) if seat else "",
            "Holds a seat" if detail.holds_seat else "Holds no seat",
            seat.what if seat else "",
            seat.code if seat else "",
            "yes" if detail.holds_seat else "",
        )
    for place in detail.places:
        yield ("now", format_local(org, place.since), f"In the {place.kind.lower()}", place.name, "", "")
    for h in detail.history:
        yield ("history", format_local(org, h.at), h.what, h.where, h.code, "yes" if h.took_seat else "")
