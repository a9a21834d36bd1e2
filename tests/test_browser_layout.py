"""Every main page of every role fits a phone (360 x 740) and a laptop (1366 x 768)
with no sideways scroll, with the longest names and codes the app accepts in the
data: a 120-character classroom name, long unbroken words, a 40-character code with
no dashes. Codes never wrap at their dashes, charts stay inside the screen, and the
print page of a code fits a 16:9 slide (1280 x 720) and one printed page.

One server, one data set and one browser for the whole file; each role's pages are
visited in a loop at both sizes. Screenshots of every page go to the folder the
first test prints (tests/artifacts/layout/)."""

import re
from datetime import timedelta

import pytest

from browser_support import ARTIFACTS, TIMEOUT_MS, LiveServer
from codes.access import Scope
from codes.bulk.operations import BatchInput, generate_batch
from codes.expected import operations as expected
from codes.extensions import db
from codes.invitations import operations as invitations
from codes.models import utcnow
from codes.parents.operations import link_parent, make_parent_code, set_parents_can_see
from codes.redeem.operations import redeem
from conftest import PASSWORD, Factory, build_app

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "layout"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1366, "height": 768}
SIZES = {"phone": PHONE, "laptop": LAPTOP}

# Exactly 120 characters, the most a classroom's name may have.
LONG_ROOM = (
    "Homeroom 9A with Ms. Featherstonehaugh-Cholmondeley for the Interdisciplinary "
    "Environmental Science and Mathematics Track"
)
LONG_ROOM = (LONG_ROOM + " " + "x" * 120)[:120]
# One word of 60 letters, as a name pasted without spaces would be.
UNBROKEN = "Pneumonoultramicroscopicsilicovolcanoconiosis" + "Supercalifrag"
NO_DASH_CODE = "LONGCODEWITHNODASHES0123456789ABCDEFGHJK"  # 40 characters
DASHED_CODE = "MAPLE-HOMEROOM9A-2027-FALLTERM"
# What a student typed as their name: 120 characters of junk without a space.
JUNK_NAME = ("asdfghjklqwertyuiopzxcvbnm" * 5)[:120]


def seed():
    make = Factory()
    admin = make.user("Adelaide Administrator", "adelaide.administrator.of.the.whole.school@maple.example")
    org = make.org(
        admin=admin,
        name="Maple Grove Unified School District " + UNBROKEN[:30],
        timezone="America/New_York",
        seat_limit=120,
    )
    teacher = make.user("Theodora Teacher " + UNBROKEN, "teacher@maple.example")
    leader = make.user("Leonard Leader", "leader@maple.example")
    course = make.course(org, "Advanced Placement " + UNBROKEN, instructors=[teacher])
    room = make.classroom(org, LONG_ROOM, courses=[course], leaders=[leader])
    other_room = make.classroom(org, UNBROKEN)
    assert len(room.name) == 120
    long_code = make.code(org, NO_DASH_CODE, classrooms=[room], max_uses=500)
    dashed = make.code(org, DASHED_CODE, classrooms=[room, other_room], courses=[course])
    teacher_code = make.code(org, "MAPLE-TEACHER-2027", courses=[course])
    scope = Scope(admin, org)
    batch = generate_batch(
        admin, scope, BatchInput(classroom_ids=[room.id], count=12, prefix="SPRINGSEMESTER2027AB", max_uses=3)
    )
    db.session.commit()
    set_parents_can_see(admin, room, True)

    student = make.user(JUNK_NAME, JUNK_NAME[:60] + "@students.maple.example")
    now = utcnow()
    redeem(student, NO_DASH_CODE, now=now - timedelta(days=3))
    redeem(student, DASHED_CODE, now=now - timedelta(days=1))
    for i in range(8):
        other = make.user(f"Student {i} {UNBROKEN[: 20 + i]}")
        redeem(other, NO_DASH_CODE if i % 2 else DASHED_CODE, now=now - timedelta(days=i))
    parent = make.user("Parent " + UNBROKEN, "parent@maple.example")
    link_parent(parent, make_parent_code(student, student).text)
    make_parent_code(student, student)  # one still open, with its link to send
    asking = make.code(
        org, "MAPLE-APPROVE-EACH-ONE-2027", classrooms=[make.classroom(org, "Waiting room")], approval=True
    )
    redeem(student, asking.text)
    leaked = make.code(org, DASHED_CODE + "-LEAK", classrooms=[room], hourly_limit=1)
    for i in range(2):
        redeem(make.user(f"Walk In {i} {UNBROKEN}"), leaked.text)
    db.session.commit()

    invitations.invite(
        admin, org, "someone.with.an.extraordinarily.long.address.nobreaks@example.org", classroom=room
    )
    expect = [
        student.email,
        "someone.with.an.extraordinarily.long.address.nobreaks@example.org, " + JUNK_NAME,
    ]
    expected.add_expected(admin, scope, room, expected.read_list("\n".join(expect)))
    elsewhere = make.org(name="Riverside Evening Classes " + UNBROKEN)
    invitation = invitations.invite(elsewhere.admin, elsewhere, student.email)
    db.session.commit()
    return {
        "admin": admin.email,
        "teacher": teacher.email,
        "leader": leader.email,
        "student": student.email,
        "parent": parent.email,
        "org": org.id,
        "room": room.id,
        "course": course.id,
        "student_id": student.id,
        "long_code": long_code.id,
        "dashed": dashed.id,
        "teacher_code": teacher_code.id,
        "asking": asking.id,
        "leaked": leaked.id,
        "batch": batch.id,
        "invitation": invitations.token_for(invitation),
    }


