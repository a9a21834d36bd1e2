"""The data the migration after the initial schema (b1fixes00001) writes into a
database that already has rows, on SQLite and PostgreSQL."""

import json
from datetime import date, datetime

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from codes import create_app, search
from codes.extensions import db
from codes.models import User

INITIAL = "d003dba8db3d"


@pytest.fixture
def initial_app(empty_db_url):
    """An app whose database is at the initial schema, with nothing in it."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": empty_db_url})
    with app.app_context():
        upgrade(revision=INITIAL)
        yield app
        db.session.remove()
        db.engine.dispose()


def run(statement, **values):
    with db.engine.begin() as conn:
        return conn.execute(text(statement), values)


def add_user(user_id, name, email):
    run(
        "INSERT INTO users (id, email, email_key, name, password_hash, email_verified, created_at) "
        "VALUES (:id, :email, :key, :name, 'x', :verified, CURRENT_TIMESTAMP)",
        id=user_id,
        email=email,
        key=email.lower(),
        name=name,
        verified=True,
    )


def test_existing_people_get_their_search_keys(initial_app):
    people = [
        (1, "Ana Ñúñez", "Ana@Oak.example"),
        (2, "Σοφία", "sofia@oak.example"),
        (3, "Иван", "ivan@oak.example"),
    ]
    for person in people:
        add_user(*person)
    upgrade()
    keys = dict(run("SELECT id, search_key FROM users").all())
    assert keys == {user_id: User.search_key_for(name, email) for user_id, name, email in people}
    assert keys[1] == "ana nunez\nana@oak.example"


def test_codes_whose_targets_were_all_deleted_are_marked(initial_app):
    add_user(1, "Ada Admin", "ada@oak.example")
    run(
        "INSERT INTO organizations (id, name, timezone, seats_taken, created_at) "
        "VALUES (1, 'Oak', 'UTC', 0, CURRENT_TIMESTAMP)"
    )
    run(
        "INSERT INTO classrooms (id, org_id, name, created_at, seats_used, parents_can_see) "
        "VALUES (1, 1, 'Room 1', CURRENT_TIMESTAMP, 0, :no)",
        no=False,
    )
    run("INSERT INTO courses (id, org_id, name, created_at) VALUES (1, 1, 'Algebra', CURRENT_TIMESTAMP)")
    for code_id, code_text in [(1, "ROOM"), (2, "COURSE"), (3, "ORPHAN"), (4, "DEACTIVATED-ORPHAN")]:
        run(
            "INSERT INTO codes (id, org_id, text, key, role, uses, allowed_domains, enabled, created_at, "
            "deactivated_at) VALUES (:id, 1, :text, :text, 'student', 0, '', :yes, CURRENT_TIMESTAMP, "
            + ("CURRENT_TIMESTAMP" if code_id == 4 else "NULL")
            + ")",
            id=code_id,
            text=code_text,
            yes=True,
        )
    run("INSERT INTO code_classrooms (code_id, classroom_id) VALUES (1, 1)")
    run("INSERT INTO code_courses (code_id, course_id) VALUES (2, 1)")
    upgrade()
    marked = dict(run("SELECT text, targets_deleted_at IS NOT NULL FROM codes").all())
    assert {text: bool(value) for text, value in marked.items()} == {
        "ROOM": False,
        "COURSE": False,
        "ORPHAN": True,
        "DEACTIVATED-ORPHAN": True,
    }


def test_people_already_there_are_found_by_the_search_index(initial_app):
    """e1growth0001 indexes the rows already in users (and codes) for codes.search:
    on SQLite the search reads the FTS5 table, which 'rebuild' filled."""
    add_user(1, "Ana Ñúñez", "ana@oak.example")
    add_user(2, "Bo Chen", "bo@oak.example")
    upgrade()
    with initial_app.test_request_context():
        found = search.candidates(User.search_key, "nune")
    assert found == [1]


def test_memberships_already_there_get_their_names_and_follow_a_rename(initial_app):
    upgrade(revision="b1fixes00001")
    person = (
        "INSERT INTO users (id, email, email_key, name, password_hash, email_verified, created_at, "
        "search_key) VALUES (:id, :email, :key, :name, 'x', :verified, CURRENT_TIMESTAMP, '')"
    )
    run(person, id=1, email="Ada@Oak.example", key="ada@oak.example", name="Ada Admin", verified=True)
    run(
        "INSERT INTO organizations (id, name, timezone, seats_taken, created_at) "
        "VALUES (1, 'Oak', 'UTC', 0, CURRENT_TIMESTAMP)"
    )
    member = (
        "INSERT INTO org_members (org_id, user_id, is_admin, is_student, took_seat, joined_at) "
        "VALUES (1, :user_id, :admin, :student, :student, CURRENT_TIMESTAMP)"
    )
    run(member, user_id=1, admin=True, student=False)
    upgrade()
    assert run("SELECT name, email_key FROM org_members").all() == [("Ada Admin", "ada@oak.example")]
    run("UPDATE users SET name = 'Ada Lovelace' WHERE id = 1")
    run(person, id=2, email="bo@oak.example", key="bo@oak.example", name="Bo Chen", verified=True)
    run(member, user_id=2, admin=False, student=True)
    assert run("SELECT name, email_key FROM org_members ORDER BY user_id").all() == [
        ("Ada Lovelace", "ada@oak.example"),
        ("Bo Chen", "bo@oak.example"),
    ]


def test_the_report_days_are_filled_from_the_history(initial_app):
    """f1aggr000001 counts the redemptions and roster placements already there
    into report_days, on the organization's days: a redemption at 23:30 UTC on
    the 14th is on the 15th in Paris."""
    upgrade(revision="f1spike00001")
    person = (
        "INSERT INTO users (id, email, email_key, name, password_hash, email_verified, created_at, "
        "search_key) VALUES (:id, :email, :email, :name, 'x', :yes, CURRENT_TIMESTAMP, '')"
    )
    for user_id in range(1, 5):
        run(person, id=user_id, email=f"p{user_id}@oak.example", name=f"P{user_id}", yes=True)
    run(
        "INSERT INTO organizations (id, name, timezone, seats_taken, created_at, welcome_mail) "
        "VALUES (1, 'Oak', 'Europe/Paris', 0, CURRENT_TIMESTAMP, :yes)",
        yes=True,
    )
    for classroom_id in (1, 2):
        run(
            "INSERT INTO classrooms (id, org_id, name, created_at, seats_used, parents_can_see) "
            "VALUES (:id, 1, :name, CURRENT_TIMESTAMP, 0, :no)",
            id=classroom_id,
            name=f"Room {classroom_id}",
            no=False,
        )
    run(
        "INSERT INTO codes (id, org_id, text, key, role, uses, allowed_domains, enabled, created_at, "
        "approval, expected_domains) VALUES (7, 1, 'ROOM', 'ROOM', 'student', 3, '', :yes, "
        "CURRENT_TIMESTAMP, :no, '')",
        yes=True,
        no=False,
    )
    run("INSERT INTO code_classrooms (code_id, classroom_id) VALUES (7, 1), (7, 2)")
    redemption = (
        "INSERT INTO redemptions (code_id, user_id, org_id, took_seat, created_at, through_request) "
        "VALUES (7, :user, 1, :seat, :at, :no)"
    )
    run(redemption, user=1, seat=True, at=datetime(2027, 3, 14, 23, 30), no=False)
    run(redemption, user=2, seat=True, at=datetime(2027, 3, 14, 12, 0), no=False)
    run(redemption, user=3, seat=False, at=datetime(2027, 3, 15, 8, 0), no=False)
    event = (
        "INSERT INTO audit_events (org_id, actor_id, action, object_type, object_id, detail, ip, created_at) "
        "VALUES (1, 1, 'roster.add', 'User', :user, :detail, '', :at)"
    )
    run(event, user=4, detail=json.dumps({"classroom_id": 2, "took_seat": True}), at=datetime(2027, 3, 15, 9))
    run(
        event, user=3, detail=json.dumps({"classroom_id": 1, "took_seat": False}), at=datetime(2027, 3, 15, 9)
    )
    upgrade()
    rows = {
        (code_id, classroom_id, str(day)): (redemptions, new, placed)
        for code_id, classroom_id, day, redemptions, new, placed in run(
            "SELECT code_id, classroom_id, day, redemptions, new_members, placed FROM report_days"
        ).all()
    }
    assert rows == {
        (0, 0, "2027-03-14"): (1, 1, 0),
        (7, 0, "2027-03-14"): (1, 1, 0),
        (0, 1, "2027-03-14"): (1, 1, 0),
        (0, 2, "2027-03-14"): (1, 1, 0),
        (0, 0, "2027-03-15"): (2, 1, 1),
        (7, 0, "2027-03-15"): (2, 1, 0),
        (0, 1, "2027-03-15"): (2, 1, 0),
        (0, 2, "2027-03-15"): (2, 1, 1),
    }


def test_the_report_months_are_the_sums_of_the_days_already_there(initial_app):
    """f1month00001 sums the report days already there month by month, by
    organization, code and classroom; a month with no day gets no row."""
    upgrade(revision="f1search0001")
    for org_id, name in ((1, "Oak"), (2, "Elm")):
        run(
            "INSERT INTO organizations (id, name, timezone, seats_taken, created_at, welcome_mail) "
            "VALUES (:id, :name, 'UTC', 0, CURRENT_TIMESTAMP, :yes)",
            id=org_id,
            name=name,
            yes=True,
        )
    day = (
        "INSERT INTO report_days (org_id, code_id, classroom_id, day, redemptions, new_members, placed) "
        "VALUES (:org, :code, :room, :day, :r, :n, :p)"
    )
    for org, code, room, on, r, n, p in (
        (1, 0, 0, "2027-01-31", 2, 1, 0),
        (1, 0, 0, "2027-02-01", 3, 2, 1),
        (1, 0, 0, "2027-02-28", 4, 0, 2),
        (1, 7, 0, "2027-02-01", 3, 2, 0),
        (1, 7, 0, "2027-02-15", 1, 1, 0),
        (1, 0, 5, "2027-02-01", 3, 2, 1),
        (2, 0, 0, "2027-02-10", 9, 9, 0),
        (1, 0, 0, "2027-04-01", 1, 1, 0),
    ):
        run(day, org=org, code=code, room=room, day=date.fromisoformat(on), r=r, n=n, p=p)
    upgrade()
    months = {
        (org_id, code_id, classroom_id, str(month)): (redemptions, new, placed)
        for org_id, code_id, classroom_id, month, redemptions, new, placed in run(
            "SELECT org_id, code_id, classroom_id, month, redemptions, new_members, placed FROM report_months"
        ).all()
    }
    assert months == {
        (1, 0, 0, "2027-01-01"): (2, 1, 0),
        (1, 0, 0, "2027-02-01"): (7, 2, 3),
        (1, 7, 0, "2027-02-01"): (4, 3, 0),
        (1, 0, 5, "2027-02-01"): (3, 2, 1),
        (2, 0, 0, "2027-02-01"): (9, 9, 0),
        (1, 0, 0, "2027-04-01"): (1, 1, 0),
    }


def test_the_report_totals_are_the_sums_of_the_days_already_there(initial_app):
    """f2totals0001 sums the report days already there by organization, code and
    classroom (with each code's text), gives each code's again to each classroom
    it places people in, and makes no row for the whole organization."""
    upgrade(revision="f1month00001")
    for org_id, name in ((1, "Oak"), (2, "Elm")):
        run(
            "INSERT INTO organizations (id, name, timezone, seats_taken, created_at, welcome_mail) "
            "VALUES (:id, :name, 'UTC', 0, CURRENT_TIMESTAMP, :yes)",
            id=org_id,
            name=name,
            yes=True,
        )
    for classroom_id, org_id in ((5, 1), (6, 1), (9, 2)):
        run(
            "INSERT INTO classrooms (id, org_id, name, created_at, seats_used, parents_can_see) "
            "VALUES (:id, :org, :name, CURRENT_TIMESTAMP, 0, :no)",
            id=classroom_id,
            org=org_id,
            name=f"Room {classroom_id}",
            no=False,
        )
    for code_id, org_id, code_text in ((7, 1, "OAK-SEVEN"), (8, 1, "OAK-EIGHT"), (3, 2, "ELM-THREE")):
        run(
            "INSERT INTO codes (id, org_id, text, key, role, uses, allowed_domains, enabled, created_at, "
            "approval, expected_domains) VALUES (:id, :org, :text, :text, 'student', 0, '', :yes, "
            "CURRENT_TIMESTAMP, :no, '')",
            id=code_id,
            org=org_id,
            text=code_text,
            yes=True,
            no=False,
        )
    for code_id, classroom_id in ((7, 5), (7, 6), (8, 6), (3, 9)):
        run("INSERT INTO code_classrooms (code_id, classroom_id) VALUES (:c, :r)", c=code_id, r=classroom_id)
    day = (
        "INSERT INTO report_days (org_id, code_id, classroom_id, day, redemptions, new_members, placed) "
        "VALUES (:org, :code, :room, :day, :r, :n, :p)"
    )
    for org, code, room, on, r, n, p in (
        (1, 0, 0, "2027-01-31", 5, 4, 1),
        (1, 0, 0, "2027-02-01", 2, 1, 0),
        (1, 7, 0, "2027-01-31", 3, 2, 0),
        (1, 7, 0, "2027-02-01", 1, 1, 0),
        (1, 8, 0, "2027-01-31", 1, 1, 0),
        (1, 0, 5, "2027-01-31", 3, 2, 1),
        (1, 0, 5, "2027-02-01", 1, 1, 0),
        (1, 0, 6, "2027-01-31", 4, 3, 0),
        (1, 0, 6, "2027-02-01", 1, 1, 0),
        (2, 3, 0, "2026-12-10", 9, 9, 0),
        (2, 0, 9, "2026-12-10", 9, 9, 0),
    ):
        run(day, org=org, code=code, room=room, day=date.fromisoformat(on), r=r, n=n, p=p)
    upgrade()
    totals = {
        (org_id, code_id, classroom_id): (text_, redemptions, new, placed)
        for org_id, code_id, classroom_id, text_, redemptions, new, placed in run(
            "SELECT org_id, code_id, classroom_id, code_text, redemptions, new_members, placed "
            "FROM report_totals"
        ).all()
    }
    assert totals == {
        (1, 7, 0): ("OAK-SEVEN", 4, 3, 0),
        (1, 8, 0): ("OAK-EIGHT", 1, 1, 0),
        (1, 0, 5): ("", 4, 3, 1),
        (1, 0, 6): ("", 5, 4, 0),
        (1, 7, 5): ("OAK-SEVEN", 4, 3, 0),
        (1, 7, 6): ("OAK-SEVEN", 4, 3, 0),
        (1, 8, 6): ("OAK-EIGHT", 1, 1, 0),
        (2, 3, 0): ("ELM-THREE", 9, 9, 0),
        (2, 0, 9): ("", 9, 9, 0),
        (2, 3, 9): ("ELM-THREE", 9, 9, 0),
    }


def test_classrooms_count_the_members_already_there_and_follow_changes(initial_app):
    """f3count00001 counts each classroom's members already there; from then on
    the database keeps the counts as members come, go and move."""
    upgrade(revision="f3band000001")
    run(
        "INSERT INTO organizations (id, name, timezone, seats_taken, created_at, welcome_mail) "
        "VALUES (1, 'Oak', 'UTC', 0, CURRENT_TIMESTAMP, :yes)",
        yes=True,
    )
    for classroom_id in (5, 6, 7):
        run(
            "INSERT INTO classrooms (id, org_id, name, created_at, seats_used, parents_can_see) "
            "VALUES (:id, 1, :name, CURRENT_TIMESTAMP, 0, :no)",
            id=classroom_id,
            name=f"Room {classroom_id}",
            no=False,
        )
    for user_id in (1, 2, 3):
        run(
            "INSERT INTO users (id, email, email_key, name, password_hash, email_verified, created_at, "
            "search_key) VALUES (:id, :email, :email, :name, 'x', :yes, CURRENT_TIMESTAMP, '')",
            id=user_id,
            email=f"p{user_id}@oak.example",
            name=f"Person {user_id}",
            yes=True,
        )
    member = (
        "INSERT INTO classroom_members (classroom_id, user_id, added_at) VALUES (:c, :u, CURRENT_TIMESTAMP)"
    )
    for classroom_id, user_id in ((5, 1), (5, 2), (5, 3), (6, 1)):
        run(member, c=classroom_id, u=user_id)
    upgrade()

    def counts():
        return dict(run("SELECT id, member_count FROM classrooms").tuples().all())

    assert counts() == {5: 3, 6: 1, 7: 0}
    run(member, c=7, u=2)
    run("DELETE FROM classroom_members WHERE classroom_id = 5 AND user_id = 1")
    run("UPDATE classroom_members SET classroom_id = 7 WHERE classroom_id = 6 AND user_id = 1")
    assert counts() == {5: 2, 6: 0, 7: 2}
