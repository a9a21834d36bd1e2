"""Staff tools in Chromium (issue 14, part 3): a classroom's expected people added
in place and their addresses copied; the seat forecast's warning on the
organization page. Screenshots at a phone's width and a laptop's."""

import pytest

from browser_support import TIMEOUT_MS, log_in, screenshot
from codes.redeem.operations import redeem
from conftest import PASSWORD, Factory

pytestmark = pytest.mark.browser


def seed():
    """Maple High, 10 seats, 7 taken this month by Homeroom 9A's code: 3 left at
    7 a month, so the forecast warns."""
    make = Factory()
    org = make.org(name="Maple High School", seat_limit=10)
    leader = make.user("Lena Leader", "lena@maple.example")
    room = make.classroom(org, "Homeroom 9A", leaders=[leader])
    code = make.code(org, "MAPLE-9A-2027", classrooms=[room])
    for i in range(7):
        redeem(make.user(f"Student {i}", f"student{i}@maple.example"), code.text)
    return org.id, room.id, org.admin.email, leader.email


@pytest.mark.parametrize("width", [360, 1280])
def test_expected_people_and_the_seat_forecast(live_server, browser, width):
    org_id, room_id, admin_email, leader_email = live_server.run(seed)
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)

    log_in(page, live_server, leader_email, PASSWORD)
    page.goto(f"{live_server.url}/classrooms/{room_id}/expected")
    page.fill(
        "#emails", "student1@maple.example, Student One\nNia Notyet <nia@maple.example>\nbo@maple.example"
    )
    page.click("#expected form.expected-form button")
    page.wait_for_selector("#expected-waiting")
    assert page.url.endswith(f"/classrooms/{room_id}/expected"), "added in place"
    assert "3 people added" in page.inner_text("#flashes")
    assert page.inner_text("#expected-joined .expected-email") == "student1@maple.example"
    assert page.input_value("#expected-addresses") == "bo@maple.example, nia@maple.example"
    page.click("button:text('Copy the addresses')")
    page.wait_for_selector("#expected-waiting .copy-status:text('Copied the addresses.')")
    assert page.evaluate("navigator.clipboard.readText()") == "bo@maple.example, nia@maple.example"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"expected-people-{width}")
    page.click("header form button:text('Log out')")

    log_in(page, live_server, admin_email, PASSWORD)
    page.goto(f"{live_server.url}/orgs/{org_id}")
    assert "runs out within 30 days" in page.inner_text("#seat-forecast-warning")
    assert "the 3 seats left run out in about 12 days" in page.inner_text("#seat-forecast")
    assert page.locator("svg.seat-bar rect.seat-forecast").get_attribute("width") == "30.00"
    page.locator("#seats").scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"seat-forecast-{width}")
    context.close()
