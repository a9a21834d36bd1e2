"""A code all of whose classrooms and courses were deleted can place nobody: it
shows as "No longer valid" everywhere (the bulk table, its export, the code's
pages, reports), never as Active, as redeeming it says (DESIGN.md "Status").
Before, those tables showed such a code as Active."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from codes import status
from codes.access import Scope
from codes.extensions import db
from codes.manage.operations import CodeInput, update_code
from codes.models import AuditEvent, Code, utcnow
from codes.orgs import operations as orgs
from codes.redeem.operations import RedeemRefused, redeem
from conftest import HX, Factory, soup


@pytest.fixture
def school(any_db_app):
    make = Factory()
    org = make.org(name="Oak School")
    algebra, biology = make.course(org, "Algebra"), make.course(org, "Biology")
    room1, room2 = make.classroom(org, "Room 1"), make.classroom(org, "Room 2")
    codes = {
        "room1": make.code(org, "ROOM-ONE-2027", classrooms=[room1]),
        "both rooms": make.code(org, "BOTH-ROOMS-2027", classrooms=[room1, room2]),
        "room1 and algebra": make.code(org, "ONE-ALGEBRA-2027", classrooms=[room1], courses=[algebra]),
        "algebra": make.code(org, "ALGEBRA-ONLY-2027", courses=[algebra]),
        "biology": make.code(org, "BIOLOGY-2027", courses=[biology]),
    }
    client = any_db_app.test_client()
    client.login(org.admin)
    return dict(
        org=org,
        room1=room1,
        room2=room2,
        algebra=algebra,
        biology=biology,
        codes=codes,
        client=client,
        app=any_db_app,
        make=make,
    )


def statuses(school):
    db.session.expire_all()
    return {name: status.code_status(db.session.get(Code, code.id)) for name, code in school["codes"].items()}


def delete_room1_and_algebra(school):
    client = school["client"]
    assert client.post(f"/classrooms/{school['room1'].id}/delete", data={"confirmed": "1"}).status_code == 303
    assert client.post(f"/courses/{school['algebra'].id}/delete", data={"confirmed": "1"}).status_code == 303


def test_the_status_of_a_code_that_places_nobody(school):
    delete_room1_and_algebra(school)
    assert statuses(school) == {
        "room1": "No longer valid",
        "both rooms": "Active",
        "room1 and algebra": "No longer valid",
        "algebra": "No longer valid",
        "biology": "Active",
    }


def test_no_longer_valid_comes_right_after_deactivated():
    now = utcnow()
    code = Code(
        targets_deleted_at=now,
        deactivated_at=now,
        valid_until=now - timedelta(days=1),
        max_uses=1,
        uses=1,
        enabled=False,
        valid_from=now + timedelta(days=1),
    )
    assert status.code_status(code, now) == status.DEACTIVATED
    code.deactivated_at = None
    assert status.code_status(code, now) == status.NO_LONGER_VALID == "No longer valid"
    assert status.ALL[:2] == (status.DEACTIVATED, status.NO_LONGER_VALID)


def test_redeeming_it_says_no_longer_valid(school):
    delete_room1_and_algebra(school)
    student = school["make"].user("Sam Student")
    with pytest.raises(RedeemRefused) as refused:
        redeem(student, "ROOM-ONE-2027")
    db.session.rollback()
    assert "no longer valid" in refused.value.message


def test_the_join_code_of_a_deleted_classroom_is_no_longer_valid(school):
    join_code_id = school["room1"].join_code_id
    delete_room1_and_algebra(school)
    db.session.expire_all()
    assert status.code_status(db.session.get(Code, join_code_id)) == "No longer valid"


def table_statuses(response):
    return {
        row.select_one(".code-text").get_text(strip=True): row.select_one(".status").get_text(strip=True)
        for row in soup(response).select("tbody.code")
    }


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_the_bulk_table_says_no_longer_valid(school, headers):
    delete_room1_and_algebra(school)
    org, client = school["org"], school["client"]
    # Live codes only unless asked (docs/BULK.md): "No longer valid" is a click away.
    live = table_statuses(client.get(f"/orgs/{org.id}/bulk", headers=headers))
    assert "ROOM-ONE-2027" not in live and live["BOTH-ROOMS-2027"] == "Active"
    gone = table_statuses(client.get(f"/orgs/{org.id}/bulk?status=gone", headers=headers))
    # With the deleted classroom's join code.
    assert {"ROOM-ONE-2027", "ONE-ALGEBRA-2027", "ALGEBRA-ONLY-2027"} < set(gone)
    assert set(gone.values()) == {"No longer valid"}
    shown = table_statuses(client.get(f"/orgs/{org.id}/bulk?status=all", headers=headers))
    assert shown["ROOM-ONE-2027"] == "No longer valid"
    assert shown["ONE-ALGEBRA-2027"] == "No longer valid"
    assert shown["ALGEBRA-ONLY-2027"] == "No longer valid"
    assert shown["BOTH-ROOMS-2027"] == "Active" and shown["BIOLOGY-2027"] == "Active"
    row = (
        soup(client.get(f"/orgs/{org.id}/bulk?status=all", headers=headers))
        .find("code", string="ROOM-ONE-2027")
        .find_parent("tbody")
    )
    assert "status-no-longer-valid" in row["class"]


def test_the_export_says_no_longer_valid(school):
    delete_room1_and_algebra(school)
    org, client = school["org"], school["client"]
    text = client.get(f"/orgs/{org.id}/bulk/export.csv?status=all").get_data(as_text=True).lstrip("\ufeff")
    rows = {row["Code"]: row["Status"] for row in csv.DictReader(io.StringIO(text))}
    assert rows["ROOM-ONE-2027"] == "No longer valid"
    assert rows["ALGEBRA-ONLY-2027"] == "No longer valid"
    assert rows["BOTH-ROOMS-2027"] == "Active"


def test_the_code_pages_say_no_longer_valid(school):
    delete_room1_and_algebra(school)
    client, code = school["client"], school["codes"]["algebra"]
    for path in (
        f"/codes/{code.id}/edit",
        f"/codes/{code.id}/report",
        f"/orgs/{school['org'].id}/bulk/codes/{code.id}/redemptions",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert [s.get_text(strip=True) for s in soup(response).select(".status")] == ["No longer valid"], path
    warning = soup(client.get(f"/codes/{code.id}/print")).select_one(".flash-warning").get_text()
    assert "no longer valid" in warning


def test_every_deletion_is_in_the_audit_trail(school):
    delete_room1_and_algebra(school)
    marked = db.session.scalars(
        select(AuditEvent.object_id).where(AuditEvent.action == "code.no_longer_valid")
    ).all()
    codes = school["codes"]
    assert sorted(marked) == sorted(
        [codes["room1"].id, codes["room1 and algebra"].id, codes["algebra"].id, school["room1"].join_code_id]
    )


def test_a_code_given_a_target_again_works_again(school):
    delete_room1_and_algebra(school)
    org, room2 = school["org"], school["room2"]
    code = db.session.get(Code, school["codes"]["room1"].id)
    update_code(org.admin, Scope(org.admin, org), code, CodeInput(text=code.text, classroom_ids=[room2.id]))
    db.session.commit()
    assert status.code_status(code) == "Active"
    assert redeem(school["make"].user("Sam Student"), code.text).outcome == "ok"


def test_deleting_through_the_domain_marks_the_codes_too(school):
    org = school["org"]
    orgs.delete_course(org.admin, db.session.get(type(school["biology"]), school["biology"].id))
    db.session.commit()
    assert statuses(school)["biology"] == "No longer valid"
