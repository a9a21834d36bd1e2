"""The audit log as an organization's admins read it: every change to codes,
classrooms, courses, seats, memberships and parent links, and every redemption
attempt, filtered, paged and exported. Which events an organization may see is
decided in codes.access."""
import json
import math
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, func, not_, or_, select

from .. import access
from ..extensions import db
from ..models import AuditEvent, User, utcnow
from ..timeutil import to_local, to_utc

PAGE_SIZE = 50
EXPORT_BATCH = 1000

# Kinds of event, by their action: "code." takes every action that starts so,
# "classroom.allotment" just that one. An event may be of two kinds.
KINDS = {
    "codes": ("Codes", ("code.", "batch.", "classroom.join_code")),
    "redeem": ("Code attempts", ("redeem.",)),
    "classrooms": ("Classrooms and courses", ("classroom.", "course.")),
    "people": ("People and memberships", ("member.", "user.", "roster.", "classroom.move",
                                          "classroom.remove_member", "classroom.leader.",
                                          "course.instructor.")),
    "seats": ("Seats and settings", ("org.", "seat.", "classroom.allotment")),
    "parents": ("Parent links", ("parent.",)),
}
OTHER = "other"

SUCCEEDED = ("ok", "already")
REFUSED = "refused"
OUTCOMES = {
    "ok": "Joined",
    "already": "Already in",
    REFUSED: "Any refusal",
    "unknown": "Unknown code",
    "invalid": "No longer valid",
    "inactive": "Not active",
    "used": "Used up",
    "domain": "Email domain",
    "no_seats": "No seats",
    "limited": "Held back by the limit",
}
REFUSALS = tuple(o for o in OUTCOMES if o not in SUCCEEDED and o != REFUSED)

ACTIONS = {
    "org.create": "Organization created",
    "org.update": "Settings changed",
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
    "code.deactivate": "Code deactivated",
    "code.delete": "Code deleted",
    "batch.create": "Codes made in bulk",
    "classroom.join_code": "Join code changed",
    "classroom.allotment": "Seat allotment set",
    "classroom.move": "Moved to another classroom",
    "classroom.remove_member": "Removed from a classroom",
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
    rows: list
    number: int
    pages: int
    total: int

    @property
    def has_newer(self):
        return self.number > 1

    @property
    def has_older(self):
        return self.number < self.pages


def _matches(patterns):
    return or_(*(AuditEvent.action.like(f"{p}%") if p.endswith(".") else AuditEvent.action == p
                 for p in patterns))


def _kind_condition(kind):
    if kind == OTHER:
        return not_(or_(*(_matches(patterns) for _, patterns in KINDS.values())))
    return _matches(KINDS[kind][1])


def _outcome_condition(outcome):
    if outcome == REFUSED:
        return AuditEvent.action.in_([f"redeem.{o}" for o in REFUSALS])
    return AuditEvent.action == f"redeem.{outcome}"


def _like(term):
    return "%" + term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def query(scope, flt):
    """A select of (event, person who acted) for the organization's log, newest first."""
    org = scope.org
    conditions = [access.visible_audit_events(scope)]
    if flt.kind:
        conditions.append(_kind_condition(flt.kind))
    if flt.outcome:
        conditions.append(_outcome_condition(flt.outcome))
    if flt.person:
        pattern = _like(flt.person.strip())
        conditions.append(or_(func.lower(User.name).like(pattern, escape="\\"),
                              User.email_key.like(pattern, escape="\\")))
    if flt.address:
        conditions.append(AuditEvent.ip == flt.address.strip())
    if flt.since:
        conditions.append(AuditEvent.created_at >= to_utc(org, flt.since))
    if flt.until:
        conditions.append(AuditEvent.created_at <= to_utc(org, flt.until, end_of_day=True))
    return (
        select(AuditEvent, User)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(and_(*conditions))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    )


def page(scope, flt, number):
    """One page of the log; a number past the end shows the last page."""
    selected = query(scope, flt)
    total = db.session.scalar(select(func.count()).select_from(selected.subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    number = min(max(number, 1), pages)
    rows = db.session.execute(selected.limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)).all()
    return Page([Entry(scope.org, event, person) for event, person in rows], number, pages, total)


def entries(scope, flt):
    """Every entry the filter selects, read in batches (for the export)."""
    selected = query(scope, flt).execution_options(yield_per=EXPORT_BATCH)
    for event, person in db.session.execute(selected):
        yield Entry(scope.org, event, person)


class Entry:
    """One event as people read it."""

    def __init__(self, org, event, person):
        self.event = event
        self.person = person
        self.when = to_local(org, event.created_at)
        self.detail = json.loads(event.detail) if event.detail else {}

    @property
    def is_attempt(self):
        return self.event.action.startswith("redeem.")

    @property
    def outcome(self):
        return self.event.action.partition(".")[2] if self.is_attempt else ""

    @property
    def outcome_label(self):
        return OUTCOMES.get(self.outcome, self.outcome)

    @property
    def refused(self):
        return self.is_attempt and self.outcome not in SUCCEEDED

    @property
    def code_key(self):
        return self.detail.get("key", "") if self.is_attempt else ""

    @property
    def what(self):
        if self.is_attempt:
            return "Code attempt"
        action = self.event.action
        return ACTIONS.get(action) or action.replace(".", " ").replace("_", " ").capitalize()

    @property
    def details(self):
        """The event's other facts, as "name: value" pairs (an attempt's code is its key)."""
        if self.is_attempt:
            shown = {k: v for k, v in self.detail.items() if k != "key"}
        elif self.event.object_type:
            shown = {self.event.object_type.lower(): self.event.object_id, **self.detail}
        else:
            shown = self.detail
        return "; ".join(f"{k}: {v}" for k, v in shown.items())


@dataclass
class Pressure:
    """Refused code attempts of the last day: the sign of someone guessing."""

    refused: int
    held_back: int
    accounts: int
    addresses: list  # (address, attempts), most first

    @property
    def guessing_likely(self):
        return self.held_back > 0


def pressure(scope, now=None, top=3):
    """How hard the organization's code box was tried in the last 24 hours."""
    now = now or utcnow()
    refused = and_(access.visible_audit_events(scope),
                   AuditEvent.action.in_([f"redeem.{o}" for o in REFUSALS]),
                   AuditEvent.created_at > now - timedelta(hours=24))
    count, accounts = db.session.execute(
        select(func.count(), func.count(func.distinct(AuditEvent.actor_id))).where(refused)
    ).one()
    held_back = db.session.scalar(
        select(func.count()).where(refused, AuditEvent.action == "redeem.limited"))
    busiest = db.session.execute(
        select(AuditEvent.ip, func.count().label("n")).where(refused, AuditEvent.ip != "")
        .group_by(AuditEvent.ip).order_by(func.count().desc(), AuditEvent.ip).limit(top)
    ).all()
    return Pressure(count, held_back, accounts, [(ip, n) for ip, n in busiest])


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value):
    """A CSV cell a spreadsheet shows as text, never runs as a formula (OWASP
    "CSV Injection"): text starting with = + - @ tab CR or LF gets a leading '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_header(org):
    return [f"When ({org.timezone})", "Action", "Outcome", "Code", "Who", "Email", "Address",
            "Details"]


def csv_row(entry):
    person = entry.person
    return [safe_cell(v) for v in (
        entry.when.strftime("%Y-%m-%d %H:%M:%S"), entry.event.action, entry.outcome_label,
        entry.code_key, person.name if person else "", person.email if person else "",
        entry.event.ip, entry.details,
    )]
