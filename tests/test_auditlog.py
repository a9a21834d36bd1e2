"""The audit log page: what an organization's admins see, filter, page through and
export, and that nobody else sees it."""

import csv
import io
import json
from datetime import datetime

import pytest

from codes import audit
from codes.extensions import db
from codes.manage.operations import deactivate
from codes.models import AuditEvent
from conftest import HX, soup, text_of


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", timezone="America/New_York")
    room = make.classroom(org, "Room 9A")
    code = make.code(org, "OAK-9A-2027", classrooms=[room])
    return org, room, code


def rows(response):
    return [
        [td.get_text(" ", strip=True) for td in tr.find_all("td")]
        for tr in soup(response).select("tr.audit-row")
    ]


def redeem_from(client, text, ip):
    return client.post("/redeem", data={"code": text}, environ_base={"REMOTE_ADDR": ip})


def test_admin_sees_changes_and_attempts_of_the_organization(app, make, school):
    org, room, code = school
    sam = make.user("Sam Student", "sam@oak.example")
    student = app.test_client()
    student.login(sam)
    redeem_from(student, "OAK-9A-2027", "10.1.1.1")
    redeem_from(student, "oak 9a 2o27", "10.1.1.1")
    redeem_from(student, "NOT-A-CODE", "10.1.1.2")  # unknown, by one of the school's people
    stranger = app.test_client()
    stranger.login(make.user("Stray Stranger", "stray@else.example"))
    redeem_from(stranger, "NOT-MINE-EITHER", "10.9.9.9")  # unknown, by someone of no school
    other = make.org(name="Elm School")
    make.classroom(other, "Elm Room")

    client = app.test_client()
    client.login(org.admin)
    response = client.get(f"/orgs/{org.id}/audit")
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    page = text_of(response)
    assert "Times are in America/New_York" in page
    table = rows(response)
    whats = [row[2] for row in table]
    assert any(w.startswith("Code created") for w in whats)
    assert any(w.startswith("Classroom created") for w in whats)
    attempts = [row for row in table if row[2].startswith("Code attempt")]
    # An attempt at no code belongs to no organization, even by one of its people.
    assert [(r[1].split(" ")[0], r[2].split(" ")[3], r[3], r[4]) for r in attempts] == [
        ("Sam", "OAK-9A-2027", "Already in", "10.1.1.1"),
        ("Sam", "OAK-9A-2027", "Joined", "10.1.1.1"),
    ]
    assert "N0TAC0DE" not in page
    assert "Stray" not in page and "N0TM1NEE1THER" not in page
    assert "Elm" not in page


@pytest.mark.parametrize("who", ["student", "leader", "instructor", "other_admin"])
def test_only_the_organizations_admins_see_it(app, make, school, who):
    org, room, code = school
    if who == "leader":
        person = make.user("Leo Leader")
        make.classroom(org, "Room 9B", leaders=[person])
    elif who == "instructor":
        person = make.user("Ivy Instructor")
        make.course(org, "Algebra", instructors=[person])
    elif who == "other_admin":
        person = make.org(name="Elm School").admin
    else:
        person = make.user("Sam Student")
    client = app.test_client()
    client.login(person)
    for url in (f"/orgs/{org.id}/audit", f"/orgs/{org.id}/audit.csv"):
        assert client.get(url).status_code == 404
        assert client.get(url, headers=HX).status_code == 404


def test_logged_out_is_sent_to_log_in(app, school):
    org, room, code = school
    response = app.test_client().get(f"/orgs/{org.id}/audit")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_org_page_links_to_it_for_admins_only(app, make, school):
    org, room, code = school
    client = app.test_client()
    client.login(org.admin)
    assert soup(client.get(f"/orgs/{org.id}")).find("a", href=f"/orgs/{org.id}/audit") is not None
    leader = make.user("Leo Leader")
    make.classroom(org, "Room 9B", leaders=[leader])
    client = app.test_client()
    client.login(leader)
    page = client.get(f"/orgs/{org.id}")
    assert page.status_code == 200 and "Room 9B" in text_of(page), "the leader sees the org page"
    assert soup(page).find("a", href=f"/orgs/{org.id}/audit") is None


def _event(org, actor, action, at, ip="", **detail):
    audit.record(actor, action, org_id=org.id, at=at, **detail).ip = ip