def pages(w):
    """Each role's main pages: (name, path)."""
    org, room, course = w["org"], w["room"], w["course"]
    staff_room = [
        ("classroom-members", f"/classrooms/{room}"),
        ("classroom-codes", f"/classrooms/{room}/codes"),
        ("classroom-reports", f"/classrooms/{room}/reports"),
        ("classroom-expected", f"/classrooms/{room}/expected"),
    ]
    return {
        "anonymous": [
            ("home", "/"),
            ("login", "/login"),
            ("signup", f"/signup?code={NO_DASH_CODE}"),
            ("forgot", "/password/forgot"),
        ],
        "student": [("profile", "/profile"), ("invitation", f"/invitations/{w['invitation']}")],
        "parent": [("parents", "/parents"), ("parent-student", f"/parents/students/{w['student_id']}")],
        "teacher": [
            ("orgs", "/orgs"),
            ("course", f"/courses/{course}"),
            ("course-codes", f"/courses/{course}/codes"),
            ("teacher-code-report", f"/codes/{w['teacher_code']}/report"),
        ],
        "leader": staff_room
        + [("org-reports", f"/orgs/{org}/reports"), ("leader-notifications", f"/orgs/{org}/notifications")],
        "admin": [
            ("org", f"/orgs/{org}"),
            ("website-box", f"/orgs/{org}/website?button=" + "Join+" * 8),
            *staff_room,
            ("classroom-settings", f"/classrooms/{room}/settings"),
            ("course", f"/courses/{course}"),
            ("course-codes", f"/courses/{course}/codes"),
            ("bulk", f"/orgs/{org}/bulk"),
            ("bulk-batch", f"/orgs/{org}/bulk?batch={w['batch']}"),
            ("bulk-any-status", f"/orgs/{org}/bulk?status=all&classroom={room}"),
            ("bulk-redemptions", f"/orgs/{org}/bulk/codes/{w['long_code']}/redemptions"),
            ("people", f"/orgs/{org}/users"),
            ("person", f"/orgs/{org}/users/{w['student_id']}"),
            ("roster", f"/orgs/{org}/users/roster"),
            ("reports", f"/orgs/{org}/reports"),
            ("compare", f"/orgs/{org}/reports/compare?code={w['long_code']}&code={w['dashed']}"),
            ("code-report", f"/codes/{w['long_code']}/report"),
            ("code-edit", f"/codes/{w['dashed']}/edit"),
            ("code-approval-queue", f"/codes/{w['asking']}/edit"),
            ("code-leaked", f"/codes/{w['leaked']}/edit"),
            ("audit", f"/orgs/{org}/audit"),
            ("parent-links", f"/orgs/{org}/parents"),
            ("failed-mail", f"/orgs/{org}/deliveries"),
            ("my-exports", f"/orgs/{org}/exports"),
            ("notifications", f"/orgs/{org}/notifications"),
            ("print", f"/codes/{w['long_code']}/print"),
        ],
    }


