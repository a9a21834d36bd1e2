"""What only a browser shows: htmx swapping the code box and a code's switch in place."""

import pytest

from browser_support import log_in, screenshot
from conftest import PASSWORD, Factory

pytestmark = pytest.mark.browser


def seed():
    make = Factory()
    org = make.org(name="Maple High")
    algebra = make.course(org, "Algebra I")
    room = make.classroom(org, "Homeroom 9A", courses=[algebra])
    make.code(org, "MAPLE-9A-2027", classrooms=[room], max_uses=30)
    student = make.user("Sam Student", "sam@maple.example")
    return {"admin": org.admin.email, "student": student.email, "room": room.id}


def test_student_redeems_on_profile_in_place(live_server, page):
    world = live_server.run(seed)
    log_in(page, live_server, world["student"], PASSWORD)
    page.goto(live_server.url + "/profile")
    assert "None yet." in page.inner_text("#my-classrooms")
    page.evaluate("window.stillThisPage = true")
    page.fill("#code", "nope-nope")
    page.click("#redeem button")
    page.wait_for_selector("#code-error")
    assert "We don't recognize that code" in page.inner_text("#code-error")
    screenshot(page, "spine-profile-refused")
    page.fill("#code", "maple 9a 2027")
    page.click("#redeem button")
    page.wait_for_selector(".flash-success")
    assert page.inner_text(".flash-success") == "You joined Homeroom 9A, Algebra I."
    assert "Homeroom 9A" in page.inner_text("#my-classrooms")
    assert "Algebra I" in page.inner_text("#my-courses")
    assert page.evaluate("window.stillThisPage") is True, "the page reloaded instead of swapping"
    screenshot(page, "spine-profile-joined")


def test_staff_flip_a_code_off_and_on_in_place(live_server, page):
    world = live_server.run(seed)
    log_in(page, live_server, world["admin"], PASSWORD)
    page.goto(f"{live_server.url}/classrooms/{world['room']}/codes")
    row = page.locator("tr.code-row").first
    assert row.locator(".status").inner_text() == "Active"
    page.evaluate("window.stillThisPage = true")
    row.locator("button.switch").click()
    page.wait_for_selector("tr.code-row.status-off")
    assert page.locator("tr.code-row .status").first.inner_text() == "Off"
    screenshot(page, "spine-codes-off")
    page.locator("tr.code-row button.switch").first.click()
    page.wait_for_selector("tr.code-row.status-active")
    assert page.evaluate("window.stillThisPage") is True
    screenshot(page, "spine-codes-tab")
