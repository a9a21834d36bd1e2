"""What only a browser shows on the bulk page: a batch generated in place, Copy all
putting the codes on the clipboard, the table filtered by batch and searched in
place with the state in the URL, a code deactivated after confirming, and its
redemptions opened under its row."""
import pytest
from playwright.sync_api import expect

from browser_support import log_in, screenshot
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
    page.set_default_timeout(10_000)
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
    assert page.locator("#codes-table tr.code-row").count() == 25
    assert page.console_errors == []
