"""Every code's short link (/join/<code>), its QR code and its printable page."""

import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
import segno
import zxingcpp

from codes.access import Scope
from codes.extensions import db
from codes.manage import operations as manage
from conftest import soup

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def school(make):
    org = make.org(name="Oak School")
    leader = make.user("Leo Leader")
    instructor = make.user("Ivy Instructor")
    room = make.classroom(org, "Room 9A", leaders=[leader])
    course = make.course(org, "Algebra", instructors=[instructor])
    code = make.code(org, "OAK-9A-2027", classrooms=[room])
    return org, room, course, code, leader, instructor


def query_of(location):
    parts = urlsplit(location)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


# --- the short link -----------------------------------------------------------------------------


def test_logged_out_the_link_opens_sign_up_with_the_code_filled_in(client, school):
    response = client.get("/join/OAK-9A-2027")
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    assert query_of(response.headers["Location"]) == ("/signup", {"code": "OAK-9A-2027"})
    page = soup(client.get(response.headers["Location"]))
    assert page.find("input", id="code")["value"] == "OAK-9A-2027"
    login = page.find("a", id="login-link")["href"]
    assert query_of(login) == ("/login", {"next": "/profile?code=OAK-9A-2027"})


def test_logging_in_from_the_link_keeps_the_code(client, make, school):
    student = make.user("Sam")
    response = client.post(
        "/login?next=/profile?code%3DOAK-9A-2027",
        data={"email": student.email, "password": "correct-horse-battery"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/profile?code=OAK-9A-2027"
    page = soup(client.get(response.headers["Location"]))
    assert page.find("input", id="code")["value"] == "OAK-9A-2027"


def test_logged_in_the_link_opens_the_profile_with_the_code_filled_in(client, make, school):
    client.login(make.user("Sam"))
    response = client.get("/join/OAK-9A-2027")
    assert response.status_code == 302
    assert query_of(response.headers["Location"]) == ("/profile", {"code": "OAK-9A-2027"})
    page = soup(client.get(response.headers["Location"]))
    assert page.find("input", id="code")["value"] == "OAK-9A-2027"
    assert page.find(class_="error") is None, "filled in, not yet tried"


def test_the_link_says_nothing_about_whether_a_code_exists(client, make, school):
    known = client.get("/join/OAK-9A-2027")
    unknown = client.get("/join/NOT-A-CODE-1")
    assert query_of(known.headers["Location"])[0] == query_of(unknown.headers["Location"])[0]


# --- the QR code -------------------------------------------------------------------------------


def modules_of(svg_bytes):
    """The dark modules an SVG made of one-unit horizontal strokes draws, as a
    set of (x, y); and its size in modules."""
    root = ET.fromstring(svg_bytes)
    assert root.tag == f"{SVG}svg"
    size = int(float(root.get("viewBox").split()[2]))
    dark = [p for p in root.iter(f"{SVG}path") if p.get("stroke")]
    assert len(dark) == 1
    cells, x, y = set(), 0.0, 0.0
    for command, args in re.findall(r"([MmHh])([^MmHh]*)", dark[0].get("d")):
        numbers = [float(n) for n in args.replace(",", " ").split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            end = x + numbers[0] if command == "h" else numbers[0]
            cells.update((int(c), int(y)) for c in range(int(x), int(end)))
            x = end
    return cells, size


def decode(svg_bytes, scale=4):
    """Read the QR code as a phone would: draw it as grey pixels and decode them."""
    cells, size = modules_of(svg_bytes)
    side = size * scale
    pixels = bytes(0 if (x // scale, y // scale) in cells else 255 for y in range(side) for x in range(side))
    found = zxingcpp.read_barcodes(memoryview(pixels).cast("B", (side, side)))
    return [b.text for b in found]


def test_the_qr_code_is_an_svg_of_the_codes_link(client, school):
    org, room, course, code, leader, instructor = school
    client.login(leader)
    response = client.get(f"/codes/{code.id}/qr.svg")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert decode(response.data) == ["http://localhost/join/OAK-9A-2027"]
    # The very symbol segno makes of that link, module for module (4 of quiet zone).
    expected = segno.make("http://localhost/join/OAK-9A-2027", error="m", micro=False)
    cells, size = modules_of(response.data)
    assert size == len(expected.matrix) + 8
    assert cells == {
        (x + 4, y + 4) for y, row in enumerate(expected.matrix) for x, dark in enumerate(row) if dark
    }


def test_the_qr_code_follows_a_new_text(client, school):
    org, room, course, code, leader, instructor = school
    manage.update_code(
        org.admin,
        Scope(org.admin, org),
        code,
        manage.CodeInput(text="OAK-9A-SPRING", classroom_ids=[room.id]),
    )
    db.session.commit()
    client.login(org.admin)
    assert decode(client.get(f"/codes/{code.id}/qr.svg").data) == ["http://localhost/join/OAK-9A-SPRING"]


@pytest.mark.parametrize("who", ["instructor", "other_leader", "other_admin", "student"])
def test_out_of_scope_staff_get_not_found(client, make, school, who):
    org, room, course, code, leader, instructor = school
    people = {
        "instructor": lambda: instructor,
        "other_leader": lambda: make.classroom(org, "Room 9B", leaders=[make.user()]).leaders[0],
        "other_admin": lambda: make.org(name="Elm School").admin,
        "student": lambda: make.user(),
    }
    client.login(people[who]())
    assert client.get(f"/codes/{code.id}/qr.svg").status_code == 404
    assert client.get(f"/codes/{code.id}/print").status_code == 404


def test_logged_out_the_qr_and_print_pages_ask_to_log_in(client, school):
    code = school[3]
    for url in (f"/codes/{code.id}/qr.svg", f"/codes/{code.id}/print"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_deleted_codes_qr_is_gone(client, school):
    org, room, course, code, leader, instructor = school
    manage.delete_code(org.admin, code)
    db.session.commit()
    client.login(org.admin)
    assert client.get(f"/codes/{code.id}/qr.svg").status_code == 404


# --- beside the code, and printed ----------------------------------------------------------------


def test_the_edit_page_shows_the_link_and_the_qr_code(client, school):
    org, room, course, code, leader, instructor = school
    client.login(leader)
    page = soup(client.get(f"/codes/{code.id}/edit"))
    assert page.find("img", src=f"/codes/{code.id}/qr.svg")["alt"] == (
        "QR code of http://localhost/join/OAK-9A-2027"
    )
    assert page.find("a", href="http://localhost/join/OAK-9A-2027") is not None


def test_the_codes_table_links_each_code_to_its_print_page(client, school):
    org, room, course, code, leader, instructor = school
    client.login(leader)
    page = soup(client.get(f"/classrooms/{room.id}/codes"))
    row = page.find("tr", id=f"code-{code.id}")
    print_link = row.find("a", string="Print")["href"]
    assert query_of(print_link) == (f"/codes/{code.id}/print", {"next": f"/classrooms/{room.id}/codes"})


def test_the_print_page_shows_one_code_large_with_its_link_and_qr(client, school):
    org, room, course, code, leader, instructor = school
    client.login(leader)
    response = client.get(f"/codes/{code.id}/print?next=/classrooms/{room.id}/codes")
    assert response.status_code == 200
    poster = soup(response).find("article", class_="poster")
    assert poster.find("h1").get_text(strip=True) == "Join Room 9A"
    assert poster.select_one(".poster-code").get_text(strip=True) == "OAK-9A-2027"
    assert poster.select_one(".poster-link").get_text(strip=True) == "localhost/join/OAK-9A-2027"
    assert poster.find("img", src=f"/codes/{code.id}/qr.svg") is not None
    back = soup(response).select_one(".print-tools a")["href"]
    assert back == f"/classrooms/{room.id}/codes"


def test_the_print_page_never_links_back_to_another_site(client, school):
    org, room, course, code, leader, instructor = school
    client.login(leader)
    page = soup(client.get(f"/codes/{code.id}/print?next=https://evil.example/"))
    assert page.select_one(".print-tools a")["href"] == f"/codes/{code.id}/edit"


def test_the_print_page_warns_when_the_code_does_not_work_now(client, school):
    org, room, course, code, leader, instructor = school
    manage.set_enabled(org.admin, code, False)
    db.session.commit()
    client.login(leader)
    page = soup(client.get(f"/codes/{code.id}/print"))
    assert "This code is off now" in page.select_one(".flash-warning").get_text()