def test_filters_by_kind_outcome_person_address_and_days_in_the_org_zone(app, make, school):
    org, room, code = school
    ann, bob = make.user("Ann Archer", "ann@oak.example"), make.user("Bob Baker", "bob@oak.example")
    # New York is UTC-5 in January: 04:59 UTC on the 11th is still the 10th there.
    _event(org, ann, "redeem.unknown", datetime(2027, 1, 11, 4, 59), "10.0.0.1", key="GUESS1")
    _event(org, ann, "redeem.ok", datetime(2027, 1, 11, 5, 0), "10.0.0.1", key="OAK9A2027")
    _event(org, bob, "redeem.limited", datetime(2027, 1, 12, 15, 0), "10.0.0.2", key="GUESS2")
    _event(org, bob, "code.update", datetime(2027, 1, 12, 16, 0), "10.0.0.2", text="X")
    db.session.commit()
    client = app.test_client()
    client.login(org.admin)
    base = f"/orgs/{org.id}/audit"

    def keys(**args):
        return [r[2] for r in rows(client.get(base, query_string=args))]

    assert keys(kind="redeem") == [
        "Code attempt Code: GUESS2",
        "Code attempt Code: OAK9A2027",
        "Code attempt Code: GUESS1",
    ]
    join_code = room.join_code  # made with the classroom
    assert keys(kind="codes") == [
        "Code edited Text: X",
        "Code created Code: OAK-9A-2027",
        "Code created Code: %s Join code of: Room 9A" % join_code.text,
    ]
    assert keys(outcome="refused") == ["Code attempt Code: GUESS2", "Code attempt Code: GUESS1"]
    assert keys(outcome="limited") == ["Code attempt Code: GUESS2"]
    assert keys(outcome="ok") == ["Code attempt Code: OAK9A2027"]
    assert keys(person="BAKER") == ["Code edited Text: X", "Code attempt Code: GUESS2"]
    assert keys(person="bob@oak") == keys(person="Bob")
    assert keys(person="%") == [], "a typed % is a percent sign, not a wildcard"
    assert keys(address="10.0.0.1") == ["Code attempt Code: OAK9A2027", "Code attempt Code: GUESS1"]
    assert keys(since="2027-01-11", until="2027-01-11") == ["Code attempt Code: OAK9A2027"]
    assert keys(since="2027-01-01", until="2027-01-10") == ["Code attempt Code: GUESS1"]
    assert keys(kind="redeem", since="2027-01-12") == ["Code attempt Code: GUESS2"]
    assert "No events match." in text_of(client.get(base, query_string={"person": "zzz"}))


