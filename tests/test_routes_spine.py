"""What people see on the spine's pages, with and without htmx, and how bad input
is answered: a message beside the field, and nothing changed."""

from datetime import datetime

import pytest
from sqlalchemy import select

from codes.extensions import db
from codes.models import AuditEvent, Classroom, Code, Organization, Redemption, User
from conftest import HX, count, error_beside, link_in, said_by_htmx, soup, text_of


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", timezone="Europe/Paris")
    algebra = make.course(org, "Algebra")
    leader = make.user("Leo Leader")
    room = make.classroom(org, "Room 9A", courses=[algebra], leaders=[leader])
    code = make.code(
        org,
        "OAK-9A-2027",
        classrooms=[room],
        max_uses=20,
        valid_until=datetime(2027, 6, 30, 21, 59, 59, 999999),
    )
    return org, room, algebra, leader, code


# --- the student's profile and the code box -------------------------------------------------


def test_profile_shows_code_box_and_empty_lists(client, make, school):
    client.login(make.user("Sam"))
    page = soup(client.get("/profile"))
    assert page.find("input", id="code") is not None
    assert page.find(id="my-classrooms").get_text(strip=True) == "None yet."


def test_redeem_with_htmx_returns_the_section_with_result_and_lists(client, make, school):
    client.login(make.user("Sam"))
    response = client.post("/redeem", data={"code": "oak 9a 2027"}, headers=HX)
    assert response.status_code == 200
    page = soup(response)
    assert page.find("section", id="redeem") is not None
    assert page.find("html") is None, "htmx gets the fragment, not a whole page"
    assert page.select_one(".flash-success").get_text().strip() == "You joined Room 9A, Algebra."
    assert "Room 9A" in page.find(id="my-classrooms").get_text()
    assert "Algebra" in page.find(id="my-courses").get_text()
    assert page.find("input", id="code")["value"] == "", "the box is emptied for the next code"
    assert page.find(id="my-places") == soup(client.get("/profile")).find(id="my-places"), (
        "the lists in the answer are those the profile shows afterwards"
    )


def test_the_answer_to_joining_links_each_place_to_what_the_student_sees_of_it(client, make, school):
    org, room, algebra, leader, code = school
    for headers in (HX, {}):
        client.login(make.user())
        if headers:
            answer = soup(client.post("/redeem", data={"code": "OAK-9A-2027"}, headers=HX))
        else:
            client.post("/redeem", data={"code": "OAK-9A-2027"})
            answer = soup(client.get("/profile"))
        said = answer.select_one(".flash-success")
        assert said.get_text().strip() == "You joined Room 9A, Algebra."
        links = {a.get_text(): a["href"] for a in said.find_all("a")}
        assert links == {
            "Room 9A": f"/profile#classroom-{room.id}",
            "Algebra": f"/profile#course-{algebra.id}",
        }
    page = soup(client.get("/profile"))
    entry = page.find(id=f"classroom-{room.id}")
    assert entry.parent["id"] == "my-classrooms" and "Teacher: Leo Leader" in entry.get_text()
    assert page.find(id=f"course-{algebra.id}").parent["id"] == "my-courses"


def test_a_substitute_sees_their_staff_roles_on_the_profile(client, make, school):
    org, room, algebra, leader, code = school
    make.code(org, "SUB-TEACH-2027", classrooms=[room], courses=[algebra], role="teacher")
    client.login(make.user("Sue Substitute"))
    answer = soup(client.post("/redeem", data={"code": "SUB-TEACH-2027"}, headers=HX))
    links = {a.get_text(): a["href"] for a in answer.select_one(".flash-success").find_all("a")}
    assert links == {"Room 9A": f"/classrooms/{room.id}", "Algebra": f"/courses/{algebra.id}"}
    page = soup(client.get("/profile"))
    assert page.find(id="i-lead").get_text().strip() == "You lead: Room 9A"
    assert page.find(id="i-teach").get_text().strip() == "You teach: Algebra"
    assert page.find(id="i-teach").a["href"] == f"/courses/{algebra.id}"
    assert page.find(id="my-courses") is None, 'not "My courses: None yet" beside the roles'


