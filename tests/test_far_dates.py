"""Dates at the ends of the calendar, typed in organizations up to 14 hours from
UTC: a message beside the field, never a 500. Before, 0001-01-01 in a zone ahead
of UTC, or 9999-12-31 to the end of its day in one behind it, was an instant
outside Python's datetime, and the conversion to UTC raised OverflowError (found
by tests/test_fuzz.py on the audit log's filter and the code forms)."""

import pytest
from sqlalchemy import select

from codes.extensions import db
from codes.models import Code
from codes.timeutil import DAY_RANGE
from conftest import Factory, count, soup

# Fourteen hours ahead of UTC, and eleven behind.
AHEAD, BEHIND = "Pacific/Kiritimati", "Pacific/Pago_Pago"


def _world(app, timezone):
    make = Factory()
    org = make.org(name="Far School", timezone=timezone)
    room = make.classroom(org, "Room 1")
    client = app.test_client()
    client.login(org.admin)
    return org, room, client


def _errors(response):
    return [p.get_text(strip=True) for p in soup(response).select(".error")]


def _codes():
    return count(Code)


@pytest.mark.parametrize(
    "timezone, field, day",
    [
        (AHEAD, "valid_from", "0001-01-01"),
        (AHEAD, "valid_until", "0001-01-01"),
        (BEHIND, "valid_until", "9999-12-31"),
        (BEHIND, "valid_from", "9999-12-31"),
    ],
)
def test_a_code_dated_past_the_calendar_is_refused_beside_the_field(app, timezone, field, day):
    org, room, client = _world(app, timezone)
    before = _codes()
    response = client.post(
        f"/classrooms/{room.id}/codes",
        data={"text": "FAR-DATE-2027", "classroom_ids": [str(room.id)], field: day},
    )
    assert response.status_code == 422
    assert DAY_RANGE in _errors(response)
    assert _codes() == before


def test_a_batch_expiring_past_the_calendar_is_refused_beside_the_field(app):
    org, room, client = _world(app, BEHIND)
    before = _codes()
    response = client.post(
        f"/orgs/{org.id}/bulk",
        data={"classroom_ids": [str(room.id)], "count": "2", "valid_until": "9999-12-31"},
    )
    assert response.status_code == 422
    assert DAY_RANGE in _errors(response)
    assert _codes() == before


@pytest.mark.parametrize(
    "timezone, field, day", [(AHEAD, "since", "0001-01-01"), (BEHIND, "until", "9999-12-31")]
)
def test_the_audit_log_filtered_past_the_calendar_says_so(app, timezone, field, day):
    org, room, client = _world(app, timezone)
    for path in (f"/orgs/{org.id}/audit", f"/orgs/{org.id}/audit.csv"):
        response = client.get(path, query_string={field: day})
        assert response.status_code == 422
        assert DAY_RANGE in _errors(response)


def test_the_first_and_last_days_taken_are_shown_in_any_zone(app):
    """The bounds leave a year of room: a code dated at both ends is made and then
    shown after the organization's zone moved to the other side of UTC."""
    org, room, client = _world(app, AHEAD)
    response = client.post(
        f"/classrooms/{room.id}/codes",
        data={
            "text": "FAR-DATE-2027",
            "classroom_ids": [str(room.id)],
            "valid_from": "0002-01-01",
            "valid_until": "9998-12-31",
        },
    )
    assert response.status_code == 303
    code = db.session.scalar(select(Code).where(Code.text == "FAR-DATE-2027"))
    org.timezone = BEHIND
    db.session.commit()
    for path in (f"/classrooms/{room.id}/codes", f"/codes/{code.id}/edit", f"/orgs/{org.id}/audit"):
        assert client.get(path).status_code == 200, path
