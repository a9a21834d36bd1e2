"""What only a browser shows on the bulk page: a batch generated in place, Copy all
putting the codes on the clipboard, the table filtered by batch and searched in
place with the state in the URL, a code deactivated after confirming, its
redemptions opened under its row, and codes ticked and switched off, deactivated
or given a new expiry at once, asked first, with and without JavaScript."""

import pytest
from playwright.sync_api import expect

from browser_support import TIMEOUT_MS, log_in, screenshot
from codes.access import Scope
from codes.bulk.operations import BatchInput, generate_batch
from codes.extensions import db
from codes.models import User
from codes.redeem.operations import redeem
from conftest import PASSWORD, Factory

pytestmark = pytest.mark.browser


@pytest.fixture
def clipboard_page(browser, live_server):
    """A page allowed to write and read the clipboard, as a person's browser asks."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    yield page
    context.close()


def shot(page, name):
    """A screenshot, then the empty style="" Playwright leaves on inputs (it hides
    the caret while shooting) taken away again: htmx would copy it to swapped
    inputs and the page's strict CSP would report every copy as an error."""
    screenshot(page, name)
    page.evaluate("document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))")


def seed():
    make = Factory()
    org = make.org(name="Maple High", timezone="America/Chicago")
    org.default_code_days = 90
    algebra = make.course(org, "Algebra I")
    make.classroom(org, "Homeroom 9A", courses=[algebra])
    make.classroom(org, "Homeroom 9B")
    student = make.user("Sam Student", "sam@maple.example")
    return {"admin": org.admin.email, "org": org.id, "student": student.id}


def redeem_as(user_id, text):
    redeem(db.session.get(User, user_id), text)


def test_generate_copy_filter_deactivate_and_redemptions(live_server, clipboard_page):
    page = clipboard_page
    world = live_server.run(seed)
    log_in(page, live_server, world["admin"], PASSWORD)
    bulk = f"{live_server.url}/orgs/{world['org']}/bulk"
    page.goto(bulk)
    assert page.input_value("#valid_until") != "", "expiry prefilled from the default lifetime"
    shot(page, "bulk-empty")

    page.evaluate("window.stillThisPage = true")
    page.get_by_label("Homeroom 9A").check()
    page.fill("#count", "25")
    page.fill("#prefix", "maple27")
    page.get_by_label("A number of uses").check()
    page.fill("#max_uses", "2")
    page.click("#generate button[type=submit]")
    page.wait_for_selector("#generated")
    codes = page.locator("#generated ol.code-list code").all_inner_texts()
    assert len(codes) == 25 and all(c.startswith("MAPLE27-") for c in codes)
    assert page.evaluate("window.stillThisPage") is True, "generated in place, no reload"
    assert "?made=" in page.url
    # The 25, and the join codes of the two classrooms.
    assert page.locator("#codes-table tr.code-row").count() == 27

    page.click("#generated button.copy")
    page.wait_for_selector("#generated .copy-status:has-text('Copied 25 codes.')")
    assert page.evaluate("navigator.clipboard.readText()") == "\n".join(codes)
    shot(page, "bulk-generated")

    page.fill("#count", "4")
    page.fill("#prefix", "")
    page.get_by_label("Homeroom 9B").check()
    page.click("#generate button[type=submit]")
    expect(page.locator("#generated ol code")).to_have_count(4)
    assert page.locator("#codes-table tr.code-row").count() == 31

    first_batch = page.locator("#batch-filter option").nth(2)
    assert "MAPLE27 · 25 codes" in first_batch.inner_text()
    page.select_option("#batch-filter", first_batch.get_attribute("value"))
    expect(page.locator("#codes-table tr.code-row")).to_have_count(25)
    assert f"batch={first_batch.get_attribute('value')}" in page.url
    assert page.evaluate("window.stillThisPage") is True

    live_server.run(redeem_as, world["student"], codes[0])
    page.fill("#q", codes[0].lower().replace("-", " "))
    expect(page.locator("#codes-table tr.code-row")).to_have_count(1)
    assert "q=" in page.url
    row = page.locator("#codes-table tbody.code").first
    assert row.locator(".uses").inner_text() == "1 / 2"

    page.fill("#q", "")
    expect(page.locator("#codes-table tr.code-row")).to_have_count(25)
    target = page.locator("#codes-table tbody.code", has_text=codes[3])
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    target.get_by_role("button", name="Deactivate").click()
    page.wait_for_selector(f"#codes-table tbody.status-deactivated:has-text('{codes[3]}')")
    assert dialogs and dialogs[0].startswith(f"Deactivate {codes[3]} for good?")
    assert target.get_by_role("button", name="Deactivate").count() == 0

    redeemed = page.locator("#codes-table tbody.code", has_text=codes[0])
    redeemed.get_by_role("link", name="Redemptions").click()
    panel = redeemed.locator(".redemptions-row")
    panel.locator("text=Sam Student").wait_for()
    assert "sam@maple.example" in panel.inner_text()
    assert page.evaluate("window.stillThisPage") is True
    shot(page, "bulk-redemptions")

    page.reload()
    assert page.locator("#batch-filter").input_value() == first_batch.get_attribute("value")
    assert page.locator("#codes-table tr.code-row").count() == 24, "live ones only: not the one deactivated"
    assert page.console_errors == []


