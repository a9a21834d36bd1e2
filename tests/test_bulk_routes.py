"""The Bulk Management > Codes page as people see it, with and without htmx: the
generate form and its errors, the generated-codes panel, the existing-codes table
with its batch filter, search and pages, deactivate and redemptions."""

import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from codes.bulk.operations import BATCHES_LISTED, REDEMPTIONS_SHOWN
from codes.codetext import canonical
from codes.extensions import db
from codes.manage.operations import deactivate, set_enabled
from codes.models import Batch, Code, utcnow
from codes.redeem.operations import redeem
from codes.timeutil import format_local, to_local, to_utc
from conftest import HX, batch_of, count, error_beside, soup, text_of

SURGE_REFUSED = "Tick the box to watch for a surge, or leave it empty."

COLUMNS = ["Code", "Course / classroom", "Uses", "Expires", "Status", "Actions"]

PREFIX_LETTERS = (
    "Use only the letters A to Z and digits in a prefix, with single dashes between them if you like."
)


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", timezone="Europe/Paris")
    algebra = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A")
    return org, room, algebra


@pytest.fixture
def admin(client, school):
    client.login(school[0].admin)
    return client


def url(org, rest=""):
    return f"/orgs/{org.id}/bulk{rest}"


def made_in_bulk():
    """How many codes and batches bulk generation made (classrooms have join codes of their own)."""
    return count(Code, Code.batch_id.is_not(None)), count(Batch)


def texts_of(batch):
    return db.session.scalars(select(Code.text).where(Code.batch_id == batch.id).order_by(Code.id)).all()


def rows(page):
    """The table's rows as the cells a person reads."""
    return [
        [td.get_text(" ", strip=True) for td in tr.find_all("td")]
        for tr in page.select("#codes-table tr.code-row")
    ]


def codes_listed(page):
    return [code.get_text(strip=True) for code in page.select("#codes-table tr.code-row code")]


def form_data(target, **changes):
    data = {
        "classroom_ids": [target.id],
        "count": "5",
        "prefix": "",
        "valid_until": "",
        "uses": "single",
        "max_uses": "",
        "role": "student",
    }
    data.update(changes)
    return data


# --- the page and the generate form ---------------------------------------------------------


def test_page_has_the_form_targets_in_scope_and_an_empty_table(admin, school):
    org, room, algebra = school
    org.default_code_days = None
    db.session.commit()
    response = admin.get(url(org))
    assert response.status_code == 200 and response.headers["Vary"].startswith("HX-Request")
    page = soup(response)
    assert page.find("h1").get_text(strip=True) == "Codes"
    assert page.select_one(".tree a.current").get_text(strip=True) == "Codes"
    targets = "#generate input[type=checkbox]:not([name=approval]):not([name=surge_guard])"
    boxes = {box["name"]: box["value"] for box in page.select(targets)}
    assert boxes == {"classroom_ids": str(room.id), "course_ids": str(algebra.id)}
    assert page.select_one("#generate input[name=approval]:not([checked])") is not None
    assert page.select_one("#generate input[name=surge_guard]:not([checked])") is not None
    assert page.find("input", id="count")["value"] == "30"
    assert [r["value"] for r in page.select("input[name=uses]")] == ["single", "number", "unlimited"]
    assert page.select_one("input[name=uses][checked]")["value"] == "single"
    assert page.select_one("input[name=role][checked]")["value"] == "student"
    assert page.find("input", id="valid_until").get("value") in (None, "")
    assert page.find(id="generated") is None
    assert codes_listed(page) == [room.join_code.text], "only the classroom's join code so far"


def test_org_page_and_tree_link_to_bulk_codes(admin, school):
    org = school[0]
    page = soup(admin.get(f"/orgs/{org.id}"))
    assert page.select_one(".tree").find("a", string="Codes")["href"] == url(org)
    assert page.find("a", string="Bulk Management › Codes")["href"] == url(org)


def test_expiry_is_prefilled_from_the_organization_default(admin, school):
    org = school[0]
    org.default_code_days = 30
    db.session.commit()
    page = soup(admin.get(url(org)))
    expected = (to_local(org, utcnow()) + timedelta(days=30)).date().isoformat()
    assert page.find("input", id="valid_until")["value"] == expected


