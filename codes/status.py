"""A code's one status: the first of these that applies (DESIGN.md "Status"), in
Python for a code in hand and in SQL for queries and the guarded UPDATE."""

from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Row, and_, case, or_

from .models import Code, utcnow

DEACTIVATED = "Deactivated"
NO_LONGER_VALID = "No longer valid"
EXPIRED = "Expired"
USED = "Used"
OFF = "Off"
SCHEDULED = "Scheduled"
ACTIVE = "Active"
# No longer valid, a code whose classrooms and courses were all deleted, comes
# right after Deactivated: it places nobody whatever else is true of it
# (expired, used up, off), but a code someone turned off for good says so. A
# redemption that finds its code changed under it reads the status again and
# words its refusal from it (codes.redeem.operations), and knows Deactivated,
# not No longer valid: this order keeps that refusal true when a deletion and
# a deactivation (a join code replaced) meet.
ALL = (DEACTIVATED, NO_LONGER_VALID, EXPIRED, USED, OFF, SCHEDULED, ACTIVE)


def code_status(code: Code | Row[Any], now: datetime | None = None) -> str:
    """The status of a code, or of a row with its columns, read from that row
    alone, so a table needs no query per code."""
    now = now or utcnow()
    if code.deactivated_at is not None:
        return DEACTIVATED
    if code.targets_deleted_at is not None:
        return NO_LONGER_VALID
    if code.valid_until is not None and now > code.valid_until:
        return EXPIRED
    if code.max_uses is not None and code.uses >= code.max_uses:
        return USED
    if not code.enabled:
        return OFF
    if code.valid_from is not None and now < code.valid_from:
        return SCHEDULED
    return ACTIVE


def _sql_conditions(now: datetime | BindParameter[datetime]) -> list[tuple[str, Any, Any]]:
    """(status, when it applies, when it does not) for each status but Active,
    in code_status's order, as conditions on a code's own columns. Each pair is
    exact: the second is the first's negation for every row (the NULLs
    included), so a status is "none before it applies, and it does"."""
    return [
        (DEACTIVATED, Code.deactivated_at.is_not(None), Code.deactivated_at.is_(None)),
        (NO_LONGER_VALID, Code.targets_deleted_at.is_not(None), Code.targets_deleted_at.is_(None)),
        (
            EXPIRED,
            and_(Code.valid_until.is_not(None), Code.valid_until < now),
            or_(Code.valid_until.is_(None), Code.valid_until >= now),
        ),
        (
            USED,
            and_(Code.max_uses.is_not(None), Code.uses >= Code.max_uses),
            or_(Code.max_uses.is_(None), Code.uses < Code.max_uses),
        ),
        (OFF, Code.enabled.is_(False), Code.enabled.is_(True)),
        (
            SCHEDULED,
            and_(Code.valid_from.is_not(None), Code.valid_from > now),
            or_(Code.valid_from.is_(None), Code.valid_from <= now),
        ),
    ]


def sql_status(now: datetime | BindParameter[datetime]) -> ColumnElement[str]:
    """code_status as SQL, for a query or a guarded UPDATE: a CASE over a code's
    own columns, the first that applies, in the same order (tests/test_status.py
    holds the two to agreeing for every status and edge). `now` may be a bind
    parameter."""
    return case(*((applies, name) for name, applies, _ in _sql_conditions(now)), else_=ACTIVE)


def sql_is(name: str, now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """Whether a code's status is `name`, as SQL: none of the statuses before it
    applies, and it does, so that a list filtered by a status holds exactly the
    codes that show it. Plain conditions on the columns rather than the CASE of
    sql_status compared with a word: PostgreSQL estimates how many rows each
    condition keeps from its statistics, where for the CASE it guessed one in
    two hundred, and so read a large organization's codes in full for a page
    of its active codes."""
    conditions: list[Any] = []
    for status, applies, fails in _sql_conditions(now):
        if status == name:
            return and_(*conditions, applies)
        conditions.append(fails)
    if name != ACTIVE:
        raise ValueError(f"no status {name!r}")
    return and_(*conditions)


def joins_directly(code: Code | Row[Any]) -> bool:
    """Whether a redemption of an Active code places the person at once; a code
    in approval mode makes a request its staff accept or decline instead. Not a
    status: a code in approval mode is Active, Off, Used... as any other."""
    return not code.approval


def sql_joins_directly() -> ColumnElement[bool]:
    """joins_directly as SQL, for the guarded UPDATE of a person's own redemption."""
    return Code.approval.is_(False)


def sql_redeemable(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """The conditions under which code_status is ACTIVE, as a WHERE that the
    redemption's guarded UPDATE re-checks on the row it counts a use on."""
    return sql_is(ACTIVE, now)