def test_pages_in_place_with_htmx_and_whole_on_direct_load(app, make, school):
    org, room, code = school
    sam = make.user("Sam Student")
    for i in range(120):
        _event(
            org,
            sam,
            "redeem.unknown",
            datetime(2027, 2, 1, 12, i // 60, i % 60),
            "10.0.0.7",
            key=f"GUESS{i:03d}",
        )
    db.session.commit()
    client = app.test_client()
    client.login(org.admin)
    base = f"/orgs/{org.id}/audit"
    first = client.get(base, query_string={"kind": "redeem", "address": "10.0.0.7"})
    assert soup(first).find(id="audit-count").get_text(strip=True) == "120 events · page 1 of 3"
    assert rows(first)[0][2] == "Code attempt Code: GUESS119" and len(rows(first)) == 50
    older = soup(first).find("a", rel="next")
    assert older["href"] == older["data-hx-get"] and older.get("data-hx-push-url") == "true"
    assert "kind=redeem" in older["href"] and "address=10.0.0.7" in older["href"]

    fragment = client.get(older["href"], headers=HX)
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
    page = soup(fragment)
    assert page.find("html") is None and page.find("section", id="audit-log") is not None
    assert page.find(id="pressure") is None, "the fragment is the log, not the page around it"
    assert rows(fragment)[0][2] == "Code attempt Code: GUESS069" and len(rows(fragment)) == 50
    assert page.find("select", id="kind").find("option", selected=True)["value"] == "redeem"

    direct = client.get(older["href"])
    assert soup(direct).find("html") is not None and soup(direct).find(id="pressure") is not None
    assert rows(direct) == rows(fragment)
    last = client.get(base, query_string={"kind": "redeem", "address": "10.0.0.7", "page": 99})
    assert [r[2] for r in rows(last)][-1] == "Code attempt Code: GUESS000" and len(rows(last)) == 20


@pytest.mark.parametrize(
    "args, field, message",
    [
        ({"since": "2027-03-02", "until": "2027-03-01"}, "until", "The end date is before the start date."),
        ({"since": "2027-02-30"}, "since", "Not a valid date value."),
        ({"kind": "nonsense"}, "kind", "Not a valid choice."),
    ],
)
def test_a_bad_filter_is_answered_beside_its_field(app, school, args, field, message):
    org, room, code = school
    client = app.test_client()
    client.login(org.admin)
    response = client.get(f"/orgs/{org.id}/audit", query_string=args)
    assert response.status_code == 422
    assert soup(response).find(id=f"{field}-error").get_text(strip=True) == message
    assert rows(response) == [] and "Fix the filter above" in text_of(response)
    htmx = client.get(f"/orgs/{org.id}/audit", query_string=args, headers=HX)
    assert htmx.status_code == 200 and soup(htmx).find(id=f"{field}-error") is not None
    assert client.get(f"/orgs/{org.id}/audit.csv", query_string=args).status_code == 422


def test_export_is_exactly_the_filtered_rows_with_safe_cells(app, make, school):
    org, room, code = school
    mallory = make.user('=HYPERLINK("http://evil.example","Click")', "mallory@oak.example")
    ann = make.user("Ann Archer", "ann@oak.example")
    _event(org, mallory, "redeem.unknown", datetime(2027, 1, 11, 4, 59), "10.0.0.1", key="+SUM1")
    _event(org, ann, "redeem.ok", datetime(2027, 1, 11, 5, 0), "10.0.0.1", key="OAK9A2027")
    _event(org, ann, "code.update", datetime(2027, 1, 12, 5, 0), "-10.0.0.2", text="@cmd")
    db.session.commit()
    client = app.test_client()
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/audit", query_string={"kind": "redeem"}))
    link = page.find("a", string="Export CSV")["href"]
    assert link == f"/orgs/{org.id}/audit.csv?kind=redeem"
    response = client.get(link)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert table[0] == [
        "When (America/New_York)",
        "Action",
        "Outcome",
        "Code",
        "Who",
        "Email",
        "Address",
        "Details",
        "Ids",
    ]
    assert table[1:] == [
        [
            "2027-01-11 00:00:00",
            "redeem.ok",
            "Joined",
            "OAK9A2027",
            "Ann Archer",
            "ann@oak.example",
            "10.0.0.1",
            "",
            '{"key": "OAK9A2027"}',
        ],
        [
            "2027-01-10 23:59:00",
            "redeem.unknown",
            "Unknown code",
            "'+SUM1",
            '\'=HYPERLINK("http://evil.example","Click")',
            "mallory@oak.example",
            "10.0.0.1",
            "",
            '{"key": "+SUM1"}',
        ],
    ]
    everything = list(
        csv.reader(
            io.StringIO(client.get(f"/orgs/{org.id}/audit.csv").get_data(as_text=True).lstrip("\ufeff"))
        )
    )
    edited = next(row for row in everything if row[1] == "code.update")
    assert edited[6] == "'-10.0.0.2" and edited[7] == "Text: @cmd"
    assert len(everything) - 1 == int(
        soup(client.get(f"/orgs/{org.id}/audit")).find(id="audit-count").get_text().split()[0]
    )


def test_guessing_shows_on_top_of_the_log(app, make, school):
    org, room, code = school
    app.config.update(REDEEM_FAILURES_PER_ACCOUNT=3)
    guesser = make.user("Gus Guesser")
    # Guesses that hit the school's own dead codes are the school's to see.
    dead = [make.code(org, f"OLD-CODE-{i}-2026", classrooms=[room]) for i in range(3)]
    for old in dead:
        deactivate(org.admin, old)
    db.session.commit()
    client = app.test_client()
    client.login(guesser)
    for old in dead:
        redeem_from(client, old.text, "10.6.6.6")
    for _ in range(2):
        redeem_from(client, "OAK-9A-2027", "10.6.6.6")
    admin = app.test_client()
    admin.login(org.admin)
    page = soup(admin.get(f"/orgs/{org.id}/audit"))
    pressure = page.find(id="pressure")
    assert "alarm" in pressure["class"]
    facts = {
        dt.get_text(strip=True): dd.get_text(strip=True)
        for dt, dd in zip(pressure.find_all("dt"), pressure.find_all("dd"), strict=True)
    }
    assert facts == {"Refused": "5", "Accounts": "1", "Held back by the limit": "2"}
    assert "Someone may be guessing codes." in pressure.get_text()
    link = pressure.find("a", string="10.6.6.6")
    shown = admin.get(link["href"])
    assert [r[3] for r in rows(shown)] == ["Held back by the limit"] * 2 + ["No longer valid"] * 3


def test_an_attempt_held_back_names_the_code_it_was_aimed_at(app, make, school):
    """Staff of a code see someone held back still trying it, even a stranger."""
    org, room, code = school
    app.config.update(REDEEM_FAILURES_PER_ACCOUNT=1)
    client = app.test_client()
    client.login(make.user("Stray Stranger"))
    redeem_from(client, "WRONG-ONE", "10.2.2.2")
    redeem_from(client, "OAK-9A-2027", "10.2.2.2")
    admin = app.test_client()
    admin.login(org.admin)
    shown = rows(admin.get(f"/orgs/{org.id}/audit", query_string={"kind": "redeem"}))
    assert [(r[1].split()[0], r[2], r[3]) for r in shown] == [
        ("Stray", "Code attempt Code: OAK-9A-2027", "Held back by the limit")
    ]
    # The stranger's unknown guess named no code: it is in no organization's log.
    assert db.session.query(AuditEvent).filter_by(action="redeem.unknown").count() == 0


def test_every_event_has_a_kind_and_some_have_two(app, make, school):
    org, room, code = school
    ann = make.user("Ann Archer")
    at = datetime(2027, 1, 11, 12, 0)
    _event(org, ann, "classroom.allotment", at, allotment=5)
    _event(org, ann, "classroom.move", at)
    _event(org, ann, "parent.revoke", at)
    _event(org, ann, "something.new", at)
    db.session.commit()
    client = app.test_client()
    client.login(org.admin)

    def whats(kind):
        shown = rows(
            client.get(
                f"/orgs/{org.id}/audit",
                query_string={"kind": kind, "since": "2027-01-11", "until": "2027-01-11"},
            )
        )
        return {r[2].split(" ")[0] for r in shown}

    assert whats("seats") == {"Seat"} and whats("classrooms") == {"Seat", "Moved"}
    assert whats("people") == {"Moved"} and whats("parents") == {"Parent"}
    assert whats("other") == {"Something"}


def _parts(row):
    """The labelled parts of an event's What cell: (label, text, link or None)."""
    return [
        (
            part.find(class_="part-label").get_text(strip=True).rstrip(":"),
            part.find(class_="part-text").get_text(strip=True),
            (part.find("a") or {}).get("href"),
        )
        for part in row.select(".part")
    ]


def test_events_name_the_code_as_made_and_people_and_places_with_links(app, make, school):
    org, room, code = school
    lee = make.user("Lee Leader", "lee@oak.example")
    make.join(org, lee)
    outsider = make.user("Otto Outsider", "otto@else.example")
    from codes.orgs import operations as orgs

    orgs.add_leader(org.admin, room, lee.id)
    db.session.commit()
    # An event naming someone who is not one of the organization's people.
    audit.record(org.admin, "classroom.leader.remove", room, user_id=outsider.id)
    db.session.commit()
    sam = make.user("Sam Student", "sam@oak.example")
    student = app.test_client()
    student.login(sam)
    redeem_from(student, "oak 9a 2o27", "10.1.1.1")

    client = app.test_client()
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/audit"))
    attempt = next(tr for tr in page.select("tr.audit-row") if "Code attempt" in tr.get_text())
    assert _parts(attempt) == [("Code", "OAK-9A-2027", f"/codes/{code.id}/edit"), ("Took seat", "Yes", None)]
    assert "0AK9A2027" not in attempt.get_text()
    added = next(tr for tr in page.select("tr.audit-row") if "Leader added" in tr.get_text())
    assert _parts(added) == [
        ("Classroom", "Room 9A", f"/classrooms/{room.id}"),
        ("Person", "Lee Leader", f"/orgs/{org.id}/users?q=lee@oak.example"),
    ]
    removed = next(tr for tr in page.select("tr.audit-row") if "Leader removed" in tr.get_text())
    assert _parts(removed) == [
        ("Classroom", "Room 9A", f"/classrooms/{room.id}"),
        ("Person", "Someone outside the organization", None),
    ]
    assert "Otto" not in page.get_text() and "user_id" not in page.get_text()
    created = next(tr for tr in page.select("tr.audit-row") if "Code created" in tr.get_text())
    assert _parts(created) == [("Code", "OAK-9A-2027", f"/codes/{code.id}/edit")]


def test_export_names_things_and_keeps_the_ids_for_machines(app, make, school):
    org, room, code = school
    lee = make.user("Lee Leader", "lee@oak.example")
    make.join(org, lee)
    from codes.orgs import operations as orgs

    orgs.add_leader(org.admin, room, lee.id)
    db.session.commit()
    client = app.test_client()
    client.login(org.admin)
    table = list(
        csv.reader(
            io.StringIO(client.get(f"/orgs/{org.id}/audit.csv").get_data(as_text=True).lstrip("\ufeff"))
        )
    )
    assert table[0][-2:] == ["Details", "Ids"]
    added = next(row for row in table if row[1] == "classroom.leader.add")
    assert added[-2] == "Classroom: Room 9A; Person: Lee Leader"
    assert json.loads(added[-1]) == {"classroom": room.id, "user_id": lee.id}
    made = next(row for row in table if row[1] == "code.create")
    assert made[3] == "OAK-9A-2027"
