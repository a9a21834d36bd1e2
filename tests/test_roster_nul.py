"""A roster file with a NUL character in it (PostgreSQL can store none) is refused
whole, naming each row that holds one, on SQLite and PostgreSQL; before, it was
answered 500 on PostgreSQL."""

import pytest

from codes.extensions import db
from codes.models import AuditEvent, ClassroomMember, User
from codes.users.roster import RosterRefused, upload_roster
from conftest import Factory, count, post_roster, soup

NUL_MESSAGE = (
    "This row holds a NUL character, which no name or email can use. In your "
    "spreadsheet, save the file again as “CSV UTF-8”."
)


@pytest.fixture
def school(any_db_app):
    make = Factory()
    org = make.org(name="Oak School")
    make.classroom(org, "Room 1")
    client = any_db_app.test_client()
    client.login(org.admin)
    return org, client


def counts():
    return tuple(count(model) for model in (User, ClassroomMember, AuditEvent))


FILE = (
    b"email,name,classroom\n"
    b"a@oak.example,Ana,Room 1\n"
    b"b@oak.example,B\x00o,Room 1\n"
    b"c@oak.example,Cy,Room 1\n"
    b"d@oak.example\x00,Di,Room 1\n"
)


def test_the_upload_names_each_row_with_a_nul_and_changes_nothing(school):
    org, client = school
    before = counts()
    response = post_roster(client, org, FILE)
    assert response.status_code == 422
    problems = soup(response).find(id="roster-problems")
    rows = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in problems.tbody.find_all("tr")]
    assert [(row[0], row[-1]) for row in rows] == [("3", NUL_MESSAGE), ("5", NUL_MESSAGE)]
    db.session.rollback()
    assert counts() == before


def test_a_nul_in_the_header_names_the_first_row(school):
    org, _ = school
    with pytest.raises(RosterRefused) as refused:
        upload_roster(org.admin, org, b"email,na\x00me,classroom\na@oak.example,Ana,Room 1\n")
    db.session.rollback()
    assert [(p.row, p.message) for p in refused.value.problems] == [(1, NUL_MESSAGE)]


def test_a_nul_in_a_name_alone_is_refused_too(school):
    org, client = school
    before = counts()
    response = post_roster(client, org, b"email,name,classroom\na@oak.example,An\x00a,Room 1\n")
    assert response.status_code == 422
    problems = soup(response).find(id="roster-problems")
    assert [td.get_text(strip=True) for td in problems.tbody.find_all("td")][0] == "2"
    assert NUL_MESSAGE in problems.get_text()
    db.session.rollback()
    assert counts() == before
