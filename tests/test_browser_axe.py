"""axe-core (vendored in tests/vendor/axe-core, never fetched) finds no violation on
any main page of any role, at 360 and 1366 px wide, nor in the states htmx swaps
in: a generated-codes panel, an open redemptions row, forms with errors, a switch
flipped. One server and one data set; the pages in a loop."""

from pathlib import Path

import pytest

from a11y_support import ROLES, main_pages, seed
from browser_support import TIMEOUT_MS, log_in, screenshot
from conftest import PASSWORD

pytestmark = pytest.mark.browser

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
WIDTHS = ({"width": 1366, "height": 768}, {"width": 360, "height": 740})
# The WCAG 2.x A and AA rules and axe's best practices; its experimental rules are left out.
RUN = """() => axe.run(document, {resultTypes: ["violations"], runOnly: {type: "tag",
    values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}})
  .then(result => result.violations.map(v => v.id + " (" + v.impact + "): " + v.help + " at " +
        v.nodes.map(n => n.target.join(" ")).slice(0, 5).join(", ")))"""


def violations(page, label):
    """axe's violations on the page as it is now. The script is evaluated through
    the browser's debugging protocol, which the page's strict CSP does not govern."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE)
    return [f"{label}: {v}" for v in page.evaluate(RUN)]


@pytest.fixture
def world(live_server):
    return live_server.run(seed)


def test_no_axe_violation_on_any_page_or_state(live_server, browser, world):
    found = []
    pages_of = {}
    for role, path in main_pages(world):
        pages_of.setdefault(role, []).append(path)
    for role in ROLES:
        context = browser.new_context(viewport=WIDTHS[0])
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        if role != "anonymous":
            log_in(page, live_server, world["emails"][role], PASSWORD)
        for size in WIDTHS:
            page.set_viewport_size(size)
            for path in pages_of[role]:
                page.goto(live_server.url + path)
                found += violations(page, f"{role} {path} at {size['width']}")
        states(page, role, world, live_server.url, found)
        context.close()
    assert not found, f"{len(found)} violations:\n" + "\n".join(found)


def states(page, role, world, url, found):
    """The states htmx swaps in, each looked at as the person sees it then."""
    page.set_viewport_size(WIDTHS[0])
    if role == "anonymous":
        page.goto(url + "/signup")
        page.fill("#name", "Nia New")
        page.fill("#email", "not-an-email")
        page.click("main form button")
        page.wait_for_selector("#email-error")
        found += violations(page, "signup refused")
    elif role == "student":
        page.goto(url + "/profile")
        page.fill("#code", "NOPE-NOPE")
        page.click("#redeem button")
        page.wait_for_selector("#code-error")
        found += violations(page, "profile, code refused")
        page.fill("#code", "CHEMISTRY-2027")
        page.click("#redeem button")
        page.wait_for_selector("#redeem .flash-success")
        found += violations(page, "profile, code redeemed")
    elif role == "leader":
        page.goto(f"{url}/classrooms/{world['room']}/codes")
        row = f"#code-{world['code']}"
        page.click(f"{row} button.switch")
        page.wait_for_selector(f"{row}.status-off")
        found += violations(page, "classroom codes, a code switched off")
    elif role == "admin":
        bulk = f"{url}/orgs/{world['org']}/bulk"
        page.goto(bulk)
        page.fill("#count", "0")
        page.click("#generate button[type=submit]")
        page.wait_for_selector("#generate .has-error")
        found += violations(page, "bulk, generate refused")
        page.get_by_label("Homeroom 9A").check()
        page.fill("#count", "4")
        page.click("#generate button[type=submit]")
        page.wait_for_selector("#generated")
        found += violations(page, "bulk, codes generated")
        screenshot(page, "axe-bulk-generated")
        # The leaders' turn switched the code off: not among the live codes the table starts with.
        page.select_option("#status-filter", "all")
        page.wait_for_selector(f"#code-{world['code']}")
        found += violations(page, "bulk, codes of any status")
        code = page.locator(f"#code-{world['code']}")
        code.get_by_role("link", name="Redemptions").click()
        code.locator(".redemptions-row td").get_by_text("Sam Student").wait_for()
        found += violations(page, "bulk, redemptions open")
        screenshot(page, "axe-bulk-redemptions")
        for size in WIDTHS:
            page.set_viewport_size(size)
            found += violations(page, f"bulk, redemptions open at {size['width']}")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.click("#bulk-actions button[type=submit]")
        page.wait_for_selector("#bulk-actions .has-error")
        found += violations(page, "bulk, an action on no codes refused")
        page.locator("#codes-table input.pick").first.check()
        page.select_option("#bulk_action", "off")
        page.click("#bulk-actions button[type=submit]")
        page.wait_for_selector("#bulk-panel form")
        for size in WIDTHS:
            page.set_viewport_size(size)
            found += violations(page, f"bulk, an action asked at {size['width']}")
        page.locator("#bulk-panel button").click()
        page.wait_for_selector("#bulk-panel .flash")
        found += violations(page, "bulk, an action done")
        screenshot(page, "axe-bulk-action-done")
