"""The code box a school pastes into its own website (issue 14, part 1): the
snippet on the organization's page, what the admin chooses of it, and /join,
where it sends what was typed."""

from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from codes.models import Redemption
from conftest import HX, count, error_beside, snapshot, soup


@pytest.fixture
def school(make):
    org = make.org(name="Oak School")
    leader = make.user("Leo Leader")
    room = make.classroom(org, "Room 9A", leaders=[leader])
    code = make.code(org, "OAK-9A-2027", classrooms=[room])
    return org, room, code, leader


def query_of(location):
    parts = urlsplit(location)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def snippet_of(page):
    """The pasted HTML, as the admin copies it from the text box, parsed."""
    box = page.find("textarea", id="website-snippet")
    return BeautifulSoup(box.get_text(), "html.parser")


# --- /join?code=, where the box sends what was typed ----------------------------------------------


def test_logged_out_the_box_opens_sign_up_with_the_code_filled_in(client, school):
    before = snapshot()
    response = client.get("/join?code=+OAK-9A-2027+")
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    assert query_of(response.headers["Location"]) == ("/signup", {"code": "OAK-9A-2027"})
    page = soup(client.get(response.headers["Location"]))
    assert page.find("input", id="code")["value"] == "OAK-9A-2027"
    assert snapshot() == before, "a GET changes nothing"


def test_logged_in_the_box_opens_the_profile_filled_in_and_redeems_nothing(client, make, school):
    student = make.user("Sam")
    client.login(student)
    before = snapshot()
    response = client.get("/join?code=oak-9a-2027")
    assert query_of(response.headers["Location"]) == ("/profile", {"code": "oak-9a-2027"})
    page = soup(client.get(response.headers["Location"]))
    assert page.find("input", id="code")["value"] == "oak-9a-2027"
    assert page.find(class_="error") is None, "filled in, not yet tried"
    assert count(Redemption) == 0
    assert snapshot() == before, "only pressing the button redeems"


@pytest.mark.parametrize("typed", ["A" * 201, "A" * 100_000, "", "   "])
def test_text_that_can_be_no_code_is_not_carried(client, school, typed):
    response = client.get("/join", query_string={"code": typed})
    assert response.status_code == 302
    assert query_of(response.headers["Location"]) == ("/signup", {}) or query_of(
        response.headers["Location"]
    ) == ("/signup", {"code": ""})
    page = soup(client.get(response.headers["Location"]))
    assert page.find("input", id="code").get("value", "") == ""


def test_the_box_says_nothing_about_whether_a_code_exists(client, school):
    known = client.get("/join?code=OAK-9A-2027")
    unknown = client.get("/join?code=NOT-A-CODE-1")
    assert query_of(known.headers["Location"])[0] == query_of(unknown.headers["Location"])[0] == "/signup"


# --- the snippet -------------------------------------------------------------------------------


def test_the_admin_finds_the_snippet_on_the_organization_page(client, school):
    org, room, code, leader = school
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}"))
    form = snippet_of(page).find("form")
    assert form["action"] == "http://localhost/join", "on PUBLIC_URL, never the request's host"
    assert form["method"] == "get" and form["target"] == "_top"
    assert form.find("input")["name"] == "code"
    assert form.find("button").get_text(strip=True) == "Join"
    assert snippet_of(page).find("script") is None and "csrf" not in str(snippet_of(page)).lower()
    preview = page.find(class_="website-preview").find("form")
    assert str(preview) == str(form), "the preview is the very HTML to paste"


def test_the_snippet_uses_public_url_whatever_the_host_asked(app, client, school):
    org, room, code, leader = school
    app.config.update(PUBLIC_URL="https://codes.example.org")
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/website"))  # asked of http://localhost
    assert snippet_of(page).find("form")["action"] == "https://codes.example.org/join"


def test_the_admin_picks_the_button_and_a_new_tab(client, school):
    org, room, code, leader = school
    client.login(org.admin)
    response = client.get(f"/orgs/{org.id}/website?button=Redeem+<b>now</b>&opens=new")
    assert response.status_code == 200
    form = snippet_of(soup(response)).find("form")
    assert form["target"] == "_blank"
    assert form.find("button").get_text() == "Redeem <b>now</b>", "the text is escaped, never markup"
    assert form.find("b") is None
    preview = soup(response).find(class_="website-preview")
    assert preview.find("b") is None and preview.find("button").get_text() == "Redeem <b>now</b>"


def test_with_htmx_the_choices_swap_the_card(client, school):
    org, room, code, leader = school
    client.login(org.admin)
    response = client.get(f"/orgs/{org.id}/website?button=Go&opens=same", headers=HX)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    page = soup(response)
    assert page.find("html") is None and page.find(id="website") is not None
    assert snippet_of(page).find("button").get_text() == "Go"


@pytest.mark.parametrize(
    "args, field, message",
    [
        ("button=" + "x" * 41, "button", "At most 40 characters."),
        ("button=", "button", "Write the text of the button."),
        ("button=Go&opens=elsewhere", "opens", "Choose the same tab or a new tab."),
    ],
)
def test_a_refused_choice_is_said_beside_its_field(client, school, args, field, message):
    org, room, code, leader = school
    client.login(org.admin)
    response = client.get(f"/orgs/{org.id}/website?{args}")
    assert response.status_code == 422
    page = soup(response)
    if field == "button":
        assert error_beside(page, field) == message
    else:
        assert message in page.find(id="website").get_text()
    assert snippet_of(page).find("button").get_text() == "Join", "the default stays shown"
    assert client.get(f"/orgs/{org.id}/website?{args}", headers=HX).status_code == 200


def test_only_admins_see_the_snippet(client, make, school):
    org, room, code, leader = school
    client.login(leader)
    assert soup(client.get(f"/orgs/{org.id}")).find(id="website-snippet") is None
    assert client.get(f"/orgs/{org.id}/website").status_code == 404
    other = make.org(name="Elm School")
    client.login(other.admin)
    assert client.get(f"/orgs/{org.id}/website").status_code == 404
