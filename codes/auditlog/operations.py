"""The audit log as an organization's admins read it: every change to codes,
classrooms, courses, seats, memberships and parent links, and every redemption
attempt, filtered, paged and exported. Which events an organization may see is
decided in codes.access."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from flask import url_for
from sqlalchemy import ColumnElement, Row, Select, and_, exists, func, not_, or_, select
from sqlalchemy.orm import selectinload

from .. import access, byids, search
from ..extensions import db
from ..listing import Counted, capped_count
from ..models import AuditEvent, Batch, Classroom, Code, Course, Organization, OrgMember, User, folded, utcnow
from ..timeutil import to_local, to_utc

PAGE_SIZE = 50
EXPORT_BATCH = 1000
# What an Entry reads of its event, when the export reads plain columns.
_EVENT_COLUMNS = (
    AuditEvent.action,
    AuditEvent.object_type,
    AuditEvent.object_id,
    AuditEvent.detail,
    AuditEvent.ip,
    AuditEvent.created_at,
)

# Kinds of event, by their action: "code." takes every action that starts so,
# "classroom.allotment" just that one. An event may be of two kinds.
KINDS = {
    "codes": ("Codes", ("code.", "batch.", "classroom.join_code")),
    "redeem": ("Code attempts", ("redeem.",)),
    "classrooms": ("Classrooms and courses", ("classroom.", "course.")),
    "people": (
        "People and memberships",
        (
            "member.",
            "user.",
            "roster.",
            "classroom.move",
            "classroom.remove_member",
            "classroom.membership_ended",
            "classroom.leader.",
            "course.instructor.",
        ),
    ),
    "seats": ("Seats and settings", ("org.", "seat.", "classroom.allotment")),
    "parents": ("Parent links", ("parent.",)),
    "requests": ("Join requests", ("request.",)),
}
OTHER = "other"

SUCCEEDED = ("ok", "already", "requested")
REFUSED = "refused"
OUTCOMES = {
    "ok": "Joined",
    "already": "Already in",
    "requested": "Waiting for approval",
    REFUSED: "Any refusal",
    "unknown": "Unknown code",
    "invalid": "No longer valid",
    "inactive": "Not active",
    "used": "Used up",
    "domain": "Email domain",
    "no_seats": "No seats",
    "limited": "Held back by the limit",
    "declined": "Declined before",
}
REFUSALS = tuple(o for o in OUTCOMES if o not in SUCCEEDED and o != REFUSED)

ACTIONS = {
    "org.create": "Organization created",
    "org.update": "Settings changed",
    "org.welcome_mail": "Welcome mail turned on or off",
    "classroom.create": "Classroom created",
    "classroom.rename": "Classroom renamed",
    "classroom.delete": "Classroom deleted",
    "classroom.courses": "Classroom's courses set",
    "classroom.leader.add": "Leader added",
    "classroom.leader.remove": "Leader removed",
    "course.create": "Course created",
    "course.rename": "Course renamed",
    "course.delete": "Course deleted",
    "course.instructor.add": "Instructor added",
    "course.instructor.remove": "Instructor removed",
    "member.add": "Person added",
    "member.admin": "Made an admin",
    "member.unadmin": "No longer an admin",
    "code.create": "Code created",
    "code.update": "Code edited",
    "code.on": "Code turned on",
    "code.off": "Code turned off",
    "code.expiry": "Code's expiry changed",
    "code.deactivate": "Code deactivated",
    "code.no_longer_valid": "Code no longer valid (its classrooms and courses were deleted)",
    "code.delete": "Code deleted",
    "code.approval": "Approval mode changed",
    "code.spike": "Code switched itself to approval (a spike)",
    "code.spike_dismissed": "Spike warning dismissed",
    "code.rotate": "Code given a new text (rotated)",
    "request.accept": "Join request accepted",
    "request.decline": "Join request declined",
    "request.refused": "Join request could not be accepted",
    "batch.create": "Codes made in bulk",
    "classroom.join_code": "Join code changed",
    "classroom.allotment": "Seat allotment set",
    "classroom.move": "Moved to another classroom",
    "classroom.remove_member": "Removed from a classroom",
    "classroom.membership_ended": "Membership ended (the code's duration)",
    "roster.upload": "Roster uploaded",
    "roster.add": "Added from a roster",
    "parent.code": "Parent code made",
    "parent.code.cancel": "Parent code cancelled",
    "parent.link": "Parent linked",
    "parent.revoke": "Parent link revoked",
    "parent.letters": "Parent letters printed",
    "parent.visibility": "What parents see changed",
}


@dataclass
class AuditFilter:
    """What an admin asked to see. Dates are whole days in the organization's zone."""

    kind: str = ""
    person: str = ""
    address: str = ""
    outcome: str = ""
    since: date | None = None
    until: date | None = None


