"""What only a browser shows: a student making a parent code in place, a teacher
flipping a classroom's parent switch in place, and a parent linking in place."""

import pytest

from browser_support import eventually, log_in, screenshot
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
    switch = page.locator("#classroom-parents button.switch")
    assert switch.get_attribute("aria-pressed") == "false"
    switch.click()
    page.wait_for_selector("#classroom-parents button.switch[aria-pressed=true]")
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


ANNOUNCED = "document.getElementById('announcements').textContent"


def announced(page, words):
    """Whether the words come into the page's own live region (#announcements,
    filled a moment after the answer)."""
    return eventually(page, lambda: words in page.evaluate(ANNOUNCED))


def make_a_code(page, server, world):
    log_in(page, server, world["student"], PASSWORD)
    page.goto(server.url + "/profile")
    page.click("#parent-codes form:last-of-type button")
    page.wait_for_selector("#parent-codes tr.just-made")
    return page.inner_text("#parent-codes tr.just-made .link-text").strip()


def test_share_without_a_share_sheet_copies_the_link_and_says_so(live_server, page):
    world = live_server.run(seed)
    # Chromium on Linux has no share sheet; said here so the test holds wherever it runs.
    page.add_init_script("delete Navigator.prototype.share")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    link = make_a_code(page, live_server, world)
    assert link.startswith(live_server.url + "/parents/link?code=PARENT-")
    share = page.locator("#parent-codes tr.just-made button.share")
    assert share.is_visible(), "shown where the script runs"
    share.click()
    assert announced(page, "Link copied."), "said in the page's live region"
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert page.inner_text("#parent-codes tr.just-made .share-status") == "Link copied."
    screenshot(page, "parents-share-copied")


def test_share_where_copying_is_refused_selects_the_link_and_says_how(live_server, page):
    world = live_server.run(seed)
    page.add_init_script(
        "delete Navigator.prototype.share;"
        "Object.defineProperty(Navigator.prototype, 'clipboard', {configurable: true,"
        " get: function () { return {writeText: function () { return Promise.reject(new Error('no')); }}; }})"
    )
    link = make_a_code(page, live_server, world)
    page.click("#parent-codes tr.just-made button.share")
    eventually(
        page, lambda: "Copying is blocked" in page.evaluate("document.getElementById('alerts').textContent")
    )
    assert page.evaluate("document.getElementById('alerts').textContent").startswith(
        "Copying is blocked here"
    )
    assert page.evaluate("window.getSelection().toString()").strip() == link, "selected, to copy by hand"


def test_share_with_a_share_sheet_hands_it_the_link(live_server, page):
    world = live_server.run(seed)
    page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'share', {configurable: true,"
        " value: function (data) { window.sharedWith = data; return Promise.resolve(); }})"
    )
    link = make_a_code(page, live_server, world)
    page.click("#parent-codes tr.just-made button.share")
    eventually(page, lambda: page.evaluate("window.sharedWith"))
    assert page.evaluate("window.sharedWith") == {"url": link}


def new_student():
    from sqlalchemy import select

    from codes.extensions import db
    from codes.models import Classroom

    Factory().user("Nia New", "nia@maple.example")
    return db.session.scalar(select(Classroom).where(Classroom.name == "Homeroom 9A")).join_code.text


def test_the_parent_codes_panel_comes_with_a_first_code_without_a_reload(live_server, page):
    live_server.run(seed)
    join_code = live_server.run(new_student)
    log_in(page, live_server, "nia@maple.example", PASSWORD)
    page.goto(live_server.url + "/profile")
    assert page.locator("#parent-codes h2").count() == 0, "no student yet, no parent codes"
    page.evaluate("window.stillThisPage = true")
    page.fill("#code", join_code)
    page.click("#redeem form button")
    page.wait_for_selector("#redeem .flash-success")
    page.wait_for_selector("#parent-codes h2")
    assert page.evaluate("window.stillThisPage") is True, "swapped in, not reloaded"
    assert page.inner_text("#parent-codes h2") == "Parent codes"
    assert announced(page, "You joined Homeroom 9A"), "the redemption is what is said"
    page.click("#parent-codes form:last-of-type button")
    page.wait_for_selector("#parent-codes tr.just-made")
    assert page.evaluate("window.stillThisPage") is True, "the panel that came works in place"
    assert page.locator("#parent-codes tr.just-made button.share").is_visible()
    screenshot(page, "parents-panel-after-first-code")
