"""Roster upload: every row is checked first; the whole file is refused with a
row-by-row list, or applied whole, with seats counted as codes count them."""

import pytest
from sqlalchemy import select

from codes.access import Scope
from codes.extensions import db
from codes.models import (
    AuditEvent,
    Classroom,
    ClassroomMember,
    Enrollment,
    Invitation,
    Organization,
    OrgMember,
    User,
)
from codes.redeem.operations import RedeemRefused, redeem
from codes.seats.operations import set_allotment
from codes.users import roster
from codes.users.operations import list_people
from codes.users.roster import RosterRefused, upload_roster
from conftest import Factory, at_once, count, post_roster, snapshot, soup, text_of


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", seat_limit=10)
    algebra = make.course(org, "Algebra")
    room1 = make.classroom(org, "Room 1", courses=[algebra])
    room2 = make.classroom(org, "Room 2")
    code = make.code(org, "ROOM-TWO-2027", classrooms=[room2])
    kim = make.user("Kim Existing", "kim@oak.example")  # an account, not a member
    sol = make.user("Sol Student", "sol@oak.example")  # already a student member
    redeem(sol, code.text)
    db.session.commit()
    return dict(org=org, algebra=algebra, room1=room1, room2=room2, kim=kim, sol=sol)


def csv_bytes(*lines):
    return ("\n".join(lines) + "\n").encode()


def seats(org):
    return db.session.scalar(select(Organization.seats_taken).where(Organization.id == org.id))


def in_classroom(email, classroom):
    return (
        db.session.scalar(
            select(ClassroomMember.user_id)
            .join(User, User.id == ClassroomMember.user_id)
            .where(User.email_key == email.lower(), ClassroomMember.classroom_id == classroom.id)
        )
        is not None
    )


GOOD = csv_bytes(
    "Email,Name,Classroom",
    "new.one@oak.example,New One,Room 1",
    "KIM@oak.example,Kim Existing,room 1",
    "sol@oak.example,Sol Student,Room 1",
    ",,",
    "new.two@oak.example,New Two,Room 2",
)


def test_a_good_file_is_applied_whole(school):
    org = school["org"]
    before = seats(org)
    result = upload_roster(org.admin, org, GOOD)
    db.session.commit()
    assert (result.created, result.placed, result.invited, result.unchanged, result.seats_taken) == (
        2,
        1,
        1,
        0,
        2,
    )
    assert seats(org) == before + 2, "the two new people take a seat; Sol has one"
    for email in ("new.one@oak.example", "sol@oak.example"):
        assert in_classroom(email, school["room1"])
    assert in_classroom("new.two@oak.example", school["room2"])
    # Kim has an account but is not one of Oak's people: invited, not attached.
    assert not in_classroom("kim@oak.example", school["room1"])
    assert [i.email for i in result.invitations] == ["KIM@oak.example"]
    new = db.session.scalar(select(User).where(User.email_key == "new.one@oak.example"))
    assert new.name == "New One" and new.email_verified is False
    assert not new.check_password("") and not new.check_password(new.password_hash)
    assert count(Enrollment, Enrollment.user_id == new.id, Enrollment.course_id == school["algebra"].id) == 1
    assert db.session.scalar(select(User.name).where(User.id == school["kim"].id)) == "Kim Existing"
    adds = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "roster.add")).all()
    assert len(adds) == 3 and {e.org_id for e in adds} == {org.id}
    assert count(AuditEvent, AuditEvent.action == "roster.upload") == 1


def test_uploading_the_same_file_again_changes_nothing_more(school):
    org = school["org"]
    upload_roster(org.admin, org, GOOD)
    db.session.commit()
    taken = seats(org)
    result = upload_roster(org.admin, org, GOOD)
    db.session.commit()
    assert (result.created, result.placed, result.invited, result.unchanged, result.seats_taken) == (
        0,
        0,
        1,
        3,
        0,
    )
    assert seats(org) == taken
    assert count(Invitation) == 1, "Kim's open invitation is renewed, not doubled"


