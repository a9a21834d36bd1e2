"""A code's status is decided twice, on purpose: in Python for a code in hand
(tables, the code box's words) and in SQL for queries and the redemption's
guarded UPDATE (codes/status.py). The two agree for every status and at every
edge, on SQLite and PostgreSQL."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, literal, select

from codes import status
from codes.codetext import canonical
from codes.extensions import db
from codes.models import Code
from conftest import Factory

NOW = datetime(2027, 3, 1, 12, 0)
SECOND = timedelta(seconds=1)

# (what the row holds beyond an active code, the status it must have at NOW)
CASES = {
    "active": ({}, status.ACTIVE),
    "deactivated": ({"deactivated_at": NOW - SECOND}, status.DEACTIVATED),
    "deactivated, expired and off": (
        {"deactivated_at": NOW, "valid_until": NOW - SECOND, "enabled": False},
        status.DEACTIVATED,
    ),
    "no longer valid": ({"targets_deleted_at": NOW}, status.NO_LONGER_VALID),
    "no longer valid and used up": (
        {"targets_deleted_at": NOW, "max_uses": 1, "uses": 1},
        status.NO_LONGER_VALID,
    ),
    "expired a second ago": ({"valid_until": NOW - SECOND}, status.EXPIRED),
    "expires this very moment": ({"valid_until": NOW}, status.ACTIVE),
    "expired and used up": ({"valid_until": NOW - SECOND, "max_uses": 1, "uses": 1}, status.EXPIRED),
    "used up": ({"max_uses": 3, "uses": 3}, status.USED),
    "one use left": ({"max_uses": 3, "uses": 2}, status.ACTIVE),
    "used up and off": ({"max_uses": 1, "uses": 1, "enabled": False}, status.USED),
    "off": ({"enabled": False}, status.OFF),
    "off and scheduled": ({"enabled": False, "valid_from": NOW + SECOND}, status.OFF),
    "scheduled": ({"valid_from": NOW + SECOND}, status.SCHEDULED),
    "opens this very moment": ({"valid_from": NOW}, status.ACTIVE),
    "open window": ({"valid_from": NOW - SECOND, "valid_until": NOW + SECOND}, status.ACTIVE),
    "unlimited": ({"max_uses": None, "uses": 10_000}, status.ACTIVE),
}


@pytest.fixture
def org(any_db_app):
    return Factory().org()


@pytest.mark.parametrize("case", sorted(CASES))
def test_python_and_sql_give_one_status(org, case):
    columns, expected = CASES[case]
    row = {
        "org_id": org.id,
        "text": f"CASE-{len(case)}",
        "key": case.upper(),
        "role": "student",
        "uses": 0,
        "allowed_domains": "",
        "enabled": True,
        "created_at": NOW,
        **columns,
    }
    code_id = db.session.execute(insert(Code).values(row).returning(Code.id)).scalar_one()
    code = db.session.get(Code, code_id)
    now = literal(NOW)
    in_sql, redeemable = db.session.execute(
        select(status.sql_status(now), status.sql_redeemable(now)).where(Code.id == code_id)
    ).one()
    assert status.code_status(code, NOW) == expected
    assert in_sql == expected
    assert bool(redeemable) == (expected == status.ACTIVE)


def test_the_status_filter_lists_exactly_the_codes_that_show_its_status(org):
    """Every case above at once, filtered by each status the bulk page offers: the
    codes listed under a status are exactly those code_status gives it, so the
    filter and the status shown can never disagree (the edges too: opens or
    expires this very moment, uses exactly at max, off, deactivated)."""
    from codes.access import Scope
    from codes.bulk import operations

    expected = {}
    for number, case in enumerate(sorted(CASES)):
        columns, wanted = CASES[case]
        row = {
            "org_id": org.id,
            "text": f"FILTER-{number}",
            "key": canonical(f"FILTER-{number}"),
            "role": "student",
            "uses": 0,
            "allowed_domains": "",
            "enabled": True,
            "created_at": NOW,
            **columns,
        }
        expected[db.session.execute(insert(Code).values(row).returning(Code.id)).scalar_one()] = wanted
    scope = Scope(org.admin, org)
    offered = set()
    for word, (label, shown) in operations.STATUS_FILTERS.items():
        filters = operations.CodeFilter(status=word, search="FILTER")
        listed = set(
            db.session.scalars(operations.filtered_codes(scope, filters, NOW).with_only_columns(Code.id))
        )
        want = {i for i, s in expected.items() if shown is None or s == shown}
        assert listed == want, f"{label}: listed {sorted(listed)}, shows that status {sorted(want)}"
        assert all(status.code_status(db.session.get(Code, i), NOW) == (shown or expected[i]) for i in listed)
        offered.add(shown)
    assert offered - {None} == set(status.ALL), "every status is one choice of the filter away"
    assert set(expected.values()) == set(status.ALL), "the cases have a code of every status"
