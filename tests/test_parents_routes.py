"""The parents' pages as people use them, with and without htmx, and who may do
what: a parent sees only their linked students and only what the classroom's
switch allows; everything else answers 404."""

import pytest
from sqlalchemy import select

from codes import access, attempts
from codes.extensions import db
from codes.models import AuditEvent, Classroom, ParentCode, ParentLink, User
from codes.parents import operations as parents
from codes.redeem.operations import redeem
from conftest import HX, PASSWORD, client_as, count, link_in, soup, text_of


@pytest.fixture
def school(make):
    """Oak School: Room 9A (Leo leads; Sam and Cleo in it; Pat is Sam's parent) and
    Room 9B (Lia leads; Tess in it; Olga is Tess's parent). Elm School elsewhere."""
    org = make.org(name="Oak School")
    algebra = make.course(org, "Algebra")
    leo, lia = make.user("Leo Leader"), make.user("Lia Leader")
    room_a = make.classroom(org, "Room 9A", courses=[algebra], leaders=[leo])
    room_b = make.classroom(org, "Room 9B", leaders=[lia])
    sam, cleo, tess = make.user("Sam Student"), make.user("Cleo Classmate"), make.user("Tess Other")
    for student, room in ((sam, room_a), (cleo, room_a), (tess, room_b)):
        redeem(student, room.join_code.text)
    pat, olga = make.user("Pat Parent"), make.user("Olga Parent")
    parents.link_parent(pat, parents.make_parent_code(sam, sam).text)
    parents.link_parent(olga, parents.make_parent_code(tess, tess).text)
    for room in (room_a, room_b):
        parents.set_parents_can_see(org.admin, room, True)
    other = make.org(name="Elm School", admin=make.user("Eve Admin"))
    db.session.commit()
    return {
        "org": org,
        "room_a": room_a,
        "room_b": room_b,
        "sam": sam,
        "cleo": cleo,
        "tess": tess,
        "users": {
            "student": sam,
            "parent": pat,
            "other_parent": olga,
            "leader": leo,
            "other_leader": lia,
            "admin": org.admin,
            "other_admin": other.admin,
        },
        "link": db.session.scalar(select(ParentLink).where(ParentLink.parent_id == pat.id)),
    }


# --- the parents' page ----------------------------------------------------------------


def test_a_parent_sees_their_child_and_what_the_switch_allows(app, school):
    client = client_as(app, school["users"], "parent")
    text = text_of(client.get("/parents"))
    assert "Sam Student" in text
    assert "Room 9A" in text and "Oak School" in text and "Leo Leader" in text and "Algebra" in text
    # Nothing about any other student: not a classmate, not another family's child.
    for name in ("Cleo Classmate", "Tess Other", "Room 9B"):
        assert name not in text
    assert school["cleo"].email not in text


def test_visibility_off_hides_the_classrooms_content(app, school):
    parents.set_parents_can_see(school["org"].admin, school["room_a"], False)
    db.session.commit()
    client = client_as(app, school["users"], "parent")
    for path in ("/parents", f"/parents/students/{school['sam'].id}"):
        text = text_of(client.get(path))
        assert "Sam Student" in text
        assert "Room 9A" not in text and "Algebra" not in text and "Leo Leader" not in text
        assert "Nothing is shared with parents yet" in text


def test_a_parent_changing_the_id_in_the_url_gets_404(app, school):
    client = client_as(app, school["users"], "parent")
    assert client.get(f"/parents/students/{school['sam'].id}").status_code == 200
    for someone in ("tess", "cleo"):
        response = client.get(f"/parents/students/{school[someone].id}")
        assert response.status_code == 404
        assert school[someone].name not in response.get_data(as_text=True)
    assert client.get("/parents/students/999999").status_code == 404


def test_revocation_hides_the_student_on_the_next_request(app, school):
    client = client_as(app, school["users"], "parent")
    assert client.get(f"/parents/students/{school['sam'].id}").status_code == 200
    assert "Sam Student" in text_of(client.get("/parents"))
    admin = client_as(app, school["users"], "admin")
    assert (
        admin.post(
            f"/orgs/{school['org'].id}/parents/{school['link'].id}/revoke", data={"confirmed": "1"}
        ).status_code
        == 303
    )
    assert client.get(f"/parents/students/{school['sam'].id}").status_code == 404
    assert "Sam Student" not in text_of(client.get("/parents"))


