"""The code box on a school's own website, in Chromium (issue 14, part 1): the
admin copies the snippet from the organization's page, the school serves it from
another origin (127.0.0.2, another port), and a logged-out and a logged-in
student each redeem through it."""

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from browser_support import TIMEOUT_MS, log_in, screenshot
from conftest import PASSWORD, Factory, link_in

pytestmark = pytest.mark.browser


def seed():
    make = Factory()
    org = make.org(name="Maple High School")
    room = make.classroom(org, "Homeroom 9A")
    make.code(org, "MAPLE-9A-2027", classrooms=[room])
    sam = make.user("Sam Student", "sam@student.example")
    return org.id, org.admin.email, sam.email


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def school_site(tmp_path):
    """The school's own website: plain files served on another origin."""
    folder = tmp_path / "site"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.2", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.2:{server.server_port}"
    server.shutdown()
    server.server_close()


def new_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return context, page


def submit_from_the_school_site(page, site_url, typed):
    page.goto(site_url + "/enroll.html")
    assert page.title() == "Enroll at Maple High"
    page.fill("#codes-redeem-code", typed)
    page.click("form.codes-redeem button")
    page.wait_for_load_state("networkidle")


def test_students_redeem_through_the_box_on_the_schools_site(live_server, browser, school_site, outbox):
    org_id, admin_email, sam_email = live_server.run(seed)
    folder, site_url = school_site

    admin_context, admin = new_page(browser)
    log_in(admin, live_server, admin_email, PASSWORD)
    for width in (360, 1280):
        admin.set_viewport_size({"width": width, "height": 900})
        admin.goto(f"{live_server.url}/orgs/{org_id}")
        admin.fill("#button", "Join Maple High")
        admin.click("#website button:text('Show the code box')")
        admin.wait_for_selector("#website .website-preview button:text('Join Maple High')")
        assert admin.evaluate("document.documentElement.scrollWidth") <= width
        admin.locator("#website").scroll_into_view_if_needed()
        screenshot(admin, f"website-box-{width}")
    snippet = admin.input_value("#website-snippet")
    admin_context.close()
    assert "<script" not in snippet and "Join Maple High" in snippet
    (folder / "enroll.html").write_text(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Enroll at Maple High</title></head><body><h1>Maple High School</h1>"
        f"<p>Got a code from your teacher? Type it here.</p>{snippet}</body></html>",
        encoding="utf-8",
    )

    # Logged out: sign-up opens with the code, and the mailed link finishes it.
    context, page = new_page(browser)
    submit_from_the_school_site(page, site_url, "maple 9a 2027")
    assert page.url == live_server.url + "/signup?code=maple+9a+2027"
    assert page.input_value("#code") == "maple 9a 2027"
    screenshot(page, "website-box-signup")
    page.fill("#name", "Nia New")
    page.fill("#email", "nia@student.example")
    page.fill("#password", "a-long-password")
    page.click("main form button")
    page.wait_for_selector("h1:text('Check your email')")
    page.goto(live_server.url + link_in(outbox[-1], "/signup/finish/"))
    page.click("main form button")
    page.wait_for_selector(".flash-success")
    assert "You joined Homeroom 9A." in page.inner_text("main")
    context.close()

    # Logged in: the profile opens with the code filled in; nothing is redeemed
    # until the student presses Join.
    context, page = new_page(browser)
    log_in(page, live_server, sam_email, PASSWORD)
    submit_from_the_school_site(page, site_url, "MAPLE-9A-2027")
    assert page.url == live_server.url + "/profile?code=MAPLE-9A-2027"
    assert page.input_value("#code") == "MAPLE-9A-2027"
    assert "Homeroom 9A" not in page.inner_text("main")
    screenshot(page, "website-box-profile")
    page.click("#redeem form button")
    page.wait_for_selector("#redeem .flash-success")
    assert "You joined Homeroom 9A." in page.inner_text("#redeem")
    assert "Homeroom 9A" in page.inner_text("#my-classrooms")
    context.close()
