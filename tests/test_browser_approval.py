"""The approval queue in Chromium: staff accept and decline in place with htmx, the
person's profile says the outcome, and the page fits a phone."""

import pytest

from browser_support import log_in, screenshot
from codes.extensions import db
from codes.redeem.operations import redeem
from conftest import PASSWORD, Factory

pytestmark = pytest.mark.browser


def seed():
    make = Factory()
    org = make.org(name="Maple High")
    leader = make.user("Lena Leader", "lena@maple.example")
    room = make.classroom(org, "Homeroom 9A", leaders=[leader])
    code = make.code(org, "MAPLE-ASK-2027", classrooms=[room], approval=True, max_uses=30)
    people = [
        make.user("Sam Student", "sam@maple.example"),
        make.user("Cleo Classmate", "cleo@maple.example"),
        make.user("Una Unknown", "una@elsewhere.example"),
    ]
    for person in people:
        redeem(person, code.text)
    db.session.commit()
    return {"leader": leader.email, "student": people[0].email, "code": code.id, "room": room.id}


def test_staff_accept_and_decline_in_place_and_the_student_sees_it(live_server, page):
    world = live_server.run(seed)
    log_in(page, live_server, world["leader"], PASSWORD)
    page.goto(f"{live_server.url}/classrooms/{world['room']}/codes")
    assert "3 people wait for approval" in page.inner_text("#waiting-note")
    page.click(f"#code-{world['code']} a:has-text('3 waiting')")
    page.wait_for_selector("#requests")
    assert page.inner_text("#waiting-count") == "3 waiting"
    screenshot(page, "approval-queue")
    page.evaluate("window.stillThisPage = true")

    page.click("button[aria-label='Accept Sam Student']")
    page.wait_for_selector("#waiting-count:has-text('2 waiting')")
    assert "Sam Student is in" in page.inner_text("#flashes")
    assert "Sam Student" not in page.inner_text("#requests")

    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.click("button[aria-label='Decline Una Unknown']")
    page.wait_for_selector("#waiting-count:has-text('1 waiting')")
    assert questions and questions[0].startswith("Decline Una Unknown's request")
    assert "Una Unknown's request was declined." in page.inner_text("#flashes")
    assert page.evaluate("window.stillThisPage") is True, "the page reloaded instead of swapping"
    screenshot(page, "approval-queue-answered")

    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "approval-queue-phone")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Accept all 1')")
    page.wait_for_selector("#requests", state="detached")
    assert "1 request accepted." in page.inner_text("#flashes")
    assert page.query_selector("#waiting-count") is None

    page.context.clear_cookies()
    log_in(page, live_server, world["student"], PASSWORD)
    page.goto(live_server.url + "/profile")
    assert "MAPLE-ASK-2027 at Maple High: accepted on" in page.inner_text("#my-requests")
    assert "Homeroom 9A" in page.inner_text("#my-classrooms")
    page.set_viewport_size({"width": 360, "height": 740})
    screenshot(page, "approval-profile-phone")