def test_plain_generate_redirects_to_the_page_showing_the_new_codes(admin, school):
    org, room, algebra = school
    response = admin.post(
        url(org), data=form_data(room, count="12", prefix="spring27", course_ids=[algebra.id])
    )
    batch = db.session.scalar(select(Batch))
    assert response.status_code == 303
    assert response.headers["Location"] == url(org, f"?made={batch.id}")
    page = soup(admin.get(response.headers["Location"]))
    assert page.select_one(".flash").get_text(strip=True) == "12 codes made."
    panel = page.find(id="generated")
    listed = [c.get_text(strip=True) for c in panel.select("ol.code-list code")]
    assert listed == texts_of(batch) and len(listed) == 12
    assert all(text.startswith("SPRING27-") for text in listed)
    assert panel.find("textarea", id="generated-text").get_text().split("\n") == listed
    assert panel.find("textarea")["readonly"] is not None
    copy = panel.find("button", attrs={"data-copy": "#generated-text"})
    assert copy.get_text(strip=True) == "Copy all"
    assert codes_listed(page) == listed + [room.join_code.text], (
        "newest first, the batch in the order made, as the panel lists it"
    )
    assert rows(page)[0][1] == "Room 9A, Algebra"


def test_htmx_generate_returns_panel_and_refreshes_the_table_out_of_band(admin, school):
    org, room, algebra = school
    response = admin.post(url(org), data=form_data(room, count="4", uses="unlimited"), headers=HX)
    assert response.status_code == 200
    batch = db.session.scalar(select(Batch))
    assert response.headers["HX-Replace-Url"] == url(org, f"?made={batch.id}")
    page = soup(response)
    assert page.find("html") is None, "htmx gets fragments, not a page"
    generate = page.find(id="generate")
    assert [c.get_text(strip=True) for c in generate.select("#generated ol code")] == texts_of(batch)
    assert generate.find("input", id="count")["value"] == "30", "the form starts afresh"
    existing = page.find(id="existing")
    assert existing["data-hx-swap-oob"] == "true"
    assert codes_listed(existing) == texts_of(batch) + [room.join_code.text], "in the panel's order"
    assert [r[2] for r in rows(existing)][:4] == ["0 / ∞"] * 4
    options = existing.select("#batch-filter option")
    assert [o.get_text(" ", strip=True).split(" · ")[1:3] for o in options[1:]] == [["no prefix", "4 codes"]]


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"count": "0"}, "count", "Make 1 to 500 codes at a time."),
        ({"count": "501"}, "count", "Make 1 to 500 codes at a time."),
        ({"count": ""}, "count", "Make 1 to 500 codes at a time."),
        ({"prefix": "A" * 21}, "prefix", "A prefix is at most 20 letters and digits."),
        ({"prefix": "spring--27"}, "prefix", PREFIX_LETTERS),
        ({"prefix": "SPRING 27"}, "prefix", PREFIX_LETTERS),
        ({"valid_until": "2020-01-01"}, "valid_until", "That date has already passed."),
        (
            {"uses": "number", "max_uses": "0"},
            "max_uses",
            "Max uses is at least 1. Choose unlimited for no limit.",
        ),
        ({"uses": "number", "max_uses": ""}, "max_uses", "Type how many times each code may be used."),
        ({"classroom_ids": []}, "targets", "Choose at least one classroom or course."),
        ({"surge_guard": "maybe"}, "surge_guard", SURGE_REFUSED),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_input_shows_a_message_beside_the_field_and_makes_nothing(
    admin, school, changes, field, message, htmx
):
    org, room, algebra = school
    response = admin.post(url(org), data=form_data(room, **changes), headers=HX if htmx else {})
    assert response.status_code == (200 if htmx else 422)
    page = soup(response)
    assert error_beside(page, field) == message
    assert (page.find("html") is None) is htmx
    assert page.find(id="generated") is None
    assert made_in_bulk() == (0, 0)


@pytest.mark.parametrize("sent, guarded", [("y", True), ("on", True), ("0", False), (None, False)])
def test_a_batch_watches_for_a_surge_when_ticked(admin, school, sent, guarded):
    org, room, algebra = school
    data = form_data(room, count="3")
    if sent is not None:
        data["surge_guard"] = sent
    assert admin.post(url(org), data=data).status_code == 303
    batch = db.session.scalar(select(Batch))
    made = db.session.scalars(select(Code.surge_guard).where(Code.batch_id == batch.id)).all()
    assert made == [guarded] * 3
    assert json.loads(batch.options).get("surge_guard", False) is guarded


def test_yesterday_in_the_organizations_zone_is_past_and_today_is_fine(admin, school):
    org, room, algebra = school
    today = to_local(org, utcnow()).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    refused = admin.post(url(org), data=form_data(room, valid_until=yesterday))
    assert error_beside(soup(refused), "valid_until") == "That date has already passed."
    made = admin.post(url(org), data=form_data(room, valid_until=today.isoformat()))
    assert made.status_code == 303
    made = db.session.scalars(select(Code).where(Code.batch_id.is_not(None))).all()
    assert len(made) == 5 and all(to_local(org, c.valid_until).date() == today for c in made)


