"""What only a browser shows: the organization report's chart as a person sees
it, a comparison of two campaigns, and the users tab filtering in place with the
address bar following, and a roster upload refused then applied."""

import random
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from browser_support import eventually, log_in, screenshot
from codes.extensions import db
from codes.models import utcnow
from codes.redeem.operations import redeem
from conftest import PASSWORD, Factory

pytestmark = pytest.mark.browser


def seed():
    """Maple High over the last 30 days: an email campaign that started strong,
    a social-media code that grew, and a few students who used both."""
    make = Factory()
    org = make.org(name="Maple High", timezone="America/New_York", seat_limit=120)
    algebra = make.course(org, "Algebra I")
    room_a = make.classroom(org, "Homeroom 9A", courses=[algebra])
    room_b = make.classroom(org, "Homeroom 9B")
    email = make.code(org, "SPRING-EMAIL-2027", classrooms=[room_a])
    social = make.code(org, "SPRING-SOCIAL-27", classrooms=[room_b])
    rng = random.Random(7)
    now = utcnow()
    students = []
    for day in range(29, -1, -1):
        for _ in range(max(0, int(rng.gauss(4 if day > 15 else 1.5, 1.2)))):
            students.append((make.user(f"Student {len(students):03d}"), email, day))
        for _ in range(max(0, int(rng.gauss(0.5 if day > 15 else 3, 1.2)))):
            students.append((make.user(f"Student {len(students):03d}"), social, day))
    for user, code, day in students:
        redeem(user, code.text, now=now - timedelta(days=day, hours=rng.randint(0, 10)))
    for user, code, day in students[::6]:
        other = social if code is email else email
        redeem(user, other.text, now=now - timedelta(days=day // 2, hours=1))
    db.session.commit()
    return {"admin": org.admin.email, "org": org.id, "email": email.id, "social": social.id}


def test_organization_report_chart(live_server, page):
    world = live_server.run(seed)
    log_in(page, live_server, world["admin"], PASSWORD)
    page.goto(f"{live_server.url}/orgs/{world['org']}/reports")
    chart = page.locator("#org-chart svg")
    box = chart.bounding_box()
    assert box["width"] > 600 and 200 < box["height"] < 340, "the chart fills the pane, not the screen"
    assert page.locator("#org-chart g.bar").count() == 30
    drawn = page.locator("#org-chart rect.bar-new").count()
    assert drawn > 20
    # Bars stand on the baseline and stay inside the plot.
    baseline = float(page.locator("#org-chart line.baseline").get_attribute("y1"))
    for rect in page.locator("#org-chart rect.bar-new").all()[:5]:
        y, height = float(rect.get_attribute("y")), float(rect.get_attribute("height"))
        assert y + height == pytest.approx(baseline, abs=0.2)
    colour = page.eval_on_selector("#org-chart rect.bar-new", "r => getComputedStyle(r).fill")
    assert colour == "rgb(36, 86, 201)", "the stylesheet colours the bars"
    assert page.locator("#seats").is_visible()
    screenshot(page, "reports-organization")
    page.click("#org-chart + details summary")
    assert page.locator("#org-chart-data").is_visible()


def test_compare_two_campaigns(live_server, page):
    world = live_server.run(seed)
    log_in(page, live_server, world["admin"], PASSWORD)
    page.goto(f"{live_server.url}/orgs/{world['org']}/reports/compare")
    page.check(f"input[name=code][value='{world['email']}']")
    page.check(f"input[name=code][value='{world['social']}']")
    page.click(".compare-form button")
    page.wait_for_selector("#compare-chart")
    assert page.locator("#compare-chart polyline").count() == 2
    assert page.locator("#compare-table tr.row-redemptions td").count() == 2
    screenshot(page, "reports-compare")


def test_users_tab_searches_in_place_and_the_address_follows(live_server, page):
    world = live_server.run(seed)
    log_in(page, live_server, world["admin"], PASSWORD)
    page.goto(f"{live_server.url}/orgs/{world['org']}/users")
    assert page.locator("tr.person-row").count() == 25
    page.evaluate("window.stillThisPage = true")
    page.fill("#q", "Student 00")
    page.wait_for_url("**/users?q=Student%2000*")
    assert eventually(page, lambda: page.evaluate("document.querySelectorAll('tr.person-row').length") == 10)
    assert page.evaluate("window.stillThisPage") is True, "the list was swapped, not the page reloaded"
    screenshot(page, "users-search")
    page.reload()
    assert page.locator("tr.person-row").count() == 10, "the pushed address gives the same list"


def test_roster_upload_lists_the_problems_then_applies(live_server, page, tmp_path):
    world = live_server.run(seed)
    log_in(page, live_server, world["admin"], PASSWORD)
    page.goto(f"{live_server.url}/orgs/{world['org']}/users")
    page.click("text=Upload a roster")
    bad = tmp_path / "roster.csv"
    bad.write_text(
        "email,name,classroom\nnew.one@maple.example,New One,Homeroom 9A\n"
        "new.two@maple,New Two,Homeroom 9A\nnew.three@maple.example,,Homeroom 9C\n"
    )
    page.set_input_files("#roster", str(bad))
    page.click("form[enctype] button")
    page.wait_for_selector("#roster-problems")
    rows = page.locator("#roster-problems tbody tr")
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())] == ["3", "4", "4"]
    screenshot(page, "users-roster-refused")
    good = tmp_path / "good.csv"
    good.write_text(
        "email,name,classroom\nnew.one@maple.example,New One,Homeroom 9A\n"
        "new.two@maple.example,New Two,Homeroom 9B\n"
    )
    page.set_input_files("#roster", str(good))
    page.click("form[enctype] button")
    page.wait_for_selector(".flash-success")
    assert page.inner_text(".flash-success") == ("Roster applied: 2 new accounts, 2 seats taken.")


