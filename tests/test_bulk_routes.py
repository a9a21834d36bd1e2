"""The Bulk Management > Codes page as people see it, with and without htmx: the
generate form and its errors, the generated-codes panel, the existing-codes table
with its batch filter, search and pages, deactivate and redemptions."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from codes.access import Scope
from codes.bulk.operations import BatchInput, generate_batch
from codes.extensions import db
from codes.manage.operations import deactivate, set_enabled
from codes.models import Batch, Code, utcnow
from codes.redeem.operations import redeem
from codes.timeutil import format_local, to_local, to_utc
from conftest import soup, text_of

HX = {"HX-Request": "true"}
COLUMNS = ["Code", "Course / classroom", "Uses", "Expires", "Status", "Actions"]


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
    codes = db.session.scalar(select(func.count(Code.id)).where(Code.batch_id.is_not(None)))
    return codes, db.session.scalar(select(func.count(Batch.id)))


def batch_of(org, n=3, prefix="", **fields):
    fields.setdefault("classroom_ids", [org.classrooms[0].id])
    batch = generate_batch(org.admin, Scope(org.admin, org),
                           BatchInput(count=n, prefix=prefix, **fields))
    db.session.commit()
    return batch


def texts_of(batch):
    return db.session.scalars(select(Code.text).where(Code.batch_id == batch.id).order_by(Code.id)).all()


def rows(page):
    """The table's rows as the cells a person reads."""
    return [[td.get_text(" ", strip=True) for td in tr.find_all("td")]
            for tr in page.select("#codes-table tr.code-row")]


def codes_listed(page):
    return [code.get_text(strip=True) for code in page.select("#codes-table tr.code-row code")]


def error_beside(page, field_id):
    node = page.find(id=f"{field_id}-error")
    return node.get_text(" ", strip=True) if node else None


def form_data(target, **changes):
    data = {"classroom_ids": [target.id], "count": "5", "prefix": "", "valid_until": "",
            "uses": "single", "max_uses": "", "role": "student"}
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
    boxes = {box["name"]: box["value"] for box in page.select("#generate input[type=checkbox]")}
    assert boxes == {"classroom_ids": str(room.id), "course_ids": str(algebra.id)}
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
    response = admin.post(url(org), data=form_data(room, count="12", prefix="spring27",
                                                   course_ids=[algebra.id]))
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
    assert codes_listed(page) == listed[::-1] + [room.join_code.text], "newest first"
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
    assert existing["hx-swap-oob"] == "true"
    assert codes_listed(existing) == texts_of(batch)[::-1] + [room.join_code.text]
    assert [r[2] for r in rows(existing)][:4] == ["0 / ∞"] * 4
    options = existing.select("#batch-filter option")
    assert [o.get_text(" ", strip=True).split(" · ")[1:3] for o in options[1:]] == [["no prefix", "4 codes"]]