@pytest.mark.parametrize(
    "line, problem",
    [
        ("not-an-email,Someone,Room 1", "That doesn't look like an email address."),
        (",Someone,Room 1", "The email is missing."),
        ("someone@oak.example,,Room 1", "The name is missing."),
        ("someone@oak.example,Someone,", "The classroom is missing."),
        ("someone@oak.example,Someone,Room 9", "Oak School has no classroom called “Room 9”."),
        ("new.one@OAK.example,Someone,Room 1", "The same email as row 2."),
        ("someone@oak.example," + "x" * 121 + ",Room 1", "The name is longer than 120 characters."),
    ],
)
def test_one_bad_row_refuses_the_whole_file_and_names_the_row(school, line, problem):
    org = school["org"]
    data = csv_bytes(
        "email,name,classroom",
        "new.one@oak.example,New One,Room 1",
        line,
        "new.two@oak.example,New Two,Room 2",
    )
    before = snapshot()
    with pytest.raises(RosterRefused) as refused:
        upload_roster(org.admin, org, data)
    db.session.rollback()
    assert [(p.row, p.message) for p in refused.value.problems] == [(3, problem)]
    assert snapshot() == before


def test_every_problem_is_listed_at_once(school):
    org = school["org"]
    data = csv_bytes("email,name,classroom", "bad,One,Room 1", "ok@oak.example,,Nowhere")
    with pytest.raises(RosterRefused) as refused:
        upload_roster(org.admin, org, data)
    assert [(p.row, p.message) for p in refused.value.problems] == [
        (2, "That doesn't look like an email address."),
        (3, "The name is missing."),
        (3, "Oak School has no classroom called “Nowhere”."),
    ]


def test_a_name_shared_by_two_classrooms_is_refused(make, school):
    org = school["org"]
    make.classroom(org, "room 1")
    with pytest.raises(RosterRefused, match="1 problem") as refused:
        upload_roster(org.admin, org, csv_bytes("email,name,classroom", "a@oak.example,A,Room 1"))
    assert "Several classrooms are called “Room 1”" in refused.value.problems[0].message


@pytest.mark.parametrize(
    "data, problem",
    [
        (
            b"name,classroom\nA,Room 1\n",
            "The first row must name the columns email, name and classroom (missing: email).",
        ),
        (b"email,name,classroom\n", "The file has no people in it, only the header row."),
        (
            b"",
            "The first row must name the columns email, name and classroom "
            "(missing: email, name, classroom).",
        ),
        (
            "email,name,classroom\nzoë@oak.example,Zoë,Room 1\n".encode("latin-1"),
            "The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8”.",
        ),
        (b'email,name,classroom\n"a@oak.example,A,Room 1\n', None),
    ],
)
def test_files_that_are_not_a_roster(school, data, problem):
    org = school["org"]
    with pytest.raises(RosterRefused) as refused:
        upload_roster(org.admin, org, data)
    [found] = refused.value.problems
    if problem is None:
        assert found.message.startswith("The file is not valid CSV here")
    else:
        assert found.message == problem


def test_spreadsheet_files_with_a_bom_semicolons_and_extra_columns_are_read(school):
    org = school["org"]
    data = "\ufeffClassroom;Email;Phone;Name\r\nRoom 1;zoe@oak.example;555;Zoë Ü\r\n".encode()
    result = upload_roster(org.admin, org, data)
    assert result.created == 1
    assert db.session.scalar(select(User.name).where(User.email_key == "zoe@oak.example")) == "Zoë Ü"


def test_limits_on_rows_and_size(school, monkeypatch):
    org = school["org"]
    monkeypatch.setattr(roster, "MAX_ROSTER_ROWS", 2)
    data = csv_bytes("email,name,classroom", *[f"p{i}@oak.example,P{i},Room 1" for i in range(3)])
    with pytest.raises(RosterRefused, match="1 problem") as refused:
        upload_roster(org.admin, org, data)
    assert refused.value.problems[0].message == (
        "The file has more than 2 people. Split it into smaller files."
    )
    monkeypatch.setattr(roster, "MAX_ROSTER_BYTES", 50)
    with pytest.raises(RosterRefused) as refused:
        upload_roster(org.admin, org, GOOD)
    assert "larger than" in refused.value.problems[0].message


def test_seat_limit_counted_as_codes_count_it(make, school):
    """Three seats free: a file with four people new to the organization is
    refused; a person who is already a student needs none."""
    org = school["org"]
    org.seat_limit = seats(org) + 3
    db.session.commit()
    rows = [f"p{i}@oak.example,P{i},Room 1" for i in range(4)]
    before = snapshot()
    with pytest.raises(RosterRefused) as refused:
        upload_roster(org.admin, org, csv_bytes("email,name,classroom", *rows))
    db.session.rollback()
    [problem] = refused.value.problems
    assert problem.row is None
    assert problem.message == (
        "This file needs 4 new seats and Oak School has 3 free. "
        "Remove 1 person new to Oak School from the file, "
        "or raise the seat limit."
    )
    assert snapshot() == before
    fits = csv_bytes("email,name,classroom", *rows[:3], "sol@oak.example,Sol,Room 1")
    result = upload_roster(org.admin, org, fits)
    db.session.commit()
    assert result.seats_taken == 3 and seats(org) == org.seat_limit