def seed_many_codes():
    """A school with many codes, two of them redeemed the same way."""
    make = Factory()
    org = make.org(name="Maple High")
    room = make.classroom(org, "Homeroom 9A")
    codes = [make.code(org, f"FALL-{i:03d}-2027", classrooms=[room]) for i in range(40)]
    twin_a = make.code(org, "TWIN-ALPHA-27", classrooms=[room])
    twin_b = make.code(org, "TWIN-BETA-27", classrooms=[room])
    now = utcnow()
    for n, day in enumerate((1, 3, 3, 6)):
        redeem(make.user(f"Ann {n}"), twin_a.text, now=now - timedelta(days=day))
        redeem(make.user(f"Bob {n}"), twin_b.text, now=now - timedelta(days=day))
    db.session.commit()
    return {"admin": org.admin.email, "org": org.id, "codes": len(codes) + 3, "twins": (twin_a.id, twin_b.id)}


def test_compare_picker_filters_as_one_types_and_twins_both_show(live_server, page):
    world = live_server.run(seed_many_codes)
    log_in(page, live_server, world["admin"], PASSWORD)
    base = f"{live_server.url}/orgs/{world['org']}/reports/compare"
    page.goto(base)
    codes = page.locator("#compare-choices input[name=code]")
    assert codes.count() == world["codes"]  # the classroom's join code too
    page.evaluate("window.stillThisPage = true")
    page.focus("#q")
    page.keyboard.type("twin")
    expect(codes).to_have_count(2)
    assert page.evaluate("window.stillThisPage") is True, "filtered in place"
    assert page.evaluate("document.activeElement.id") == "q", "the focus stays in the box"
    codes.nth(0).check()
    codes.nth(1).check()
    page.click("form.compare-form button:has-text('Compare')")
    page.wait_for_load_state("networkidle")
    lines = page.locator("#compare-chart g.series polyline")
    assert lines.count() == 2
    first, second = (line.bounding_box() for line in lines.all())
    assert second["x"] != first["x"] and second["y"] != first["y"], "drawn aside, not on top"
    assert (
        page.eval_on_selector(
            "#compare-chart g.coincides polyline", "l => getComputedStyle(l).strokeDasharray"
        )
        != "none"
    )
    assert "TWIN-BETA-27 coincides with TWIN-ALPHA-27" in page.inner_text("#compare-chart .legend")
    screenshot(page, "compare-twins-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "compare-twins-390")
