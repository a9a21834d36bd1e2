"""The organization's default lifetime for new codes (issue 5): 14 days unless
changed, or none; new-code forms start with that expiry filled in, and it can be
cleared."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from codes.extensions import db
from codes.models import Code, Organization, utcnow
from codes.orgs.operations import create_organization, update_organization
from codes.timeutil import to_local
from conftest import soup


@pytest.fixture
def admin(client, make):
    user = make.user("Ada Admin")
    client.login(user)
    client.user = user
    return client


def test_a_new_organization_gives_codes_14_days_unless_told_otherwise(make):
    user = make.user()
    assert create_organization(user, "Oak School").default_code_days == 14
    assert create_organization(user, "Elm School", default_code_days=None).default_code_days is None
    assert create_organization(user, "Fir School", default_code_days=30).default_code_days == 30


def test_the_create_form_starts_at_14_days(admin):
    field = soup(admin.get("/orgs")).find("input", id="default_code_days")
    assert field["value"] == "14"


@pytest.mark.parametrize("typed, kept", [("14", 14), ("90", 90), ("", None)])
def test_the_create_form_keeps_what_was_typed_or_none_when_cleared(admin, typed, kept):
    response = admin.post("/orgs", data={"name": "Oak School", "timezone": "UTC", "default_code_days": typed})
    assert response.status_code == 303
    org = db.session.scalar(select(Organization).where(Organization.name == "Oak School"))
    assert org.default_code_days == kept


def test_settings_show_none_as_empty_not_as_the_default(admin):
    org = create_organization(admin.user, "Oak School", default_code_days=None)
    db.session.commit()
    field = soup(admin.get(f"/orgs/{org.id}")).find("input", id="default_code_days")
    assert field.get("value", "") == ""


def expiry_field(client, classroom):
    return soup(client.get(f"/classrooms/{classroom.id}/codes")).find("input", id="valid_until")


def test_the_new_code_form_starts_with_the_default_expiry_in_the_orgs_zone(admin, make):
    org = create_organization(admin.user, "Oak School", "Pacific/Auckland")
    db.session.commit()
    org.admin = admin.user
    room = make.classroom(org, "Room 9A")
    expected = (to_local(org, utcnow()) + timedelta(days=14)).date().isoformat()
    assert expiry_field(admin, room)["value"] == expected

    update_organization(admin.user, org, org.name, org.timezone, None, None)
    db.session.commit()
    assert expiry_field(admin, room).get("value", "") == ""


def test_the_filled_expiry_can_be_cleared(admin, make):
    org = create_organization(admin.user, "Oak School")
    db.session.commit()
    org.admin = admin.user
    room = make.classroom(org, "Room 9A")
    assert expiry_field(admin, room)["value"]
    response = admin.post(
        f"/classrooms/{room.id}/codes",
        data={"text": "OAK-FOREVER-2027", "classroom_ids": [room.id], "valid_until": "", "role": "student"},
    )
    assert response.status_code == 303
    code = db.session.scalar(select(Code).where(Code.text == "OAK-FOREVER-2027"))
    assert code.valid_until is None