def test_allotments_are_counted_as_codes_count_them(school):
    """Room 1 has an allotment of 2 and the organization 10 seats: three new
    people for Room 1 are refused; people for Room 2 take the free seats, of
    which Room 1's unused allotment is not part."""
    org = school["org"]
    set_allotment(org.admin, school["room1"], 2)
    db.session.commit()
    rows = [f"p{i}@oak.example,P{i},Room 1" for i in range(3)]
    with pytest.raises(RosterRefused) as refused:
        upload_roster(org.admin, org, csv_bytes("email,name,classroom", *rows))
    db.session.rollback()
    assert [p.message for p in refused.value.problems] == [
        "This file puts 3 people new to Oak School in Room 1, whose allotment has 2 seats left. "
        "Remove 1 of them from the file, or raise the allotment."
    ]
    room2 = [f"q{i}@oak.example,Q{i},Room 2" for i in range(8)]  # 10 - 1 taken - 2 reserved = 7
    with pytest.raises(RosterRefused, match="1 problem"):
        upload_roster(org.admin, org, csv_bytes("email,name,classroom", *room2))
    db.session.rollback()
    result = upload_roster(org.admin, org, csv_bytes("email,name,classroom", *rows[:2], *room2[:7]))
    db.session.commit()
    assert result.seats_taken == 9 and seats(org) == 10
    assert db.session.get(Classroom, school["room1"].id).seats_used == 2


def test_a_seat_refused_while_applying_refuses_the_whole_file(school, monkeypatch):
    """The check and the seats can disagree if someone joins in between: take_seat
    decides, and the file is refused whole, naming the row."""
    org = school["org"]
    monkeypatch.setattr(roster.seats, "new_seat_problems", lambda org, needed: [])
    org.seat_limit = seats(org) + 1
    db.session.commit()
    data = csv_bytes("email,name,classroom", "a@oak.example,A,Room 1", "b@oak.example,B,Room 1")
    with pytest.raises(RosterRefused) as refused:
        upload_roster(org.admin, org, data)
    db.session.rollback()
    assert [(p.row, p.message) for p in refused.value.problems] == [
        (3, "Oak School has no seats left. Contact its administrator.")
    ]
    assert count(User, User.email_key == "a@oak.example") == 0


# --- the page -------------------------------------------------------------------------------


def test_the_page_explains_the_file(client, school):
    org = school["org"]
    client.login(org.admin)
    page = text_of(client.get(f"/orgs/{org.id}/users/roster"))
    assert "email,name,classroom" in page and "Room 1, Room 2" in page
    assert "9 of 10 seats are free" in page


def test_a_file_with_one_bad_row_shows_the_row_and_changes_nothing(client, school):
    org = school["org"]
    client.login(org.admin)
    before = snapshot()
    data = csv_bytes(
        "email,name,classroom", "a@oak.example,A,Room 1", "b@oak,B,Room 1", "c@oak.example,C,Room 2"
    )
    response = post_roster(client, org, data)
    assert response.status_code == 422
    problems = soup(response).find(id="roster-problems")
    assert "Nothing was changed" in problems.h2.get_text()
    rows = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in problems.tbody.find_all("tr")]
    assert rows == [["3", "b@oak", "That doesn't look like an email address."]]
    assert snapshot() == before


def test_a_good_file_redirects_to_the_people_with_a_summary(client, school):
    org = school["org"]
    client.login(org.admin)
    response = post_roster(client, org, GOOD)
    assert response.status_code == 303 and response.headers["Location"] == f"/orgs/{org.id}/users"
    page = client.get(response.headers["Location"])
    assert (
        "Roster applied: 2 new accounts, 1 person of yours placed, 1 invitation sent (they join "
        "when they accept), 2 seats taken." in text_of(page)
    )
    row = soup(client.get(f"/orgs/{org.id}/users?q=new.one")).select_one("tr.person-row")
    assert "Roster upload" in row.select_one(".joined").get_text()
    assert "unverified" in row.get_text()


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("roster.xlsx", b"email,name,classroom\n", "Choose a .csv file"),
        ("roster.csv", b"x" * (roster.MAX_ROSTER_BYTES + 1), "larger than 1 MB"),
    ],
)
def test_the_wrong_file_is_refused_beside_the_field(client, school, name, data, message):
    org = school["org"]
    client.login(org.admin)
    response = post_roster(client, org, data, name)
    assert response.status_code == 422
    assert message in soup(response).select_one(".field .error").get_text()