def test_a_target_outside_scope_is_not_found_and_makes_nothing(client, make, school):
    org, room, algebra = school
    teacher = make.user("Ivy Instructor")
    mine = make.course(org, "Biology", instructors=[teacher])
    client.login(teacher)
    page = soup(client.get(url(org)))
    targets = "#generate input[type=checkbox]:not([name=approval]):not([name=surge_guard])"
    assert [b["value"] for b in page.select(targets)] == [str(mine.id)]
    response = client.post(url(org), data=form_data(room, course_ids=[mine.id]))
    assert response.status_code == 404
    response = client.post(url(org), data=form_data(room, classroom_ids=[], course_ids=[999]), headers=HX)
    assert response.status_code == 404
    assert made_in_bulk() == (0, 0)


# --- the existing-codes table ---------------------------------------------------------------


def test_table_columns_and_a_row(admin, school, make):
    org, room, algebra = school
    make.code(
        org,
        "OAK-9A-2027",
        classrooms=[room],
        courses=[algebra],
        max_uses=20,
        valid_until=to_utc(org, date(2099, 6, 30), end_of_day=True),
    )
    page = soup(admin.get(url(org)))
    assert [th.get_text(strip=True) for th in page.select("#codes-table thead th")] == COLUMNS
    row = next(r for r in rows(page) if r[0] == "OAK-9A-2027")
    assert row[:5] == ["OAK-9A-2027", "Room 9A, Algebra", "0 / 20", "2099-06-30", "Active"]
    assert row[5] == "Edit Print Report Deactivate Redemptions"


def test_each_code_links_to_its_edit_print_and_report_pages_coming_back_here(admin, school, make):
    org, room, algebra = school
    code = make.code(org, "OAK-9A-2027", classrooms=[room])
    page = soup(admin.get(url(org, "?q=OAK")))
    links = {a.get_text(strip=True): a["href"] for a in page.select(f"#code-{code.id} td.actions a")}
    here = f"next=%2Forgs%2F{org.id}%2Fbulk%3Fq%3DOAK"
    assert links["Edit"] == f"/codes/{code.id}/edit?{here}"
    assert links["Print"] == f"/codes/{code.id}/print?{here}"
    assert links["Report"] == f"/codes/{code.id}/report"
    for href in (links["Edit"], links["Print"], links["Report"]):
        assert admin.get(href).status_code == 200
    deactivate(org.admin, code)
    db.session.commit()
    links = [
        a.get_text(strip=True)
        for a in soup(admin.get(url(org, "?status=deactivated"))).select(f"#code-{code.id} td.actions a")
    ]
    assert links == ["Report", "Redemptions"], "a deactivated code is not edited or printed"


def test_status_text_for_every_status(admin, school, make):
    org, room, algebra = school
    now = utcnow()
    texts = {
        name: f"STATUS-{name.upper()}-1"
        for name in ("Active", "Deactivated", "Expired", "Used", "Off", "Scheduled")
    }
    codes = {name: make.code(org, text, classrooms=[room]) for name, text in texts.items()}
    deactivate(org.admin, codes["Deactivated"])
    set_enabled(org.admin, codes["Off"], False)
    codes["Used"].max_uses = 1
    codes["Scheduled"].valid_from = now + timedelta(days=3)
    db.session.commit()
    redeem(make.user("Sam"), texts["Used"])
    db.session.execute(
        update(Code).where(Code.id == codes["Expired"].id).values(valid_until=now - timedelta(days=1))
    )
    db.session.commit()
    page = soup(admin.get(url(org, "?status=all")))
    shown = {row[0]: row[4] for row in rows(page) if row[0] != room.join_code.text}
    assert shown == {text: name for name, text in texts.items()}
    deactivated = page.find(id=f"code-{codes['Deactivated'].id}")
    assert "status-deactivated" in deactivated["class"]
    assert deactivated.find("button", string="Deactivate") is None


def test_batch_filter_lists_batches_and_narrows_the_table(admin, school, make):
    org, room, algebra = school
    first = batch_of(org, 3, prefix="FIRST")
    second = batch_of(org, 4, prefix="SECOND")
    make.code(org, "CUSTOM-CODE-1", classrooms=[room])
    page = soup(admin.get(url(org)))
    options = page.select("#batch-filter option")
    assert [o["value"] for o in options] == ["", str(second.id), str(first.id)]
    assert options[0].get_text(strip=True) == "All batches"
    assert "SECOND · 4 codes · Admin" in options[1].get_text(" ", strip=True)
    assert len(rows(page)) == 3 + 4 + 1 + 1, "both batches, the custom code and the join code"

    plain = admin.get(url(org, f"?batch={first.id}"))
    page = soup(plain)
    assert set(codes_listed(page)) == set(texts_of(first))
    assert page.select_one("#batch-filter option[selected]")["value"] == str(first.id)
    assert page.find("form", class_="filters")["data-hx-push-url"] == "true"

    fragment = admin.get(url(org, f"?batch={second.id}"), headers=HX)
    assert fragment.headers["Vary"].startswith("HX-Request")
    part = soup(fragment)
    assert part.find("html") is None and part.find(id="generate") is None
    assert part.find("div", id="codes-table") is not None
    assert set(codes_listed(part)) == set(texts_of(second))
    assert "4 codes match" in text_of(fragment)


