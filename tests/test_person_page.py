"""One person, in detail (issue 14, part 3 "One person, in detail"): from People,
staff open a person's page and its CSV, within their scope only."""

import csv
import io

import pytest

from codes.access import Scope
from codes.extensions import db
from codes.invitations import operations as invitations
from codes.parents import operations as parents
from codes.redeem.operations import redeem
from codes.users import operations as users
from codes.users import person as people
from codes.users.roster import upload_roster
from conftest import Factory, soup, text_of


@pytest.fixture
def school(make):
    """Oak School: Room 1 (led by Leo), Room 2 (led by Rae), Algebra in Room 1
    taught by Ivy. Ana joins Room 1 with its code, is moved to Room 2, removed
    from it and placed in Room 1 again; a parent links to her through Oak. She
    is also a student of Elm School next door. Bo comes from a roster into
    Room 2; Cy accepts an invitation to Room 2."""
    org = make.org(name="Oak School", seat_limit=10)
    ivy, leo, rae = make.user("Ivy Instructor"), make.user("Leo Leader"), make.user("Rae Leader")
    algebra = make.course(org, "Algebra", instructors=[ivy])
    room1 = make.classroom(org, "Room 1", courses=[algebra], leaders=[leo])
    room2 = make.classroom(org, "Room 2", leaders=[rae])
    code1 = make.code(org, "ROOM-ONE-2027", classrooms=[room1])
    ana = make.user("Ana Lima", "ana@oak.example")
    elm = make.org(name="Elm School")
    elm_room = make.classroom(elm, "Elm Secret Room")
    make.code(elm, "ELM-SECRET-2027", classrooms=[elm_room])
    redeem(ana, code1.text)
    redeem(ana, "ELM-SECRET-2027")
    scope = Scope(org.admin, org)
    users.move_student(org.admin, scope, ana, room1, room2)
    users.remove_from_classroom(org.admin, scope, ana, room2)
    users.place_student(org.admin, scope, ana, room1)
    parent = make.user("Pat Parent", "pat@home.example")
    parents.link_parent(parent, parents.make_parent_code(ana, ana, org_id=org.id).text)
    upload_roster(org.admin, org, b"email,name,classroom\nbo@oak.example,Bo Chen,Room 2\n")
    cy = make.user("Cy Invited", "cy@oak.example")
    invitations.accept(cy, invitations.invite(org.admin, org, cy.email, room2), via_link=True)
    db.session.commit()
    bo = users.list_people(scope, "Bo Chen").rows[0].user
    return dict(org=org, elm=elm, ivy=ivy, leo=leo, rae=rae, ana=ana, bo=bo, cy=cy, room1=room1, room2=room2)


def page_of(client, who, person, org=None):
    client.login(who)
    return client.get(f"/orgs/{(org or person['org']).id}/users/{person['user'].id}")


def history(page):
    rows = page.select("#person-history tbody tr")
    return [" | ".join(td.get_text(" ", strip=True) for td in row.select("td")[1:]) for row in rows]


def places(page):
    return [row.select("td")[0].get_text(" ", strip=True) for row in page.select("#person-places tbody tr")]


def test_the_admin_sees_the_whole_story_in_order(client, school):
    org, ana = school["org"], school["ana"]
    client.login(org.admin)
    response = client.get(f"/orgs/{org.id}/users/{ana.id}")
    assert response.status_code == 200
    page = soup(response)
    assert places(page) == ["Room 1 · classroom", "Algebra · course"]
    assert all(td.get_text(strip=True) for td in page.select("#person-places tbody td:nth-of-type(2)"))
    assert history(page) == [
        "Used a code ROOM-ONE-2027 took a seat | Room 1",
        "Moved | from Room 1 to Room 2",
        "Removed from a classroom | Room 2",
        "Placed in a classroom | Room 1",
        "Parent linked | Pat Parent (pat@home.example)",
    ]
    facts = page.select_one(".person-facts").get_text(" ", strip=True)
    assert "Joined Code ROOM-ONE-2027" in facts and "Took a seat" in facts
    text = text_of(response)
    assert "Elm" not in text and "ELM-SECRET" not in text, "nothing from another organization"


def test_the_people_list_links_to_the_person(client, school):
    org, ana = school["org"], school["ana"]
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/users"))
    link = page.select_one(f"#person-{ana.id} a.person-name")
    assert link["href"] == f"/orgs/{org.id}/users/{ana.id}"


def test_a_leader_sees_only_what_concerns_their_classrooms(client, school):
    org, ana, leo = school["org"], school["ana"], school["leo"]
    client.login(leo)
    page = soup(client.get(f"/orgs/{org.id}/users/{ana.id}"))
    assert places(page) == ["Room 1 · classroom"], "Algebra is not Leo's to manage"
    assert history(page) == [
        "Used a code ROOM-ONE-2027 took a seat | Room 1",
        "Moved | from Room 1 to another classroom",
        "Placed in a classroom | Room 1",
    ]
    text = page.get_text(" ")
    assert "Room 2" not in text and "Pat Parent" not in text and "Holds" not in text


