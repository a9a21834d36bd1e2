"""What staff see of seats, and the allotment and limit forms."""

import pytest

from codes.extensions import db
from codes.models import Classroom, Organization
from codes.redeem.operations import redeem
from codes.seats import operations as seats
from conftest import soup, text_of


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", seat_limit=20)
    leader = make.user("Leo Leader")
    a = make.classroom(org, "Room A", leaders=[leader])
    b = make.classroom(org, "Room B")
    make.code(org, "ROOM-B-2027", classrooms=[b])
    seats.set_allotment(org.admin, a, 5)
    db.session.commit()
    for _ in range(3):
        redeem(make.user(), "ROOM-B-2027")
        db.session.commit()
    return org, a, b, leader


def words(node):
    return " ".join(node.get_text(" ").split())


def facts(page):
    return {
        div.dt.get_text(strip=True): div.dd.get_text(" ", strip=True) for div in page.select("dl.facts > div")
    }


def table_rows(page):
    return [
        [td.get_text(" ", strip=True) for td in tr.find_all("td")]
        for tr in page.select("table.seat-table tbody tr")
    ]


def test_the_organization_page_shows_seats_taken_reserved_and_free(client, school):
    org, a, b, leader = school
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}"))
    assert facts(page) | {"Time zone": "UTC"} == {
        "Seats taken": "3 of 20",
        "Reserved, not yet used": "5",
        "Seats free": "12",
        "Time zone": "UTC",
    }
    assert table_rows(page) == [["Room A", "5", "0", "5"], ["Room B", "none", "3", "—"]]
    assert page.select_one(".seat-bar")["aria-label"] == ("3 seats taken, 5 reserved, 12 free, of 20")
    assert page.select_one(".seat-warning") is None


def test_staff_are_warned_when_fewer_than_a_tenth_are_free(client, make, school):
    org, a, b, leader = school
    for _ in range(11):
        redeem(make.user(), "ROOM-B-2027")
        db.session.commit()
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}"))
    assert facts(page)["Seats free"] == "1"
    assert words(page.select_one(".seat-warning")) == (
        "Only 1 of 20 seats are free (fewer than 10%). Raise the seat limit in Settings below, "
        "or lower an allotment."
    )


def test_when_none_are_free_the_warning_says_so(client, make, school):
    org, a, b, leader = school
    for _ in range(12):
        redeem(make.user(), "ROOM-B-2027")
        db.session.commit()
    client.login(leader)
    warning = words(soup(client.get(f"/orgs/{org.id}")).select_one(".seat-warning"))
    assert warning == (
        "No seats are free: new students are refused, except through a classroom "
        "allotment with room left. Ask an administrator to raise the seat limit."
    )


def test_a_leader_sees_only_their_classrooms_seats(client, school):
    org, a, b, leader = school
    client.login(leader)
    page = soup(client.get(f"/orgs/{org.id}"))
    assert table_rows(page) == [["Room A", "5", "0", "5"]]
    assert "Room B" not in text_of(client.get(f"/orgs/{org.id}"))


def test_an_unlimited_organization_says_so(client, make):
    org = make.org(name="Elm School")
    make.classroom(org, "Elm 1")
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}"))
    assert facts(page)["Seats free"] == "Unlimited"
    assert "No seat limit: every new student gets a seat." in page.find(id="seats").get_text(" ")


def test_admin_sets_an_allotment_on_the_settings_tab(client, school):
    org, a, b, leader = school
    client.login(org.admin)
    page = soup(client.get(f"/classrooms/{b.id}/settings"))
    assert page.find(id="allotment").find("input", id="seat_allotment")["value"] == ""
    response = client.post(f"/classrooms/{b.id}/allotment", data={"seat_allotment": "8"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/classrooms/{b.id}/settings"
    db.session.expire_all()
    assert db.session.get(Classroom, b.id).seat_allotment == 8
    page = soup(client.get(f"/classrooms/{b.id}/settings"))
    assert "8 seats are allotted to Room B." in page.select_one(".flashes").get_text()
    assert "3 new seats taken through this classroom's codes, of 8 allotted." in page.find(
        id="allotment"
    ).get_text(" ")
    assert client.post(f"/classrooms/{b.id}/allotment", data={"seat_allotment": ""}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Classroom, b.id).seat_allotment is None


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "16",
            "Allotments would add up to 21 seats, more than the organization's limit of 20. "
            "At most 15 can be reserved here.",
        ),
        ("2", "Room B's codes have already taken 3 seats; the allotment can't be lower."),
        ("-1", "An allotment can't be negative. Leave it empty for none."),
        ("many", "Enter a whole number."),
    ],
)
def test_a_refused_allotment_is_answered_beside_the_field(client, school, value, message):
    org, a, b, leader = school
    client.login(org.admin)
    response = client.post(f"/classrooms/{b.id}/allotment", data={"seat_allotment": value})
    assert response.status_code == 422
    page = soup(response)
    assert page.find(id="seat_allotment-error").get_text(strip=True) == message
    assert page.find("input", id="seat_allotment")["value"] == value
    db.session.expire_all()
    assert db.session.get(Classroom, b.id).seat_allotment is None


@pytest.mark.parametrize("who", ["leader", "student"])
def test_only_admins_set_allotments(client, make, school, who):
    org, a, b, leader = school
    client.login(leader if who == "leader" else make.user())
    assert client.post(f"/classrooms/{a.id}/allotment", data={"seat_allotment": "1"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Classroom, a.id).seat_allotment == 5


def test_a_limit_below_taken_and_reserved_is_refused_beside_the_field(client, school):
    org, a, b, leader = school
    client.login(org.admin)
    response = client.post(
        f"/orgs/{org.id}/settings", data={"name": "Oak School", "timezone": "UTC", "seat_limit": "7"}
    )
    assert response.status_code == 422
    assert soup(response).find(id="seat_limit-error").get_text(strip=True) == (
        "3 seats are taken and classroom allotments reserve 5 more, so the limit can't be lower "
        "than 8. Lower or remove an allotment first."
    )
    db.session.expire_all()
    assert db.session.get(Organization, org.id).seat_limit == 20
