"""What only a browser shows: the organization's seats, the join-code card changing in
place, and the printable page of a code with its QR code."""

import pytest

from browser_support import eventually, log_in, screenshot
from codes.extensions import db
from codes.redeem.operations import redeem
from codes.seats import operations as seats
from conftest import PASSWORD, Factory

pytestmark = pytest.mark.browser


def seed():
    make = Factory()
    org = make.org(name="Maple High", seat_limit=100)
    algebra = make.course(org, "Algebra I")
    rooms = {
        name: make.classroom(org, name, courses=[algebra])
        for name in ("Homeroom 9A", "Homeroom 9B", "Evening class", "Summer school")
    }
    for name, allotment in (("Homeroom 9A", 30), ("Evening class", 12), ("Summer school", 20)):
        seats.set_allotment(org.admin, rooms[name], allotment)
    db.session.commit()
    for name, joining in (("Homeroom 9A", 26), ("Homeroom 9B", 30), ("Evening class", 4)):
        text = rooms[name].join_code.text
        for _ in range(joining):
            redeem(make.user(), text)
            db.session.commit()
    return {
        "admin": org.admin.email,
        "org": org.id,
        "room": rooms["Homeroom 9A"].id,
        "code": rooms["Homeroom 9A"].join_code.id,
    }


def test_the_organization_page_shows_its_seats(live_server, page):
    world = live_server.run(seed)
    log_in(page, live_server, world["admin"], PASSWORD)
    page.goto(f"{live_server.url}/orgs/{world['org']}")
    facts = page.locator("dl.facts")
    assert "60 of 100" in facts.inner_text()
    # 30 - 26 + 12 - 4 + 20 = 32 reserved, leaving 8 free: fewer than 10%.
    assert "32" in facts.locator("div").nth(1).inner_text()
    assert "8" in facts.locator("div").nth(2).inner_text()
    assert page.locator(".seat-warning").is_visible()
    assert "Only 8 of 100 seats are free" in page.inner_text(".seat-warning")
    rows = page.locator("table.seat-table tbody tr")
    assert rows.count() == 4
    assert rows.nth(0).inner_text().split("\t") == ["Evening class", "12", "4", "8"]
    bar = page.locator(".seat-bar").bounding_box()
    assert bar["width"] > 400 and bar["height"] >= 10
    screenshot(page, "seats-org")


def test_staff_change_the_join_code_in_place_and_print_it(live_server, page):
    world = live_server.run(seed)
    log_in(page, live_server, world["admin"], PASSWORD)
    page.goto(f"{live_server.url}/classrooms/{world['room']}")
    card = page.locator("#join-code")
    old = card.locator(".join-code-text code").inner_text()
    assert page.evaluate("document.querySelector('#join-code img.qr').naturalWidth") > 0
    screenshot(page, "seats-join-code")
    page.evaluate("window.stillThisPage = true")
    page.on("dialog", lambda dialog: dialog.accept())
    card.locator("button", has_text="New random code").click()
    page.wait_for_selector("#join-code .flash-success")
    new = page.locator("#join-code .join-code-text code").inner_text()
    assert new != old
    assert page.evaluate("window.stillThisPage") is True, "the page reloaded instead of swapping"
    page.fill("#text", "maple 9a")
    page.locator("#join-code button", has_text="Use this text").click()
    page.wait_for_selector("#text-error")
    assert page.inner_text("#text-error") == "Use only letters, digits and dashes."
    screenshot(page, "seats-join-code-refused")

    page.locator("#join-code a", has_text="Print for a slide or a flyer").click()
    page.wait_for_selector("article.poster")
    assert page.inner_text(".poster-code") == new
    # Clicking a link waits for the new page's elements, not for its images.
    assert eventually(page, lambda: page.evaluate("document.querySelector('.poster-qr').complete"))
    assert page.evaluate("document.querySelector('.poster-qr').naturalWidth") > 0
    assert page.locator("button[data-print]").is_visible()
    screenshot(page, "seats-print")
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible()
    assert not page.locator(".print-tools").is_visible()
    screenshot(page, "seats-print-paper")
