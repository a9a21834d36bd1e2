"""A code box refuses, beside the field, text longer than any code, and never
cuts a paste short: the input has no maxlength, and the server measures the
text's lookup key (DESIGN.md "Code text": spaces and dashes do not count)."""

import pytest

from codes.codetext import MAX_KEY
from codes.extensions import db
from conftest import HX, soup

TOO_LONG = "K" * (MAX_KEY + 1)
SAID = "That is longer than any code"


@pytest.fixture
def student(make, client):
    org = make.org()
    room = make.classroom(org, "Room 9A")
    code = make.code(org, "SPRING2026-7KQ4M-X9D2H", classrooms=[room])
    user = make.user("Sam Student")
    db.session.commit()
    client.login(user)
    return code


@pytest.mark.parametrize("page", ["/profile", "/parents"])
def test_the_code_box_does_not_cut_a_paste(client, student, page):
    box = soup(client.get(page)).find("input", attrs={"name": "code"})
    assert box is not None and not box.has_attr("maxlength")


def test_the_sign_up_code_box_does_not_cut_a_paste(app):
    box = soup(app.test_client().get("/signup")).find("input", attrs={"name": "code"})
    assert box is not None and not box.has_attr("maxlength")


@pytest.mark.parametrize("headers", [{}, HX])
def test_text_longer_than_any_code_is_refused_beside_the_box(client, student, headers):
    response = client.post("/redeem", data={"code": TOO_LONG}, headers=headers)
    assert response.status_code == (200 if headers else 422)
    page = soup(response)
    assert SAID in page.select_one("#code-error").get_text()
    assert page.find("input", attrs={"name": "code"})["value"] == TOO_LONG, "kept, not cut"


def test_spaces_and_dashes_do_not_count_towards_the_length(client, student):
    typed = " - ".join("spring2026 7kq4m x9d2h")
    assert len(typed) > MAX_KEY
    response = client.post("/redeem", data={"code": typed}, follow_redirects=True)
    assert SAID not in response.get_data(as_text=True)
    assert "Room 9A" in soup(response).select_one("#my-classrooms").get_text()


def test_the_parents_box_refuses_it_too(client, student):
    response = client.post("/parents/link", data={"code": TOO_LONG})
    assert response.status_code == 422
    assert SAID in soup(response).select_one("#code-error").get_text()


def test_the_sign_up_box_refuses_it_too(app):
    response = app.test_client().post(
        "/signup",
        data={
            "name": "New Person",
            "email": "new@example.org",
            "password": "long-enough-pw",
            "code": TOO_LONG,
        },
    )
    assert SAID in soup(response).select_one("#code-error").get_text()