def test_an_instructor_sees_only_their_course(client, school):
    org, ana, ivy = school["org"], school["ana"], school["ivy"]
    client.login(ivy)
    page = soup(client.get(f"/orgs/{org.id}/users/{ana.id}"))
    assert places(page) == ["Algebra · course"]
    assert history(page) == [], "the code, the moves and the parent are Room 1's, not Algebra's"


def test_roster_and_invitation_are_how_they_joined(client, school):
    org = school["org"]
    client.login(school["rae"])
    bo = soup(client.get(f"/orgs/{org.id}/users/{school['bo'].id}"))
    assert history(bo) == ["Added from a roster took a seat | Room 2"]
    assert "Joined Roster upload" in bo.select_one(".person-facts").get_text(" ", strip=True)
    cy = soup(client.get(f"/orgs/{org.id}/users/{school['cy'].id}"))
    assert history(cy) == ["Accepted an invitation took a seat | Room 2"]
    assert "Joined Invitation" in cy.select_one(".person-facts").get_text(" ", strip=True)


@pytest.mark.parametrize("path", ["", "/export.csv"])
def test_out_of_scope_is_404(client, make, school, path):
    org, elm, ana = school["org"], school["elm"], school["ana"]
    url = f"/orgs/{org.id}/users/{ana.id}{path}"
    client.login(school["rae"])
    assert client.get(url).status_code == 404, "Ana left Room 2: not Rae's any more"
    client.login(elm.admin)
    assert client.get(url).status_code == 404, "another organization's admin"
    client.login(ana)
    assert client.get(url).status_code == 404, "a student is no staff"
    client.login(org.admin)
    assert client.get(f"/orgs/{org.id}/users/{school['elm'].admin.id}{path}").status_code == 404
    assert client.get(f"/orgs/{org.id}/users/999999{path}").status_code == 404
    assert client.get(f"/orgs/{org.id}/users/99999999999999999999{path}").status_code == 404


def test_logged_out_goes_to_log_in(client, school):
    response = client.get(f"/orgs/{school['org'].id}/users/{school['ana'].id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_another_organization_sees_only_its_own(client, school):
    elm, ana = school["elm"], school["ana"]
    client.login(elm.admin)
    page = soup(client.get(f"/orgs/{elm.id}/users/{ana.id}"))
    assert history(page) == ["Used a code ELM-SECRET-2027 took a seat | Elm Secret Room"]
    assert "Oak" not in page.get_text() and "Room 1" not in page.get_text()


def read_csv(response):
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_the_csv_holds_the_same_within_the_same_scope(client, school):
    org, ana = school["org"], school["ana"]
    client.login(org.admin)
    response = client.get(f"/orgs/{org.id}/users/{ana.id}/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == list(people.CSV_HEADER)
    assert rows[1][:4] == ["person", "", "Ana Lima", "ana@oak.example"]
    assert rows[2][0] == "seat" and rows[2][2] == "Holds a seat" and rows[2][4] == "ROOM-ONE-2027"
    assert [(r[0], r[2], r[3]) for r in rows[3:5]] == [
        ("now", "In the classroom", "Room 1"),
        ("now", "In the course", "Algebra"),
    ]
    assert [r[2] for r in rows[5:]] == [
        "Used a code",
        "Moved",
        "Removed from a classroom",
        "Placed in a classroom",
        "Parent linked",
    ]
    client.login(school["leo"])
    leader_rows = read_csv(client.get(f"/orgs/{org.id}/users/{ana.id}/export.csv"))
    assert [r[0] for r in leader_rows].count("seat") == 0
    assert "Room 2" not in str(leader_rows) and "Pat Parent" not in str(leader_rows)


def test_a_name_that_is_a_formula_stays_text_in_the_csv(client, make, school):
    org, room1 = school["org"], school["room1"]
    evil = make.user('=HYPERLINK("http://evil.example","x")', "evil@oak.example")
    redeem(evil, "ROOM-ONE-2027")
    db.session.commit()
    client.login(org.admin)
    rows = read_csv(client.get(f"/orgs/{org.id}/users/{evil.id}/export.csv"))
    assert rows[1][2] == '\'=HYPERLINK("http://evil.example","x")'
    assert room1.name in str(rows)


def test_on_both_databases_the_story_is_read_alike(any_db_app):
    make = Factory()
    org = make.org(name="Oak School")
    room1, room2 = make.classroom(org, "Room 1"), make.classroom(org, "Room 2")
    ana = make.user("Ana Lima", "ana@oak.example")
    redeem(ana, make.code(org, "ROOM-ONE-2027", classrooms=[room1]).text)
    scope = Scope(org.admin, org)
    users.move_student(org.admin, scope, ana, room1, room2)
    db.session.commit()
    detail = people.person_detail(scope, ana)
    assert [(h.what, h.where, h.took_seat) for h in detail.history] == [
        ("Used a code", "Room 1", True),
        ("Moved", "from Room 1 to Room 2", False),
    ]
    assert [p.name for p in detail.places] == ["Room 2"] and detail.holds_seat is True