# What sticks out of the screen, for the failure message: the outermost elements whose
# right edge is past the viewport, unless a box that scrolls on its own holds them.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 0.5) continue;
    let held = false;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX)) { held = true; break; }
      if (p.getBoundingClientRect().right > width + 0.5) { held = true; break; }
    }
    const name = `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`;
    if (!held) out.push(`${name} right=${Math.round(r.right)}`);
  }
  const bar = document.querySelector('.topbar');
  return {scroll: document.documentElement.scrollWidth, width,
          header: bar ? bar.getBoundingClientRect().width : null,
          out: out.slice(0, 8)};
}"""

# Codes shown on a page that break at one of their dashes: an element whose text is
# a code, laid out in more than one line box, with a line ending in a dash.
DASH_BREAKS = """() => {
  const broken = [];
  for (const el of document.querySelectorAll('code, .code-text')) {
    const text = el.textContent.trim();
    if (!text.includes('-')) continue;
    const range = document.createRange();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let lastTop = null;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.length; i++) {
        range.setStart(node, i); range.setEnd(node, i + 1);
        const rect = range.getBoundingClientRect();
        if (rect.width === 0) continue;
        if (lastTop !== null && rect.top > lastTop.top + 2 && lastTop.ch === '-') broken.push(text);
        lastTop = {top: rect.top, ch: node.data[i]};
      }
    }
  }
  return broken;
}"""


# Charts drawn narrower than the screen and every bar inside it: a report's only bar
# was once off the edge, and its chart looked empty.
CHARTS = """() => {
  const width = window.innerWidth;
  return [...document.querySelectorAll('svg.chart')].map(svg => {
    const box = svg.getBoundingClientRect();
    const holder = svg.parentElement.getBoundingClientRect();
    const bars = [...svg.querySelectorAll('rect.bar-new, rect.bar-existing, circle')]
      .map(r => r.getBoundingClientRect()).filter(r => r.width > 0);
    return {left: box.left, right: box.right, width: box.width, holder: holder.width,
            outside: bars.filter(r => r.left < -0.5 || r.right > width + 0.5).length, bars: bars.length};
  });
}"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app = build_app(f"sqlite:///{tmp_path_factory.mktemp('layout') / 'layout.db'}")
    server = LiveServer(app)
    server.thread.start()
    data = server.run(seed)
    yield server, data
    server.stop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def contexts(browser, world):
    """One logged-in browser context per role, reused by every test."""
    server, data = world
    made = {}
    for role in ("anonymous", "student", "parent", "teacher", "leader", "admin"):
        context = browser.new_context(viewport=LAPTOP)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        if role != "anonymous":
            page.goto(server.url + "/login")
            page.fill("#email", data[role])
            page.fill("#password", PASSWORD)
            page.click("main form button")
            page.wait_for_url(re.compile(r".*(?<!/login)$"))
        made[role] = page
    yield made
    for page in made.values():
        page.context.close()


def shoot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_screenshots_folder_is_printed():
    print(f"\nLayout screenshots: {SHOTS}")
    assert SHOTS.parent == ARTIFACTS


@pytest.mark.parametrize("role", ["anonymous", "student", "parent", "teacher", "leader", "admin"])
def test_every_page_of_a_role_fits_a_phone_and_a_laptop(world, contexts, role):
    server, data = world
    page = contexts[role]
    problems = []
    for size_name, size in SIZES.items():
        page.set_viewport_size(size)
        for name, path in pages(data)[role]:
            response = page.goto(server.url + path)
            assert response.status == 200, (role, path, response.status)
            page.wait_for_load_state("networkidle")
            found = page.evaluate(OVERFLOW)
            shoot(page, f"{role}-{name}-{size_name}")
            where = f"{role} {name} at {size['width']}"
            if found["scroll"] > size["width"]:
                problems.append(f"{where}: {found['scroll']} px wide; sticking out: {found['out']}")
            if found["header"] is not None and found["header"] < size["width"]:
                problems.append(f"{where}: the dark header is {found['header']} px wide")
            for chart in page.evaluate(CHARTS):
                if chart["right"] > size["width"] + 0.5 or chart["outside"]:
                    problems.append(f"{where}: a chart sticks out: {chart}")
                if chart["width"] < chart["holder"] - 40:
                    problems.append(f"{where}: a chart does not fill its width: {chart}")
            broken = page.evaluate(DASH_BREAKS)
            if broken:
                problems.append(f"{where}: codes wrap at a dash: {sorted(set(broken))}")
    assert not problems, "\n".join(problems)


