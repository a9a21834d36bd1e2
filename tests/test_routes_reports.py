"""The report pages as people see them: figures, the chart's bars and the table
beside it, periods, comparisons, links to them, and each role's scope (404
outside it). Also the student's own page: classrooms, courses, codes used."""

from datetime import timedelta

import pytest

from codes.extensions import db
from codes.manage.operations import delete_code
from codes.models import utcnow
from codes.redeem.operations import redeem
from codes.seats.operations import set_allotment
from conftest import soup, text_of


@pytest.fixture
def school(make):
    """Redemptions 0, 2 and 2 days ago; the code of Room 2 redeemed by someone
    already in; a course code. Leo leads Room 1, Ivy teaches Algebra."""
    org = make.org(name="Oak School", seat_limit=20)
    ivy, leo = make.user("Ivy Instructor"), make.user("Leo Leader")
    algebra = make.course(org, "Algebra", instructors=[ivy])
    room1 = make.classroom(org, "Room 1", leaders=[leo])
    room2 = make.classroom(org, "Room 2")
    email = make.code(org, "EMAIL-CAMPAIGN-27", classrooms=[room1])
    social = make.code(org, "SOCIAL-CAMPAIGN-27", classrooms=[room1])
    room2_code = make.code(org, "ROOM-TWO-2027", classrooms=[room2])
    course_code = make.code(org, "ALGEBRA-2027", courses=[algebra])
    now = utcnow()
    ana, ben, cy = make.user("Ana"), make.user("Ben"), make.user("Cy")
    for user, code, days_ago in [
        (ana, email, 2),
        (ben, email, 2),
        (cy, social, 0),
        (ana, room2_code, 0),
        (make.user("Eve"), course_code, 1),
    ]:
        redeem(user, code.text, now=now - timedelta(days=days_ago))
    db.session.commit()
    other = make.org(name="Elm School")
    return dict(
        org=org,
        ivy=ivy,
        leo=leo,
        algebra=algebra,
        room1=room1,
        room2=room2,
        email=email,
        social=social,
        room2_code=room2_code,
        course_code=course_code,
        ana=ana,
        other=other,
    )


def figure(page, name):
    return page.find(id=f"fig-{name}").get_text(" ", strip=True)


def bars(page, chart_id):
    """(new, existing) of each bar the chart draws, with the table beside it."""
    drawn = [(int(g["data-new"]), int(g["data-existing"])) for g in page.select(f"#{chart_id} svg g.bar")]
    table = [
        tuple(int(td.get_text()) for td in tr.find_all("td"))
        for tr in page.select(f"#{chart_id}-data tbody tr")
    ]
    assert [(n + e, n, e) for n, e in drawn] == table, "the table says what the chart draws"
    return drawn


def test_organization_report_for_an_admin(client, school):
    org = school["org"]
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/reports"))
    assert figure(page, "redemptions") == "5" and figure(page, "new") == "4"
    assert figure(page, "existing") == "1" and figure(page, "conversion") == "80%"
    drawn = bars(page, "org-chart")
    assert len(drawn) == 30
    assert drawn[-1] == (1, 1) and drawn[-2] == (1, 0) and drawn[-3] == (2, 0)
    heights = {float(r["height"]) for r in page.select("#org-chart rect.bar-new")}
    assert len(heights) == 2 and max(heights) == pytest.approx(2 * min(heights))
    assert page.select_one("#org-chart svg")["role"] == "img"
    seats = page.find(id="seats").get_text(" ", strip=True)
    assert "4 of 20 taken" in seats and "16 free" in seats
    classrooms = {
        tr.td.get_text(strip=True): [td.get_text(strip=True) for td in tr.find_all("td")][1:]
        for tr in page.select("table.report-classrooms tbody tr")
    }
    assert classrooms == {"Room 1": ["3", "3", "100%", "3"], "Room 2": ["1", "0", "0%", "1"]}
    codes = [tr.td.get_text(strip=True) for tr in page.select("table.report-codes tbody tr")]
    assert codes[0] == "EMAIL-CAMPAIGN-27" and len(codes) == 4