def test_redeem_refusal_with_htmx_shows_message_beside_the_box(client, make, school):
    client.login(make.user("Sam"))
    response = client.post("/redeem", data={"code": "WRONG-CODE"}, headers=HX)
    assert response.status_code == 200
    assert error_beside(soup(response), "code") == "We don't recognize that code. Check it and try again."


def test_redeem_plain_post_redirects_then_shows_result(client, make, school):
    client.login(make.user("Sam"))
    response = client.post("/redeem", data={"code": "OAK-9A-2027"})
    assert response.status_code == 303 and response.headers["Location"] == "/profile"
    profile = client.get("/profile")
    assert soup(profile).select_one(".flash-success").get_text().strip() == "You joined Room 9A, Algebra."
    assert "OAK-9A-2027" in text_of(profile)


def test_redeem_plain_refusal_is_422_with_message_and_typed_text(client, make, school):
    client.login(make.user("Sam"))
    response = client.post("/redeem", data={"code": "NOT-A-CODE"})
    assert response.status_code == 422
    page = soup(response)
    assert "recognize" in error_beside(page, "code")
    assert page.find("input", id="code")["value"] == "NOT-A-CODE"


def test_empty_code_box(client, make, school):
    client.login(make.user("Sam"))
    response = client.post("/redeem", data={"code": "  "})
    assert response.status_code == 422
    assert error_beside(soup(response), "code") == "Type the code you were given."
    assert count(AuditEvent, AuditEvent.action.like("redeem.%")) == 0, "no attempt was made"
    assert count(Redemption) == 0


def test_every_attempt_at_a_code_is_audited_in_its_organization(client, make, school):
    sam = make.user("Sam")
    client.login(sam)
    client.post("/redeem", data={"code": "WRONG-CODE"})
    client.post("/redeem", data={"code": "OAK-9A-2027"})
    actions = db.session.execute(
        select(AuditEvent.action, AuditEvent.org_id)
        .where(AuditEvent.actor_id == sam.id, AuditEvent.action.like("redeem.%"))
        .order_by(AuditEvent.id)
    ).all()
    # Every attempt at a code is in its organization's trail; one at no code
    # belongs to no organization (the server's log has it).
    assert actions == [("redeem.ok", school[0].id)]


# --- what staff see ------------------------------------------------------------------------


def test_admin_sees_the_tree_with_classrooms_and_courses(client, school):
    org, room, algebra, leader, code = school
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}"))
    tree = page.find("nav", class_="tree")
    assert "Oak School" in tree.get_text() and "Room 9A" in tree.get_text()
    assert "Algebra" in tree.get_text()
    assert page.find("form", action=f"/orgs/{org.id}/settings") is not None


def test_leader_sees_only_their_classroom_and_no_admin_forms(client, make, school):
    org, room, algebra, leader, code = school
    make.classroom(org, "Room 9B")
    client.login(leader)
    page = soup(client.get(f"/orgs/{org.id}"))
    tree = page.find("nav", class_="tree").get_text()
    assert "Room 9A" in tree and "Room 9B" not in tree and "Algebra" not in tree
    assert page.find("form", action=f"/orgs/{org.id}/settings") is None


def test_codes_tab_lists_code_with_status_uses_and_local_expiry(client, school):
    org, room, algebra, leader, code = school
    client.login(leader)
    page = soup(client.get(f"/classrooms/{room.id}/codes"))
    row = page.find("tr", id=f"code-{code.id}")
    cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
    assert cells[0] == "OAK-9A-2027"
    assert cells[1] == "Room 9A"
    assert cells[2] == "0 / 20"
    assert cells[3] == "2027-06-30"  # the end of that day in Paris
    assert cells[4] == "Active"


def test_new_code_form_defaults_to_this_classroom(client, school):
    org, room, algebra, leader, code = school
    client.login(org.admin)
    page = soup(client.get(f"/classrooms/{room.id}/codes"))
    box = page.find("input", attrs={"name": "classroom_ids", "value": str(room.id)})
    assert box.has_attr("checked")


