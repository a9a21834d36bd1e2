"""What only a browser shows: a student making a parent code in place, a teacher
flipping a classroom's parent switch in place, and a parent linking in place."""
import pytest

from browser_support import log_in, screenshot
from conftest import PASSWORD, Factory

pytestmark = pytest.mark.browser


def seed():
    from codes.parents import operations as parents
    from codes.redeem.operations import redeem

    make = Factory()
    org = make.org(name="Maple High")
    algebra = make.course(org, "Algebra I")
    chemistry = make.course(org, "Chemistry")
    leader = make.user("Lena Leader", "lena@maple.example")
    room = make.classroom(org, "Homeroom 9A", courses=[algebra, chemistry], leaders=[leader])
    club = make.classroom(org, "Chess club", leaders=[leader])
    sam = make.user("Sam Student", "sam@maple.example")
    for classroom in (room, club):
        redeem(sam, classroom.join_code.text)
    redeem(make.user("Cleo Classmate"), room.join_code.text)
    sister = make.user("Sara Student", "sara@maple.example")
    redeem(sister, room.join_code.text)
    parent = make.user("Pat Parent", "pat@home.example")
    parents.link_parent(parent, parents.make_parent_code(sister, sister).text)
    parents.set_parents_can_see(org.admin, club, True)
    return {"leader": leader.email, "student": sam.email, "parent": parent.email, "room": room.id}


def test_a_student_makes_a_code_a_teacher_shares_the_classroom_and_a_parent_links(live_server, page):
    world = live_server.run(seed)

    log_in(page, live_server, world["student"], PASSWORD)
    page.goto(live_server.url + "/profile")
    page.evaluate("window.stillThisPage = true")
    page.click("#parent-codes form:last-of-type button")
    page.wait_for_selector("#parent-codes tr.just-made")
    code = page.inner_text("#parent-codes tr.just-made code")
    assert code.startswith("PARENT-")
    assert page.evaluate("window.stillThisPage") is True, "the page reloaded instead of swapping"
    screenshot(page, "parents-profile-codes")
    page.click("header form button")

    log_in(page, live_server, world["leader"], PASSWORD)
    page.goto(f"{live_server.url}/classrooms/{world['room']}")
    page.evaluate("window.stillThisPage = true")
    switch = page.locator("#classroom-parents button[role=switch]")
    assert switch.get_attribute("aria-checked") == "false"
    switch.click()
    page.wait_for_selector("#classroom-parents button[role=switch][aria-checked=true]")
    assert page.evaluate("window.stillThisPage") is True
    screenshot(page, "parents-classroom-switch")
    page.click("header form button")

    log_in(page, live_server, world["parent"], PASSWORD)
    assert page.url == live_server.url + "/parents"
    page.evaluate("window.stillThisPage = true")
    page.fill("#code", code.lower())
    page.click("#parent-link form button")
    page.wait_for_selector("#parent-link .flash-success")
    assert page.inner_text("#parent-link .flash-success") == "You're now linked to Sam Student."
    assert page.evaluate("window.stillThisPage") is True
    children = page.inner_text("#parent-link")
    assert "Sam Student" in children and "Sara Student" in children
    assert "Homeroom 9A" in children and "Chess club" in children and "Algebra I" in children
    assert "Cleo Classmate" not in page.content()
    screenshot(page, "parents-page")