def test_periods_change_the_buckets_and_stay_in_the_links(client, school):
    org = school["org"]
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/reports?period=12w"))
    assert len(page.select("#org-chart g.bar")) == 12
    assert page.select_one(".periods a.current").get_text() == "Last 12 weeks"
    links = [a["href"] for a in page.select(".periods a")]
    assert f"/orgs/{org.id}/reports?period=12m" in links
    room = page.select_one("table.report-classrooms a")["href"]
    assert room == f"/classrooms/{school['room1'].id}/reports?period=12w"
    assert len(soup(client.get(f"/orgs/{org.id}/reports?period=nonsense")).select("#org-chart g.bar")) == 30


def test_a_leader_sees_a_report_of_their_classrooms_without_the_seats(client, school):
    org = school["org"]
    client.login(school["leo"])
    page = soup(client.get(f"/orgs/{org.id}/reports"))
    assert figure(page, "redemptions") == "3"
    assert page.find(id="seats") is None
    rooms = [tr.td.get_text(strip=True) for tr in page.select("table.report-classrooms tbody tr")]
    assert rooms == ["Room 1"]
    assert "ROOM-TWO-2027" not in page.get_text() and "ALGEBRA-2027" not in page.get_text()


def test_classroom_report_and_its_tab(client, school):
    room1 = school["room1"]
    set_allotment(school["org"].admin, room1, 10)
    db.session.commit()
    client.login(school["leo"])
    page = soup(client.get(f"/classrooms/{room1.id}/reports"))
    assert page.select_one(".tabs a.current").get_text() == "Reports"
    assert figure(page, "redemptions") == "3" and figure(page, "members") == "3"
    assert figure(page, "seats") == "3 of 10 allotted"
    assert sum(n + e for n, e in bars(page, "classroom-chart")) == 3
    compare = page.find("a", string="Compare with…")["href"]
    assert compare == f"/orgs/{school['org'].id}/reports/compare?classroom={room1.id}"


def test_code_report(client, school):
    email = school["email"]
    client.login(school["org"].admin)
    page = soup(client.get(f"/codes/{email.id}/report"))
    assert figure(page, "redemptions") == "2" and figure(page, "seats") == "2"
    assert figure(page, "uses") == "2"
    assert bars(page, "code-chart")[-3] == (2, 0)


def redeemers(page):
    return [
        [td.get_text(strip=True) for td in tr.find_all("td")] for tr in page.select("#redeemers tbody tr")
    ]


def ben_email(school):
    from codes.models import User

    return db.session.query(User).filter_by(name="Ben").one().email


def test_code_report_lists_who_redeemed_it_in_pages(client, school, make, monkeypatch):
    from codes.reports import operations

    monkeypatch.setattr(operations, "REDEEMERS_PAGE_SIZE", 2)
    email, org = school["email"], school["org"]
    dee = make.user("Dee", "dee@example.org")
    redeem(dee, email.text)
    db.session.commit()
    client.login(org.admin)
    page = soup(client.get(f"/codes/{email.id}/report"))
    heading = page.select_one("#redeemers h2").get_text(" ", strip=True)
    assert heading == "Redeemed by 3 people"
    first = redeemers(page)  # the latest first
    assert [r[:2] for r in first] == [["Dee", "dee@example.org"], ["Ben", ben_email(school)]]
    assert all(r[2] for r in first), "when each redeemed"
    older = page.select_one("#redeemers a[rel=next]")["href"]
    assert older == f"/codes/{email.id}/report?page=2"
    rest = redeemers(soup(client.get(older)))
    assert rest[0][:2] == ["Ana", school["ana"].email] and len(rest) == 1
    nobody = soup(client.get(f"/codes/{school['room2_code'].id}/report?page=9"))
    assert [r[0] for r in redeemers(nobody)] == ["Ana"]
    course = soup(client.get(f"/codes/{school['course_code'].id}/report"))
    assert [r[0] for r in redeemers(course)] == ["Eve"]