def test_no_file_is_refused_beside_the_field(client, school):
    org = school["org"]
    client.login(org.admin)
    response = client.post(f"/orgs/{org.id}/users/roster", data={})
    assert response.status_code == 422
    assert soup(response).select_one(".field .error").get_text(strip=True) == "Choose a CSV file."


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_only_admins_upload_rosters(client, make, school, method):
    org = school["org"]
    leader = make.user("Leo Leader")
    make.classroom(org, "Room 3", leaders=[leader])
    client.login(leader)
    response = (
        client.get(f"/orgs/{org.id}/users/roster") if method == "GET" else post_roster(client, org, GOOD)
    )
    assert response.status_code == 404
    assert count(User, User.email_key == "new.one@oak.example") == 0


def test_a_roster_and_the_people_list_on_sqlite_and_postgresql(any_db_app):
    make = Factory()
    org = make.org(name="Oak School", seat_limit=5)
    leo = make.user("Leo Leader")
    room = make.classroom(org, "Room 1", leaders=[leo])
    make.user("Kim Existing", "kim@oak.example")
    data = csv_bytes(
        "email,name,classroom",
        "New.One@oak.example,New One,Room 1",
        "kim@OAK.example,Kim,Room 1",
        "new_two@oak.example,New Two,Room 1",
    )
    result = upload_roster(org.admin, org, data)
    db.session.commit()
    assert (result.created, result.invited, result.seats_taken) == (2, 1, 2)
    assert seats(org) == 2
    scope = Scope(org.admin, org)
    assert [r.user.name for r in list_people(scope, "NEW").rows] == ["New One", "New Two"]
    assert [r.user.name for r in list_people(scope, "_two").rows] == ["New Two"]
    assert [r.user.name for r in list_people(scope, classroom=room).rows] == ["New One", "New Two"]
    assert list_people(scope, "_").total == 1, "an underscore is a letter, not a wildcard"
    assert list_people(Scope(leo, org)).total == 2, "the leader sees the members of Room 1"


def test_a_roster_racing_codes_for_the_last_seats_is_whole_or_nothing(any_db_app):
    """Ten free seats; six people in a roster and ten people with a code, all at
    once. The seats end exactly taken, never passed, and the roster counts all
    six of its people or none. (On SQLite the write lock lets them write one at
    a time; on PostgreSQL they meet on the organization's row lock: at_once.)"""
    make = Factory()
    org = make.org(name="Oak School", seat_limit=10)
    room1, room2 = make.classroom(org, "Room 1"), make.classroom(org, "Room 2")
    make.code(org, "RACE-ROSTER-27", classrooms=[room2])
    redeemers = [make.user().id for _ in range(10)]
    data = csv_bytes("email,name,classroom", *[f"r{i}@oak.example,R{i},Room 1" for i in range(6)])
    org_id, admin_id = org.id, org.admin.id

    def prepare(job):
        kind, user_id = job
        return kind, db.session.get(User, user_id), db.session.get(Organization, org_id)

    def run(job):
        kind, person, school = job
        if kind == "code":
            redeem(person, "RACE-ROSTER-27")
            return "ok"
        try:
            upload_roster(person, school, data)
        except RosterRefused:
            db.session.rollback()
            return "refused"
        return "applied"

    roster_outcome, *outcomes = at_once(
        any_db_app,
        run,
        [("roster", admin_id)] + [("code", user_id) for user_id in redeemers],
        prepare=prepare,
        refused=RedeemRefused,
    )
    db.session.expire_all()
    in_room1 = count(ClassroomMember, ClassroomMember.classroom_id == room1.id)
    assert (roster_outcome, in_room1) in {("applied", 6), ("refused", 0)}
    assert outcomes.count("ok") == 10 - in_room1
    assert seats(org) == 10 == count(OrgMember, OrgMember.org_id == org.id, OrgMember.is_student)
