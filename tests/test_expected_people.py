"""Expected people (issue 14, part 3): the emails staff expect in a classroom, who
of them has joined, the addresses of those who have not; within scope, and
telling nothing about accounts outside the classroom."""

import io
import re

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from codes.access import Scope
from codes.errors import FieldErrors
from codes.expected import operations as expected
from codes.extensions import db
from codes.models import AuditEvent, ExpectedPerson
from codes.redeem.operations import redeem
from conftest import HX, Factory, count, error_beside, said_by_htmx, snapshot, soup


@pytest.fixture
def school(make):
    """Oak School: Room 1 (led by Leo), Room 2 (led by Rae). Ana joined Room 1,
    Bo joined Room 2; Cy has an account at Elm School only; nobody has
    dee@oak.example."""
    org = make.org(name="Oak School")
    leo, rae = make.user("Leo Leader"), make.user("Rae Leader")
    room1 = make.classroom(org, "Room 1", leaders=[leo])
    room2 = make.classroom(org, "Room 2", leaders=[rae])
    code1 = make.code(org, "ROOM-ONE-2027", classrooms=[room1])
    code2 = make.code(org, "ROOM-TWO-2027", classrooms=[room2])
    ana, bo = make.user("Ana Lima", "Ana@Oak.example"), make.user("Bo Chen", "bo@oak.example")
    redeem(ana, code1.text)
    redeem(bo, code2.text)
    elm = make.org(name="Elm School")
    cy = make.user("Cy Secret-Name", "cy@elsewhere.example")
    redeem(cy, make.code(elm, "ELM-ONE-2027", classrooms=[make.classroom(elm, "Elm Room")]).text)
    db.session.commit()
    return dict(org=org, elm=elm, leo=leo, rae=rae, room1=room1, room2=room2, ana=ana, bo=bo, cy=cy)


LIST = """email,name
ana@oak.example, Ana L.
Bo Chen <BO@oak.example>
cy@elsewhere.example
dee@oak.example;eve@oak.example

ANA@OAK.EXAMPLE
"""


def post_list(client, classroom, text="", file=None, headers=None):
    fields = {"emails": text}
    if file is not None:
        fields["file"] = FileStorage(io.BytesIO(file[1]), file[0])
    boundary, body = encode_multipart(fields)
    return client.post(
        f"/classrooms/{classroom.id}/expected",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=headers or {},
    )


# --- reading a list ---------------------------------------------------------------------------


def test_a_list_is_read_one_a_line_with_names_beside(app):
    entries = expected.read_list(LIST)
    assert [(e.email, e.name) for e in entries] == [
        ("ana@oak.example", "Ana L."),
        ("BO@oak.example", "Bo Chen"),
        ("cy@elsewhere.example", ""),
        ("dee@oak.example", ""),
        ("eve@oak.example", ""),
    ], "the header skipped, an email given twice counted once"


def test_a_bad_line_refuses_the_whole_list_naming_it(app):
    with pytest.raises(FieldErrors) as refused:
        expected.read_list("ok@oak.example\nnot-an-email@\nfine@oak.example, " + "N" * 121)
    message = refused.value.errors["emails"]
    assert message.startswith("Nothing was added.")
    assert "Line 2: “not-an-email@” doesn't look like an email address." in message
    assert "Line 3: the name is longer than 120 characters." in message


def test_more_than_the_limit_is_refused(app):
    with pytest.raises(FieldErrors, match="more than 2,000 people"):
        expected.read_list("\n".join(f"p{i}@oak.example" for i in range(expected.MAX_EXPECTED + 1)))


# --- who joined -------------------------------------------------------------------------------


