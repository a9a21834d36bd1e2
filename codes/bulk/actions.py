"""One change to many codes at once, from the existing-codes table: deactivate,
switch off, switch on, or change the expiry of the codes ticked, or of all the
codes the filter shows. All of them or none: the request's one transaction.
Every function flushes and never commits."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .. import audit
from ..access import OutOfScope, Scope
from ..errors import FieldErrors
from ..extensions import db
from ..manage.operations import deactivate, set_enabled
from ..models import Code, User, utcnow
from ..words import choose, plural
from .operations import CodeFilter, filtered_codes

# The most codes one action takes: a whole batch (generate_batch's largest),
# the codes ticked or all the filter shows. The ids a form sends are bounded
# to it before any is read (BulkActionForm), and the codes found to it.
MAX_CODES = 500
OFF, ON, EXPIRY, DEACTIVATE = "off", "on", "expiry", "deactivate"
ACTIONS = (OFF, ON, EXPIRY, DEACTIVATE)
TOO_MANY = f"Choose at most {MAX_CODES} codes at a time."


@dataclass(frozen=True)
class Change:
    """What to do to every chosen code; for EXPIRY the new valid-until in UTC,
    None for no expiry."""

    action: str
    valid_until: datetime | None = None


@dataclass(frozen=True)
class Done:
    """What a change did: how many codes it changed, how many were already as
    asked, and how many deactivated codes it left as they are."""

    change: Change
    changed: int
    already: int
    left: int


def codes_named(scope: Scope, ids: Iterable[int]) -> Sequence[Code]:
    """The codes these ids name, locked in id order until the transaction ends
    (as any change to a code locks its row first), if every one of them is a
    live code the person may manage; else OutOfScope (404), as if the ids named
    nothing, and nothing is changed."""
    wanted = sorted(set(ids))
    if not wanted:
        raise FieldErrors({"code_ids": "Tick at least one code, or choose all the codes the filter shows."})
    if len(wanted) > MAX_CODES:
        raise FieldErrors({"code_ids": TOO_MANY})
    codes = db.session.scalars(
        scope.visible_codes().where(Code.id.in_(wanted)).order_by(Code.id).with_for_update(key_share=True)
    ).all()
    if len(codes) != len(wanted):
        raise OutOfScope()
    return codes


def ids_the_filter_shows(scope: Scope, filters: CodeFilter, now: datetime | None = None) -> list[int]:
    """The ids of every code the table shows for this filter, all pages, up to
    MAX_CODES; more is refused, to be narrowed first."""
    query = filtered_codes(scope, filters, now).with_only_columns(Code.id).limit(MAX_CODES + 1)
    ids = list(db.session.scalars(query))
    if not ids:
        raise FieldErrors({"act_on": "The filter shows no codes."})
    if len(ids) > MAX_CODES:
        raise FieldErrors(
            {
                "act_on": f"The filter shows more than {MAX_CODES} codes: narrow it (a batch, a status, "
                f"a classroom, a search) to {MAX_CODES} or fewer, then try again."
            }
        )
    return ids


def problems(codes: Sequence[Code], change: Change) -> None:
    """Refuse, before anything is asked or changed, what some of the codes could
    not take: a code must stop after it opens, as on its edit page."""
    if change.action not in ACTIONS:
        raise FieldErrors({"bulk_action": "Choose what to do with the codes."})
    if change.action == EXPIRY and change.valid_until is not None:
        later = [c for c in codes if c.valid_from is not None and c.valid_from >= change.valid_until]
        if later:
            raise FieldErrors(
                {
                    "new_expiry": f"{plural(len(later), 'of these codes opens', 'of these codes open')} "
                    f"only after that day. Choose a later day, or untick "
                    f"{choose(len(later), 'it', 'them')}."
                }
            )


def apply(actor: User, codes: Sequence[Code], change: Change, now: datetime | None = None) -> Done:
    """Make the change to every code, one audit event for each code it changes.
    A deactivated code is done with: deactivating it again, switching it or
    changing its expiry leaves it as it is. A code already as asked (off, on,
    with that expiry) is left too, and no event written for it."""
    now = now or utcnow()
    problems(codes, change)
    changed = already = left = 0
    for code in codes:
        if code.deactivated_at is not None:
            if change.action == DEACTIVATE:
                already += 1
            else:
                left += 1
            continue
        if change.action == DEACTIVATE:
            deactivate(actor, code, now=now)
        elif change.action in (ON, OFF):
            if code.enabled == (change.action == ON):
                already += 1
                continue
            set_enabled(actor, code, change.action == ON)
        else:
            if code.valid_until == change.valid_until:
                already += 1
                continue
            code.valid_until = change.valid_until
            db.session.flush()
            audit.record(actor, "code.expiry", code, valid_until=change.valid_until)
        changed += 1
    return Done(change=change, changed=changed, already=already, left=left)