def test_search_matches_the_lookup_key_whatever_case_and_dashes(admin, school, make):
    org, room, algebra = school
    make.code(org, "SOLO-2027-PTA", classrooms=[room])
    make.code(org, "MAPLE-PTA-2030", classrooms=[room])
    batch_of(org, 5)
    for typed, expected in [
        ("solo 2027 pta", ["SOLO-2027-PTA"]),
        ("s0l0", ["SOLO-2027-PTA"]),
        ("pta", ["MAPLE-PTA-2030", "SOLO-2027-PTA"]),
        ("maple-pta-2030.", ["MAPLE-PTA-2030"]),
        ("%", []),
    ]:
        page = soup(admin.get(url(org), query_string={"q": typed}, headers=HX))
        assert codes_listed(page) == expected, typed
    page = soup(admin.get(url(org), query_string={"q": "nothing like it"}))
    assert page.find("input", id="q")["value"] == "nothing like it"
    assert page.select_one("#codes-table .empty").get_text(strip=True) == "No codes match."


def test_pages_of_fifty_with_links_that_keep_the_filter(admin, school):
    org, room, algebra = school
    batch = batch_of(org, 120)
    batch_of(org, 2)
    first = soup(admin.get(url(org, f"?batch={batch.id}")))
    assert len(rows(first)) == 50
    assert "page 1 of 3" in first.select_one(".table-meta").get_text()
    next_link = first.select_one(".pager a[rel=next]")
    assert next_link["href"] == url(org, f"?batch={batch.id}&page=2")
    assert next_link["data-hx-get"] == next_link["href"] and next_link["data-hx-push-url"] == "true"
    assert first.select_one(".pager a[rel=prev]") is None
    seen = codes_listed(first)
    for number in (2, 3):
        part = soup(admin.get(url(org, f"?batch={batch.id}&page={number}"), headers=HX))
        seen += codes_listed(part)
    assert len(seen) == 120 and set(seen) == set(texts_of(batch))
    last = soup(admin.get(url(org, f"?batch={batch.id}&page=99")))
    assert len(rows(last)) == 20 and last.select_one(".pager a[rel=next]") is None
    assert last.select_one(".pager a[rel=prev]")["href"] == url(org, f"?batch={batch.id}&page=2")
    assert len(rows(soup(admin.get(url(org, "?page=nonsense"))))) == 50


def test_export_link_carries_the_filter_but_not_the_page(admin, school):
    org, room, algebra = school
    batch = batch_of(org, 60)
    page = soup(admin.get(url(org), query_string={"batch": batch.id, "q": "a", "page": 2}))
    link = page.find("a", string="Export CSV")
    assert link["href"] == url(org, f"/export.csv?batch={batch.id}&q=a")


# --- deactivate and redemptions -------------------------------------------------------------


def test_deactivate_with_htmx_swaps_the_code_in_place(admin, school):
    org, room, algebra = school
    batch = batch_of(org, 2)
    code = db.session.scalar(select(Code).where(Code.batch_id == batch.id).order_by(Code.id))
    page = soup(admin.get(url(org)))
    form = page.find(id=f"code-{code.id}").find("form")
    assert form["data-hx-confirm"].startswith(f"Deactivate {code.text} for good?")
    assert form["data-confirm"] == form["data-hx-confirm"]
    assert form["data-hx-target"] == f"#code-{code.id}"
    # What htmx sends once the person said yes: the form's fields and its hx-vals.
    sent = {"next": url(org), **json.loads(form["data-hx-vals"])}
    response = admin.post(form["action"], data=sent, headers=HX)
    assert response.status_code == 200
    part = soup(response)
    body = part.find("tbody", id=f"code-{code.id}")
    assert body.select_one(".status").get_text(strip=True) == "Deactivated"
    assert body.find("button", string="Deactivate") is None
    assert body.find("a", string="Redemptions") is not None
    db.session.expire_all()
    assert db.session.get(Code, code.id).deactivated_at is not None