def test_joined_means_a_member_of_this_classroom_and_nothing_else(client, school):
    room1 = school["room1"]
    client.login(school["leo"])
    response = post_list(client, room1, LIST)
    assert response.status_code == 303
    page = soup(client.get(response.headers["Location"]))
    joined = [r.select_one(".expected-email").get_text() for r in page.select("#expected-joined tbody tr")]
    waiting = [r.select_one(".expected-email").get_text() for r in page.select("#expected-waiting tbody tr")]
    assert joined == ["ana@oak.example"]
    # Bo is in Room 2, Cy has an account elsewhere, Dee and Eve none: all alike "not yet".
    assert waiting == ["BO@oak.example", "cy@elsewhere.example", "dee@oak.example", "eve@oak.example"]
    rows = {r.select_one(".expected-email").get_text(): r for r in page.select("#expected-waiting tbody tr")}

    def shape(email):
        return re.sub(r"expected/\d+/", "expected/N/", str(rows[email]).replace(email, "EMAIL"))

    assert shape("cy@elsewhere.example") == shape("dee@oak.example"), "an account elsewhere looks like none"
    text = page.get_text(" ")
    assert "Cy Secret-Name" not in text and "Bo Chen" in text, "only names staff typed are shown"
    addresses = page.find("textarea", id="expected-addresses").get_text()
    assert addresses == "BO@oak.example, cy@elsewhere.example, dee@oak.example, eve@oak.example"
    link = page.find("input", id="expected-join-link")["value"]
    assert link == f"http://localhost/join/{room1.join_code.text}"


def test_someone_who_joins_later_moves_to_joined(client, make, school):
    room1 = school["room1"]
    client.login(school["leo"])
    post_list(client, room1, "dee@oak.example")
    dee = make.user("Dee Late", "dee@oak.example")
    redeem(dee, room1.join_code.text)
    db.session.commit()
    page = soup(client.get(f"/classrooms/{room1.id}/expected"))
    assert [r.select_one(".expected-email").get_text() for r in page.select("#expected-joined tbody tr")] == [
        "dee@oak.example"
    ]
    assert page.find(id="expected-waiting") is None


def test_adding_again_keeps_what_is_there_and_says_so(client, school):
    room1 = school["room1"]
    client.login(school["leo"])
    post_list(client, room1, "dee@oak.example, Dee", headers=HX)
    response = post_list(client, room1, "DEE@oak.example\neve@oak.example", headers=HX)
    assert response.status_code == 200
    assert said_by_htmx(response) == "1 person added to those Room 1 expects. 1 was expected already."
    assert soup(response).find("html") is None and soup(response).find(id="expected")
    assert count(ExpectedPerson) == 2
    assert (
        db.session.scalar(db.select(ExpectedPerson.name).where(ExpectedPerson.email_key == "dee@oak.example"))
        == "Dee"
    )
    assert count(AuditEvent, AuditEvent.action == "expected.add") == 2


def test_a_file_is_read_like_a_pasted_list(client, school):
    room1 = school["room1"]
    client.login(school["leo"])
    response = post_list(client, room1, file=("list.csv", "\ufeffemail,name\nzoë@oak.example,Zoë\n".encode()))
    assert response.status_code == 303
    assert [(e.email, e.name) for e in db.session.scalars(db.select(ExpectedPerson))] == [
        ("zoë@oak.example", "Zoë")
    ]


@pytest.mark.parametrize(
    "text, file, field, message",
    [
        ("nope", None, "emails", "Paste the email addresses you expect, one a line, or choose a file."),
        ("", None, "emails", "Paste the email addresses you expect, one a line, or choose a file."),
        ("x" * 200_001, None, "emails", "Paste at most 200,000 characters at once. Split the list."),
        ("", ("list.csv", "a@oak.example".encode("utf-16")), "file", "Save the file as UTF-8 text"),
        ("", ("list.exe", b"a@oak.example"), "file", "Choose a .csv or .txt file."),
        ("", ("list.csv", b"a@oak.example\n" * 80_000), "file", "The file is larger than 1 MB. Split it."),
        ("a@oak.example\nb@", None, "emails", "Nothing was added. Line 2:"),
    ],
)
def test_a_refused_list_changes_nothing_and_says_why_beside_the_field(
    client, school, text, file, field, message
):
    room1 = school["room1"]
    client.login(school["leo"])
    before = snapshot()
    response = post_list(client, room1, text, file)
    assert response.status_code == 422
    assert error_beside(soup(response), field).startswith(message)
    assert snapshot() == before
    assert post_list(client, room1, text, file, headers=HX).status_code == 200