@pytest.mark.parametrize("changes, field, message", [
    ({"count": "0"}, "count", "Make 1 to 500 codes at a time."),
    ({"count": "501"}, "count", "Make 1 to 500 codes at a time."),
    ({"count": ""}, "count", "Make 1 to 500 codes at a time."),
    ({"prefix": "A" * 21}, "prefix", "A prefix is at most 20 characters."),
    ({"prefix": "spring-27"}, "prefix", "Use only the letters A to Z and digits in a prefix."),
    ({"prefix": "SPRING 27"}, "prefix", "Use only the letters A to Z and digits in a prefix."),
    ({"valid_until": "2020-01-01"}, "valid_until", "That date has already passed."),
    ({"uses": "number", "max_uses": "0"}, "max_uses",
     "Max uses is at least 1. Choose unlimited for no limit."),
    ({"uses": "number", "max_uses": ""}, "max_uses", "Type how many times each code may be used."),
    ({"classroom_ids": []}, "targets", "Choose at least one classroom or course."),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_input_shows_a_message_beside_the_field_and_makes_nothing(admin, school, changes,
                                                                       field, message, htmx):
    org, room, algebra = school
    response = admin.post(url(org), data=form_data(room, **changes), headers=HX if htmx else {})
    assert response.status_code == (200 if htmx else 422)
    page = soup(response)
    assert error_beside(page, field) == message
    assert (page.find("html") is None) is htmx
    assert page.find(id="generated") is None
    assert made_in_bulk() == (0, 0)


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
    assert [b["value"] for b in page.select("#generate input[type=checkbox]")] == [str(mine.id)]
    response = client.post(url(org), data=form_data(room, course_ids=[mine.id]))
    assert response.status_code == 404
    response = client.post(url(org), data=form_data(room, classroom_ids=[], course_ids=[999]),
                           headers=HX)
    assert response.status_code == 404
    assert made_in_bulk() == (0, 0)


# --- the existing-codes table ---------------------------------------------------------------

def test_table_columns_and_a_row(admin, school, make):
    org, room, algebra = school
    make.code(org, "OAK-9A-2027", classrooms=[room], courses=[algebra], max_uses=20,
              valid_until=to_utc(org, date(2099, 6, 30), end_of_day=True))
    page = soup(admin.get(url(org)))
    assert [th.get_text(strip=True) for th in page.select("#codes-table thead th")] == COLUMNS
    row = next(r for r in rows(page) if r[0] == "OAK-9A-2027")
    assert row[:5] == ["OAK-9A-2027", "Room 9A, Algebra", "0 / 20", "2099-06-30", "Active"]
    assert row[5] == "Deactivate Redemptions"


def test_status_text_for_every_status(admin, school, make):
    org, room, algebra = school
    now = utcnow()
    texts = {name: f"STATUS-{name.upper()}-1" for name in
             ("Active", "Deactivated", "Expired", "Used", "Off", "Scheduled")}
    codes = {name: make.code(org, text, classrooms=[room]) for name, text in texts.items()}
    deactivate(org.admin, codes["Deactivated"])
    set_enabled(org.admin, codes["Off"], False)
    codes["Used"].max_uses = 1
    codes["Scheduled"].valid_from = now + timedelta(days=3)
    db.session.commit()
    redeem(make.user("Sam"), texts["Used"])
    db.session.execute(update(Code).where(Code.id == codes["Expired"].id)
                       .values(valid_until=now - timedelta(days=1)))
    db.session.commit()
    page = soup(admin.get(url(org)))
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
    assert page.find("form", class_="filters")["hx-push-url"] == "true"

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
    for typed, expected in [("solo 2027 pta", ["SOLO-2027-PTA"]), ("s0l0", ["SOLO-2027-PTA"]),
                            ("pta", ["MAPLE-PTA-2030", "SOLO-2027-PTA"]),
                            ("maple-pta-2030.", ["MAPLE-PTA-2030"]), ("%", [])]:
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
    assert next_link["hx-get"] == next_link["href"] and next_link["hx-push-url"] == "true"
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
    assert form["hx-confirm"].startswith(f"Deactivate {code.text} for good?")
    assert form["data-confirm"] == form["hx-confirm"]
    assert form["hx-target"] == f"#code-{code.id}"
    response = admin.post(form["action"], data={"next": url(org)}, headers=HX)
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
    back_to = url(org, f"?batch={batch.id}")
    response = admin.post(url(org, f"/codes/{code.id}/deactivate"), data={"next": back_to})
    assert response.status_code == 303 and response.headers["Location"] == back_to
    page = soup(admin.get(back_to))
    assert f"Code {code.text} deactivated." in page.select_one(".flash").get_text()
    assert {r[0]: r[4] for r in rows(page)}[code.text] == "Deactivated"
    assert admin.post(url(org, f"/codes/{code.id}/deactivate"),
                      data={"next": "https://evil.example/"}).headers["Location"] == url(org)


def test_redemptions_in_place_and_as_a_page(admin, school, make):
    org, room, algebra = school
    batch = batch_of(org, 2, max_uses=5)
    code, unused = db.session.scalars(select(Code).where(Code.batch_id == batch.id)
                                      .order_by(Code.id)).all()
    ann, bob = make.user("Ann Able", "ann@example.org"), make.user("Bob Best", "bob@example.org")
    ann_at, bob_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(minutes=3)
    redeem(ann, code.text, now=ann_at)
    redeem(bob, code.text, now=bob_at)
    db.session.commit()
    page = soup(admin.get(url(org)))
    link = page.find(id=f"code-{code.id}").find("a", string="Redemptions")
    assert link["hx-target"] == f"#redemptions-{code.id}"
    assert page.find("tr", id=f"redemptions-{code.id}").has_attr("hidden")

    part = soup(admin.get(link["hx-get"], headers=HX))
    assert part.find("html") is None
    row = part.find("tr", id=f"redemptions-{code.id}")
    assert not row.has_attr("hidden")
    people = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in row.select("tbody tr")]
    assert people == [["Ann Able", "ann@example.org", format_local(org, ann_at)],
                      ["Bob Best", "bob@example.org", format_local(org, bob_at)]]
    assert "Redeemed 2 times" in row.get_text()

    full = admin.get(link["href"])
    assert full.status_code == 200 and full.headers["Vary"].startswith("HX-Request")
    page = soup(full)
    assert page.find("h1").get_text(" ", strip=True) == f"Code {code.text}"
    assert "Ann Able" in page.get_text() and "Bob Best" in page.get_text()
    assert page.find("a", string="← Back to the codes")["href"] == url(org)

    empty = soup(admin.get(url(org, f"/codes/{unused.id}/redemptions"), headers=HX))
    assert "No one has redeemed this code yet." in empty.get_text()


def test_codes_of_another_organization_are_not_found_here(admin, school, make):
    org = school[0]
    elsewhere = make.org(name="Elm School")
    theirs = make.code(elsewhere, "ELM-CODE-2027", classrooms=[make.classroom(elsewhere)])
    assert admin.get(url(org, f"/codes/{theirs.id}/redemptions")).status_code == 404
    assert admin.post(url(org, f"/codes/{theirs.id}/deactivate")).status_code == 404
    assert db.session.get(Code, theirs.id).deactivated_at is None
    assert admin.get(f"/orgs/{elsewhere.id}/bulk").status_code == 404


def test_a_deleted_code_is_gone_from_the_table(admin, school, make):
    org, room, algebra = school
    code = make.code(org, "GONE-CODE-2027", classrooms=[room])
    code.deleted_at = utcnow()
    db.session.commit()
    assert codes_listed(soup(admin.get(url(org)))) == [room.join_code.text]
    assert admin.post(url(org, f"/codes/{code.id}/deactivate")).status_code == 404


def test_logged_out_is_sent_to_log_in(client, school):
    org = school[0]
    response = client.get(url(org))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = client.get(url(org), headers=HX)
    assert response.status_code == 401 and "/login" in response.headers["HX-Redirect"]
