"""The app's words: counts through one plural helper (codes/words.py), one
message for a number that is not whole, one word for a code that never
expires, and a time zone named where a student reads when a code opens."""

import inspect
from datetime import datetime

import pytest
from flask_wtf import FlaskForm
from wtforms import IntegerField

from codes import auditlog, auth, bulk, manage, orgs, parents, redeem, reports, seats, users
from codes.extensions import db
from codes.numbers import IdField, WholeNumberField
from codes.redeem.operations import RedeemRefused, attempt_redeem
from codes.seats import operations as seat_operations
from codes.words import choose, plural
from conftest import soup, text_of


def test_plural_says_one_and_many():
    assert plural(1, "seat") == "1 seat"
    assert plural(0, "seat") == "0 seats"
    assert plural(2, "person", "people") == "2 people"
    assert plural(1, "seat is", "seats are") == "1 seat is"
    assert choose(3, "has", "have") == "have"


@pytest.fixture
def school(make, client):
    org = make.org(name="Oak School", timezone="Europe/Paris", seat_limit=10)
    room = make.classroom(org, "Room 9A")
    client.login(org.admin)
    return org, room


def test_one_seat_taken_is_said_in_the_singular(school, make):
    org, room = school
    make.code(org, "OAK-9A-ONLY", classrooms=[room])
    attempt_redeem(make.user("Sam Student"), "OAK-9A-ONLY")
    db.session.commit()
    with pytest.raises(Exception) as refused:
        seat_operations.check_limit(org, 0)
    assert "1 seat is already taken" in str(refused.value.errors["seat_limit"])


def test_counts_on_pages_are_in_the_singular_for_one(school, make, client):
    org, room = school
    code = make.code(org, "OAK-9A-ONCE", classrooms=[room])
    attempt_redeem(make.user("Sam Student"), "OAK-9A-ONCE")
    db.session.commit()
    edit = text_of(client.get(f"/codes/{code.id}/edit"))
    assert "used 1 time" in edit and "used 1 times" not in edit
    letters = text_of(client.get(f"/classrooms/{room.id}"))
    assert "for each of the 1 member" not in letters and "(1 member)" in letters
    settings = text_of(client.get(f"/classrooms/{room.id}/settings"))
    assert "1 new seat taken" in settings
    compare = text_of(
        client.get(f"/orgs/{org.id}/reports/compare", query_string={"code": [code.id, room.join_code.id]})
    )
    assert "1 use" in compare and "1 uses" not in compare and "1 members" not in compare


def test_every_number_field_of_every_form_is_a_whole_number_field():
    """One class, one message ("Enter a whole number.") for 2.5 in any form."""
    found = []
    for area in (auditlog, auth, bulk, manage, orgs, parents, redeem, reports, seats, users):
        module = getattr(area, "forms", None)
        for _, form in inspect.getmembers(module, inspect.isclass):
            if issubclass(form, FlaskForm):
                for name, value in vars(form).items():
                    kind = getattr(value, "field_class", None)
                    if kind is not None and issubclass(kind, IntegerField):
                        found.append((form.__name__, name, kind))
    assert found, "the forms have number fields"
    assert [f for f in found if not issubclass(f[2], (WholeNumberField, IdField))] == []


def test_two_and_a_half_seats_is_one_clear_message(school, client):
    _, room = school
    page = soup(client.post(f"/classrooms/{room.id}/allotment", data={"seat_allotment": "2.5"}))
    errors = [p.get_text(strip=True) for p in page.select(".field.has-error .error")]
    assert errors == ["Enter a whole number."]


def test_no_expiry_is_never_in_every_table(school, make, client):
    org, room = school
    make.code(org, "OAK-NO-END-27", classrooms=[room], valid_until=None)
    db.session.commit()
    tab = soup(client.get(f"/classrooms/{room.id}/codes"))
    bulk_page = soup(client.get(f"/orgs/{org.id}/bulk"))
    for page in (tab, bulk_page):
        row = next(r for r in page.select("tr.code-row") if "OAK-NO-END-27" in r.get_text())
        cells = [td.get_text(strip=True) for td in row.find_all("td")]
        assert "Never" in cells and "—" not in cells


def test_when_a_code_opens_names_the_time_zone(school, make):
    org, room = school
    make.code(org, "OAK-LATER-27", classrooms=[room], valid_from=datetime(2026, 12, 20, 7, 0))
    with pytest.raises(RedeemRefused) as refused:
        attempt_redeem(make.user("Sam Student"), "OAK-LATER-27")
    assert "It opens on 2026-12-20 08:00 (Europe/Paris time)." in refused.value.message
