"""In real Chromium, under the strict Content-Security-Policy: every HTML page the app
has (found in app.url_map), as an admin and as a student, loads and runs htmx with
no CSP violation and no console error."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from browser_support import log_in, screenshot
from codes import audit
from codes.extensions import db
from codes.models import User, utcnow
from codes.redeem.operations import redeem
from conftest import PASSWORD, Factory

pytestmark = pytest.mark.browser


def seed():
    make = Factory()
    org = make.org(name="Maple High", timezone="America/New_York")
    teacher = make.user("Theo Teacher", "theo@maple.example")
    algebra = make.course(org, "Algebra I", instructors=[teacher])
    room = make.classroom(org, "Homeroom 9A", courses=[algebra])
    code = make.code(org, "MAPLE-9A-2027", classrooms=[room], max_uses=30)
    student = make.user("Sam Student", "sam@maple.example")
    redeem(student, code.text)
    db.session.commit()
    return {
        "admin": org.admin.email,
        "student": student.email,
        "values": {
            "org_id": org.id,
            "classroom_id": room.id,
            "course_id": algebra.id,
            "code_id": code.id,
            "user_id": student.id,
            "text": code.text,
        },
    }


def html_pages(server, email, values):
    """The paths of every GET route that answers this person with an HTML page."""
    client = server.app.test_client()
    paths = []
    with server.app.app_context():
        client.post("/login", data={"email": email, "password": PASSWORD})
        for rule in sorted(server.app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in rule.methods or not set(rule.arguments) <= set(values):
                continue
            path = rule.build({a: values[a] for a in rule.arguments}, append_unknown=False)[1]
            response = client.get(path)
            if response.status_code == 200 and response.mimetype == "text/html":
                paths.append(path)
            response.close()
        db.session.remove()
    return paths


class Console:
    """What the page says in its console, and the errors it throws."""

    def __init__(self, page):
        self.problems = []
        page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(m.text))
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def take(self):
        problems, self.problems = self.problems, []
        return problems


def visit_all(page, server, paths):
    console = Console(page)
    for path in paths:
        page.goto(server.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("typeof htmx") == "object", f"{path}: htmx did not load"
        assert console.take() == [], path
    # The watcher does see a violation when there is one.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(200)
    assert any("Content Security Policy" in p for p in console.take())


def test_every_page_as_an_admin(live_server, page):
    world = live_server.run(seed)
    paths = html_pages(live_server, world["admin"], world["values"])
    assert {"/orgs", f"/orgs/{world['values']['org_id']}", f"/orgs/{world['values']['org_id']}/audit"} <= set(
        paths
    )
    log_in(page, live_server, world["admin"], PASSWORD)
    visit_all(page, live_server, paths)


def test_every_page_as_a_student_and_redeeming_in_place(live_server, page):
    world = live_server.run(seed)
    paths = html_pages(live_server, world["student"], world["values"])
    assert "/profile" in paths
    log_in(page, live_server, world["student"], PASSWORD)
    visit_all(page, live_server, paths)
    console = Console(page)
    page.goto(live_server.url + "/profile")
    page.fill("#code", "not a code")
    page.click("#redeem button")
    page.wait_for_selector("#code-error")
    assert console.take() == []


def test_pages_before_logging_in(live_server, page):
    live_server.run(seed)
    visit_all(page, live_server, ["/", "/login", "/signup"])


def test_audit_log_filters_and_pages_in_place(live_server, page):
    world = live_server.run(seed)

    def add_attempts():
        student = db.session.scalar(select(User).where(User.email == world["student"]))
        start = utcnow() - timedelta(hours=2)
        for i in range(60):
            event = audit.record(
                student,
                "redeem.unknown",
                org_id=world["values"]["org_id"],
                at=start + timedelta(seconds=i),
                key=f"GUESS{i:02d}",
            )
            event.ip = "192.0.2.44"
        event = audit.record(
            student,
            "redeem.limited",
            org_id=world["values"]["org_id"],
            at=start + timedelta(seconds=61),
            key="GUESS61",
        )
        event.ip = "192.0.2.44"

    live_server.run(add_attempts)
    log_in(page, live_server, world["admin"], PASSWORD)
    console = Console(page)
    org_id = world["values"]["org_id"]
    page.goto(f"{live_server.url}/orgs/{org_id}")
    page.click("text=Audit log")
    page.wait_for_selector("#audit-log")
    assert "Someone may be guessing codes." in page.inner_text("#pressure")
    page.evaluate("window.stillThisPage = true")
    page.select_option("#kind", "redeem")
    page.select_option("#outcome", "refused")
    page.click("#audit-log form button")
    page.wait_for_selector("#audit-count:has-text('61 events')")
    assert "kind=redeem" in page.url and "outcome=refused" in page.url
    page.click("a[rel=next]")
    page.wait_for_selector("#audit-count:has-text('page 2 of 2')")
    assert page.locator("tr.audit-row").count() == 11
    assert page.evaluate("window.stillThisPage") is True, "filtered and paged in place"
    page.go_back()
    page.wait_for_selector("#audit-count:has-text('page 1 of 2')")
    page.reload()
    assert page.locator("#pressure").count() == 1, "a pushed URL loads as a whole page"
    assert page.locator("tr.audit-row").count() == 50
    assert console.take() == []
    # Screenshots after the console is checked: Playwright leaves style="" on inputs
    # when it hides the caret, which is Playwright's doing, not the app's.
    screenshot(page, "auditlog-filtered")
    page.goto(f"{live_server.url}/orgs/{org_id}/audit")
    screenshot(page, "auditlog-page")