def test_create_code_from_the_codes_tab(client, school):
    org, room, algebra, leader, code = school
    client.login(leader)
    response = client.post(
        f"/classrooms/{room.id}/codes",
        data={
            "text": "MHS-PTA-2027",
            "classroom_ids": room.id,
            "role": "student",
            "valid_until": "2027-05-31",
            "max_uses": "40",
            "allowed_domains": "@oak.edu",
            "next": f"/classrooms/{room.id}/codes",
        },
    )
    assert response.status_code == 303
    created = db.session.scalar(select(Code).where(Code.text == "MHS-PTA-2027"))
    assert created.max_uses == 40 and created.domains == ["oak.edu"]
    assert created.valid_until == datetime(2027, 5, 31, 21, 59, 59, 999999)  # CEST = UTC+2
    assert [c.id for c in created.classrooms] == [room.id]
    page = text_of(client.get(f"/classrooms/{room.id}/codes"))
    assert "Code MHS-PTA-2027 created." in page


def test_weak_code_warns_without_refusing(client, school):
    org, room, *_ = school
    client.login(org.admin)
    client.post(
        f"/classrooms/{room.id}/codes", data={"text": "MATH", "classroom_ids": room.id, "role": "student"}
    )
    assert db.session.scalar(select(Code).where(Code.text == "MATH")) is not None
    assert "short or easy to guess" in text_of(client.get(f"/classrooms/{room.id}/codes"))


def test_toggle_with_htmx_swaps_the_row(client, school):
    org, room, algebra, leader, code = school
    client.login(leader)
    response = client.post(f"/codes/{code.id}/toggle", data={"enabled": "0"}, headers=HX)
    row = soup(response).find("tr")
    assert row["id"] == f"code-{code.id}"
    assert row.find(class_="status").get_text() == "Off"
    assert row.find("button", class_="switch")["aria-pressed"] == "false"
    response = client.post(f"/codes/{code.id}/toggle", data={"enabled": "1"}, headers=HX)
    assert soup(response).find(class_="status").get_text() == "Active"


def test_toggle_plain_post_goes_back(client, school):
    org, room, algebra, leader, code = school
    client.login(leader)
    here = f"/classrooms/{room.id}/codes"
    response = client.post(f"/codes/{code.id}/toggle", data={"enabled": "0", "next": here})
    assert response.status_code == 303 and response.headers["Location"] == here
    assert db.session.get(Code, code.id).enabled is False


def test_toggle_ignores_an_offsite_next(client, school):
    org, room, algebra, leader, code = school
    client.login(leader)
    response = client.post(f"/codes/{code.id}/toggle", data={"enabled": "0", "next": "https://evil.example/"})
    assert response.headers["Location"] == f"/codes/{code.id}/edit"


def test_deactivated_code_cannot_be_turned_on(client, school):
    org, room, algebra, leader, code = school
    client.login(leader)
    client.post(f"/codes/{code.id}/deactivate", headers=HX, data={"confirmed": "1"})
    response = client.post(f"/codes/{code.id}/toggle", data={"enabled": "1"}, headers=HX)
    page = soup(response)
    assert page.find(class_="status").get_text() == "Deactivated"
    assert page.find("button", class_="switch") is None


def test_delete_with_htmx_answers_no_row_and_hides_the_code(client, school):
    org, room, algebra, leader, code = school
    client.login(leader)
    response = client.post(f"/codes/{code.id}/delete", headers=HX, data={"confirmed": "1"})
    # Nothing takes the row's place; only what was done, for the page's messages.
    assert response.status_code == 200 and soup(response).find("tr") is None
    assert said_by_htmx(response) == "Code OAK-9A-2027 deleted."
    assert client.get(f"/codes/{code.id}/edit").status_code == 404
    codes_tab = client.get(f"/classrooms/{room.id}/codes")
    assert codes_tab.status_code == 200 and "OAK-9A-2027" not in text_of(codes_tab)