def test_linking_with_a_plain_post_redirects_and_says_so(app, school, make):
    sam = school["sam"]
    code = parents.make_parent_code(sam, sam)
    db.session.commit()
    client = app.test_client()
    client.login(make.user("Gran Parent"))
    response = client.post("/parents/link", data={"code": code.text.lower()})
    assert response.status_code == 303 and response.headers["Location"] == "/parents"
    page = client.get("/parents")
    assert "You're now linked to Sam Student." in text_of(page)
    assert soup(page).find(id=f"student-{sam.id}") is not None


def test_linking_with_htmx_swaps_the_box_and_the_list(app, school, make):
    sam = school["sam"]
    code = parents.make_parent_code(sam, sam)
    db.session.commit()
    client = app.test_client()
    client.login(make.user("Gran Parent"))
    response = client.post("/parents/link", data={"code": code.text}, headers=HX)
    assert response.status_code == 200
    page = soup(response)
    assert page.find("html") is None and page.find("section", id="parent-link") is not None
    assert page.select_one(".flash-success").get_text(strip=True) == "You're now linked to Sam Student."
    assert page.find(id=f"student-{sam.id}") is not None
    assert "HX-Request" in response.headers["Vary"]


def test_linking_the_same_parent_twice_is_answered_kindly(app, school):
    sam = school["sam"]
    code = parents.make_parent_code(sam, sam)
    db.session.commit()
    client = client_as(app, school["users"], "parent")
    response = client.post("/parents/link", data={"code": code.text}, headers=HX)
    assert "You're already linked to Sam Student." in text_of(response)
    assert count(ParentLink, ParentLink.student_id == sam.id) == 1


@pytest.mark.parametrize("headers, status", [({}, 422), (HX, 200)])
def test_a_bad_parent_code_is_answered_beside_the_box(app, school, headers, status):
    client = client_as(app, school["users"], "other_parent")
    response = client.post("/parents/link", data={"code": "PARENT-NOPE0-NOPE0"}, headers=headers)
    assert response.status_code == status
    error = soup(response).find(id="code-error").get_text(strip=True)
    assert error == "We don't recognize that parent code. Check it and try again."
    assert soup(response).find("input", id="code")["value"] == "PARENT-NOPE0-NOPE0"
    # An attempt at no code is in no organization's audit trail, but counted.
    assert count(AuditEvent, AuditEvent.action == "redeem.unknown") == 0
    parent = school["users"]["other_parent"]
    assert attempts.counts(attempts.codes_policy(), account=parent.id) == {"account": 1}
    empty = client.post("/parents/link", data={"code": ""}, headers=headers)
    assert empty.status_code == status
    assert "Type the parent code" in soup(empty).find(id="code-error").get_text()


def test_the_letters_link_fills_the_box_or_offers_sign_up_and_log_in_with_the_code(app, school):
    path = "/parents/link?code=PARENT-7KQ4M-X9D2H"
    response = app.test_client().get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = soup(response)
    assert "PARENT-7KQ4M-X9D2H" in page.find(id="parent-start").get_text()
    # Signing up carries the code in the sign-up's own code box, which links the
    # new parent once the sign-up is finished; logging in carries it to the login.
    signup = page.find(id="start-signup")["href"]
    assert signup.startswith("/signup?code=PARENT-7KQ4M-X9D2H&next=") and "parents/link" in signup
    assert page.find(id="start-login")["href"] == "/login?code=PARENT-7KQ4M-X9D2H"
    client = client_as(app, school["users"], "parent")
    response = client.get(path)
    assert response.headers["Location"] == "/parents?code=PARENT-7KQ4M-X9D2H"
    box = soup(client.get(response.headers["Location"])).find("input", id="code")
    assert box["value"] == "PARENT-7KQ4M-X9D2H"


def test_logging_in_from_the_letter_links_the_parent_and_lands_on_the_parents_page(app, make, school):
    sam = school["sam"]
    code = parents.make_parent_code(sam, sam)
    nora = make.user("Nora New")
    db.session.commit()
    client = app.test_client()
    start = soup(client.get(f"/parents/link?code={code.text}"))
    login = start.find(id="start-login")["href"]
    form = soup(client.get(login))
    assert form.find("input", attrs={"name": "code"})["value"] == code.text
    assert code.text in form.find(id="login-code").get_text()
    response = client.post(login, data={"email": nora.email, "password": PASSWORD, "code": code.text})
    assert response.status_code == 303 and response.headers["Location"] == "/parents"
    assert access.linked_students(nora) == [sam]
    assert "Sam Student" in text_of(client.get("/parents"))