@dataclass
class Page:
    rows: list[Entry]
    number: int
    pages: int
    counted: Counted

    @property
    def total(self) -> int:
        return self.counted.total

    @property
    def has_newer(self) -> bool:
        return self.number > 1

    @property
    def has_older(self) -> bool:
        return self.number < self.pages


def _matches(patterns):
    return or_(
        *(AuditEvent.action.like(f"{p}%") if p.endswith(".") else AuditEvent.action == p for p in patterns)
    )


def _kind_condition(kind):
    if kind == OTHER:
        return not_(or_(*(_matches(patterns) for _, patterns in KINDS.values())))
    return _matches(KINDS[kind][1])


def _outcome_condition(outcome):
    if outcome == REFUSED:
        return AuditEvent.action.in_([f"redeem.{o}" for o in REFUSALS])
    return AuditEvent.action == f"redeem.{outcome}"


def query(scope: access.Scope, flt: AuditFilter) -> Select[tuple[AuditEvent, User]]:
    """A select of (event, person who acted) for the organization's log, newest first."""
    org = scope.org
    conditions = [access.visible_audit_events(scope)]
    if flt.kind:
        conditions.append(_kind_condition(flt.kind))
    if flt.outcome:
        conditions.append(_outcome_condition(flt.outcome))
    if flt.person:
        conditions.append(search.contains(User.search_key, folded(flt.person.strip())))
    if flt.address:
        conditions.append(AuditEvent.ip == flt.address.strip())
    if flt.since:
        conditions.append(AuditEvent.created_at >= to_utc(org, flt.since))
    if flt.until:
        conditions.append(AuditEvent.created_at <= to_utc(org, flt.until, end_of_day=True))
    selected = (
        select(AuditEvent, User).outerjoin(User, User.id == AuditEvent.actor_id).where(and_(*conditions))
    )
    if flt.person:
        # The events of the people the trigram index finds, by their actor.
        selected = search.read_first(
            selected, User.search_key, folded(flt.person.strip()), on=AuditEvent.actor_id
        )
    return selected.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


def page(scope: access.Scope, flt: AuditFilter, number: int) -> Page:
    """One page of the log, counted and paged to listing.COUNT_CAP events; a
    number past the end shows the last page."""
    selected = query(scope, flt)
    counted = capped_count(selected)
    pages = counted.pages(PAGE_SIZE)
    number = min(max(number, 1), pages)
    rows = db.session.execute(selected.limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)).all()
    return Page(
        _named(scope, [Entry(scope.org, event, person) for event, person in rows]), number, pages, counted
    )


def entries(scope: access.Scope, flt: AuditFilter) -> Iterator[Entry]:
    """Every entry the filter selects, read in batches (for the export): one
    statement over a server-side cursor, its rows plain columns rather than
    objects, and what each batch names read at once, without links."""
    selected = (
        query(scope, flt)
        .with_only_columns(*_EVENT_COLUMNS, User.id, User.name, User.email)
        .execution_options(yield_per=EXPORT_BATCH)
    )
    org = scope.org
    # On the session's connection: Core rows, without the ORM's reading of them.
    for rows in db.session.connection().execute(selected).partitions():
        batch = [Entry(org, row, row if row.id is not None else None) for row in rows]
        yield from _named(scope, batch, links=False)


# -- what an event names ----------------------------------------------------------

