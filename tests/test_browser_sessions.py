"""What only a browser shows: the profile's password form swapped in place, and
"Log out everywhere" asking first; another browser of the same person logged out."""

import pytest

from browser_support import TIMEOUT_MS, log_in, screenshot
from conftest import PASSWORD, Factory

pytestmark = pytest.mark.browser


def seed():
    return Factory().user("Sam Student", "sam@maple.example").email


@pytest.fixture
def other_browser(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def logged_out(page, server):
    page.goto(server.url + "/orgs")
    return page.url.startswith(server.url + "/login")


def test_a_new_password_set_in_place_logs_out_the_other_browser(live_server, page, other_browser):
    email = live_server.run(seed)
    log_in(page, live_server, email, PASSWORD)
    log_in(other_browser, live_server, email, PASSWORD)
    page.goto(live_server.url + "/profile")
    page.evaluate("window.stillThisPage = true")
    page.fill("#current_password", "not-my-password")
    page.fill("#new_password", "a-brand-new-one")
    page.click("#change-password form:not(.inline) button")
    page.wait_for_selector("#current_password-error")
    assert page.inner_text("#current_password-error") == "That is not your current password."
    screenshot(page, "sessions-password-refused")
    page.fill("#current_password", PASSWORD)
    page.fill("#new_password", "a-brand-new-one")
    page.click("#change-password form:not(.inline) button")
    page.wait_for_selector("#change-password .flash-success")
    assert "logged out everywhere else" in page.inner_text("#change-password .flash-success")
    assert page.evaluate("window.stillThisPage") is True, "the page reloaded instead of swapping"
    screenshot(page, "sessions-password-changed")
    assert logged_out(other_browser, live_server)
    assert not logged_out(page, live_server)


def test_log_out_everywhere_asks_then_logs_out_every_browser(live_server, page, other_browser):
    email = live_server.run(seed)
    log_in(page, live_server, email, PASSWORD)
    log_in(other_browser, live_server, email, PASSWORD)
    page.goto(live_server.url + "/profile")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("button:text('Log out everywhere')")
    assert asked == ["Log out on every device, this one too?"]
    assert not logged_out(other_browser, live_server)
    page.goto(live_server.url + "/profile")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:text('Log out everywhere')")
    page.wait_for_url(live_server.url + "/login")
    assert "You are logged out everywhere" in page.inner_text(".flashes")
    assert logged_out(other_browser, live_server)
    assert logged_out(page, live_server)
