"""With JavaScript on, in Chromium: the staff's actions answered in place by htmx
(Save courses, Add leader, Move) say what they did in the page's own live region
(#announcements, templates/base.html), without a reload, and leave the focus on
what was used."""

import pytest

from a11y_support import seed
from browser_support import eventually, log_in, screenshot
from conftest import PASSWORD

pytestmark = pytest.mark.browser


def region(page, name):
    return page.evaluate(f"document.getElementById({name!r}).textContent")


def announced(page, words, name="announcements"):
    """Whether the words come into the region (filled a moment after the answer)."""
    return eventually(page, lambda: words in region(page, name))


@pytest.fixture
def world(live_server):
    return live_server.run(seed)


def open_settings(page, server, world):
    log_in(page, server, world["emails"]["admin"], PASSWORD)
    page.goto(f"{server.url}/classrooms/{world['room']}/settings")
    page.evaluate("window.stillThisPage = true")


def test_save_courses_says_what_was_saved_in_place(live_server, page, world):
    open_settings(page, live_server, world)
    page.uncheck("label.check:has-text('Biology') input")
    page.click("button:has-text('Save courses')")
    assert announced(page, "Courses saved: Homeroom 9A enrolls its people in Algebra I.")
    assert page.evaluate("window.stillThisPage") is True, "answered in place, not by a new page"
    assert page.evaluate("document.activeElement.textContent") == "Save courses", "the focus stays"
    assert not page.is_checked("label.check:has-text('Biology') input")
    assert page.is_checked("label.check:has-text('Algebra I') input")
    page.reload()
    assert not page.is_checked("label.check:has-text('Biology') input"), "saved"
    screenshot(page, "announced-save-courses")


def test_add_leader_says_who_leads_now_and_who_did_already(live_server, page, world):
    open_settings(page, live_server, world)
    page.select_option(
        "#leader-picker select[name=user_id]", label="Theo Teacher (theo@maple.example) · staff"
    )
    page.click("button:has-text('Add leader')")
    assert announced(page, "Theo Teacher now leads Homeroom 9A.")
    assert page.evaluate("window.stillThisPage") is True
    assert "Theo Teacher" in page.inner_text("#classroom-leaders ul")
    assert page.evaluate("document.activeElement.textContent") == "Add leader"

    page.select_option(
        "#leader-picker select[name=user_id]",
        label="Lena Leader (lena@maple.example) · leads this classroom already",
    )
    page.click("button:has-text('Add leader')")
    assert announced(page, "Lena Leader already leads Homeroom 9A: nothing was changed.")
    assert page.evaluate("window.stillThisPage") is True
    screenshot(page, "announced-add-leader")


def test_move_says_who_moved_where(live_server, page, world):
    log_in(page, live_server, world["emails"]["admin"], PASSWORD)
    page.goto(f"{live_server.url}/orgs/{world['org']}/users")
    page.evaluate("window.stillThisPage = true")
    row = f"#person-{world['student']}"
    page.select_option(f"{row} select[name=to_classroom_id]", label="Homeroom 9B")
    page.click(f"{row} .move-form button")
    assert announced(page, "Sam Student moved from Homeroom 9A to Homeroom 9B.")
    assert page.evaluate("window.stillThisPage") is True
