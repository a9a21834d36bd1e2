"""One organization with something of every kind, and the main pages each role
opens in it: the world the accessibility tests (the Nu checker, axe-core, the
keyboard) look at. Call seed() in an app context (or live_server.run(seed))."""

from sqlalchemy import select

from codes import mail
from codes.access import Scope
from codes.bulk.operations import BatchInput, CodeFilter, generate_batch
from codes.expected import operations as expected
from codes.exports import operations as exports
from codes.extensions import db
from codes.models import Job, ParentLink
from codes.parents.operations import link_parent, make_parent_code
from codes.redeem.operations import redeem
from conftest import Factory

ROLES = ("anonymous", "student", "parent", "teacher", "leader", "admin")


def seed():
    make = Factory()
    org = make.org(name="Maple High")
    teacher = make.user("Theo Teacher", "theo@maple.example")
    leader = make.user("Lena Leader", "lena@maple.example")
    algebra = make.course(org, "Algebra I", instructors=[teacher])
    biology = make.course(org, "Biology")
    room = make.classroom(org, "Homeroom 9A", courses=[algebra, biology], leaders=[leader])
    other = make.classroom(org, "Homeroom 9B")
    code = make.code(org, "MAPLE-9A-2027", classrooms=[room], max_uses=30)
    algebra_code = make.code(org, "ALGEBRA-2027", courses=[algebra])
    chemistry_code = make.code(org, "CHEMISTRY-2027", courses=[make.course(org, "Chemistry")])
    batch = generate_batch(
        org.admin, Scope(org.admin, org), BatchInput(classroom_ids=[room.id], count=5, prefix="FALL")
    )
    student = make.user("Sam Student", "sam@maple.example")
    redeem(student, code.text)
    redeem(make.user("Cleo Classmate", "cleo@maple.example"), code.text)
    parent = make.user("Pat Parent", "pat@home.example")
    link_parent(parent, make_parent_code(student, student).text)
    parent_code = make_parent_code(student, student)
    link = db.session.scalar(select(ParentLink))
    # A code in approval mode with requests waiting (one of them Sam's, on the
    # profile), and one the leak guard switched, with who joined since.
    asking = make.code(org, "MAPLE-ASK-2027", classrooms=[other], approval=True)
    redeem(student, asking.text)
    redeem(make.user("Nia Newcomer", "nia@elsewhere.example"), asking.text)
    leaked = make.code(org, "MAPLE-LEAK-2027", classrooms=[room], hourly_limit=1)
    for name in ("Walt Walkin", "Wren Walkin"):
        redeem(make.user(name, f"{name.split()[0].lower()}@elsewhere.example"), leaked.text)
    expect = expected.read_list("sam@maple.example, Sam Student\nnot.yet@maple.example, Nia Notyet")
    expected.add_expected(org.admin, Scope(org.admin, org), room, expect)
    failed = db.session.get(
        Job,
        mail.queue(
            "kim.long-address-of-someone@a-school-with-a-long-name.example",
            "Maple High invites you to join",
            "Hello",
            org=org,
        ),
    )
    failed.status, failed.attempts, failed.finished_at = "failed", 9, failed.created_at
    failed.last_error = "SMTPRecipientsRefused: {'kim@…': (550, b'5.1.1 No such user here')}"
    db.session.commit()
    # A big export the admin asked for, made: listed on My exports with its link.
    export = exports.ask(org.admin, Scope(org.admin, org), exports.CODES, CodeFilter(status="all"))
    db.session.commit()
    exports.make(export.id, attempt=1)
    return {
        "emails": {
            "student": student.email,
            "parent": parent.email,
            "teacher": teacher.email,
            "leader": leader.email,
            "admin": org.admin.email,
        },
        "org": org.id,
        "room": room.id,
        "other": other.id,
        "algebra": algebra.id,
        "code": code.id,
        "code_text": code.text,
        "student": student.id,
        "batch": batch.id,
        "parent_code": parent_code.id,
        "link": link.id,
        "same_figures": (algebra_code.id, chemistry_code.id),
        "asking": asking.id,
        "leaked": leaked.id,
    }


def main_pages(world):
    """(role, path) for every main page of every role."""
    org, room, course, code = world["org"], world["room"], world["algebra"], world["code"]
    student = world["student"]
    staff_room = [f"/classrooms/{room}", f"/classrooms/{room}/codes", f"/classrooms/{room}/reports"]
    return [
        ("anonymous", "/"),
        ("anonymous", "/login"),
        ("anonymous", "/signup"),
        ("anonymous", "/password/forgot"),
        ("anonymous", "/parents/link?code=PARENT-7KQ4M-X9D2H"),
        ("anonymous", "/login?code=PARENT-7KQ4M-X9D2H"),
        ("student", "/profile"),
        ("student", "/password/change"),
        ("parent", "/parents"),
        ("parent", f"/parents/students/{student}"),
        ("teacher", "/orgs"),
        ("teacher", f"/courses/{course}"),
        ("teacher", f"/courses/{course}/codes"),
        *[("leader", path) for path in staff_room],
        ("leader", f"/classrooms/{room}/expected"),
        ("admin", f"/orgs/{org}"),
        ("admin", f"/orgs/{org}/website?button=Join+Maple+High&opens=new"),
        ("admin", f"/orgs/{org}/bulk"),
        ("admin", f"/orgs/{org}/bulk/codes/{code}/redemptions"),
        ("admin", f"/orgs/{org}/users"),
        ("admin", f"/orgs/{org}/users/{student}"),
        ("admin", f"/orgs/{org}/users/roster"),
        ("admin", f"/orgs/{org}/reports"),
        ("admin", f"/orgs/{org}/reports/compare"),
        # A search in the picker, and two codes of the same figures side by side.
        (
            "admin",
            f"/orgs/{org}/reports/compare?q=2027&code={world['same_figures'][0]}"
            f"&code={world['same_figures'][1]}",
        ),
        ("admin", f"/orgs/{org}/audit"),
        ("admin", f"/orgs/{org}/parents"),
        ("admin", f"/orgs/{org}/deliveries"),
        ("admin", f"/orgs/{org}/notifications"),
        ("leader", f"/orgs/{org}/notifications"),
        ("admin", f"/orgs/{org}/exports"),
        ("leader", f"/orgs/{org}/exports"),
        ("admin", f"/classrooms/{room}/settings"),
        ("admin", f"/codes/{code}/edit"),
        ("admin", f"/codes/{world['asking']}/edit"),
        ("leader", f"/codes/{world['leaked']}/edit"),
        ("admin", f"/codes/{code}/report"),
        ("admin", f"/codes/{code}/print"),
    ]