def test_a_classroom_full_of_expected_people_takes_no_more(client, school):
    room1 = school["room1"]
    client.login(school["leo"])
    post_list(client, room1, "\n".join(f"p{i}@oak.example" for i in range(expected.MAX_EXPECTED)))
    assert count(ExpectedPerson) == expected.MAX_EXPECTED
    response = post_list(client, room1, "one.more@oak.example\np1@oak.example")
    assert response.status_code == 422
    assert "at most 0 more can be added" in error_beside(soup(response), "emails")


# --- removing ---------------------------------------------------------------------------------


def test_removing_one_plain_and_with_htmx(client, school):
    room1 = school["room1"]
    client.login(school["leo"])
    post_list(client, room1, "dee@oak.example\neve@oak.example", headers=HX)
    dee, eve = db.session.scalars(db.select(ExpectedPerson).order_by(ExpectedPerson.email_key)).all()
    response = client.post(f"/expected/{dee.id}/remove")
    assert response.status_code == 303
    said = soup(client.get(response.headers["Location"])).select_one(".flash-success").get_text()
    assert "dee@oak.example is no longer expected in Room 1." in said
    response = client.post(f"/expected/{eve.id}/remove", headers=HX)
    assert said_by_htmx(response) == "eve@oak.example is no longer expected in Room 1."
    assert count(ExpectedPerson) == 0
    assert count(AuditEvent, AuditEvent.action == "expected.remove") == 2


# --- scope ------------------------------------------------------------------------------------


def test_out_of_scope_is_404_for_every_route_and_id(client, make, school):
    room1, room2 = school["room1"], school["room2"]
    client.login(school["leo"])
    post_list(client, room1, "dee@oak.example")
    dee = db.session.scalar(db.select(ExpectedPerson))
    client.login(school["rae"])
    post_list(client, room2, "eve@oak.example")
    eve = db.session.scalar(db.select(ExpectedPerson).where(ExpectedPerson.email_key == "eve@oak.example"))
    before = snapshot()
    for who in (school["rae"], school["elm"].admin, school["ana"]):
        client.login(who)
        assert client.get(f"/classrooms/{room1.id}/expected").status_code == 404
        assert post_list(client, room1, "x@oak.example").status_code == 404
        assert client.post(f"/expected/{dee.id}/remove").status_code == 404
    client.login(school["rae"])
    assert client.post(f"/expected/{eve.id}/remove", csrf=False).status_code == 400, "CSRF on every change"
    assert client.post("/expected/99999999999/remove").status_code == 404
    after = snapshot()
    before.pop("user_sessions"), after.pop("user_sessions")  # the logins above
    assert after == before
    client.login(school["org"].admin)
    assert client.get(f"/classrooms/{room1.id}/expected").status_code == 200
    assert client.post(f"/expected/{eve.id}/remove").status_code == 303


def test_logged_out_goes_to_log_in(client, school):
    response = client.get(f"/classrooms/{school['room1'].id}/expected")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_tab_is_on_the_classroom(client, school):
    room1 = school["room1"]
    client.login(school["leo"])
    tabs = soup(client.get(f"/classrooms/{room1.id}")).select("nav.tabs a")
    assert f"/classrooms/{room1.id}/expected" in [a["href"] for a in tabs]


def test_on_both_databases_adding_twice_keeps_one_row_and_joined_is_this_classrooms(any_db_app):
    make = Factory()
    org = make.org(name="Oak School")
    room1, room2 = make.classroom(org, "Room 1"), make.classroom(org, "Room 2")
    ana = make.user("Ana Lima", "ANA@oak.example")
    redeem(ana, make.code(org, "ROOM-TWO-2027", classrooms=[room2]).text)
    scope = Scope(org.admin, org)
    first = expected.add_expected(
        org.admin, scope, room1, expected.read_list("ana@oak.example\nbo@oak.example")
    )
    again = expected.add_expected(org.admin, scope, room1, expected.read_list("Ana@Oak.example, Ana"))
    db.session.commit()
    assert (first.added, first.already, again.added, again.already) == (2, 0, 0, 1)
    listed = expected.expected_list(room1)
    assert (listed.joined, [e.email for e in listed.waiting]) == ([], ["ana@oak.example", "bo@oak.example"])
    redeem(ana, room1.join_code.text)
    db.session.commit()
    listed = expected.expected_list(room1)
    assert [e.email for e, _ in listed.joined] == ["ana@oak.example"]
    assert listed.waiting_addresses == "bo@oak.example"