def test_edit_code_changes_limits(client, school):
    org, room, algebra, leader, code = school
    client.login(org.admin)
    page = soup(client.get(f"/codes/{code.id}/edit"))
    assert page.find("input", id="text")["value"] == "OAK-9A-2027"
    assert page.find("input", id="valid_until")["value"] == "2027-06-30"
    response = client.post(
        f"/codes/{code.id}/edit",
        data={
            "text": "OAK-9A-2027",
            "classroom_ids": room.id,
            "course_ids": algebra.id,
            "role": "student",
            "max_uses": "",
        },
    )
    assert response.status_code == 303
    db.session.expire_all()
    edited = db.session.get(Code, code.id)
    assert edited.max_uses is None and edited.valid_until is None
    assert [c.id for c in edited.courses] == [algebra.id]


# --- bad input: a message beside the field, and nothing changed ---------------------------


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"text": ""}, "text", "Type the code people will enter."),
        ({"text": "AB"}, "text", "A code is 4 to 40 characters long."),
        ({"text": "A" * 41}, "text", "A code is 4 to 40 characters long."),
        ({"text": "PTA 2027!"}, "text", "Use only letters, digits and dashes."),
        ({"text": "<script>"}, "text", "Use only letters, digits and dashes."),
        ({"max_uses": "0"}, "max_uses", "Max uses is at least 1. Leave it empty for unlimited."),
        ({"max_uses": "-1"}, "max_uses", "Max uses is at least 1. Leave it empty for unlimited."),
        ({"max_uses": "lots"}, "max_uses", "Enter a whole number."),
        (
            {"valid_from": "2027-06-01", "valid_until": "2027-05-01"},
            "valid_until",
            "Valid until must be after valid from.",
        ),
        ({"valid_until": "2020-01-01"}, "valid_until", "That date has already passed."),
        (
            {"allowed_domains": "not a domain!"},
            "allowed_domains",
            "not is not an email domain like school.org.",
        ),
        ({"role": "emperor"}, "role", "Not a valid choice."),
    ],
)
def test_bad_code_input_changes_nothing(client, school, data, field, message):
    org, room, *_ = school
    client.login(org.admin)
    before = count(Code)
    form = {"text": "GOOD-CODE-2027", "classroom_ids": room.id, "role": "student", **data}
    response = client.post(f"/classrooms/{room.id}/codes", data=form)
    assert response.status_code == 422
    assert error_beside(soup(response), field) == message
    assert count(Code) == before


def test_no_target_is_refused(client, school):
    org, room, *_ = school
    client.login(org.admin)
    response = client.post(f"/classrooms/{room.id}/codes", data={"text": "NO-TARGET-2027", "role": "student"})
    assert response.status_code == 422
    assert "Choose at least one classroom or course." in text_of(response)
    assert db.session.scalar(select(Code).where(Code.text == "NO-TARGET-2027")) is None


def test_duplicate_text_in_another_organization_is_refused(client, make, school):
    org, room, *_ = school
    elm = make.org(name="Elm School")
    elm_room = make.classroom(elm, "Elm 1")
    make.code(elm, "SOLO-2027", classrooms=[elm_room])
    client.login(org.admin)
    before = count(Code)
    response = client.post(
        f"/classrooms/{room.id}/codes",
        data={"text": "s0l0-2027", "classroom_ids": room.id, "role": "student"},
    )
    assert response.status_code == 422
    assert error_beside(soup(response), "text") == "That code is already taken. Choose another."
    assert "Elm" not in text_of(response)
    assert count(Code) == before