@pytest.mark.parametrize(
    "who, url, status",
    [
        ("student", "/orgs/{org}/reports", 404),
        ("other_admin", "/orgs/{org}/reports", 404),
        ("ivy", "/orgs/{org}/reports", 200),
        ("leo", "/classrooms/{room2}/reports", 404),
        ("ivy", "/classrooms/{room1}/reports", 404),
        ("other_admin", "/classrooms/{room1}/reports", 404),
        ("leo", "/codes/{room2_code}/report", 404),
        ("leo", "/codes/{email}/report", 200),
        ("ivy", "/codes/{course_code}/report", 200),
        ("ivy", "/codes/{email}/report", 404),
        ("student", "/orgs/{org}/reports/compare", 404),
        ("leo", "/orgs/{org}/reports/compare?code={email}&code={room2_code}", 404),
        ("leo", "/orgs/{org}/reports/compare?classroom={room1}&classroom={room2}", 404),
        ("ivy", "/orgs/{org}/reports/compare?code={course_code}&code={email}", 404),
        ("other_admin", "/orgs/{org}/reports/compare?code={email}&code={social}", 404),
    ],
)
def test_reports_stay_in_scope(client, school, who, url, status):
    users = {
        "student": school["ana"],
        "other_admin": school["other"].admin,
        "ivy": school["ivy"],
        "leo": school["leo"],
    }
    client.login(users[who])
    ids = {k: v.id for k, v in school.items() if hasattr(v, "id")}
    assert client.get(url.format(**ids)).status_code == status


def test_a_deleted_code_has_no_report_but_its_redemptions_count(client, school):
    org = school["org"]
    delete_code(org.admin, school["email"])
    db.session.commit()
    client.login(org.admin)
    assert client.get(f"/codes/{school['email'].id}/report").status_code == 404
    page = soup(client.get(f"/orgs/{org.id}/reports"))
    assert figure(page, "redemptions") == "5"
    row = page.select_one("table.report-codes tbody tr")
    assert "deleted" in row.get_text() and row.find("a") is None


def test_compare_an_email_campaign_with_a_social_one(client, school):
    org = school["org"]
    client.login(school["leo"])
    url = f"/orgs/{org.id}/reports/compare?code={school['email'].id}&code={school['social'].id}&period=30d"
    page = soup(client.get(url))
    heads = [th.get_text(strip=True) for th in page.select("#compare-table thead th")][1:]
    assert heads == ["EMAIL-CAMPAIGN-27", "SOCIAL-CAMPAIGN-27"]

    def row(name):
        return [td.get_text(strip=True) for td in page.select(f"#compare-table tr.row-{name} td")]

    assert row("redemptions") == ["2", "1"] and row("new") == ["2", "1"]
    assert row("conversion") == ["100%", "100%"] and row("seats") == ["2", "1"]
    lines = page.select("#compare-chart g.series")
    assert [g["data-name"] for g in lines] == heads
    assert [int(c["data-value"]) for c in lines[0].find_all("circle")][-3:] == [2, 0, 0]
    assert [int(c["data-value"]) for c in lines[1].find_all("circle")][-1] == 1
    checked = [i["value"] for i in page.select("input[name=code][checked]")]
    assert checked == [str(school["email"].id), str(school["social"].id)]


def test_compare_classrooms_and_codes_together(client, school):
    org = school["org"]
    client.login(org.admin)
    page = soup(
        client.get(
            f"/orgs/{org.id}/reports/compare?classroom={school['room1'].id}"
            f"&classroom={school['room2'].id}&code={school['course_code'].id}&period=all"
        )
    )
    sizes = [td.get_text(" ", strip=True) for td in page.select("#compare-table tr.row-size td")]
    assert sizes == ["1 use", "3 members", "1 member"]


@pytest.mark.parametrize("count", [1, 7])
def test_compare_needs_two_to_six(client, make, school, count):
    org = school["org"]
    codes = [school["email"]] + [
        make.code(org, f"EXTRA-CODE-{i:03d}", classrooms=[school["room1"]]) for i in range(count - 1)
    ]
    client.login(org.admin)
    response = client.get(f"/orgs/{org.id}/reports/compare?" + "&".join(f"code={c.id}" for c in codes))
    assert response.status_code == 422
    assert soup(response).find(id="compare-error").get_text(strip=True) == (
        f"Choose 2 to 6 codes or classrooms to compare (you chose {count})."
    )