# The detail keys that hold the id of something the organization has, by the
# kind of thing and the label it is shown under.
PERSON, CLASSROOM, COURSE, CODE, BATCH = "person", "classroom", "course", "code", "batch"
_ID_KEYS = {
    "user_id": (PERSON, "Person"),
    "student_id": (PERSON, "Student"),
    "classroom_id": (CLASSROOM, "Classroom"),
    "from_classroom_id": (CLASSROOM, "From"),
    "to_classroom_id": (CLASSROOM, "To"),
    "join_code_of": (CLASSROOM, "Join code of"),
    "course_ids": (COURSE, "Courses"),
}
# The kind of thing an event is about, by its object_type, and its label.
_OBJECTS = {
    "User": (PERSON, "Person"),
    "Classroom": (CLASSROOM, "Classroom"),
    "Course": (COURSE, "Course"),
    "Code": (CODE, "Code"),
    "Batch": (BATCH, "Batch"),
}
_LABELS = {
    "name": "Name",
    "old": "Old code",
    "new": "New code",
    "count": "Codes",
    "prefix": "Prefix",
    "seat_limit": "Seat limit",
    "allotment": "Allotment",
    "was": "Was",
    "reason": "Reason",
    "rows": "Rows",
    "email": "Email",
    "on": "On",
}
OUTSIDE = "Someone outside the organization"
GONE = {
    PERSON: OUTSIDE,
    CLASSROOM: "A deleted classroom",
    COURSE: "A deleted course",
    CODE: "A deleted code",
    BATCH: "A batch",
}


@dataclass(frozen=True)
class Part:
    """One labelled fact of an event: its text, and where it links (an endpoint
    and its arguments) when the person reading the log may open it."""

    label: str
    text: str
    endpoint: str = ""
    args: tuple[tuple[str, int | str], ...] = ()
    is_code: bool = False

    @property
    def url(self) -> str:
        values: dict[str, Any] = dict(self.args)
        return url_for(self.endpoint, **values) if self.endpoint else ""


@dataclass
class Names:
    """What the entries of one page (or one export batch) name, read at once and
    only from the organization: the people in the reader's scope, its classrooms,
    courses, codes and batches, as rows of the columns a part shows (codes, for
    links, as objects with their targets). Without links, no part links."""

    scope: access.Scope
    people: dict[int, Any]
    classrooms: dict[int, Any]
    courses: dict[int, Any]
    codes: dict[int, Any]
    batches: dict[int, Any]
    links: bool = True

    def part(self, kind: str, label: str, thing_id: object, text: str = "", fallback: str = "") -> Part:
        """The part naming one thing; text, for a code, is its text as the event
        saw it made, and fallback what to show when the thing is not found."""
        found = self._found(kind, thing_id)
        if found is None:
            shown = text or fallback
            return Part(label, shown or GONE[kind], is_code=kind == CODE and bool(shown))
        if not self.links:
            if kind == CODE:
                return Part(label, text or found.text, is_code=True)
            return Part(label, found.prefix or f"{found.count}" if kind == BATCH else found.name)
        org_id = self.scope.org.id
        if kind == PERSON:
            return Part(label, found.name, "users.index", (("org_id", org_id), ("q", found.email)))
        if kind == CLASSROOM:
            return Part(label, found.name, "orgs.classroom", (("classroom_id", found.id),))
        if kind == COURSE:
            return Part(label, found.name, "orgs.course", (("course_id", found.id),))
        if kind == CODE:
            if found.deleted_at is not None or not self.scope.can_manage_code(found):
                return Part(label, text or found.text, is_code=True)
            return Part(label, text or found.text, "manage.edit", (("code_id", found.id),), is_code=True)
        return Part(
            label, found.prefix or f"{found.count}", "bulk.codes", (("org_id", org_id), ("batch", found.id))
        )

    def _found(self, kind, thing_id):
        if not isinstance(thing_id, int) or isinstance(thing_id, bool):
            return None
        found: dict[str, dict[int, Any]] = {
            PERSON: self.people,
            CLASSROOM: self.classrooms,
            COURSE: self.courses,
            CODE: self.codes,
            BATCH: self.batches,
        }
        return found[kind].get(thing_id)