def test_max_uses_below_uses_is_refused_on_edit(client, make, school):
    org, room, algebra, leader, code = school
    from codes.redeem.operations import redeem

    for _ in range(3):
        redeem(make.user(), code.text)
    db.session.commit()
    client.login(org.admin)
    response = client.post(
        f"/codes/{code.id}/edit",
        data={"text": code.text, "classroom_ids": room.id, "role": "student", "max_uses": "2"},
    )
    assert response.status_code == 422
    assert "used 3 times already" in error_beside(soup(response), "max_uses")
    db.session.expire_all()
    assert db.session.get(Code, code.id).max_uses == 20


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": ""}, "name", "Give it a name."),
        ({"name": "x" * 121}, "name", "At most 120 characters."),
        ({"seat_limit": "-1"}, "seat_limit", "The seat limit can't be negative."),
        ({"timezone": "Mars/Olympus"}, "timezone", "Not a valid choice."),
    ],
)
def test_bad_org_settings_change_nothing(client, school, data, field, message):
    org, *_ = school
    client.login(org.admin)
    form = {"name": "Oak School", "timezone": "Europe/Paris", **data}
    response = client.post(f"/orgs/{org.id}/settings", data=form)
    assert response.status_code == 422
    assert error_beside(soup(response), field) == message
    db.session.expire_all()
    saved = db.session.get(Organization, org.id)
    assert (saved.name, saved.timezone, saved.seat_limit) == ("Oak School", "Europe/Paris", None)


def test_seat_limit_below_taken_is_refused(client, make, school):
    org, room, algebra, leader, code = school
    from codes.redeem.operations import redeem

    for _ in range(2):
        redeem(make.user(), code.text)
    db.session.commit()
    client.login(org.admin)
    response = client.post(
        f"/orgs/{org.id}/settings", data={"name": "Oak School", "timezone": "Europe/Paris", "seat_limit": "1"}
    )
    assert response.status_code == 422
    assert error_beside(soup(response), "seat_limit") == (
        "2 seats are already taken; the limit can't be lower."
    )


def test_empty_classroom_name_is_refused(client, school):
    org, *_ = school
    client.login(org.admin)
    before = count(Classroom)
    response = client.post(f"/orgs/{org.id}/classrooms", data={"classroom-name": "   "})
    assert response.status_code == 422
    assert error_beside(soup(response), "classroom-name") == "Give it a name."
    assert count(Classroom) == before


def test_names_are_escaped(client, make, school):
    org, room, *_ = school
    client.login(org.admin)
    client.post(f"/classrooms/{room.id}/rename", data={"name": "<b>Room</b>"})
    html = client.get(f"/classrooms/{room.id}").get_data(as_text=True)
    assert "&lt;b&gt;Room&lt;/b&gt;" in html and "<b>Room</b>" not in html


# --- accounts ------------------------------------------------------------------------------


def test_signup_login_and_duplicate_email(client, outbox):
    response = client.post(
        "/signup", data={"name": "Ann", "email": "Ann@Example.org", "password": "long-enough-pw"}
    )
    assert response.status_code == 303
    assert client.post(link_in(outbox[0], "/signup/finish/")).status_code == 303
    client.post("/logout")
    # A second sign-up with the same email, whatever its case, is answered as the
    # first: the mail tells its owner they have an account, and nothing is made.
    response = client.post(
        "/signup", data={"name": "Ann 2", "email": "ann@example.ORG", "password": "long-enough-pw"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/signup/sent"
    assert outbox[1].subject == "You already have an account"
    assert count(User) == 1
    response = client.post("/login", data={"email": "ANN@example.org", "password": "long-enough-pw"})
    assert response.status_code == 303


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": ""}, "name", "Enter your name."),
        ({"email": "not-an-email"}, "email", "That doesn't look like an email address."),
        ({"password": "short"}, "password", "Use at least 8 characters."),
    ],
)
def test_bad_signup(client, data, field, message):
    form = {"name": "Ann", "email": "ann@example.org", "password": "long-enough-pw", **data}
    response = client.post("/signup", data=form)
    assert response.status_code == 422
    assert error_beside(soup(response), field) == message


def test_wrong_password(client, make):
    user = make.user()
    response = client.post("/login", data={"email": user.email, "password": "nope-nope"})
    assert response.status_code == 422
    assert "don't match" in error_beside(soup(response), "password")


def test_login_next_never_leaves_the_site(client, make):
    user = make.user()
    from conftest import PASSWORD

    response = client.post("/login?next=//evil.example/x", data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/profile"


def test_an_oversized_upload_is_refused_plainly(client, make):
    client.login(make.user())
    response = client.post("/redeem", data={"code": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert "too large" in soup(response).find("h1").get_text()