def test_links_to_the_reports_and_people(client, school):
    org, room1 = school["org"], school["room1"]
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}"))
    hrefs = {a["href"] for a in page.select("a")}
    assert {f"/orgs/{org.id}/reports", f"/orgs/{org.id}/users"} <= hrefs
    tree = {a["href"] for a in soup(client.get(f"/classrooms/{room1.id}")).select("nav.tree a")}
    assert {f"/orgs/{org.id}/reports", f"/orgs/{org.id}/users"} <= tree
    tabs = {a["href"] for a in soup(client.get(f"/classrooms/{room1.id}")).select("nav.tabs a")}
    assert f"/classrooms/{room1.id}/reports" in tabs


def test_a_students_own_page_shows_classrooms_courses_and_codes_used(client, school, make):
    ana = school["ana"]
    redeem(ana, school["course_code"].text)
    db.session.commit()
    client.login(ana)
    page = soup(client.get("/profile"))
    assert [li.contents[0].strip() for li in page.select("#my-classrooms li")] == ["Room 1", "Room 2"]
    assert [li.contents[0].strip() for li in page.select("#my-courses li")] == ["Algebra"]
    used = text_of(client.get("/profile"))
    for text in ("EMAIL-CAMPAIGN-27", "ROOM-TWO-2027", "ALGEBRA-2027"):
        assert text in used


def choices(page, name):
    return [box.parent.get_text(strip=True) for box in page.select(f"#compare-choices input[name={name}]")]


def test_compare_picker_finds_codes_and_classrooms_by_a_search(client, school):
    org = school["org"]
    client.login(org.admin)
    base = f"/orgs/{org.id}/reports/compare"
    page = soup(client.get(base))
    search = page.select_one("form.compare-form input[name=q]")
    assert search["type"] == "search" and page.find("label", attrs={"for": search["id"]})
    assert len(choices(page, "code")) >= 4
    found = soup(client.get(base, query_string={"q": "campaign"}))
    assert choices(found, "code") == ["EMAIL-CAMPAIGN-27", "SOCIAL-CAMPAIGN-27"]
    assert choices(found, "classroom") == []
    assert "None match." in found.select_one("#compare-choices").get_text()
    # What the search would leave out stays when chosen, still ticked.
    kept = soup(client.get(base, query_string={"q": "room 2", "code": school["room2_code"].id}))
    assert choices(kept, "classroom") == ["Room 2"]
    assert choices(kept, "code") == ["ROOM-TWO-2027"]
    assert kept.select_one("#compare-choices input[name=code]").has_attr("checked")
    # Typed dashes or not, O or 0: a code is found by its lookup key.
    assert choices(soup(client.get(base, query_string={"q": "algebra2o27"})), "code") == ["ALGEBRA-2027"]
    # With htmx the box filters as one types: only the choices come back.
    assert search["data-hx-get"] == base
    assert search["data-hx-target"] == "#compare-choices"
    assert search["data-hx-include"] == "closest form"
    fragment = client.get(base, query_string={"q": "campaign"}, headers={"HX-Request": "true"})
    assert "HX-Request" in fragment.headers["Vary"]
    part = soup(fragment)
    assert part.find("html") is None and part.find("form") is None
    assert choices(part, "code") == ["EMAIL-CAMPAIGN-27", "SOCIAL-CAMPAIGN-27"]


def test_two_identical_series_are_both_drawn_and_said_to_coincide(client, school):
    org = school["org"]
    client.login(org.admin)
    social, room2_code = school["social"], school["room2_code"]
    page = soup(
        client.get(
            f"/orgs/{org.id}/reports/compare",
            query_string={"code": [social.id, room2_code.id], "period": "30d"},
        )
    )
    series = page.select("#compare-chart g.series")
    assert [g["data-name"] for g in series] == ["SOCIAL-CAMPAIGN-27", "ROOM-TWO-2027"]
    first, second = (g.find("polyline")["points"] for g in series)
    assert first == second, "the same figures"
    assert "coincides" not in series[0]["class"]
    assert "coincides" in series[1]["class"] and "coincides-1" in series[1]["class"]
    legend = page.select_one("#compare-chart .legend").get_text(" ", strip=True)
    assert "ROOM-TWO-2027 coincides with SOCIAL-CAMPAIGN-27" in legend
    different = soup(
        client.get(
            f"/orgs/{org.id}/reports/compare",
            query_string={"code": [social.id, school["email"].id], "period": "30d"},
        )
    )
    assert not different.select("#compare-chart g.series.coincides")
    assert "coincides" not in different.select_one("#compare-chart .legend").get_text()