def test_deactivate_plain_post_goes_back_to_the_filtered_page(admin, school):
    org, room, algebra = school
    batch = batch_of(org, 2)
    code = db.session.scalar(select(Code).where(Code.batch_id == batch.id))
    back_to = url(org, f"?batch={batch.id}&status=all")
    response = admin.post(url(org, f"/codes/{code.id}/deactivate"), data={"next": back_to, "confirmed": "1"})
    assert response.status_code == 303 and response.headers["Location"] == back_to
    page = soup(admin.get(back_to))
    assert f"Code {code.text} deactivated." in page.select_one(".flash").get_text()
    assert {r[0]: r[4] for r in rows(page)}[code.text] == "Deactivated"
    assert admin.post(
        url(org, f"/codes/{code.id}/deactivate"), data={"next": "https://evil.example/", "confirmed": "1"}
    ).headers["Location"] == url(org)


def test_redemptions_in_place_and_as_a_page(admin, school, make):
    org, room, algebra = school
    batch = batch_of(org, 2, max_uses=5)
    code, unused = db.session.scalars(select(Code).where(Code.batch_id == batch.id).order_by(Code.id)).all()
    ann, bob = make.user("Ann Able", "ann@example.org"), make.user("Bob Best", "bob@example.org")
    ann_at, bob_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(minutes=3)
    redeem(ann, code.text, now=ann_at)
    redeem(bob, code.text, now=bob_at)
    db.session.commit()
    page = soup(admin.get(url(org)))
    link = page.find(id=f"code-{code.id}").find("a", string="Redemptions")
    assert link["data-hx-target"] == f"#redemptions-{code.id}"
    assert page.find("tr", id=f"redemptions-{code.id}").has_attr("hidden")

    part = soup(admin.get(link["data-hx-get"], headers=HX))
    assert part.find("html") is None
    row = part.find("tr", id=f"redemptions-{code.id}")
    assert not row.has_attr("hidden")
    people = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in row.select("tbody tr")]
    assert people == [
        ["Bob Best", "bob@example.org", format_local(org, bob_at)],
        ["Ann Able", "ann@example.org", format_local(org, ann_at)],
    ], "the latest first, as in the code's report"
    assert "Redeemed 2 times" in row.get_text()
    assert row.find("a", string=lambda s: "more" in (s or "")) is None

    full = admin.get(link["href"])
    assert full.status_code == 200 and full.headers["Vary"].startswith("HX-Request")
    page = soup(full)
    assert page.find("h1").get_text(" ", strip=True) == f"Code {code.text}"
    assert "Ann Able" in page.get_text() and "Bob Best" in page.get_text()
    assert page.find("a", string="← Back to the codes")["href"] == url(org)

    empty = soup(admin.get(url(org, f"/codes/{unused.id}/redemptions"), headers=HX))
    assert "No one has redeemed this code yet." in empty.get_text()


@pytest.mark.parametrize("htmx", [True, False], ids=["in place", "page"])
def test_a_long_list_of_redemptions_shows_the_latest_and_leads_to_the_report_for_the_rest(
    admin, school, make, htmx
):
    org, room, algebra = school
    code = make.code(org, "MANY-USES-2027", classrooms=[room])
    start = utcnow() - timedelta(days=1)
    total = REDEMPTIONS_SHOWN + 3
    for i in range(total):
        redeem(
            make.user(f"Student {i:02}", f"s{i:02}@example.org"), code.text, now=start + timedelta(minutes=i)
        )
    db.session.commit()
    part = soup(admin.get(url(org, f"/codes/{code.id}/redemptions"), headers=HX if htmx else {}))
    panel = part.find(class_="redemptions")
    names = [tr.find("td").get_text(strip=True) for tr in panel.select("tbody tr")]
    assert names == [f"Student {i:02}" for i in reversed(range(3, total))]
    assert f"Redeemed {total} times" in panel.get_text()
    more = panel.find("a", href=f"/codes/{code.id}/report#redeemers")
    assert more is not None and more.get_text(" ", strip=True) == "3 more in the code's report"
    report = soup(admin.get(more["href"].split("#")[0]))
    everyone = [tr.find("td").get_text(strip=True) for tr in report.select("#redeemers tbody tr")]
    assert {"Student 00", "Student 01", "Student 02"} <= set(everyone), "the rest are there"


def test_codes_of_another_organization_are_not_found_here(admin, school, make):
    org = school[0]
    elsewhere = make.org(name="Elm School")
    theirs = make.code(elsewhere, "ELM-CODE-2027", classrooms=[make.classroom(elsewhere)])
    assert admin.get(url(org, f"/codes/{theirs.id}/redemptions")).status_code == 404
    assert admin.post(url(org, f"/codes/{theirs.id}/deactivate"), data={"confirmed": "1"}).status_code == 404
    assert db.session.get(Code, theirs.id).deactivated_at is None
    assert admin.get(f"/orgs/{elsewhere.id}/bulk").status_code == 404


