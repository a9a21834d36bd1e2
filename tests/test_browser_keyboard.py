"""With the keyboard alone (Tab, Enter, Space, arrows) in Chromium: the skip link
first, then redeem, generate, a switch, deactivate (its question answered) and move.
After each, the focus is where the person goes next and the result is in one of the
page's live regions (templates/base.html), which screen readers announce."""

import pytest

from a11y_support import seed
from browser_support import eventually, log_in, screenshot
from conftest import PASSWORD

pytestmark = pytest.mark.browser

ACTIVE = "document.activeElement"
# The result said: inside a live region present before the answer came.
SAID = """() => [...document.querySelectorAll('[aria-live], [role=status], [role=alert]')]
              .map(region => region.textContent).join(' ')"""


def tab_to(page, selector, most=80):
    """Tab until the focus is on an element matching selector."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate(f"{ACTIVE}.matches({selector!r})"):
            return
    pytest.fail(f"{selector} is not reached with Tab")


def focused(page, selector):
    """Whether the focus is on what the selector names, or comes there a moment
    after (the app moves it once a swap has settled)."""
    return eventually(page, lambda: page.evaluate(f"{ACTIVE}.matches({selector!r})"))


def said(page, words):
    """Whether the words come into a live region (filled a moment after the swap)."""
    return eventually(page, lambda: words in page.evaluate(SAID))


@pytest.fixture
def world(live_server):
    return live_server.run(seed)


def test_skip_link_first_then_redeem_refused_and_joined(live_server, page, world):
    log_in(page, live_server, world["emails"]["student"], PASSWORD)
    page.goto(live_server.url + "/profile")
    page.keyboard.press("Tab")
    assert focused(page, "a.skip-link"), "the skip link is the first Tab stop"
    assert page.locator("a.skip-link").is_visible(), "shown once focused"
    page.keyboard.press("Enter")
    assert focused(page, "main")
    page.keyboard.press("Tab")
    assert focused(page, "#code"), "the code box is the first stop in the main content"

    page.keyboard.type("NOPE-NOPE")
    page.keyboard.press("Enter")
    page.wait_for_selector("#code-error")
    assert focused(page, "#code[aria-invalid=true]"), "back in the box, to correct it"
    assert said(page, "We don't recognize that code")
    assert page.evaluate("document.getElementById('alerts').textContent").startswith("We don't")

    page.keyboard.press("Control+A")
    page.keyboard.type("CHEMISTRY-2027")
    page.keyboard.press("Tab")
    assert focused(page, "#redeem form button")
    page.keyboard.press("Space")
    page.wait_for_selector("#redeem .flash-success")
    assert focused(page, "#redeem .flash-success"), "on the result"
    assert said(page, "You joined Chemistry")
    page.keyboard.press("Tab")
    assert focused(page, "#redeem .flash-success a"), "the course it names is a link"
    page.keyboard.press("Tab")
    assert focused(page, "#code"), "and on to the code box for the next one"
    screenshot(page, "keyboard-redeem-joined")


def test_a_refused_signup_focuses_the_field_with_the_error(live_server, page, world):
    page.goto(live_server.url + "/signup")
    assert focused(page, "#name"), "a fresh form starts at its first field"
    page.keyboard.type("Nia New")
    page.keyboard.press("Tab")
    page.keyboard.type("not-an-email")
    page.keyboard.press("Enter")
    page.wait_for_selector("#email-error")
    assert focused(page, "#email[aria-invalid=true]"), "not back at Name"


def test_generate_with_keys_focuses_the_new_codes(live_server, page, world):
    log_in(page, live_server, world["emails"]["admin"], PASSWORD)
    page.goto(f"{live_server.url}/orgs/{world['org']}/bulk")
    tab_to(page, "#generate input[type=checkbox]")
    page.keyboard.press("Space")
    tab_to(page, "#count")
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    page.wait_for_selector("#generated")
    assert focused(page, "#generated"), "the new codes' panel"
    assert said(page, "Generated codes 3")
    in_view = page.evaluate("document.getElementById('generated').getBoundingClientRect().top")
    # Its top at the top of the screen, give or take a fraction of a pixel of layout.
    assert -1 < in_view < page.viewport_size["height"], "brought into view"
    page.keyboard.press("Tab")
    assert focused(page, "#generated button.copy"), "its Copy all comes next"
    screenshot(page, "keyboard-generated")


def test_a_switch_then_deactivate_with_keys(live_server, page, world):
    log_in(page, live_server, world["emails"]["leader"], PASSWORD)
    page.goto(f"{live_server.url}/classrooms/{world['room']}/codes")
    row = f"#code-{world['code']}"
    tab_to(page, f"{row} button.switch")
    page.keyboard.press("Space")
    page.wait_for_selector(f"{row}.status-off")
    assert focused(page, f"{row} button.switch[aria-pressed=false]"), "the same switch, now off"
    assert said(page, "Off")

    page.keyboard.press("Space")
    page.wait_for_selector(f"{row}.status-active")
    assert focused(page, f"{row} button.switch[aria-pressed=true]")
    assert said(page, "Active")

    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    tab_to(page, f"{row} form[action$='/deactivate'] button")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{row}.status-deactivated")
    assert questions and questions[0].startswith("Deactivate MAPLE-9A-2027")
    assert focused(page, row), "on the code's row, which says what it is now"
    assert said(page, "Deactivated")
    page.keyboard.press("Tab")
    assert focused(page, f"{row} form[action$='/delete'] button"), "what is left to do with it"
    screenshot(page, "keyboard-deactivated")


def test_move_with_keys(live_server, page, world):
    log_in(page, live_server, world["emails"]["admin"], PASSWORD)
    page.goto(f"{live_server.url}/orgs/{world['org']}/users")
    row = f"#person-{world['student']}"
    tab_to(page, f"{row} select[name=to_classroom_id]")
    page.keyboard.press("ArrowDown")
    tab_to(page, f"{row} .move-form button")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{row} .chips:has-text('Homeroom 9B')")
    # The message is the page's (#flashes), said in the live region; the focus
    # stays in the person's row, on Move again (now to where they were).
    assert said(page, "Sam Student moved from Homeroom 9A to Homeroom 9B.")
    assert "Sam Student moved" in page.inner_text("#flashes")
    assert focused(page, f"{row} .move-form button"), "on Move again, in the person's row"
    screenshot(page, "keyboard-moved")


def test_the_leader_picker_narrows_as_one_types_and_keeps_the_focus(live_server, page, world):
    log_in(page, live_server, world["emails"]["admin"], PASSWORD)
    page.goto(live_server.url + f"/classrooms/{world['room']}/settings")
    options = "#leader-picker select[name=user_id] option"
    assert page.locator(options).count() > 2
    page.focus("#leader-search")
    page.keyboard.type("cleo", delay=30)
    eventually(page, lambda: page.locator(options).count() == 1)
    assert page.inner_text(options).startswith("Cleo Classmate")
    assert page.url.endswith("/settings"), "the live search stays on the page"
    assert page.evaluate("document.activeElement.id") == "leader-search", "typing goes on"
    screenshot(page, "keyboard-leader-picker-search")
