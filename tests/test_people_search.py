"""Searching people ignores case and accents in every script, on SQLite (whose
lower() knows only A to Z) and PostgreSQL alike: a folded copy of each person's
name and email (User.search_key) is searched with the query folded the same way."""

import pytest

from codes.access import Scope
from codes.auditlog.operations import AuditFilter
from codes.auditlog.operations import page as audit_page
from codes.extensions import db
from codes.models import User, folded
from codes.orgs import operations as orgs
from codes.redeem.operations import redeem
from codes.users import roster
from codes.users.operations import list_people
from conftest import HX, Factory, soup


@pytest.fixture
def school(any_db_app):
    make = Factory()
    org = make.org(name="Oak School")
    room = make.classroom(org, "Room 1")
    code = make.code(org, "ROOM-ONE-2027", classrooms=[room])
    for name, email in [
        ("Ana Ñúñez", "ana@oak.example"),
        ("Σοφία Παπαδοπούλου", "sofia@oak.example"),
        ("Иван Петров", "ivan@oak.example"),
        ("Nina Nunes", "nina@oak.example"),
        ("Zoë Ørsted", "ZOE.Orsted@Oak.example"),
    ]:
        redeem(make.user(name, email), code.text)
    db.session.commit()
    return org, room


def found(org, search):
    return [row.user.name for row in list_people(Scope(org.admin, org), search).rows]


@pytest.mark.parametrize("search", ["Ñúñez", "ñúñez", "NUNEZ", "nunez", "NÚÑEZ", "ñunez", "ana ñ"])
def test_a_name_with_accents_is_found_whatever_the_case_and_accents(school, search):
    org, _ = school
    assert found(org, search) == ["Ana Ñúñez"]


@pytest.mark.parametrize(
    "search, name",
    [
        ("ΣΟΦΊΑ", "Σοφία Παπαδοπούλου"),
        ("σοφια", "Σοφία Παπαδοπούλου"),
        ("ΠΑΠΑΔΟΠΟΎΛΟΥ", "Σοφία Παπαδοπούλου"),
        ("ИВАН", "Иван Петров"),
        ("иван", "Иван Петров"),
        ("пЕТРОВ", "Иван Петров"),
        ("zoe", "Zoë Ørsted"),
        ("ZOË", "Zoë Ørsted"),
    ],
)
def test_other_scripts_are_found_whatever_the_case(school, search, name):
    org, _ = school
    assert found(org, search) == [name]


def test_emails_are_searched_folded_too(school):
    org, _ = school
    assert found(org, "ZOE.ORSTED@") == ["Zoë Ørsted"]
    assert len(found(org, "OAK.EXAMPLE")) == 5


def test_a_search_matches_nothing_it_should_not(school):
    org, _ = school
    assert found(org, "nunes") == ["Nina Nunes"]
    assert found(org, "%") == [] and found(org, "_") == []


def test_the_users_tab_searches_the_same_way(school, any_db_app):
    org, _ = school
    client = any_db_app.test_client()
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/users", query_string={"q": "NUNEZ"}, headers=HX))
    assert [n.get_text(strip=True) for n in page.select(".person-name")] == ["Ana Ñúñez"]


def test_the_audit_log_finds_a_person_the_same_way(school, any_db_app):
    org, _ = school
    client = any_db_app.test_client()
    client.login(db.session.scalar(db.select(User).where(User.email_key == "sofia@oak.example")))
    assert client.post("/redeem", data={"code": "ROOM-ONE-2027"}).status_code == 303
    log = audit_page(Scope(org.admin, org), AuditFilter(person="ΣΟΦΊΑ"), 1)
    assert log.total >= 1
    assert {entry.person.name for entry in log.rows} == {"Σοφία Παπαδοπούλου"}


def test_accounts_a_roster_makes_are_found(school):
    org, _ = school
    roster.upload_roster(org.admin, org, "email,name,classroom\nj@oak.example,JOSÉ Müller,Room 1\n".encode())
    db.session.commit()
    assert found(org, "jose muller") == ["JOSÉ Müller"]


def test_every_account_has_its_search_key(school):
    users = db.session.scalars(db.select(User)).all()
    assert len(users) == 6, "the admin and five students"
    for user in users:
        assert user.search_key == User.search_key_for(user.name, user.email)


def test_folding():
    assert folded("Ñúñez") == folded("NUNEZ") == "nunez"
    assert folded("ΣΟΦΊΑ") == folded("Σοφία") == "σοφια"
    assert folded("ИВАН") == folded("Иван") == "иван"
    assert folded("Straße") == "strasse"
    assert folded("ﬁne") == "fine"


def test_a_bulk_insert_that_leaves_the_key_out_gets_it(school):
    org, _ = school
    db.session.execute(
        db.insert(User),
        [
            {
                "name": "Érika Ãlves",
                "email": "erika@elm.example",
                "email_key": "erika@elm.example",
                "password_hash": "!",
                "email_verified": True,
            },
            {
                "name": "Łukasz",
                "email": "LUKASZ@elm.example",
                "email_key": "lukasz@elm.example",
                "password_hash": "!",
                "email_verified": True,
            },
        ],
    )
    keys = dict(
        db.session.execute(db.select(User.name, User.search_key).where(User.email_key.like("%@elm.example")))
        .tuples()
        .all()
    )
    assert keys == {"Érika Ãlves": "erika alves\nerika@elm.example", "Łukasz": "łukasz\nlukasz@elm.example"}


def test_the_leader_and_instructor_pickers_search_the_people_and_mark_the_staff(any_db_app, school):
    org, room = school
    make = Factory()
    leo = make.user("Leo Leader", "leo@oak.example")
    make.join(org, leo)
    orgs.add_leader(org.admin, room, leo.id)
    algebra = make.course(org, "Algebra")
    db.session.commit()
    client = any_db_app.test_client()
    client.login(org.admin)

    def offered(path):
        return [o.get_text() for o in soup(client.get(path)).select("select[name=user_id] option")]

    everyone = offered(f"/classrooms/{room.id}/settings")
    assert "Leo Leader (leo@oak.example) · leads this classroom already" in everyone
    assert "Admin (person1@example.org) · staff" in everyone
    assert "Nina Nunes (nina@oak.example)" in everyone, "students may be picked too, unmarked"
    assert offered(f"/classrooms/{room.id}/settings?person=nunez") == ["Ana Ñúñez (ana@oak.example)"]
    assert offered(f"/courses/{algebra.id}?person=NINA") == ["Nina Nunes (nina@oak.example)"]
    nobody = soup(client.get(f"/courses/{algebra.id}?person=nobody-at-all"))
    assert nobody.select("select[name=user_id]") == []
    assert "Nobody in the organization matches" in nobody.find(id="instructor-picker").get_text()
    # With htmx the search answers the same page, whose picker htmx takes (hx-select).
    search = soup(client.get(f"/courses/{algebra.id}")).select_one("#instructor-picker form[role=search]")
    assert search["method"] == "get"
    assert search.find("input", attrs={"name": "person"})["data-hx-select"] == "#instructor-picker"