def test_a_deleted_code_is_gone_from_the_table(admin, school, make):
    org, room, algebra = school
    code = make.code(org, "GONE-CODE-2027", classrooms=[room])
    code.deleted_at = utcnow()
    db.session.commit()
    assert codes_listed(soup(admin.get(url(org)))) == [room.join_code.text]
    assert admin.post(url(org, f"/codes/{code.id}/deactivate"), data={"confirmed": "1"}).status_code == 404


def test_logged_out_is_sent_to_log_in(client, school):
    org = school[0]
    response = client.get(url(org))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = client.get(url(org), headers=HX)
    assert response.status_code == 401 and "/login" in response.headers["HX-Redirect"]


def test_the_panel_the_copy_box_the_csv_and_the_table_list_a_batch_in_one_order(admin, school):
    org, room, _ = school
    admin.post(url(org), data=form_data(room, count="7", prefix="ORDER"))
    batch = db.session.scalar(select(Batch))
    page = soup(admin.get(url(org, f"?made={batch.id}")))
    panel = page.find(id="generated")
    listed = [c.get_text(strip=True) for c in panel.select("ol.code-list code")]
    assert len(listed) == 7
    assert panel.find("textarea", id="generated-text").get_text().split("\n") == listed
    csv_link = panel.find("a", string="Download CSV")["href"]
    lines = admin.get(csv_link).get_data(as_text=True).splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == listed
    assert codes_listed(page)[:7] == listed


def test_a_prefix_may_have_dashes_as_staff_type_it(admin, school):
    org, room, _ = school
    response = admin.post(url(org), data=form_data(room, count="3", prefix="fall-2027"))
    assert response.status_code == 303
    texts = texts_of(db.session.scalar(select(Batch)))
    assert len(texts) == 3 and all(t.startswith("FALL-2027-") for t in texts)
    codes = db.session.scalars(select(Code).where(Code.text.in_(texts))).all()
    assert all(c.key == canonical(c.text) and "-" not in c.key for c in codes)


# --- the status and target filters ----------------------------------------------------------


@pytest.fixture
def statuses(school, make):
    """A code of each status the page filters by, all for Room 9A (besides its join code)."""
    org, room, algebra = school
    now = utcnow()
    names = ("Active", "Deactivated", "Expired", "Used", "Off", "Scheduled")
    codes = {name: make.code(org, f"STATUS-{name.upper()}-1", classrooms=[room]) for name in names}
    deactivate(org.admin, codes["Deactivated"])
    set_enabled(org.admin, codes["Off"], False)
    codes["Used"].max_uses = 1
    codes["Scheduled"].valid_from = now + timedelta(days=3)
    db.session.commit()
    redeem(make.user("Sam"), codes["Used"].text)
    db.session.execute(
        update(Code).where(Code.id == codes["Expired"].id).values(valid_until=now - timedelta(days=1))
    )
    db.session.commit()
    return {name: code.text for name, code in codes.items()}


def test_the_table_shows_live_codes_unless_asked_and_each_status_is_one_choice_away(admin, school, statuses):
    org, room, algebra = school
    page = soup(admin.get(url(org)))
    assert page.select_one("#status-filter option[selected]")["value"] == "live"
    assert [o.get_text(strip=True) for o in page.select("#status-filter option")] == [
        "Live (usable now)",
        "Scheduled",
        "Off",
        "Used up",
        "Expired",
        "Deactivated or replaced",
        "No longer valid",
        "Any status",
    ]
    assert sorted(codes_listed(page)) == sorted([statuses["Active"], room.join_code.text])
    for word, shown in [
        ("scheduled", "Scheduled"),
        ("off", "Off"),
        ("used", "Used"),
        ("expired", "Expired"),
        ("deactivated", "Deactivated"),
    ]:
        page = soup(admin.get(url(org, f"?status={word}")))
        assert page.select_one("#status-filter option[selected]")["value"] == word
        assert [(r[0], r[4]) for r in rows(page)] == [(statuses[shown], shown)], word
        part = soup(admin.get(url(org, f"?status={word}"), headers=HX))
        assert part.find("html") is None and codes_listed(part) == [statuses[shown]]
    everything = soup(admin.get(url(org, "?status=all")))
    assert len(rows(everything)) == len(statuses) + 1
    assert {r[4] for r in rows(everything)} == set(statuses)
    nonsense = soup(admin.get(url(org, "?status=nonsense")))
    assert sorted(codes_listed(nonsense)) == sorted(codes_listed(soup(admin.get(url(org))))), "as not given"


def test_a_replaced_join_code_is_under_deactivated(admin, school):
    org, room, algebra = school
    old = room.join_code.text
    response = admin.post(f"/classrooms/{room.id}/join-code/random", data={"confirmed": "1"})
    assert response.status_code == 303
    db.session.expire_all()
    assert old not in codes_listed(soup(admin.get(url(org))))
    listed = {r[0]: r[4] for r in rows(soup(admin.get(url(org, "?status=deactivated"))))}
    assert listed == {old: "Deactivated"}


