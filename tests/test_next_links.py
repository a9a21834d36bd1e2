"""Where a page sends a person back (`next`) is only ever a path of this site: a
`javascript:` URL, another site, or what a browser reads as another site
(`//host`, `/\\host`, a tab or newline inside) is never drawn as a link, carried
in a form, or followed after a post. Before, the code edit page drew its `next`
as the Back link unchecked."""

import pytest

from codes.web import safe_next
from conftest import HX, soup

HOSTILE = [
    "javascript:alert(document.domain)",
    "JAVASCRIPT:alert(1)",
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "data:text/html,<script>alert(1)</script>",
    " /orgs",
]


@pytest.mark.parametrize("target", HOSTILE)
def test_safe_next_refuses_what_leaves_the_site(target):
    assert safe_next(target) is None


def test_safe_next_keeps_a_path_of_the_site():
    assert safe_next("/orgs/1/bulk?q=ABC&page=2") == "/orgs/1/bulk?q=ABC&page=2"


@pytest.fixture
def school(make, client):
    org = make.org()
    room = make.classroom(org, "Room 1")
    code = make.code(org, "ROOM-ONE-2027", classrooms=[room])
    client.login(org.admin)
    return org, room, code


def assert_nothing_of(response, target):
    page = soup(response)
    text = response.get_data(as_text=True)
    assert "evil.example" not in text and "javascript" not in text.lower()
    for tag in page.find_all(href=True):
        # A place on the same page (the skip link's "#main") cannot leave it.
        assert safe_next(tag["href"]) == tag["href"] or tag["href"].startswith(("http://localhost/", "#"))
    for tag in page.select("input[name=next]"):
        assert tag["value"] == "" or safe_next(tag["value"]) == tag["value"]
    assert target not in text


@pytest.mark.parametrize("target", HOSTILE)
def test_the_code_edit_page_draws_no_unchecked_back_link(client, school, target):
    org, room, code = school
    response = client.get(f"/codes/{code.id}/edit", query_string={"next": target})
    assert response.status_code == 200
    assert_nothing_of(response, target)
    page = soup(response)
    assert not [a for a in page.find_all("a") if a.get_text(strip=True) == "Back"]


@pytest.mark.parametrize("target", HOSTILE)
def test_a_refused_edit_draws_no_unchecked_back_link(client, school, target):
    org, room, code = school
    response = client.post(
        f"/codes/{code.id}/edit",
        data={"text": "", "classroom_ids": [room.id], "role": "student", "next": target},
    )
    assert response.status_code == 422
    assert_nothing_of(response, target)


def test_a_path_of_the_site_is_the_back_link(client, school):
    org, room, code = school
    back_to = f"/classrooms/{room.id}/codes"
    page = soup(client.get(f"/codes/{code.id}/edit", query_string={"next": back_to}))
    assert [a["href"] for a in page.find_all("a") if a.get_text(strip=True) == "Back"] == [back_to]


@pytest.mark.parametrize("target", HOSTILE)
def test_rows_swapped_in_place_carry_no_unchecked_next(client, school, target):
    org, room, code = school
    for path in (f"/codes/{code.id}/toggle", f"/orgs/{org.id}/bulk/codes/{code.id}/deactivate"):
        response = client.post(path, data={"enabled": "0", "next": target, "confirmed": "1"}, headers=HX)
        assert response.status_code == 200
        assert_nothing_of(response, target)


@pytest.mark.parametrize("target", HOSTILE)
def test_a_plain_post_never_goes_back_off_the_site(client, school, target):
    org, room, code = school
    response = client.post(f"/codes/{code.id}/toggle", data={"enabled": "0", "next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/codes/{code.id}/edit"


@pytest.mark.parametrize("target", HOSTILE)
def test_the_print_and_redemptions_pages_draw_no_unchecked_back_link(client, school, target):
    org, room, code = school
    for path in (f"/codes/{code.id}/print", f"/orgs/{org.id}/bulk/codes/{code.id}/redemptions"):
        response = client.get(path, query_string={"next": target})
        assert response.status_code == 200
        assert_nothing_of(response, target)
