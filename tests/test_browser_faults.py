"""In Chromium: an htmx action whose answer is an error (503 busy, 500, a proxy's 502 or
504), or that finds the server down or silent, says so where the person acted, in an
alert screen readers announce, and the last success message no longer shows as if it
were this action's. No console error but the browser's and htmx's own record of the
failed request, no CSP violation."""

import re
import sqlite3
import threading

import pytest
from sqlalchemy.exc import OperationalError

from browser_support import log_in, screenshot
from conftest import PASSWORD, Factory

pytestmark = pytest.mark.browser

UNREACHABLE = "We couldn't reach the server; nothing was changed; try again."
SERVER = "Something went wrong on our side; nothing was changed; try again."
SLOW = "The server took too long to answer; reload the page to see whether it was done, then try again."
# The busy page's own words for an answer shown in place (templates/errors/busy.html).
BUSY = (
    "Too many people at once: Codes could not finish what you asked. Nothing was changed; "
    "wait a few seconds, then try again."
)
PROXY_PAGE = (
    "<html><head><title>{0} Bad Gateway</title></head><body><center><h1>{0}</h1></center>"
    "<hr><center>nginx/1.22.1</center></body></html>"
)

# What Chromium itself logs for a request that failed, and htmx's console.error for
# its own error events, with their target (htmx logs every one; no setting stops it).
EXPECTED_NOISE = re.compile(
    r"Failed to load resource: (the server responded with a status of \d{3} \([A-Z ]+\)"
    r"|net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|SOCKET_NOT_CONNECTED))"
    r"|(Response Status Error Code \d{3} from /\S*|htmx:(afterRequest|sendError|timeout))"
    r", \[object HTML\w*Element\]"
)


class Console:
    """What the page says in its console, and the errors it throws."""

    def __init__(self, page):
        self.problems = []
        page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(m.text))
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def unexpected(self):
        return [p for p in self.problems if not EXPECTED_NOISE.fullmatch(p.strip())]


def seed():
    make = Factory()
    org = make.org(name="Maple High")
    algebra = make.course(org, "Algebra I")
    room = make.classroom(org, "Homeroom 9A", courses=[algebra])
    band = make.classroom(org, "Band")
    make.code(org, "MAPLE-9A-2027", classrooms=[room], max_uses=30)
    make.code(org, "MAPLE-BAND-2027", classrooms=[band], max_uses=30)
    student = make.user("Sam Student", "sam@maple.example")
    return {"admin": org.admin.email, "student": student.email, "room": room.id}


def busy_view():
    # What the app answers when SQLite's lock stays taken: its own 503 page.
    raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))


def broken_view():
    raise RuntimeError("an error the app did not expect")


def proxy_view(status):
    # What nginx answers when the app server died mid-request (502), or did not answer in
    # time (504: the request may still be done afterwards).
    return lambda: (PROXY_PAGE.format(status), status, {"Content-Type": "text/html"})


def joined_then(server, page, world):
    """The student joins once on the profile, so "You joined ..." is on screen."""
    log_in(page, server, world["student"], PASSWORD)
    page.goto(server.url + "/profile")
    page.fill("#code", "MAPLE-9A-2027")
    page.click("#redeem button")
    page.wait_for_selector(".flash-success")
    assert page.inner_text(".flash-success") == "You joined Homeroom 9A, Algebra I."
    page.evaluate("window.stillThisPage = true")


def try_band_code(page):
    page.fill("#code", "MAPLE-BAND-2027")
    page.click("#redeem button")
    page.wait_for_selector("#redeem .request-failed")


def assert_said_in_place(page, console, words):
    # In the page's content; the page's own alert region (templates/base.html) is outside it.
    alert = page.locator("main").get_by_role("alert")
    assert alert.count() == 1
    assert alert.inner_text() == words
    # Right after the form the person used, inside the code box.
    assert page.evaluate(
        "document.querySelector('.request-failed').previousElementSibling.matches('#redeem form')"
    )
    assert page.locator(".flash-success").count() == 0
    assert "You joined" not in page.inner_text("#redeem")
    assert page.input_value("#code") == "MAPLE-BAND-2027", "what the person typed stays"
    assert page.evaluate("window.stillThisPage") is True
    assert console.unexpected() == []


@pytest.mark.parametrize(
    "answer, view, words",
    [
        (503, busy_view, BUSY),
        (500, broken_view, SERVER),
        (502, proxy_view(502), SERVER),
        (504, proxy_view(504), SLOW),
    ],
)
def test_code_box_says_an_error_answer_in_place(live_server, page, monkeypatch, answer, view, words):
    world = live_server.run(seed)
    app = live_server.app
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # a 500 page, as in production
    joined_then(live_server, page, world)
    console = Console(page)
    real = app.view_functions["redeem.redeem"]
    monkeypatch.setitem(app.view_functions, "redeem.redeem", view)
    with page.expect_response(lambda r: r.url.endswith("/redeem")) as response:
        try_band_code(page)
    assert response.value.status == answer
    assert_said_in_place(page, console, words)
    screenshot(page, f"faults-code-box-{answer}")

    # Answered again: the message goes, and the answer shows.
    app.view_functions["redeem.redeem"] = real
    page.click("#redeem button")
    page.wait_for_selector(".flash-success")
    assert page.inner_text(".flash-success") == "You joined Band."
    assert page.locator(".request-failed").count() == 0
    assert console.unexpected() == []


def test_code_box_says_the_server_cannot_be_reached(closing_live_server, page):
    world = closing_live_server.run(seed)
    joined_then(closing_live_server, page, world)
    console = Console(page)
    closing_live_server.stop()
    try_band_code(page)
    assert_said_in_place(page, console, UNREACHABLE)
    assert any("net::ERR_" in p for p in console.problems), "the server was down"
    screenshot(page, "faults-code-box-down")


def test_code_box_says_when_the_server_is_silent_too_long(live_server, page, monkeypatch):
    world = live_server.run(seed)
    joined_then(live_server, page, world)
    console = Console(page)
    released = threading.Event()

    def silent():
        released.wait(10)
        return ""

    monkeypatch.setitem(live_server.app.view_functions, "redeem.redeem", silent)
    # base.html waits 90 s, longer than the proxy and gunicorn (deploy/nginx.conf.template);
    # a second here, rather than the test waiting that long.
    page.evaluate("htmx.config.timeout = 1000")
    try:
        try_band_code(page)
    finally:
        released.set()
    assert_said_in_place(page, console, SLOW)
    screenshot(page, "faults-code-box-timeout")


def test_a_row_action_says_it_failed_in_its_row(closing_live_server, page):
    world = closing_live_server.run(seed)
    log_in(page, closing_live_server, world["admin"], PASSWORD)
    page.goto(f"{closing_live_server.url}/classrooms/{world['room']}/codes")
    console = Console(page)
    closing_live_server.stop()
    row = page.locator("tr.code-row").first
    row.locator("button.switch").click()
    row.locator(".request-failed").wait_for()
    assert row.get_by_role("alert").inner_text() == UNREACHABLE
    assert page.evaluate(
        "document.querySelector('.request-failed').previousElementSibling"
        ".querySelector('button.switch') !== null"
    ), "beside the switch"
    assert row.locator(".status").inner_text() == "Active", "the row still says how it is"
    assert console.unexpected() == []
    screenshot(page, "faults-code-row-down")
