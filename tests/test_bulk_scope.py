"""Who sees which codes on the bulk page: admins every code of the organization,
instructors codes whose every target is a course they teach, group leaders codes
whose every target is a classroom they lead. The same rule holds for the table,
the batch list, redemptions, deactivate and the export; anything else is 404."""

import csv
import io

import pytest
from sqlalchemy import select

from codes.access import Scope
from codes.bulk.operations import BatchInput, generate_batch
from codes.extensions import db
from codes.models import Batch, Code
from conftest import HX, Factory, client_as, soup


@pytest.fixture
def world(app):
    make = Factory()
    org = make.org(name="Oak School")
    ivy, leo, both = make.user("Ivy Instructor"), make.user("Leo Leader"), make.user("Bea Both")
    algebra = make.course(org, "Algebra", instructors=[ivy, both])
    biology = make.course(org, "Biology")
    room = make.classroom(org, "Room 9A", leaders=[leo, both])
    room_b = make.classroom(org, "Room 9B")

    def batch(**targets):
        made = generate_batch(org.admin, Scope(org.admin, org), BatchInput(count=3, **targets))
        db.session.commit()
        return made

    batches = {
        "algebra": batch(course_ids=[algebra.id]),
        "room": batch(classroom_ids=[room.id]),
        "mixed": batch(course_ids=[algebra.id], classroom_ids=[room.id]),
        "biology": batch(course_ids=[biology.id]),
    }
    other = make.org(name="Elm School")
    return {
        "org": org,
        "other": other,
        "algebra": algebra,
        "biology": biology,
        "room": room,
        "room_b": room_b,
        "batches": batches,
        "users": {
            "admin": org.admin,
            "instructor": ivy,
            "leader": leo,
            "both": both,
            "student": make.user("Sam Student"),
            "other_admin": other.admin,
        },
    }


SEES = {
    "admin": {"algebra", "room", "mixed", "biology"},
    "instructor": {"algebra"},
    "leader": {"room"},
    "both": {"algebra", "room", "mixed"},
}


# Every classroom has a join code of its own: its leaders see it too.
JOIN_CODES = {"admin": ("room", "room_b"), "instructor": (), "leader": ("room",), "both": ("room",)}


def codes_of(world, names):
    ids = [world["batches"][n].id for n in names]
    return set(db.session.scalars(select(Code.text).where(Code.batch_id.in_(ids))))


def visible_to(world, role):
    return codes_of(world, SEES[role]) | {world[r].join_code.text for r in JOIN_CODES[role]}


def first_code(world, name):
    return db.session.scalar(select(Code).where(Code.batch_id == world["batches"][name].id).order_by(Code.id))


@pytest.mark.parametrize("role", sorted(SEES))
def test_table_batch_list_and_export_show_only_codes_in_scope(client, world, role):
    client.login(world["users"][role])
    org = world["org"]
    page = soup(client.get(f"/orgs/{org.id}/bulk"))
    listed = {c.get_text(strip=True) for c in page.select("#codes-table tr.code-row code")}
    assert listed == visible_to(world, role)
    batch_ids = {o["value"] for o in page.select("#batch-filter option") if o["value"]}
    assert batch_ids == {str(world["batches"][n].id) for n in SEES[role]}
    export = client.get(f"/orgs/{org.id}/bulk/export.csv").get_data().decode("utf-8-sig")
    assert {row[0] for row in list(csv.reader(io.StringIO(export)))[1:]} == visible_to(world, role)
    for name in {"algebra", "room", "mixed", "biology"} - SEES[role]:
        hidden = world["batches"][name]
        filtered = soup(client.get(f"/orgs/{org.id}/bulk?batch={hidden.id}", headers=HX))
        assert filtered.select("#codes-table tr.code-row") == []
        export = client.get(f"/orgs/{org.id}/bulk/export.csv?batch={hidden.id}")
        assert len(list(csv.reader(io.StringIO(export.get_data().decode("utf-8-sig"))))) == 1


@pytest.mark.parametrize("role", sorted(SEES))
def test_redemptions_and_deactivate_outside_scope_are_not_found(client, world, role):
    client.login(world["users"][role])
    org = world["org"]
    for name in ("algebra", "room", "mixed", "biology"):
        code = first_code(world, name)
        redemptions = client.get(f"/orgs/{org.id}/bulk/codes/{code.id}/redemptions", headers=HX)
        deactivated = client.post(
            f"/orgs/{org.id}/bulk/codes/{code.id}/deactivate", headers=HX, data={"confirmed": "1"}
        )
        expected = 200 if name in SEES[role] else 404
        assert (redemptions.status_code, deactivated.status_code) == (expected, expected), name
        db.session.expire_all()
        assert (db.session.get(Code, code.id).deactivated_at is not None) == (name in SEES[role])


@pytest.mark.parametrize(
    "role, allowed, refused",
    [
        ("instructor", {"course_ids": "algebra"}, {"course_ids": "biology"}),
        ("instructor", {"course_ids": "algebra"}, {"classroom_ids": "room"}),
        ("leader", {"classroom_ids": "room"}, {"course_ids": "algebra"}),
        ("both", {"classroom_ids": "room"}, {"course_ids": "biology"}),
    ],
)
def test_generate_only_for_targets_in_scope(client, world, role, allowed, refused):
    client.login(world["users"][role])
    org = world["org"]
    before = db.session.scalar(select(Batch.id).order_by(Batch.id.desc()))

    def post(targets, **extra):
        data = {"count": "2", "uses": "single", "role": "student"}
        data.update({field: [world[name].id] for field, name in targets.items()})
        return client.post(f"/orgs/{org.id}/bulk", data={**data, **extra}, headers=HX)

    assert post({**allowed, **refused}).status_code == 404
    assert db.session.scalar(select(Batch.id).order_by(Batch.id.desc())) == before
    assert post(allowed).status_code == 200
    made = db.session.scalar(select(Batch).order_by(Batch.id.desc()))
    assert made.id != before and made.created_by_id == world["users"][role].id


ROUTES = [
    ("GET", "/orgs/{org}/bulk"),
    ("GET", "/orgs/{org}/bulk/export.csv"),
    ("POST", "/orgs/{org}/bulk"),
    ("GET", "/orgs/{org}/bulk/codes/{code}/redemptions"),
    ("POST", "/orgs/{org}/bulk/codes/{code}/deactivate"),
]


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize("role", ["student", "other_admin", "anonymous"])
def test_people_who_are_not_staff_here_find_nothing(app, world, method, path, role):
    client = client_as(app, world["users"], role)
    url = path.format(org=world["org"].id, code=first_code(world, "algebra").id)
    response = client.open(url, method=method, data={"count": "2", "course_ids": [world["algebra"].id]})
    if role == "anonymous":
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    else:
        assert response.status_code == 404
    assert db.session.scalar(select(Batch.id).order_by(Batch.id.desc())) == world["batches"]["biology"].id
    assert first_code(world, "algebra").deactivated_at is None


def test_a_code_of_this_organization_under_another_organizations_url_is_not_found(client, world):
    client.login(world["users"]["other_admin"])
    elm, code = world["other"], first_code(world, "algebra")
    assert client.get(f"/orgs/{elm.id}/bulk").status_code == 200
    assert client.get(f"/orgs/{elm.id}/bulk/codes/{code.id}/redemptions").status_code == 404
    assert (
        client.post(f"/orgs/{elm.id}/bulk/codes/{code.id}/deactivate", data={"confirmed": "1"}).status_code
        == 404
    )
    db.session.expire_all()
    assert code.deactivated_at is None
