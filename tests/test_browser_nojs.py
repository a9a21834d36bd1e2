"""Every action with JavaScript off, in Chromium: each is a plain form post that
works and says what it did, and each that cannot be undone asks first on a page
of its own (#confirm) and does nothing until it is answered. One server and one
data set for the whole file; the steps run in order, each on what the one
before left."""

import re

import pytest

from browser_support import ARTIFACTS, TIMEOUT_MS, LiveServer, chromium_path, screenshot
from conftest import PASSWORD, Factory, build_app, need_service

pytestmark = pytest.mark.browser


def seed():
    from codes.parents import operations as parents
    from codes.redeem.operations import redeem

    make = Factory()
    org = make.org(name="Maple High")
    algebra = make.course(org, "Algebra I")
    room_a = make.classroom(org, "Room A")
    room_b = make.classroom(org, "Room B")
    lena = make.user("Lena Leader", "lena@maple.example")
    make.join(org, lena)
    sam = make.user("Sam Student", "sam@maple.example")
    redeem(sam, room_a.join_code.text)
    parents.link_parent(make.user("Pat Parent", "pat@home.example"), parents.make_parent_code(sam, sam).text)
    make.user("Nia New", "nia@maple.example")
    return {
        "org": org.id,
        "room_a": room_a.id,
        "room_b": room_b.id,
        "algebra": algebra.id,
        "lena": lena.id,
        "sam": sam.id,
        "admin": org.admin.email,
        "join_code": room_b.join_code.text,
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    need_service(chromium_path(), "Debian's chromium is not installed (apt-get install chromium)")
    app = build_app(f"sqlite:///{tmp_path_factory.mktemp('nojs') / 'nojs.db'}")
    server = LiveServer(app)
    server.thread.start()
    world = server.run(seed)
    yield server, world
    server.stop()


def no_script_page(browser, server, email):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main form button")
    return context, page


def said(page):
    return page.inner_text("#flashes")


def confirm(page, question, name):
    """The page that asks, then its yes."""
    assert page.url.endswith(page.locator("#confirm form").get_attribute("action"))
    assert question in page.inner_text("#confirm")
    screenshot(page, f"nojs-confirm-{name}")
    page.click("#confirm button.danger")


@pytest.fixture(scope="module")
def admin(browser, served):
    server, world = served
    context, page = no_script_page(browser, server, world["admin"])
    yield page
    context.close()


def test_create_toggle_deactivate_and_delete_a_code(admin, served):
    server, world = served
    tab = f"{server.url}/classrooms/{world['room_a']}/codes"
    admin.goto(tab)
    admin.fill("#text", "NOJS-SPARE-2027")
    admin.click("button:has-text('Create code')")
    assert "Code NOJS-SPARE-2027 created." in said(admin)
    row = admin.locator("tr.code-row", has_text="NOJS-SPARE-2027")
    assert row.locator(".status").inner_text() == "Active"

    row.locator("button.switch").click()
    assert "Code NOJS-SPARE-2027 is off" in said(admin)
    row = admin.locator("tr.code-row", has_text="NOJS-SPARE-2027")
    assert row.locator(".status").inner_text() == "Off"
    row.locator("button.switch").click()
    assert "is on" in said(admin)

    admin.goto(tab)
    admin.locator("tr.code-row", has_text="NOJS-SPARE-2027").locator("button:has-text('Deactivate')").click()
    confirm(admin, "Deactivate NOJS-SPARE-2027 for good?", "deactivate")
    assert "Code NOJS-SPARE-2027 deactivated." in said(admin)
    admin.goto(tab)
    row = admin.locator("tr.code-row", has_text="NOJS-SPARE-2027")
    assert row.locator(".status").inner_text() == "Deactivated"

    row.locator("button:has-text('Delete')").click()
    assert admin.locator("#confirm").count() == 1
    admin.click("#confirm a:has-text('Keep it as it is')")
    assert admin.locator("tr.code-row", has_text="NOJS-SPARE-2027").count() == 1, "kept"
    admin.locator("tr.code-row", has_text="NOJS-SPARE-2027").locator("button:has-text('Delete')").click()
    confirm(admin, "Delete NOJS-SPARE-2027?", "delete")
    assert "Code NOJS-SPARE-2027 deleted." in said(admin)
    admin.goto(tab)
    assert admin.locator("tr.code-row", has_text="NOJS-SPARE-2027").count() == 0


def test_generate_in_bulk_and_deactivate_one(admin, served):
    server, world = served
    admin.goto(f"{server.url}/orgs/{world['org']}/bulk")
    admin.locator("#generate label.check", has_text="Room A").locator("input").check()
    admin.fill("#count", "3")
    admin.fill("#prefix", "NOJS-27")
    admin.locator("#generate button[type=submit]").click()
    assert "3 codes made." in said(admin)
    listed = admin.locator("#generated ol.code-list code").all_inner_texts()
    assert len(listed) == 3 and all(t.startswith("NOJS-27-") for t in listed)
    assert admin.locator("#generated button[data-copy]").is_hidden(), "Copy all needs a script"
    first = admin.locator("#codes-table tbody.code", has_text=listed[0])
    first.locator("button:has-text('Deactivate')").click()
    confirm(admin, f"Deactivate {listed[0]} for good?", "bulk-deactivate")
    assert f"Code {listed[0]} deactivated." in said(admin)
    screenshot(admin, "nojs-bulk")


def test_save_courses_and_add_a_leader(admin, served):
    server, world = served
    settings = f"{server.url}/classrooms/{world['room_a']}/settings"
    admin.goto(settings)
    admin.locator("label.check", has_text="Algebra I").locator("input").check()
    admin.click("button:has-text('Save courses')")
    assert "Courses saved: Room A enrolls its people in Algebra I." in said(admin)
    admin.select_option("#user_id", str(world["lena"]))
    admin.click("button:has-text('Add leader')")
    assert "Lena Leader now leads Room A." in said(admin)
    admin.select_option("#user_id", str(world["lena"]))
    admin.click("button:has-text('Add leader')")
    assert "Lena Leader already leads Room A" in said(admin)


def test_move_then_remove_a_student(admin, served):
    server, world = served
    people = f"{server.url}/orgs/{world['org']}/users"
    admin.goto(people)
    row = admin.locator(f"#person-{world['sam']}")
    picker = row.locator("select[name=to_classroom_id]")
    assert picker.locator("option").all_inner_texts() == ["Move to…", "Room B"]
    picker.select_option(label="Room B")
    row.locator("button:has-text('Move')").click()
    assert "Sam Student moved from Room A to Room B." in said(admin)
    admin.locator(f"#person-{world['sam']}").locator("button.chip-remove").click()
    confirm(admin, "Remove Sam Student from Room B?", "remove")
    assert "Sam Student removed from Room B." in said(admin)
    row = admin.locator(f"#person-{world['sam']}")
    assert row.locator("button:has-text('Place')").count() == 1
    row.locator("select[name=to_classroom_id]").select_option(label="Room A")
    row.locator("button:has-text('Place')").click()
    assert "Sam Student placed in Room A." in said(admin)


def test_revoke_a_parent_link(admin, served):
    server, world = served
    admin.goto(f"{server.url}/orgs/{world['org']}/parents")
    admin.locator("tr.parent-link", has_text="Pat Parent").locator("button:has-text('Revoke')").click()
    confirm(admin, "Revoke Pat Parent's link to Sam Student?", "revoke")
    assert "Pat Parent is no longer linked to Sam Student." in said(admin)
    assert "Revoked" in admin.locator("tr.parent-link", has_text="Pat Parent").inner_text()


def test_a_student_redeems_makes_a_parent_code_and_a_refusal_survives_a_reload(browser, served):
    server, world = served
    context, page = no_script_page(browser, server, "nia@maple.example")
    try:
        page.goto(server.url + "/profile")
        page.fill("#code", world["join_code"])
        page.click("#redeem button")
        assert page.url.endswith("/profile")
        assert "Room B" in page.inner_text("#my-classrooms")
        page.click("#parent-codes button:has-text('Make a parent code')")
        assert "Your new parent code is PARENT-" in said(page)
        assert page.locator("#parent-codes button[data-share]").is_hidden(), "sharing needs a script"
        assert re.search(r"/parents/link\?code=PARENT-", page.inner_text("#parent-codes .link-text"))

        page.fill("#code", "NOT-A-CODE-4242")
        page.click("#redeem button")
        assert page.url.endswith("/redeem")
        assert "We don't recognize that code." in page.inner_text("#code-error")
        screenshot(page, "nojs-refused-code")
        # Opened again (the address bar's Enter), and reloaded: the profile, never a bare 405.
        answer = page.goto(server.url + "/redeem")
        assert answer.status == 200 and page.url.endswith("/profile")
        page.fill("#code", "NOT-A-CODE-4242")
        page.click("#redeem button")
        answer = page.reload()
        assert answer.status != 405
        assert page.locator("#code").count() == 1
    finally:
        context.close()
    assert ARTIFACTS.exists()