def test_a_parent_code_refused_at_log_in_still_logs_in_and_says_why(app, make, school):
    nora = make.user("Nora New")
    client = app.test_client()
    response = client.post(
        "/login?code=PARENT-NOPE-NOPE",
        data={"email": nora.email, "password": PASSWORD, "code": "PARENT-NOPE-NOPE"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/parents?code=PARENT-NOPE-NOPE"
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and soup(page).select_one(".flash-error") is not None
    assert access.linked_students(nora) == []


def test_signing_up_from_the_letter_links_the_new_parent(app, school, outbox):
    sam = school["sam"]
    code = parents.make_parent_code(sam, sam)
    db.session.commit()
    client = app.test_client()
    letter_link = f"/parents/link?code={code.text}"
    signup = soup(client.get(letter_link)).find(id="start-signup")["href"]
    form = soup(client.get(signup))
    assert form.find("input", id="code")["value"] == code.text
    response = client.post(
        signup,
        data={
            "name": "Nora New",
            "email": "nora@example.org",
            "password": "a-long-password",
            "code": code.text,
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == "/signup/sent"
    (mailed,) = [m for m in outbox if m.to == "nora@example.org"]
    response = client.post(link_in(mailed, "/signup/finish/"))
    assert response.status_code == 303 and response.headers["Location"] == letter_link
    nora = db.session.scalar(select(User).where(User.email_key == "nora@example.org"))
    assert access.linked_students(nora) == [sam]
    assert not parents.is_active(code)


def test_a_parent_lands_on_the_parents_page_after_logging_in(app, school):
    client = app.test_client()
    response = client.login(school["users"]["parent"])
    assert response.headers["Location"] == "/parents"
    # A student still lands on their profile.
    assert app.test_client().login(school["sam"]).headers["Location"] == "/profile"


def test_the_navigation_leads_to_the_parents_page(app, school):
    page = soup(client_as(app, school["users"], "student").get("/profile"))
    assert page.select_one("header nav a[href='/parents']").get_text(strip=True) == "Parents"


# --- the student code box -------------------------------------------------------------


@pytest.mark.parametrize("headers, status", [({}, 422), (HX, 200)])
def test_a_parent_code_in_the_student_code_box_points_to_the_parents_page(app, school, headers, status):
    sam = school["sam"]
    code = parents.make_parent_code(sam, sam)
    db.session.commit()
    client = client_as(app, school["users"], "other_parent")
    response = client.post("/redeem", data={"code": code.text}, headers=headers)
    assert response.status_code == status
    page = soup(response)
    assert (
        page.find(id="code-error")
        .get_text(strip=True)
        .startswith("That's a parent code: enter it on the parents page")
    )
    link = page.select_one(".redirect-hint a")
    assert link["href"] == f"/parents?code={code.text}"
    assert parents.is_active(code)


def test_a_used_parent_code_typed_at_sign_up_is_refused_and_makes_nothing(app, school, outbox):
    sam = school["sam"]
    code = parents.make_parent_code(sam, sam)
    parents.link_parent(school["users"]["other_parent"], code.text)
    db.session.commit()
    assert not parents.is_active(code)
    response = app.test_client().post(
        "/signup",
        data={"name": "Nora New", "email": "nora@example.org", "password": PASSWORD, "code": code.text},
    )
    assert response.status_code == 422
    assert (
        soup(response)
        .find(id="code-error")
        .get_text(strip=True)
        .startswith("That parent code has already been used")
    )
    assert db.session.scalar(select(User).where(User.email_key == "nora@example.org")) is None
    assert outbox == []


# --- a student's parent codes -----------------------------------------------------------


def test_a_student_makes_a_parent_code_in_place(app, school):
    client = client_as(app, school["users"], "student")
    page = soup(client.get("/profile"))
    assert page.find("section", id="parent-codes") is not None
    assert "Pat Parent" in page.find("section", id="parent-codes").get_text()
    response = client.post("/profile/parent-codes", headers=HX)
    assert response.status_code == 200
    fragment = soup(response)
    assert fragment.find("html") is None
    made = db.session.scalars(select(ParentCode).order_by(ParentCode.id.desc())).first()
    assert made.student_id == school["sam"].id
    assert fragment.select_one("tr.just-made code").get_text() == made.text
    assert f"/parents/link?code={made.text}" in fragment.select_one("tr.just-made").get_text()
    assert made.text in fragment.select_one(".flash-success").get_text()


def test_a_student_makes_a_parent_code_with_a_plain_post(app, school):
    client = client_as(app, school["users"], "student")
    response = client.post("/profile/parent-codes")
    assert response.status_code == 303 and response.headers["Location"] == "/profile#parent-codes"
    made = db.session.scalars(select(ParentCode).order_by(ParentCode.id.desc())).first()
    page = client.get("/profile")
    assert f"Your new parent code is {made.text}" in text_of(page)
    assert made.text in soup(page).find("section", id="parent-codes").get_text()


def test_a_student_cannot_make_or_cancel_parent_codes_for_another_student(app, school):
    tess = school["tess"]
    client = client_as(app, school["users"], "student")
    # Whatever the request names, the code is the student's own.
    client.post("/profile/parent-codes", data={"student_id": tess.id, "user_id": tess.id})
    assert count(ParentCode, ParentCode.student_id == tess.id) == 1  # the fixture's, used
    tess_code = parents.make_parent_code(tess, tess)
    db.session.commit()
    response = client.post(
        f"/profile/parent-codes/{tess_code.id}/cancel", headers=HX, data={"confirmed": "1"}
    )
    assert response.status_code == 404
    db.session.refresh(tess_code)
    assert parents.is_active(tess_code)
    # Nor through a classroom's letters.
    assert client.post(f"/classrooms/{school['room_b'].id}/parent-letters").status_code == 404
    assert count(ParentCode, ParentCode.student_id == tess.id) == 2


@pytest.mark.parametrize("who", ["parent", "leader"])
def test_only_students_see_the_parent_code_panel(app, school, who):
    client = client_as(app, school["users"], who)
    assert soup(client.get("/profile")).find("section", id="parent-codes") is None
    before = count(ParentCode)
    response = client.post("/profile/parent-codes")
    assert response.status_code == 303
    flash = soup(client.get("/profile")).select_one(".flash-error").get_text(strip=True)
    assert flash == "Parent codes are for students: join a classroom with a code first."
    assert count(ParentCode) == before


def test_a_student_cancels_their_own_code_in_place(app, school):
    sam = school["sam"]
    code = parents.make_parent_code(sam, sam)
    db.session.commit()
    client = client_as(app, school["users"], "student")
    assert code.text in soup(client.get("/profile")).find("table", class_="parent-codes").get_text()
    response = client.post(f"/profile/parent-codes/{code.id}/cancel", headers=HX, data={"confirmed": "1"})
    assert response.status_code == 200
    fragment = soup(response)
    assert fragment.find("table", class_="parent-codes") is None
    assert (
        fragment.select_one(".flash-success").get_text(strip=True)
        == f"The parent code {code.text} no longer works."
    )
    db.session.refresh(code)
    assert code.retired_at is not None


# --- the classroom's switch --------------------------------------------------------------


def test_a_leader_flips_the_switch_in_place(app, school):
    room = school["room_a"]
    client = client_as(app, school["users"], "leader")
    page = soup(client.get(f"/classrooms/{room.id}"))
    switch = page.select_one("#classroom-parents button.switch")
    assert switch["aria-pressed"] == "true"
    response = client.post(f"/classrooms/{room.id}/parents-can-see", data={"on": "0"}, headers=HX)
    assert response.status_code == 200
    fragment = soup(response)
    assert fragment.find("html") is None
    assert fragment.select_one("button.switch")["aria-pressed"] == "false"
    assert db.session.get(Classroom, room.id).parents_can_see is False
    response = client.post(f"/classrooms/{room.id}/parents-can-see", data={"on": "1"})
    assert response.status_code == 303 and response.headers["Location"] == f"/classrooms/{room.id}"
    db.session.expire_all()
    assert db.session.get(Classroom, room.id).parents_can_see is True
    assert count(AuditEvent, AuditEvent.action == "parent.visibility") == 4  # 2 in the fixture


# --- the admin's parent links -------------------------------------------------------------


def test_an_admin_sees_the_organizations_links_and_revokes_one_in_place(app, school, make):
    # A family in another organization is none of Oak School's business.
    elsewhere = make.user("Far Student")
    redeem(elsewhere, make.classroom(make.org(name="Pine School"), "Room P").join_code.text)
    parents.link_parent(make.user("Far Parent"), parents.make_parent_code(elsewhere, elsewhere).text)
    db.session.commit()
    org, link = school["org"], school["link"]
    client = client_as(app, school["users"], "admin")
    text = text_of(client.get(f"/orgs/{org.id}/parents"))
    assert "Pat Parent" in text and "Sam Student" in text and "Olga Parent" in text
    assert "Far Parent" not in text and "Far Student" not in text
    assert "Parent links" in text_of(client.get(f"/orgs/{org.id}"))

    response = client.post(f"/orgs/{org.id}/parents/{link.id}/revoke", headers=HX, data={"confirmed": "1"})
    assert response.status_code == 200
    row = soup(response).find("tr")
    assert row["id"] == f"parent-link-{link.id}" and "revoked" in row["class"]
    assert "Revoked" in row.get_text() and "by Admin" in row.get_text()
    assert row.find("form") is None
    db.session.refresh(link)
    assert link.revoked_at is not None


def test_an_admin_revokes_with_a_plain_post(app, school):
    org, link = school["org"], school["link"]
    client = client_as(app, school["users"], "admin")
    response = client.post(
        f"/orgs/{org.id}/parents/{link.id}/revoke", data={"confirmed": "1", "next": f"/orgs/{org.id}/parents"}
    )
    assert response.status_code == 303 and response.headers["Location"] == f"/orgs/{org.id}/parents"
    assert "Pat Parent is no longer linked to Sam Student." in text_of(client.get(f"/orgs/{org.id}/parents"))


def test_another_organizations_admin_cannot_revoke(app, school):
    org, link = school["org"], school["link"]
    client = client_as(app, school["users"], "other_admin")
    other_org = db.session.scalar(select(type(org)).where(type(org).name == "Elm School"))
    for path in (
        f"/orgs/{other_org.id}/parents/{link.id}/revoke",
        f"/orgs/{org.id}/parents/{link.id}/revoke",
    ):
        assert client.post(path).status_code == 404
    db.session.refresh(link)
    assert link.revoked_at is None


# --- who may do what ------------------------------------------------------------------------

OK, GONE, LOGIN = 200, 404, "login"
EVERYONE = dict(
    anonymous=LOGIN,
    student=OK,
    parent=OK,
    other_parent=OK,
    leader=OK,
    other_leader=OK,
    admin=OK,
    other_admin=OK,
)
SAMS_PARENT = dict(
    anonymous=LOGIN,
    student=GONE,
    parent=OK,
    other_parent=GONE,
    leader=GONE,
    other_leader=GONE,
    admin=GONE,
    other_admin=GONE,
)
ROOM_A_STAFF = dict(
    anonymous=LOGIN,
    student=GONE,
    parent=GONE,
    other_parent=GONE,
    leader=OK,
    other_leader=GONE,
    admin=OK,
    other_admin=GONE,
)
ADMIN = dict(
    anonymous=LOGIN,
    student=GONE,
    parent=GONE,
    other_parent=GONE,
    leader=GONE,
    other_leader=GONE,
    admin=OK,
    other_admin=GONE,
)

ROUTES = [
    ("GET", "/parents", None, EVERYONE),
    ("GET", "/parents/students/{sam}", None, SAMS_PARENT),
    ("GET", "/orgs/{org}/parents", None, ADMIN),
    ("POST", "/classrooms/{room_a}/parents-can-see", {"on": "1"}, ROOM_A_STAFF),
    ("POST", "/classrooms/{room_a}/parent-letters", None, ROOM_A_STAFF),
    ("POST", "/orgs/{org}/parents/{link}/revoke", None, ADMIN),
]


@pytest.mark.parametrize("who", list(EVERYONE))
@pytest.mark.parametrize("method, path, data, answers", ROUTES, ids=[r[1] for r in ROUTES])
def test_who_may_do_what(app, school, who, method, path, data, answers):
    url = path.format(
        sam=school["sam"].id, org=school["org"].id, room_a=school["room_a"].id, link=school["link"].id
    )
    client = client_as(app, school["users"], who)
    codes_before = count(ParentCode)
    response = client.open(url, method=method, data=data, headers=HX)
    expected = answers[who]
    if expected == LOGIN:
        assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/login")
        return
    assert response.status_code == expected, f"{who} {method} {url}"
    if expected == GONE and method == "POST":
        assert count(ParentCode) == codes_before
        db.session.expire_all()
        assert school["link"].revoked_at is None


def test_the_panel_comes_with_a_first_redemption_without_a_reload(app, make):
    """Before, the profile of someone who is no student yet had no panel, and
    the htmx answer to their first code did not bring it."""
    org = make.org()
    room = make.classroom(org, "Room 9A")
    newcomer = make.user("Nia New")
    client = app.test_client()
    client.login(newcomer)
    before = soup(client.get("/profile"))
    assert before.find("section", id="parent-codes") is None
    assert before.find(id="parent-codes") is not None, "a place for the panel to come to"
    response = client.post("/redeem", data={"code": room.join_code.text}, headers={"HX-Request": "true"})
    panel = soup(response).find("section", id="parent-codes")
    assert panel is not None and panel["data-hx-swap-oob"] == "true"
    assert panel.find("button", string="Make a parent code") is not None