def test_reports_draw_their_bars_on_a_phone(world, contexts):
    """The charts the loop above checks are there to be checked: each report page
    draws bars, inside a 360 px screen."""
    server, data = world
    page = contexts["admin"]
    page.set_viewport_size(PHONE)
    for path in (
        f"/orgs/{data['org']}/reports",
        f"/codes/{data['long_code']}/report",
        f"/classrooms/{data['room']}/reports",
    ):
        page.goto(server.url + path)
        charts = page.evaluate(CHARTS)
        assert charts and all(c["bars"] > 0 and c["outside"] == 0 for c in charts), (path, charts)
        assert all(300 <= c["width"] <= PHONE["width"] for c in charts), (path, charts)


def test_a_parent_code_link_fits_a_phone(world, contexts):
    """The link a student sends a parent takes two or three lines of a phone, not eleven."""
    server, _ = world
    page = contexts["student"]
    page.set_viewport_size(PHONE)
    page.goto(server.url + "/profile")
    link = page.locator("#parent-codes .link-text").first
    lines = link.evaluate("""td => {
      const range = document.createRange(); range.selectNodeContents(td);
      const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      return tops.size;
    }""")
    assert 1 <= lines <= 3, f"the parent link wraps over {lines} lines"
    box = link.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert "/parents/link?code=PARENT-" in link.inner_text(), "the whole link is shown"


SLIDE = """() => {
  const rect = sel => { const r = document.querySelector(sel).getBoundingClientRect();
                        return {top: r.top, left: r.left, bottom: r.bottom, right: r.right,
                                width: r.width, height: r.height}; };
  const size = sel => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize);
  const root = document.documentElement;
  return {scrollWidth: root.scrollWidth, scrollHeight: root.scrollHeight,
          navs: document.querySelectorAll('nav, header, .topbar').length,
          code: rect('.poster-code code'), codeSize: size('.poster-code code'),
          qr: rect('.poster-qr'), link: rect('.poster-link'), linkSize: size('.poster-link')};
}"""


def pdf_pages(pdf):
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


@pytest.mark.parametrize("which", ["long_code", "dashed", "teacher_code"])
def test_the_print_page_fills_a_slide_and_prints_on_one_page(world, contexts, which):
    """At 1280 x 720 the code, its QR code and its link are all on the screen at
    once, big enough to read from the back of a hall, with no site navigation;
    printed, it is one A4 or Letter page."""
    server, data = world
    page = contexts["admin"]
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{server.url}/codes/{data[which]}/print")
    page.wait_for_load_state("networkidle")
    shoot(page, f"admin-print-{which}-slide")
    slide = page.evaluate(SLIDE)
    assert slide["navs"] == 0, "no site navigation on the slide"
    assert slide["scrollWidth"] <= 1280 and slide["scrollHeight"] <= 720, slide
    for part in ("code", "qr", "link"):
        box = slide[part]
        inside = box["top"] >= 0 and box["left"] >= 0 and box["bottom"] <= 720 and box["right"] <= 1280
        assert inside, (part, box)
    # A line of text 1/20 of the screen's height or more reads across a hall; the
    # code stays on one line (no wrap inside it, let alone at a dash).
    assert slide["codeSize"] >= 36, slide
    assert slide["code"]["height"] < 2 * slide["codeSize"], "the code is on one line"
    assert slide["qr"]["width"] >= 300 and slide["qr"]["height"] >= 300, slide
    assert slide["linkSize"] >= 28, slide
    for paper in ("A4", "Letter"):
        assert pdf_pages(page.pdf(format=paper, print_background=True)) == 1, f"one {paper} page"