def seed_many():
    make = Factory()
    org = make.org(name="Maple High", timezone="America/Chicago")
    make.classroom(org, "Homeroom 9A")
    generate_batch(
        org.admin, Scope(org.admin, org), BatchInput(classroom_ids=[org.classrooms[0].id], count=6)
    )
    db.session.commit()
    return {"admin": org.admin.email, "org": org.id}


def status_counts(page):
    return page.locator("#codes-table .status").all_inner_texts()


@pytest.mark.parametrize("width", [360, 1280])
def test_select_codes_and_act_on_them_with_a_question_that_says_how_many(live_server, browser, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    world = live_server.run(seed_many)
    log_in(page, live_server, world["admin"], PASSWORD)
    page.goto(f"{live_server.url}/orgs/{world['org']}/bulk")
    page.evaluate("window.stillThisPage = true")
    assert page.locator("#status-filter").input_value() == "live"
    boxes = page.locator("#codes-table input.pick")
    assert boxes.count() == 7, "six codes of the batch and the classroom's join code"
    texts = page.locator("#codes-table tr.code-row code").all_inner_texts()
    boxes.nth(0).check()
    boxes.nth(1).check()
    boxes.nth(2).check()
    page.select_option("#bulk_action", "off")
    shot(page, f"bulk-actions-ticked-{width}")
    page.click("#bulk-actions button[type=submit]")
    question = page.locator("#bulk-panel [data-announce]")
    expect(question).to_have_text("Switch off 3 codes? They stop working until they are switched on again.")
    expect(page.locator("#bulk-panel")).to_be_focused()
    expect(page.locator("#announcements")).to_have_text(question.inner_text())
    assert page.locator("#codes-table input.pick:checked").count() == 3, "ticks kept while asking"
    shot(page, f"bulk-actions-asked-{width}")
    page.get_by_role("button", name="Switch off 3 codes").click()
    said = page.locator("#bulk-panel .flash")
    expect(said).to_have_text("3 codes switched off: they stop working until switched on again.")
    expect(page.locator("#announcements")).to_have_text(said.inner_text())
    expect(page.locator("#codes-table tr.code-row")).to_have_count(4)
    shot(page, f"bulk-actions-done-{width}")

    page.select_option("#status-filter", "off")
    expect(page.locator("#codes-table tr.code-row")).to_have_count(3)
    assert "status=off" in page.url
    assert sorted(page.locator("#codes-table tr.code-row code").all_inner_texts()) == sorted(texts[:3])
    page.check("#act_on-1")
    page.select_option("#bulk_action", "deactivate")
    page.click("#bulk-actions button[type=submit]")
    expect(page.locator("#bulk-panel [data-announce]")).to_contain_text("Deactivate 3 codes for good?")
    page.get_by_role("link", name="Keep them as they are").click()
    expect(page.locator("#bulk-panel")).to_have_count(0)
    assert status_counts(page) == ["Off"] * 3, "kept as they were"

    page.go_back()
    expect(page.locator("#status-filter")).to_have_value("live")
    expect(page.locator("#codes-table tr.code-row")).to_have_count(4)
    assert page.evaluate("window.stillThisPage") is True
    assert errors == []
    context.close()


def test_acting_on_codes_without_javascript_asks_on_a_page_of_its_own(live_server, browser):
    context = browser.new_context(viewport={"width": 360, "height": 800}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    world = live_server.run(seed_many)
    log_in(page, live_server, world["admin"], PASSWORD)
    page.goto(f"{live_server.url}/orgs/{world['org']}/bulk?status=live")
    page.locator("#codes-table input.pick").nth(0).check()
    page.locator("#codes-table input.pick").nth(1).check()
    page.select_option("#bulk_action", "expiry")
    page.fill("#new_expiry", "2031-06-30")
    page.click("#bulk-actions button[type=submit]")
    expect(page.locator("h1")).to_have_text("Change the expiry of 2 codes?")
    screenshot(page, "bulk-actions-nojs-asked-360")
    page.get_by_role("button", name="Change the expiry of 2 codes").click()
    expect(page.locator(".flash")).to_have_text("2 codes now expire at the end of 2031-06-30.")
    assert "/bulk" in page.url
    assert page.locator("#codes-table .expires").all_inner_texts()[:2] == ["2031-06-30"] * 2
    screenshot(page, "bulk-actions-nojs-done-360")
    context.close()