def test_the_status_is_kept_in_the_url_the_pages_and_the_export(admin, school):
    org, room, algebra = school
    batch = batch_of(org, 60)
    page = soup(admin.get(url(org), query_string={"batch": batch.id, "status": "all", "q": "a"}))
    assert page.find("a", string="Export CSV")["href"] == url(
        org, f"/export.csv?batch={batch.id}&status=all&q=a"
    )
    page = soup(admin.get(url(org), query_string={"batch": batch.id, "status": "all"}))
    assert page.select_one(".pager a[rel=next]")["href"] == url(org, f"?batch={batch.id}&status=all&page=2")
    page = soup(admin.get(url(org), query_string={"batch": batch.id}))
    assert page.select_one(".pager a[rel=next]")["href"] == url(org, f"?batch={batch.id}&page=2"), (
        "live, the default, is left out"
    )
    form = page.find("form", class_="filters")
    assert form["data-hx-push-url"] == "true" and form["method"] == "get"


def test_the_target_filter_lists_the_codes_for_a_classroom_or_a_course(admin, school, make):
    org, room, algebra = school
    other_room = make.classroom(org, "Room 9B")
    for_room = make.code(org, "FOR-ROOM-9A", classrooms=[room])
    for_both = make.code(org, "FOR-BOTH-9A", classrooms=[room], courses=[algebra])
    for_course = make.code(org, "FOR-ALGEBRA", courses=[algebra])
    page = soup(admin.get(url(org)))
    assert [o.get_text(strip=True) for o in page.select("#classroom-filter option")] == [
        "All classrooms",
        "Room 9A",
        "Room 9B",
    ]
    assert [o.get_text(strip=True) for o in page.select("#course-filter option")] == [
        "All courses",
        "Algebra",
    ]
    by_room = soup(admin.get(url(org, f"?classroom={room.id}")))
    assert page.find("form", class_="filters").find("select", id="classroom-filter")
    assert by_room.select_one("#classroom-filter option[selected]")["value"] == str(room.id)
    assert sorted(codes_listed(by_room)) == sorted([for_room.text, for_both.text, room.join_code.text])
    by_course = soup(admin.get(url(org, f"?course={algebra.id}"), headers=HX))
    assert sorted(codes_listed(by_course)) == sorted([for_both.text, for_course.text])
    both = soup(admin.get(url(org, f"?classroom={room.id}&course={algebra.id}")))
    assert codes_listed(both) == [for_both.text]
    searched = soup(admin.get(url(org), query_string={"classroom": room.id, "q": "for room"}))
    assert codes_listed(searched) == [for_room.text]
    assert codes_listed(soup(admin.get(url(org, f"?classroom={other_room.id}")))) == [
        other_room.join_code.text
    ]
    export = admin.get(url(org, f"/export.csv?course={algebra.id}")).get_data(as_text=True)
    assert sorted(line.split(",")[0] for line in export.splitlines()[1:]) == sorted(
        [for_both.text, for_course.text]
    )
    assert len(rows(soup(admin.get(url(org, "?classroom=abc"))))) == 5, "malformed: not given"


@pytest.mark.parametrize("path", ["", "/export.csv"])
def test_a_target_of_another_organization_or_of_nothing_is_not_found(admin, school, make, path):
    org = school[0]
    elsewhere = make.org(name="Elm School")
    theirs_room, theirs_course = make.classroom(elsewhere, "Elm Room"), make.course(elsewhere, "Elm Course")
    for query in (
        f"?classroom={theirs_room.id}",
        f"?course={theirs_course.id}",
        "?classroom=2000000000",
        "?course=0",
        "?course=99999999999",
    ):
        assert admin.get(url(org, path + query)).status_code == 404, query
        assert admin.get(url(org, path + query), headers=HX).status_code == 404, query


def test_a_teacher_filters_only_by_their_own_targets(client, school, make):
    org, room, algebra = school
    ivy = make.user("Ivy Instructor")
    biology = make.course(org, "Biology", instructors=[ivy])
    mine = make.code(org, "IVY-BIOLOGY-1", courses=[biology])
    client.login(ivy)
    page = soup(client.get(url(org)))
    assert page.find(id="classroom-filter") is None, "she leads no classroom"
    assert [o.get_text(strip=True) for o in page.select("#course-filter option")] == [
        "All courses",
        "Biology",
    ]
    assert codes_listed(soup(client.get(url(org, f"?course={biology.id}")))) == [mine.text]
    assert client.get(url(org, f"?course={algebra.id}")).status_code == 404
    assert client.get(url(org, f"?classroom={room.id}")).status_code == 404
    assert client.get(url(org, f"/export.csv?course={algebra.id}")).status_code == 404


