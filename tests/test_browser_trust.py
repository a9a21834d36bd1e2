"""What people see of the trust rules, in Chromium: signing up with a code, which
finishes from the mailed link and joins at once; an invitation waiting on the
profile, accepted there; the organization seeing only "invited" until then."""

import pytest

from browser_support import log_in, screenshot
from codes.extensions import db
from codes.orgs import operations as orgs
from conftest import PASSWORD, Factory, link_in

pytestmark = pytest.mark.browser


def school():
    make = Factory()
    org = make.org(name="Maple High School")
    room = make.classroom(org, "Homeroom 9A")
    make.code(org, "MAPLE-9A-2027", classrooms=[room])
    return org.admin.email


@pytest.mark.parametrize("width", [360, 1280])
def test_signing_up_with_a_code_finishes_from_the_mailed_link(live_server, page, outbox, width):
    page.set_viewport_size({"width": width, "height": 800})
    live_server.run(school)
    page.goto(live_server.url + "/join/MAPLE-9A-2027")
    page.wait_for_load_state("networkidle")
    assert page.url == live_server.url + "/signup?code=MAPLE-9A-2027", "the code's link opens sign-up"
    page.fill("#name", "Nia New")
    page.fill("#email", "nia@student.example")
    page.fill("#password", "a-long-password")
    assert page.input_value("#code") == "MAPLE-9A-2027"
    page.click("form button")
    page.wait_for_selector("h1:text('Check your email')")
    assert "nia@student.example" in page.inner_text("main")
    screenshot(page, f"trust-signup-sent-{width}")
    page.goto(live_server.url + link_in(outbox[-1], "/signup/finish/"))
    assert page.locator("#password").count() == 0, "the same browser is not asked again"
    screenshot(page, f"trust-signup-finish-{width}")
    page.click("form button")
    page.wait_for_selector(".flash-success")
    assert "You joined Homeroom 9A." in page.inner_text("main")
    assert "Homeroom 9A" in page.inner_text("#my-classrooms")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"trust-signup-joined-{width}")


def test_an_invitation_waits_on_the_profile_and_the_school_sees_only_the_email(live_server, page, outbox):
    def seed():
        make = Factory()
        org = make.org(name="Maple High School")
        kim = make.user("Kim Private-Name", "kim@student.example")
        orgs.invite_person(org.admin, org, kim.email)
        db.session.commit()
        return org.id, org.admin.email, kim.email

    org_id, admin_email, kim_email = live_server.run(seed)
    log_in(page, live_server, admin_email, PASSWORD)
    page.goto(f"{live_server.url}/orgs/{org_id}")
    staff = page.inner_text("main")
    assert "kim@student.example" in staff and "Kim Private-Name" not in staff
    screenshot(page, "trust-org-invited")
    page.click("header form button:text('Log out')")
    log_in(page, live_server, kim_email, PASSWORD)
    page.goto(live_server.url + "/profile")
    invitations = page.locator("#invitations")
    assert "Maple High School invites you to join" in invitations.inner_text()
    screenshot(page, "trust-profile-invitation")
    invitations.locator("button:text('Accept')").click()
    page.wait_for_selector(".flash-success")
    assert "You joined Maple High School." in page.inner_text("main")
    assert page.locator("#invitations").count() == 0