def _ids(value):
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _wanted(entries: list[Entry]) -> dict[str, set[int]]:
    wanted: dict[str, set[int]] = {k: set() for k in (PERSON, CLASSROOM, COURSE, CODE, BATCH)}
    for entry in entries:
        obj = _OBJECTS.get(entry.event.object_type)
        if obj and entry.event.object_id is not None:
            wanted[obj[0]].add(entry.event.object_id)
        if entry.detail:
            for key, (kind, _) in _ID_KEYS.items():
                wanted[kind].update(_ids(entry.detail.get(key)))
    return wanted


def _among_visible_people(scope: access.Scope) -> ColumnElement[bool]:
    """A person the scope may see. For an admin, a membership of the organization,
    looked up for each person named (its unique index): the IN of every member's id
    read all 100,000 of a district's members again for each thousand events exported."""
    if scope.admin:
        return exists().where(OrgMember.user_id == User.id, OrgMember.org_id == scope.org.id)
    return User.id.in_(scope.visible_people())


def names(scope: access.Scope, entries: list[Entry], links: bool = True) -> Names:
    """Read at once everything the entries name, from the organization alone: the
    columns their parts show, and for links each code, with its targets when
    scope.can_manage_code reads them (not for an admin, who manages all)."""
    wanted = _wanted(entries)
    org_id = scope.org.id

    def load(columns, ids, *conditions):
        # By the ids first: SQLite would otherwise walk all the organization's
        # codes (or batches) to find the page's few.
        if not ids:
            return {}
        query = byids.among(select(*columns).where(*conditions), columns[0], sorted(ids))
        return {row.id: row for row in db.session.execute(query)}

    if links:
        codes = {}
        if wanted[CODE]:
            chosen = select(Code).where(Code.org_id == org_id)
            if not scope.admin:
                chosen = chosen.options(selectinload(Code.classrooms), selectinload(Code.courses))
            query = byids.among(chosen, Code.id, sorted(wanted[CODE]))
            codes = {code.id: code for code in db.session.scalars(query)}
    else:
        codes = load((Code.id, Code.text), wanted[CODE], Code.org_id == org_id)
    return Names(
        scope,
        load((User.id, User.name, User.email), wanted[PERSON], _among_visible_people(scope)),
        load((Classroom.id, Classroom.name), wanted[CLASSROOM], Classroom.org_id == org_id),
        load((Course.id, Course.name), wanted[COURSE], Course.org_id == org_id),
        codes,
        load((Batch.id, Batch.prefix, Batch.count), wanted[BATCH], Batch.org_id == org_id),
        links,
    )


def parts(entry: Entry, named: Names) -> list[Part]:
    """An event's detail as labelled parts: the thing it is about first, then
    its other facts, with names instead of ids and a code as it was made (its
    text, not its lookup key)."""
    event, detail = entry.event, entry.detail
    shown: list[Part] = []
    obj = _OBJECTS.get(event.object_type)
    if obj:
        kind, label = obj
        # A code as the event saw it made; one since gone, by the key typed.
        text = str(detail.get("text") or "") if kind == CODE else ""
        fallback = str(detail.get("key") or "") if kind == CODE else ""
        shown.append(named.part(kind, label, event.object_id, text, fallback))
    elif entry.is_attempt and detail.get("key"):
        shown.append(Part("Code", str(detail["key"]), is_code=True))
    for key, value in detail.items():
        if key == "key" or (key == "text" and obj and obj[0] == CODE):
            continue
        if key in _ID_KEYS:
            kind, label = _ID_KEYS[key]
            ids = _ids(value)
            if not ids:
                shown.append(Part(label, "None"))
            shown.extend(named.part(kind, label, thing_id) for thing_id in ids)
            continue
        label = _LABELS.get(key) or key.replace("_", " ").capitalize()
        text = (
            "Yes" if value is True else "No" if value is False else ("None" if value is None else str(value))
        )
        shown.append(Part(label, text, is_code=key in ("old", "new", "text")))
    return shown


def _named(scope: access.Scope, batch: list[Entry], links: bool = True) -> list[Entry]:
    if batch:
        named = names(scope, batch, links)
        for entry in batch:
            entry.parts = parts(entry, named)
    return batch