def _batch_options(page):
    return [int(o["value"]) for o in page.select("#batch-filter option") if o["value"]]


def test_the_batch_filter_lists_the_recent_batches_and_finds_an_older_one_by_a_plain_get(admin, school):
    org, room, algebra = school
    listed = BATCHES_LISTED
    made = [batch_of(org, 1, prefix=f"OLD{n:02d}" if n < 2 else "") for n in range(listed + 2)]
    long_ago = datetime(2025, 3, 14, 9, 0)
    oldest, second = made[0], made[1]
    db.session.execute(update(Batch).where(Batch.id == oldest.id).values(created_at=long_ago))
    db.session.execute(
        update(Batch).where(Batch.id == second.id).values(created_at=long_ago + timedelta(days=40))
    )
    db.session.commit()

    page = soup(admin.get(url(org)))
    newest_first = [b.id for b in reversed(made[2:])]
    assert _batch_options(page) == newest_first[:listed]
    assert "most recent batches" in page.select_one("#batch-filter-hint").get_text()
    finder = page.select_one("form[aria-label='Find a batch']")
    assert finder["method"] == "get" and finder.find("input", id="batch-find")["name"] == "batches"

    # Chosen, it is listed (and selected) whatever its age.
    page = soup(admin.get(url(org, f"?batch={oldest.id}")))
    assert oldest.id in _batch_options(page)
    assert page.select_one("#batch-filter option[selected]")["value"] == str(oldest.id)
    assert codes_listed(page) == texts_of(oldest)

    # By part of its prefix, by the day or the month it was made.
    for typed, found in [
        ("old0", [second.id, oldest.id]),
        ("Old01", [second.id]),
        ("2025-03-14", [oldest.id]),
        ("2025-04", [second.id]),
        ("2025-13", []),
        ("9999-12", []),
        ("0001-01-01", []),
    ]:
        page = soup(admin.get(url(org), query_string={"batches": typed}))
        assert _batch_options(page) == found, typed
        assert page.select_one("#batch-find")["value"] == typed
    # The filter form carries what was found, so filtering keeps the list.
    page = soup(admin.get(url(org), query_string={"batches": "old0", "batch": oldest.id}))
    assert page.select_one("form.filters input[name=batches]")["value"] == "old0"
    assert _batch_options(page) == [second.id, oldest.id]


def test_a_short_list_of_batches_has_no_finder(admin, school):
    org, room, algebra = school
    batch_of(org, 1)
    page = soup(admin.get(url(org)))
    assert len(_batch_options(page)) == 1
    assert page.select_one("#batch-find") is None


def test_each_row_says_what_its_code_unlocks_classrooms_then_courses_by_name(admin, school, make):
    """The table's "Course / classroom" cell, for a page of codes read together
    and for a row swapped alone after Deactivate: the code's classrooms by name,
    then its courses by name, and nothing of another code's."""
    org, room, algebra = school
    zoo, art = make.classroom(org, "Zoo Club"), make.classroom(org, "Art Room")
    biology = make.course(org, "Biology")
    many = make.code(org, "MANY-TARGETS-1", classrooms=[zoo, room, art], courses=[biology, algebra])
    make.code(org, "ONE-COURSE-22", courses=[biology])
    page = soup(admin.get(url(org, "?status=all")))
    cells = {r[0]: r[1] for r in rows(page)}
    unlocks = "Art Room, Room 9A, Zoo Club, Algebra, Biology"
    assert cells["MANY-TARGETS-1"] == unlocks
    assert cells["ONE-COURSE-22"] == "Biology"
    response = admin.post(
        url(org, f"/codes/{many.id}/deactivate"), data={"next": url(org), "confirmed": "1"}, headers=HX
    )
    body = soup(response).find("tbody", id=f"code-{many.id}")
    assert body.select_one("td.targets").get_text(strip=True) == unlocks


def test_a_codes_classroom_list_and_its_report_word_what_it_unlocks_as_the_table_does(admin, school, make):
    """One wording (bulk.operations.unlocks) on every page that says what a code
    unlocks: the classroom's codes tab, and the code's report."""
    org, room, algebra = school
    zoo = make.classroom(org, "Zoo Club")
    code = make.code(org, "BOTH-KINDS-31", classrooms=[zoo, room], courses=[algebra])
    tab = soup(admin.get(f"/classrooms/{room.id}/codes"))
    cells = [td.get_text(strip=True) for td in tab.select("td[data-label=Unlocks]")]
    assert "Room 9A, Zoo Club, Algebra" in cells
    report = soup(admin.get(f"/codes/{code.id}/report")).select_one("p.muted").get_text(" ", strip=True)
    assert report.startswith("Unlocks Room 9A, Zoo Club, Algebra")
