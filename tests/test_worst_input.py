"""No one request stalls the server: the longest text anyone can send (a body up
to MAX_CONTENT_LENGTH) is refused by length before any work, and the lookup key
is linear in what it is given. (Before, a pattern anchored at the end made these
take hours: a failing run of this file does not end by itself.)"""

import time

import pytest

from codes.codetext import MAX_TYPED, canonical
from codes.users.operations import MAX_SEARCH
from conftest import HX, soup

# Room for the form's other fields within the 2 MB body limit.
LONGEST = 2 * 1024 * 1024 - 4096
WORST = {
    "trailing punctuation": "." * LONGEST + "x",
    # Each of these is sent as three bytes (%29 and so on).
    "quotes and brackets": ")'\"]" * (LONGEST // 12) + "x",
    "dashes": "-" * LONGEST + "x",
    "spaces": "A" + " " * LONGEST + "x",
}


def within(seconds, call):
    """What call() returns, asserting it took less than `seconds` of this
    thread's own processor time (the test client answers in this thread): the
    wall clock of a shared two-core machine measures its neighbours too, while
    the quadratic pattern this guards against took hours of processor time. The
    bounds leave room: on a busy machine, with the suite's other worker beside
    it, a refusal that takes 0.05 s on a quiet one was once charged 1.4 s."""
    started = time.thread_time()
    value = call()
    spent = time.thread_time() - started
    assert spent < seconds, f"took {spent:.2f} s of processor time"
    return value


@pytest.mark.parametrize("kind", sorted(WORST))
def test_the_lookup_key_of_the_worst_text_is_quick(kind):
    assert within(1.0, lambda: canonical(WORST[kind])) == ""


def test_the_lookup_key_is_unchanged_for_what_people_type():
    assert canonical("spring2026 7kq4m x9d2h.") == "SPR1NG20267KQ4MX9D2H"
    assert canonical("  MHS-PTA-2027!?)”  ") == "MHSPTA2027"
    assert canonical("CODE.-") == "C0DE"  # the dash goes, and then the stop is trailing
    assert canonical("x" * MAX_TYPED) == "X" * MAX_TYPED
    assert canonical("x" * (MAX_TYPED + 1)) == ""


@pytest.fixture
def student(make, client):
    org = make.org()
    room = make.classroom(org, "Room 1")
    make.code(org, "ROOM-ONE-2027", classrooms=[room])
    person = make.user("Sam Student")
    client.login(person)
    return person


@pytest.mark.parametrize("path", ["/redeem", "/parents/link"])
@pytest.mark.parametrize("kind", sorted(WORST))
@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_a_two_megabyte_code_is_refused_at_once(client, student, path, kind, headers):
    response = within(5.0, lambda: client.post(path, data={"code": WORST[kind]}, headers=headers))
    assert response.status_code == (200 if headers else 422)
    errors = [p.get_text(strip=True) for p in soup(response).select(".error")]
    assert errors == [
        "That is longer than any code: a code has at most 40 letters and digits. "
        "Check what you pasted, and type only the code."
    ]


# Searches come in the URL, which servers bound (gunicorn: 4,094 bytes a request line).
LONGEST_URL_TEXT = 4000


def test_a_long_bulk_search_is_cut_before_it_is_used(client, make):
    org = make.org()
    room = make.classroom(org, "Room 1")
    make.code(org, "ROOM-ONE-2027", classrooms=[room])
    client.login(org.admin)
    response = client.get(f"/orgs/{org.id}/bulk", query_string={"q": "ROOM" + "." * LONGEST_URL_TEXT})
    assert response.status_code == 200
    page = soup(response)
    assert len(page.select_one("input[name=q]")["value"]) <= MAX_TYPED
    assert all(len(a["href"]) < 2 * MAX_TYPED for a in page.select("#codes-table a[href]"))
    assert page.select_one(".code-text").get_text() == "ROOM-ONE-2027"


def test_a_long_people_search_is_cut_before_it_is_used(client, make):
    org = make.org()
    client.login(org.admin)
    response = client.get(f"/orgs/{org.id}/users", query_string={"q": "Ad" + "é" * LONGEST_URL_TEXT})
    assert response.status_code == 200
    assert len(soup(response).select_one("input[name=q]")["value"]) <= MAX_SEARCH


# email_validator reads an address one character at a time, normalizing at each:
# about a second and a half of processor time for two megabytes.
@pytest.mark.parametrize("form", ["signup", "person"])
@pytest.mark.parametrize("tail", ["", "@example.org"], ids=["letters", "almost-an-address"])
def test_a_two_megabyte_email_is_refused_by_its_length_alone(client, make, form, tail):
    email = "a" * LONGEST + tail
    if form == "signup":
        path, data = "/signup", {"name": "Nina", "password": "a-long-password", "email": email}
    else:
        org = make.org()
        client.login(org.admin)
        path, data = f"/orgs/{org.id}/people", {"person-email": email}
    response = within(0.75, lambda: client.post(path, data=data))
    assert response.status_code == 422
    errors = [p.get_text(strip=True) for p in soup(response).select(".error")]
    assert errors == ["At most 254 characters."]