class Entry:
    """One event as people read it."""

    def __init__(
        self, org: Organization, event: AuditEvent | Row[Any], person: User | Row[Any] | None
    ) -> None:
        self.event = event
        self.person = person
        self.when = to_local(org, event.created_at)
        self.detail = json.loads(event.detail) if event.detail else {}
        self.parts: list[Part] = []

    @property
    def is_attempt(self) -> bool:
        return self.event.action.startswith("redeem.")

    @property
    def outcome(self) -> str:
        return self.event.action.partition(".")[2] if self.is_attempt else ""

    @property
    def outcome_label(self) -> str:
        return OUTCOMES.get(self.outcome, self.outcome)

    @property
    def refused(self) -> bool:
        return self.is_attempt and self.outcome not in SUCCEEDED

    @property
    def code_text(self) -> str:
        """The code an event is about as it was made; an attempt that found no
        code, by the key typed."""
        code = next((p for p in self.parts if p.is_code and p.label == "Code"), None)
        return code.text if code else ""

    @property
    def what(self) -> str:
        if self.is_attempt:
            return "Code attempt"
        action = self.event.action
        return ACTIONS.get(action) or action.replace(".", " ").replace("_", " ").capitalize()

    @property
    def details(self) -> str:
        """The labelled parts as one line of text, for the export."""
        return "; ".join(f"{p.label}: {p.text}" for p in self.parts if not (p.is_code and p.label == "Code"))

    @property
    def ids(self) -> str:
        """The event's raw facts as JSON, ids and all, for machines: the thing it
        is about (by its kind) and its detail."""
        object_type = self.event.object_type
        if not self.detail and object_type and object_type.isascii() and object_type.isalnum():
            # Most events (code attempts) have no detail: the JSON json.dumps
            # writes of the one key, without its encoder's start-up each event.
            object_id = self.event.object_id
            return f'{{"{object_type.lower()}": {"null" if object_id is None else int(object_id)}}}'
        raw: dict[str, object] = {}
        if self.event.object_type:
            raw[self.event.object_type.lower()] = self.event.object_id
        raw.update(self.detail)
        return json.dumps(raw, sort_keys=True) if raw else ""


@dataclass
class Pressure:
    """Refused code attempts of the last day: the sign of someone guessing."""

    refused: int
    held_back: int
    accounts: int
    addresses: list[tuple[str, int]]  # (address, attempts), most first

    @property
    def guessing_likely(self) -> bool:
        return self.held_back > 0


def pressure(scope: access.Scope, now: datetime | None = None, top: int = 3) -> Pressure:
    """How hard the organization's code box was tried in the last 24 hours."""
    now = now or utcnow()
    refused = and_(
        access.visible_audit_events(scope),
        AuditEvent.action.in_([f"redeem.{o}" for o in REFUSALS]),
        AuditEvent.created_at > now - timedelta(hours=24),
    )
    count, accounts = db.session.execute(
        select(func.count(), func.count(func.distinct(AuditEvent.actor_id))).where(refused)
    ).one()
    held_back = cast(
        int, db.session.scalar(select(func.count()).where(refused, AuditEvent.action == "redeem.limited"))
    )
    busiest = db.session.execute(
        select(AuditEvent.ip, func.count().label("n"))
        .where(refused, AuditEvent.ip != "")
        .group_by(AuditEvent.ip)
        .order_by(func.count().desc(), AuditEvent.ip)
        .limit(top)
    ).all()
    return Pressure(count, held_back, accounts, [(ip, n) for ip, n in busiest])


def csv_header(org: Organization) -> list[str]:
    return [
        f"When ({org.timezone})",
        "Action",
        "Outcome",
        "Code",
        "Who",
        "Email",
        "Address",
        "Details",
        "Ids",
    ]


def csv_row(entry: Entry) -> list[object]:
    person = entry.person
    return [
        # strftime("%Y-%m-%d %H:%M:%S") for the years 1000 to 9999, in a third of its time.
        entry.when.isoformat(" ", "seconds")[:19],
        entry.event.action,
        entry.outcome_label,
        entry.code_text,
        person.name if person else "",
        person.email if person else "",
        entry.event.ip,
        entry.details,
        entry.ids,
    ]
