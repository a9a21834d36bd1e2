"""What the route matrix (tests/test_route_matrix.py) and the fuzz test
(tests/test_fuzz.py) share: one world of two organizations made through the
domain functions, logged-in sessions that any number of fresh clients reuse,
a fingerprint of every row of every table with a way back to it, and a crawler
that reads the app's own pages for their forms."""

import hashlib
import io
import itertools
import json
import re
import sqlite3
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import psycopg
from bs4 import BeautifulSoup
from sqlalchemy import make_url, select, text
from werkzeug.datastructures import EnvironHeaders

import codes
from codes import classroomcounts, create_app, jobs, mail
from codes.access import Scope
from codes.auth.operations import password_reset_token, request_signup, verification_token
from codes.bulk.operations import BatchInput, CodeFilter, generate_batch
from codes.expected import operations as expected_people
from codes.exports import operations as exports
from codes.extensions import db
from codes.invitations import operations as invitations
from codes.models import (
    Classroom,
    ClassroomLeader,
    ClassroomMember,
    Code,
    CodeClassroom,
    CodeCourse,
    Course,
    CourseInstructor,
    Enrollment,
    ExpectedPerson,
    Export,
    Invitation,
    Job,
    JoinRequest,
    OrgMember,
    ParentCode,
    ParentLink,
    User,
    utcnow,
)
from codes.notifications import operations as notifications
from codes.parents.operations import link_parent, make_classroom_parent_codes, make_parent_code
from codes.redeem.operations import redeem
from conftest import PASSWORD, Factory, build_app, postgres_url

DATABASES = ["sqlite", "postgresql"]
HX = {"HX-Request": "true"}
# OPTIONS is answered by the router itself, for any id, from the URL's pattern alone.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def url_rules():
    """The app's rules as url_map has them, read from an app that never opens
    its database (for parametrizing at collection time)."""
    app = create_app({"TESTING": True, "SECRET_KEY": "collect", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


def make_app(kind, tmp_path, **config):
    """An app on a fresh database of its own, as conftest's any_db_app makes them,
    whose requests note whether they looked at htmx's headers (Answer.read_htmx)."""
    url = f"sqlite:///{tmp_path / 'probe.db'}" if kind == "sqlite" else postgres_url()
    app = build_app(url, **config)

    class Request(app.request_class):
        def __init__(self, environ, *args, **kwargs):
            super().__init__(environ, *args, **kwargs)
            self.headers = _WatchedHeaders(self.environ)

    app.request_class = Request
    return app


# Whether the request being answered looked at an HX-* header, or at every header.
_htmx_read = [False]


class _WatchedHeaders(EnvironHeaders):
    """A request's headers, noting in _htmx_read a look at an HX-* header (or at
    all of them): a request that never looked is answered the same with
    HX-Request as without. The app reads them here, through request.headers
    (codes.web.is_htmx), never from the environ itself."""

    _by_name = False

    def _named(self, key, look):
        if not isinstance(key, str) or key.upper().startswith("HX"):
            _htmx_read[0] = True
        # werkzeug finds some by reading them all, which is no look at the others.
        self._by_name = True
        try:
            return look()
        finally:
            self._by_name = False

    def __getitem__(self, key):
        return self._named(key, lambda: super(_WatchedHeaders, self).__getitem__(key))

    def get(self, key, default=None, type=None):
        return self._named(key, lambda: super(_WatchedHeaders, self).get(key, default, type))

    def getlist(self, key, type=None):
        return self._named(key, lambda: super(_WatchedHeaders, self).getlist(key, type))

    def __contains__(self, key):
        return self._named(key, lambda: super(_WatchedHeaders, self).__contains__(key))

    def __iter__(self):
        if not self._by_name:
            _htmx_read[0] = True
        return super().__iter__()


def drop_app(app, kind):
    with app.app_context():
        db.session.remove()
        if kind == "postgresql":
            db.drop_all()
        db.engine.dispose()


# -- the world ------------------------------------------------------------------------


@dataclass(frozen=True)
class Thing:
    """Something a URL or a form can name: its kind, what goes in the URL or the
    field (an id or a text), and its organization ("A", "B" or None)."""

    name: str
    kind: str
    value: object
    org: str | None = None
    # For a mailed link's token: the id of what it stands for (an invitation).
    of: object = None


@dataclass
class World:
    things: dict  # name -> Thing
    people: dict  # role -> (user id, email)
    org_ids: dict  # "A"/"B" -> organization id

    def thing(self, name):
        return self.things[name]

    def value(self, name):
        return self.things[name].value


def _given_up(to, org):
    """A mail of the organization's that a worker tried until its give-up time."""
    job = db.session.get(Job, mail.queue(to, "Given up", "Hello", org=org))
    job.worker = "probe-worker"
    db.session.flush()
    tried = jobs.Claimed(job.id, job.kind, job.key, {}, 1, job.give_up_at)
    assert jobs.failed_attempt(tried, "probe-worker", "550 mailbox gone", now=job.give_up_at) == jobs.FAILED
    return job


def _made_export(admin, org):
    """A big export of the organization's codes the admin asked for, made."""
    export = exports.ask(admin, Scope(admin, org), exports.CODES, CodeFilter())
    db.session.commit()
    exports.make(export.id, attempt=1)
    return export


def build_world(app):
    """Two organizations, A (Oak School) and B (Elm School), with something of every
    kind a URL or a form can name, all made through the domain functions:

    A: admin Ada; Leo leads Oak Room 1 and Oak Room 2; Ivy teaches Algebra, which
    Oak Room 1 takes; Oak Room 3 and Biology have nobody. Codes for Oak Room 1, for
    Algebra, for both (nobody but the admin may touch that one: it leaked, Tia
    joined through it and Walt's request waits), for Oak Room 3, and a batch of
    three for Oak Room 1. Sam joined Oak Room 1 (so Algebra too)
    with its code, Tia Oak Room 3; Pat (not verified) is linked to Sam by a parent
    code, and Sam has an active parent code besides. Olive has an account and no
    organization; A invited her to Oak Room 1 and she has not answered. Nina
    signed up and has not opened the mailed link that finishes it.

    B: admin Bea with a classroom, a course, a code, a batch, a student and a
    linked parent of its own: what A's people must never reach. Max joined both
    (Oak Room 3 and Elm Room); A's parent letters for Oak Room 3 linked Quinn to him.
    B invited Sam (by the email B typed) to Elm Room: his to accept or decline, on
    his profile or through the mailed link, and nobody else's. Each organization has
    a mail given up (failed), listed for its admins with Retry, and a big export its
    admin asked for, ready for that admin alone to download."""
    make = Factory()
    with app.app_context():
        admin_a = make.user("Ada Admin", "ada@oak.example")
        leader = make.user("Leo Leader", "leo@oak.example")
        instructor = make.user("Ivy Instructor", "ivy@oak.example")
        student = make.user("Sam Student", "sam@oak.example")
        student3 = make.user("Tia Student", "tia@oak.example")
        parent = make.user("Pat Parent", "pat@home.example", verified=False)
        outsider = make.user("Olive Outsider", "olive@else.example")
        # Twelve or thirteen hours ahead of UTC: dates at either end of the calendar
        # cross it when they are converted.
        org_a = make.org(admin_a, name="Oak School", timezone="Pacific/Auckland")
        algebra = make.course(org_a, "Algebra", instructors=[instructor])
        biology = make.course(org_a, "Biology")
        room1 = make.classroom(org_a, "Oak Room 1", courses=[algebra], leaders=[leader])
        room2 = make.classroom(org_a, "Oak Room 2", leaders=[leader])
        room3 = make.classroom(org_a, "Oak Room 3")
        room_code = make.code(org_a, "OAK-ROOM1-2027", classrooms=[room1])
        course_code = make.code(org_a, "OAK-ALGEBRA-2027", courses=[algebra])
        mixed_code = make.code(org_a, "OAK-MIXED-2027", classrooms=[room1], courses=[algebra])
        room3_code = make.code(org_a, "OAK-ROOM3-2027", classrooms=[room3])
        batch = generate_batch(
            admin_a,
            Scope(admin_a, org_a),
            BatchInput(
                classroom_ids=[room1.id], count=3, prefix="OAKB", valid_until=utcnow() + timedelta(days=30)
            ),
        )
        redeem(student, room_code.text)
        redeem(student3, room3_code.text)
        # The mixed code leaked: Tia joined through it, then Walt's redemption passed
        # its hourly limit of one and waits for approval (docs/APPROVAL.md).
        db.session.get(Code, mixed_code.id).hourly_limit = 1
        db.session.commit()
        redeem(student3, mixed_code.text)
        db.session.commit()
        redeem(make.user("Walt Walkin", "walt@else.example"), mixed_code.text)
        db.session.commit()
        walt_request = db.session.scalar(select(JoinRequest))
        link_parent(parent, make_parent_code(student, student).text)
        parent_code = make_parent_code(student, student)
        invitation_a = invitations.invite(admin_a, org_a, outsider.email, room1)
        for room in (room1, room3):
            expected_people.add_expected(
                admin_a,
                Scope(admin_a, org_a),
                room,
                expected_people.read_list(f"expected.{room.id}@oak.example"),
            )
        signup = request_signup(
            app.config["SECRET_KEY"],
            "Nina Newcomer",
            "nina@new.example",
            PASSWORD,
            "",
            "",
            "the-browser-nina-signed-up-in",
        )
        db.session.commit()
        link_a = db.session.scalar(select(ParentLink).where(ParentLink.parent_id == parent.id))
        expected_in = {e.classroom_id: e.id for e in db.session.scalars(select(ExpectedPerson))}

        admin_b = make.user("Bea Admin", "bea@elm.example")
        student_b = make.user("Ben Student", "ben@elm.example")
        parent_b = make.user("Pia Parent", "pia@home.example")
        org_b = make.org(admin_b, name="Elm School", timezone="America/Los_Angeles")
        course_b = make.course(org_b, "Chemistry")
        room_b = make.classroom(org_b, "Elm Room", courses=[course_b])
        code_b = make.code(org_b, "ELM-ROOM-2027", classrooms=[room_b])
        batch_b = generate_batch(
            admin_b, Scope(admin_b, org_b), BatchInput(classroom_ids=[room_b.id], count=2, prefix="ELMB")
        )
        redeem(student_b, code_b.text)
        # A student of both: B sees him, and must see nothing of what he does in A.
        both = make.user("Max Both", "max@both.example")
        redeem(both, room3_code.text)
        redeem(both, code_b.text)
        # A's parent letters for Oak Room 3 link Quinn to Max: a link of A's (its code
        # made it), which B must not see although Max is B's student too.
        letters = dict((s.id, c) for s, c in make_classroom_parent_codes(admin_a, room3))
        quinn = make.user("Quinn Parent", "quinn@home.example")
        link_parent(quinn, letters[both.id].text)
        db.session.commit()
        link_both = db.session.scalar(select(ParentLink).where(ParentLink.parent_id == quinn.id))
        link_parent(parent_b, make_parent_code(student_b, student_b).text)
        parent_code_b = make_parent_code(student_b, student_b)
        invitation_b = invitations.invite(admin_b, org_b, student.email, room_b)
        expected_people.add_expected(
            admin_b, Scope(admin_b, org_b), room_b, expected_people.read_list("expected.elm@elm.example")
        )
        db.session.commit()
        expected_b = db.session.scalar(
            select(ExpectedPerson.id).where(ExpectedPerson.classroom_id == room_b.id)
        )
        link_b = db.session.scalar(select(ParentLink).where(ParentLink.parent_id == parent_b.id))
        secret = app.config["SECRET_KEY"]

        # A mail of A's and one of B's that the server refused until their give-up
        # time: each listed on its organization's Failed mail page, with Retry.
        failed_job, failed_job_b = (_given_up(f"gone@{o.id}.example", o) for o in (org_a, org_b))
        db.session.commit()
        export_a, export_b = (_made_export(a, o) for a, o in ((admin_a, org_a), (admin_b, org_b)))

        def t(name, kind, value, org=None, of=None):
            return name, Thing(name, kind, value, org, of)

        things = dict(
            [
                t("org", "org", org_a.id, "A"),
                t("room1", "classroom", room1.id, "A"),
                t("room2", "classroom", room2.id, "A"),
                t("room3", "classroom", room3.id, "A"),
                t("algebra", "course", algebra.id, "A"),
                t("biology", "course", biology.id, "A"),
                t("room_code", "code", room_code.id, "A"),
                t("course_code", "code", course_code.id, "A"),
                t("mixed_code", "code", mixed_code.id, "A"),
                t("room3_code", "code", room3_code.id, "A"),
                t("walt_request", "request", walt_request.id, "A"),
                t("batch", "batch", batch.id, "A"),
                t("expected1", "expected", expected_in[room1.id], "A"),
                t("expected3", "expected", expected_in[room3.id], "A"),
                t("student", "person", student.id, "A"),
                t("student3", "person", student3.id, "A"),
                t("leader", "person", leader.id, "A"),
                t("instructor", "person", instructor.id, "A"),
                t("linked_student", "linked_student", student.id, "A"),
                t("link", "link", link_a.id, "A"),
                t("parent_code", "parent_code", parent_code.id, "A"),
                t("room_code_text", "text", room_code.text),
                t("parent_code_text", "text", parent_code.text),
                t("verify_token", "token", verification_token(secret, parent)),
                t("reset_token", "token", password_reset_token(secret, student)),
                t("signup_token", "token", signup.token),
                t("unsubscribe_token", "token", notifications.unsubscribe_token(admin_a.id, org_a.id)),
                t("failed_job", "job", failed_job.id, "A"),
                t("failed_job_b", "job", failed_job_b.id, "B"),
                t("export", "export", export_a.id, "A"),
                t("export_b", "export", export_b.id, "B"),
                t("invitation", "invitation", invitation_a.id, "A"),
                t(
                    "invite_token",
                    "invite_token",
                    invitations.token_for(invitation_a),
                    "A",
                    of=invitation_a.id,
                ),
                t("accept", "text", "accept"),
                t("decline", "text", "decline"),
                t("css", "file", "css/app.css"),
                t("outsider_email", "text", outsider.email),
                # B's, for the fuzz: ids of another organization's objects.
                t("both", "person", both.id, "B"),
                t("link_both", "link", link_both.id, "A"),
                t("org_b", "org", org_b.id, "B"),
                t("room_b", "classroom", room_b.id, "B"),
                t("course_b", "course", course_b.id, "B"),
                t("code_b", "code", code_b.id, "B"),
                t("batch_b", "batch", batch_b.id, "B"),
                t("student_b", "person", student_b.id, "B"),
                t("link_b", "link", link_b.id, "B"),
                t("parent_code_b", "parent_code", parent_code_b.id, "B"),
                t("code_b_text", "text", code_b.text),
                t("parent_code_b_text", "text", parent_code_b.text),
                t("invitation_b", "invitation", invitation_b.id, "B"),
                t("expected_b", "expected", expected_b, "B"),
                t(
                    "invite_token_b",
                    "invite_token",
                    invitations.token_for(invitation_b),
                    "B",
                    of=invitation_b.id,
                ),
            ]
        )
        people = {
            "student": (student.id, student.email),
            "parent": (parent.id, parent.email),
            "leader": (leader.id, leader.email),
            "instructor": (instructor.id, instructor.email),
            "admin": (admin_a.id, admin_a.email),
            "other_admin": (admin_b.id, admin_b.email),
        }
        world = World(things=things, people=people, org_ids={"A": org_a.id, "B": org_b.id})
        db.session.remove()
    return world


# -- who may touch what, as DESIGN.md says ("People and what they may touch") -----------------


@dataclass
class Facts:
    """The world's relations as the tables hold them after it was built."""

    admins: dict = field(default_factory=dict)  # org id -> admin user ids
    members: dict = field(default_factory=dict)  # org id -> member user ids
    org_of: dict = field(default_factory=dict)  # (kind, id) -> org id
    leads: dict = field(default_factory=dict)  # user id -> classroom ids
    teaches: dict = field(default_factory=dict)  # user id -> course ids
    in_classroom: dict = field(default_factory=dict)  # classroom id -> user ids
    in_course: dict = field(default_factory=dict)  # course id -> user ids
    targets: dict = field(default_factory=dict)  # code id -> (classroom ids, course ids)
    batch_codes: dict = field(default_factory=dict)  # batch id -> its live codes' ids
    parent_links: set = field(default_factory=set)  # (parent id, student id), live
    link_student: dict = field(default_factory=dict)  # link id -> student id
    link_orgs: dict = field(default_factory=dict)  # link id -> the orgs it belongs to
    link_parent: dict = field(default_factory=dict)  # link id -> parent id
    parent_code_owner: dict = field(default_factory=dict)
    invitations: dict = field(default_factory=dict)  # invitation id -> (org id, email key)
    email_key: dict = field(default_factory=dict)  # user id -> email key
    request_code: dict = field(default_factory=dict)  # join request id -> its code's id
    expected_room: dict = field(default_factory=dict)  # expected person id -> classroom id
    export_owner: dict = field(default_factory=dict)  # export id -> the user who asked for it


def read_facts(app):
    f = Facts()
    with app.app_context():
        s = db.session
        for m in s.scalars(select(OrgMember)):
            f.members.setdefault(m.org_id, set()).add(m.user_id)
            if m.is_admin:
                f.admins.setdefault(m.org_id, set()).add(m.user_id)
        for c in s.scalars(select(Classroom)):
            f.org_of[("classroom", c.id)] = c.org_id
        for c in s.scalars(select(Course)):
            f.org_of[("course", c.id)] = c.org_id
        for c in s.scalars(select(Code)):
            f.org_of[("code", c.id)] = c.org_id
            f.targets[c.id] = (set(), set())
            if c.batch_id is not None and c.deleted_at is None:
                f.batch_codes.setdefault(c.batch_id, set()).add(c.id)
        for r in s.scalars(select(CodeClassroom)):
            f.targets[r.code_id][0].add(r.classroom_id)
        for r in s.scalars(select(CodeCourse)):
            f.targets[r.code_id][1].add(r.course_id)
        for r in s.scalars(select(ClassroomLeader)):
            f.leads.setdefault(r.user_id, set()).add(r.classroom_id)
        for r in s.scalars(select(CourseInstructor)):
            f.teaches.setdefault(r.user_id, set()).add(r.course_id)
        for r in s.scalars(select(ClassroomMember)):
            f.in_classroom.setdefault(r.classroom_id, set()).add(r.user_id)
        for r in s.scalars(select(Enrollment)):
            f.in_course.setdefault(r.course_id, set()).add(r.user_id)
        students = {}
        for m in s.scalars(select(OrgMember).where(OrgMember.is_student)):
            students.setdefault(m.user_id, set()).add(m.org_id)
        for r in s.scalars(select(ParentCode)):
            f.parent_code_owner[r.id] = r.student_id
        for r in s.scalars(select(Job)):
            f.org_of[("job", r.id)] = r.org_id
        for r in s.scalars(select(Export)):
            f.org_of[("export", r.id)] = r.org_id
            f.export_owner[r.id] = r.user_id
        for r in s.scalars(select(Invitation)):
            f.invitations[r.id] = (r.org_id, r.email_key)
        for r in s.scalars(select(User)):
            f.email_key[r.id] = r.email_key
        for r in s.scalars(select(JoinRequest)):
            f.request_code[r.id] = r.code_id
        for r in s.scalars(select(ExpectedPerson)):
            f.expected_room[r.id] = r.classroom_id
        for r in s.scalars(select(ParentLink)):
            f.link_student[r.id], f.link_parent[r.id] = r.student_id, r.parent_id
            if r.revoked_at is None:
                f.parent_links.add((r.parent_id, r.student_id))
            f.link_orgs[r.id] = _link_orgs(s, r, students.get(r.student_id, set()), f.members)
        db.session.remove()
    return f


def _link_orgs(session, link, student_orgs, members):
    """The organizations a parent link belongs to (DESIGN.md: the one whose code made
    it): the code's maker's, for codes a teacher made (parent letters); for codes
    the student made, every organization the student is a student of."""
    makers = set(
        session.scalars(
            select(ParentCode.created_by_id).where(
                ParentCode.student_id == link.student_id, ParentCode.used_by_id == link.parent_id
            )
        )
    )
    if makers <= {link.student_id, None}:
        return set(student_orgs)
    return {o for o in student_orgs if makers & members.get(o, set())}


PUBLIC, USER, STAFF, ADMIN = "public", "user", "staff", "admin"


def may_touch(facts, world, user_id, thing, level):
    """Whether the person may act on the thing at the route's level: an admin on
    everything of their organization; at staff level a group leader on the
    classrooms they lead, their members, and codes whose every target is one of
    them; an instructor likewise for the courses they teach; a student on their
    own parent codes; a parent on the students linked to them; a batch by whoever
    may touch one of its codes; an invitation's
    own person (the account with its email) on it at user level, and through its
    mailed link. Nobody on anything of another organization."""
    kind, value = thing.kind, thing.value
    if kind in ("token", "text", "file"):
        return True
    if kind == "invite_token" or (kind == "invitation" and level == USER):
        invitation = thing.of if kind == "invite_token" else value
        return facts.invitations[invitation][1] == facts.email_key[user_id]
    if kind == "invitation":
        return user_id in facts.admins.get(facts.invitations[value][0], ())
    if kind == "parent_code":
        return facts.parent_code_owner.get(value) == user_id
    if kind == "export":
        # Its own person's alone, while staff of its organization (the URL's org says).
        return facts.export_owner.get(value) == user_id
    if kind == "linked_student":
        return (user_id, value) in facts.parent_links
    if kind == "request":
        # Answered by whoever may touch its code.
        return may_touch(facts, world, user_id, Thing(thing.name, "code", facts.request_code[value]), level)
    if kind == "expected":
        # Whoever manages the classroom that expects them.
        room = facts.expected_room[value]
        return may_touch(facts, world, user_id, Thing(thing.name, "classroom", room, thing.org), level)
    org_id = (
        world.org_ids[thing.org]
        if kind in ("org", "person")
        else facts.org_of.get((kind, value))
        if kind != "link"
        else None
    )
    if kind == "link":
        return any(user_id in facts.admins.get(o, ()) for o in facts.link_orgs[value])
    if kind == "batch":
        # Seen by whoever may touch one of its codes (access.Scope.visible_batches).
        return any(
            may_touch(facts, world, user_id, Thing(thing.name, "code", code), level)
            for code in facts.batch_codes.get(value, ())
        )
    if kind == "person" and value not in facts.members.get(org_id, ()):
        return False
    if user_id in facts.admins.get(org_id, ()):
        return True
    if level == ADMIN:
        return False
    led, taught = facts.leads.get(user_id, set()), facts.teaches.get(user_id, set())
    if kind == "org":
        return any(facts.org_of[("classroom", c)] == org_id for c in led) or any(
            facts.org_of[("course", c)] == org_id for c in taught
        )
    if kind == "classroom":
        return value in led
    if kind == "course":
        return value in taught
    if kind == "code":
        rooms, courses = facts.targets[value]
        return bool(rooms or courses) and rooms <= led and courses <= taught
    if kind == "person":
        return any(value in facts.in_classroom.get(c, ()) for c in led) or any(
            value in facts.in_course.get(c, ()) for c in taught
        )
    raise AssertionError(f"may_touch: teach it what a {kind} is")


# -- sessions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """A logged-in (or anonymous) browser: its session cookie and CSRF token, for
    fresh clients to send, so that logging out in one request ends nothing."""

    role: str
    cookie: str
    token: str


def open_session(app, role, email=None):
    client = app.test_client()
    if email is not None:
        response = client.post("/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 303, f"{role} could not log in: {response.status_code}"
    token = client.csrf_token()
    return Session(role, client.get_cookie("session").value, token)


def sessions_for(app, world, roles):
    out = {}
    for role in roles:
        email = None if role == "anonymous" else world.people[role][1]
        out[role] = open_session(app, role, email)
    return out


APP_DIR = str(Path(codes.__file__).resolve().parent)


def describe(error):
    """An exception as its last line and the app's own innermost frames (the
    library frames below them say less)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(APP_DIR)]
    where = [
        f"  at {Path(f.filename).relative_to(Path(APP_DIR).parent)}:{f.lineno} in {f.name}: "
        f"{(f.line or '').strip()}"
        for f in frames[-3:]
    ]
    # The first line only: SQLAlchemy's messages go on with the statement and its parameters.
    last = traceback.format_exception_only(error)[-1].strip().splitlines()[0]
    return "\n".join([last, *reversed(where)])


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes
    seconds: float
    error: str | None = None  # the last lines of an exception that escaped the app
    read_htmx: bool = True  # whether the app looked at htmx's headers (make_app)
    # The page that asked the person to confirm this irreversible change first,
    # whose form send() submitted (confirmation_form): None if none asked.
    confirmation: "Answer | None" = None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


CONFIRMED = "confirmed"
_CONFIRMED_FIELD = re.compile(rb"""name=["']?%s\b""" % CONFIRMED.encode())


def send(app, session, method, path, data=None, headers=None, query_string=None):
    """One request from a fresh client carrying the session: the answer read to its
    end (streamed ones too, so no transaction stays open), or the exception that
    escaped the app, as its last lines. A change answered with a page asking to
    confirm it (confirmation_form) is confirmed as the person would, by sending
    that page's form, the request's own fields under it: the answer is then the
    confirmed request's, with the page in Answer.confirmation and the time of both."""
    answer = _send_once(app, session, method, path, data, headers, query_string)
    form = None if method in ("GET", "HEAD") or CONFIRMED in (data or {}) else confirmation_form(answer, path)
    if form is None:
        return answer
    again = {name: value for name, value in (data or {}).items() if not isinstance(value, tuple)}
    again.update(_as_it_stands(form))
    final = _send_once(app, session, method, form.action, again, headers, None)
    final.confirmation = answer
    final.read_htmx = final.read_htmx or answer.read_htmx
    final.seconds += answer.seconds
    return final


def _send_once(app, session, method, path, data, headers, query_string):
    client = app.test_client()
    client.set_cookie("session", session.cookie)
    all_headers = {"X-CSRFToken": session.token, **(headers or {})}
    _htmx_read[0] = False
    started = time.perf_counter()
    try:
        response = client.open(
            path, method=method, data=data, headers=all_headers, query_string=query_string, csrf=False
        )
        try:
            body = response.get_data()
        finally:
            response.close()
    except Exception as error:  # noqa: BLE001 - what escapes the app is the finding
        return Answer(500, {}, b"", time.perf_counter() - started, error=describe(error))
    return Answer(
        response.status_code,
        dict(response.headers),
        body,
        time.perf_counter() - started,
        read_htmx=_htmx_read[0],
    )


def confirmation_form(answer, path):
    """The form of a page that asks to confirm an irreversible change before it is
    made (a 200 whose form posts back to the URL asked, with a `confirmed` field
    set: without it such routes change nothing), or None."""
    # Read only a page with a field of that name (the pages' own buttons carry
    # it in hx-vals, for htmx, which sends it after asking).
    if (
        answer.status != 200
        or "text/html" not in answer.headers.get("Content-Type", "")
        or not _CONFIRMED_FIELD.search(answer.body)
    ):
        return None
    asked = urlsplit(path).path
    for form in forms_of(_soup(answer.text), asked, None):
        if form.method == "POST" and form.path == asked and _yes(form.fields.get(CONFIRMED)):
            return form
    return None


def _yes(field):
    """The value of a `confirmed` field that confirms (a hidden field, or the
    button that says yes), or None."""
    return next((v for v in (field.values if field else ()) if v not in ("", "0")), None)


def _as_it_stands(form):
    """What a form sends as the page filled it in, its `confirmed` button pressed."""
    data = {}
    for f in form.fields.values():
        if f.name.endswith("csrf_token") or (f.kind == "button" and f.name != CONFIRMED):
            continue
        values = [_yes(f)] if f.name == CONFIRMED else list(f.values)
        if values:
            data[f.name] = values if len(values) > 1 else values[0]
    return data


# -- every row of every table --------------------------------------------------------------


class Tables:
    """Every row of every table in db.metadata, ignoring nothing, read through a
    connection of its own (the driver's, in autocommit: it holds no lock and no
    transaction between reads), and the means to put them back."""

    def __init__(self, app):
        self.app = app
        with app.app_context():
            self.tables = list(db.metadata.sorted_tables)
        # For each table, itself and every table whose rows point into it, at any
        # depth: what must go, and come back, with its rows.
        self.reaching = {t.name: {t.name} for t in self.tables}
        for table in reversed(self.tables):
            for child in self.tables:
                if child is not table and any(fk.column.table is table for fk in child.foreign_keys):
                    self.reaching[table.name] |= self.reaching[child.name]
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        if url.get_backend_name() == "sqlite":
            self.connection = sqlite3.connect(url.database, isolation_level=None)
            self.digest_query = None
        else:
            self.connection = psycopg.connect(
                url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
            )
            # Each table's rows as PostgreSQL writes them (every column), sorted and
            # digested by the server, all in one statement: the tests compare after
            # every request, and a statement and the rows of each table cost three
            # times as long.
            self.digest_query = "SELECT " + ", ".join(
                f"(SELECT md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) "
                f'FROM "{t.name}" r)'
                for t in self.tables
            )
        self.restores = 0
        self.saved = self._typed_rows()
        self.baseline = self.digests()

    def digests(self):
        """{table: a digest of its rows, each as the database gives it, sorted}."""
        cursor = self.connection.cursor()
        if self.digest_query is not None:
            cursor.execute(self.digest_query)
            out = dict(zip((t.name for t in self.tables), cursor.fetchone(), strict=True))
        else:
            out = {}
            for table in self.tables:
                cursor.execute(f'SELECT * FROM "{table.name}"')
                out[table.name] = hashlib.sha256(
                    "\n".join(sorted(map(repr, cursor.fetchall()))).encode()
                ).hexdigest()
        cursor.close()
        return out

    def changed(self):
        """The tables whose rows differ from the baseline's (none: unchanged)."""
        now = self.digests()
        return sorted(name for name in now if now[name] != self.baseline[name])

    def _typed_rows(self):
        with self.app.app_context():
            with db.engine.connect() as connection:
                # Not the columns the database computes (it refuses them in an INSERT).
                rows = {
                    t.name: [
                        dict(r._mapping)
                        for r in connection.execute(select(*(c for c in t.columns if c.computed is None)))
                    ]
                    for t in self.tables
                }
                connection.rollback()
            db.session.remove()
        return rows

    def put_back(self):
        """The tables whose rows differ from the baseline's, put back as they were
        with every table whose rows point into them: all their rows deleted,
        children first, then inserted again with their ids, parents first. The
        others are left alone: they hold the baseline's rows already."""
        changed = self.changed()
        if not changed:
            return changed
        self.restores += 1
        names = set().union(*(self.reaching[name] for name in changed))
        tables = [t for t in self.tables if t.name in names]
        with self.app.app_context():
            db.session.remove()
            with db.engine.begin() as connection:
                for table in reversed(tables):
                    connection.execute(table.delete())
                for table in tables:
                    if self.saved[table.name]:
                        connection.execute(table.insert(), self.saved[table.name])
                # The rows went out and came back through the triggers that keep
                # each classroom's member count: counted again, as they were.
                if names & {"classrooms", "classroom_members"}:
                    connection.execute(text(classroomcounts.RECOUNT))
            db.session.remove()
        assert self.changed() == [], "the tables could not be put back as they were"
        return changed

    def close(self):
        self.connection.close()


# -- the app's own forms ---------------------------------------------------------------------


@dataclass
class Field:
    name: str
    kind: str  # text, hidden, checkbox, radio, select, select-multiple, file, ...
    values: list  # what the page would send as it stands
    options: list = field(default_factory=list)
    required: bool = False


@dataclass
class Form:
    method: str
    action: str  # a path, with its query string if it has one
    fields: dict  # name -> Field
    found_on: str  # the page it was read from
    found_by: str  # the role that read it
    htmx: bool = False

    @property
    def path(self):
        return urlsplit(self.action).path

    @property
    def query(self):
        return dict(parse_qsl(urlsplit(self.action).query, keep_blank_values=True))


def _soup(html):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BeautifulSoup(html, "html.parser")


HX_VERBS = ("post", "put", "patch", "delete", "get")


def _hx_attribute(tag):
    for verb in HX_VERBS:
        for attribute in (f"hx-{verb}", f"data-hx-{verb}"):
            if tag.get(attribute) is not None:
                return verb.upper(), tag[attribute]
    return None


def _add(fields, name, kind, value=None, checked=False, options=(), required=False):
    entry = fields.get(name)
    if entry is None:
        entry = fields[name] = Field(name, kind, [], list(options), required)
    elif kind in ("checkbox", "radio"):
        entry.options.extend(options)
    entry.required = entry.required or required
    if value is not None and (kind not in ("checkbox", "radio") or checked):
        entry.values.append(value)
    return entry


def _fields_of(container, soup=None):
    """A form's fields: those inside it, and those elsewhere in the page that
    name it by its id (form="..."), as a browser and htmx send them."""
    fields = {}
    tags = container.find_all(["input", "select", "textarea", "button"])
    if soup is not None and container.get("id"):
        tags += [t for t in soup.find_all(["input", "select", "textarea", "button"], form=container["id"])]
    for tag in tags:
        name = tag.get("name")
        if not name:
            continue
        required = tag.has_attr("required")
        if tag.name == "textarea":
            # A browser drops the one line break that may open a textarea's text
            # (WTForms writes one); html.parser keeps it.
            text = (
                tag.text.removeprefix("\r\n") if tag.text.startswith("\r\n") else tag.text.removeprefix("\n")
            )
            _add(fields, name, "textarea", text, required=required)
        elif tag.name == "select":
            options = [o.get("value", o.text) for o in tag.find_all("option")]
            chosen = [o.get("value", o.text) for o in tag.find_all("option") if o.has_attr("selected")]
            multiple = tag.has_attr("multiple")
            if not chosen and options and not multiple:
                chosen = options[:1]
            entry = _add(
                fields,
                name,
                "select-multiple" if multiple else "select",
                None,
                options=options,
                required=required,
            )
            entry.values.extend(chosen)
        elif tag.name == "button":
            # A named button sends its value when it is the one pressed.
            _add(fields, name, "button", tag.get("value", ""))
        else:
            kind = tag.get("type", "text").lower()
            if kind in ("submit", "reset", "image"):
                if kind == "submit":
                    _add(fields, name, "button", tag.get("value", ""))
                continue
            value = tag.get("value", "on" if kind in ("checkbox", "radio") else "")
            _add(
                fields,
                name,
                kind,
                value,
                checked=tag.has_attr("checked"),
                options=[value] if kind in ("checkbox", "radio") else (),
                required=required,
            )
    for entry in fields.values():
        if entry.kind == "radio" and not entry.values and entry.options:
            entry.values = entry.options[:1]
    return fields


def forms_of(soup, page, role):
    """Every <form> of a page (method, action, fields), and every element that
    posts by an hx-*/data-hx-* attribute, with the fields htmx would send (its
    form's, and hx-vals)."""
    found = []
    page_path = urlsplit(page).path
    for form in soup.find_all("form"):
        method = (form.get("method") or "get").upper()
        action = form.get("action") or page_path
        found.append(Form(method, action, _fields_of(form, soup), page, role))
        hx = _hx_attribute(form)
        if hx and (hx[0], hx[1]) != (method, action):
            found.append(Form(hx[0], hx[1], _fields_of(form, soup), page, role, htmx=True))
    for tag in soup.find_all(True):
        if tag.name == "form":
            continue
        hx = _hx_attribute(tag)
        if hx is None or hx[0] == "GET":
            continue
        container = tag.find_parent("form")
        fields = _fields_of(container) if container else {}
        vals = tag.get("hx-vals") or tag.get("data-hx-vals")
        if vals and not vals.lstrip().startswith("js:"):
            for name, value in json.loads(vals).items():
                _add(fields, name, "hidden", str(value))
        found.append(Form(hx[0], hx[1], fields, page, role, htmx=True))
    return found


def links_of(soup):
    """Every same-site link's path and query arguments (paging, filters, next=)."""
    out = []
    for tag in soup.find_all(["a", "link"], href=True):
        parts = urlsplit(tag["href"])
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        out.append((parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))))
    return out


def crawl(app, sessions, pages):
    """GET every page as every session: the forms and links found on them, in the
    order of the sessions given and then of the pages, and the (role, page) pairs
    answered 200."""
    forms, links, seen = [], [], []
    for session in sessions:
        for page in pages:
            answer = send(app, session, "GET", page)
            if answer.status == 200:
                seen.append((session.role, page))
            if answer.status != 200 or "text/html" not in answer.headers.get("Content-Type", ""):
                continue
            soup = _soup(answer.text)
            forms.extend(forms_of(soup, page, session.role))
            links.extend((session.role, path, args) for path, args in links_of(soup))
    return forms, links, seen


# -- filling in URLs ------------------------------------------------------------------------

# What each URL parameter names: its candidates in the world. A parameter whose
# meaning depends on where it stands is qualified by the path segment before it.
PARAMS = {
    "org_id": ["org"],
    "classroom_id": ["room1", "room3"],
    "course_id": ["algebra", "biology"],
    "code_id": ["room_code", "course_code", "mixed_code"],
    "request_id": ["walt_request"],
    "link_id": ["link", "link_both"],
    "parent_code_id": ["parent_code"],
    "expected_id": ["expected1", "expected3"],
    # A's (Olive's) and B's (Sam's): the organization's admins take their own back; on
    # the profile and through the mailed link only the invited account answers.
    "invitation_id": ["invitation", "invitation_b"],
    "answer": ["accept", "decline"],
    "user_id": {
        "leaders": ["leader"],
        "instructors": ["instructor"],
        "students": ["linked_student"],
        "users": ["student", "student3"],
    },
    "token": {
        "verify": ["verify_token"],
        "reset": ["reset_token"],
        "finish": ["signup_token"],
        "invitations": ["invite_token", "invite_token_b"],
        "unsubscribe": ["unsubscribe_token"],
    },
    "job_id": ["failed_job", "failed_job_b"],
    "export_id": ["export", "export_b"],
    "text": ["room_code_text"],
    "filename": ["css"],
}


def _segment_before(rule, name):
    parts = rule.rule.split("/")
    for i, part in enumerate(parts):
        if part.startswith("<") and part.strip("<>").split(":")[-1] == name:
            return parts[i - 1] if i else ""
    return ""


def candidates(rule):
    """For each of the rule's parameters, the world's names it may take; a
    parameter nobody taught this table fails the test that asks."""
    out = {}
    for name in sorted(rule.arguments):
        entry = PARAMS.get(name)
        if isinstance(entry, dict):
            entry = entry.get(_segment_before(rule, name))
        if not entry:
            raise LookupError(f"{rule.rule}: teach tests/probe_support.py PARAMS what <{name}> names here")
        out[name] = entry
    return out


def fill(rule, world, chosen):
    """The path of the rule with each parameter the chosen world thing's value."""
    values = {name: world.value(thing) for name, thing in chosen.items()}
    return rule.build(values, append_unknown=False)[1]


FILE_FIELDS = {"roster"}


def roster_file(content=b"email,name,classroom\nnewkid@oak.example,New Kid,Oak Room 1\n"):
    return (io.BytesIO(content), "roster.csv")


# What a person types into a required field the page leaves empty: by (path
# pattern, field name), the first match deciding. Values name world things.
TYPED = [
    # Ben's (of B), not Sam's: Sam typing his own would be refused, for a reason that is
    # no question of scope. Parent codes belong to no organization: anyone may type one.
    (r"^/parents/link$", "code", lambda w: w.value("parent_code_b_text")),
    (r"^/redeem$", "code", lambda w: w.value("room_code_text")),
    # The website code box's preview, on the organization's page.
    (r"^/join$", "code", lambda w: w.value("room_code_text")),
    (r"^/(login|password/forgot)$", "email", lambda w: w.people["student"][1]),
    (r"^/signup$", "email", lambda w: "newcomer@oak.example"),
    (r"", "password", lambda w: PASSWORD),
    (r"", "current_password", lambda w: PASSWORD),
    (r"", "new_password", lambda w: NEW_PASSWORD),
    (r"^/signup$", "name", lambda w: "Nina Newcomer"),
    (r"^/orgs$", "name", lambda w: "Ash Academy"),
    (r"", "classroom-name", lambda w: "Oak Room 9"),
    (r"", "course-name", lambda w: "Geometry"),
    (r"", "person-email", lambda w: w.value("outsider_email")),
    (r"", "text", lambda w: "PROBE-NEW-2027"),
    (r"", "roster", lambda w: roster_file()),
]


# What a person types into a field the page does not mark required, since it is
# not always needed: finishing a sign-up in a browser other than the one that
# signed up (every client here) asks for the password chosen then.
TYPED_UNMARKED = [
    (r"^/signup/finish/", "password", lambda w: PASSWORD),
    # The list of expected people, which a file may stand in for.
    (r"^/classrooms/\d+/expected$", "emails", lambda w: "probe.expected@oak.example"),
]
NEW_PASSWORD = "another-horse-battery"


def typed_value(world, path, name, typed=TYPED):
    for pattern, field_name, value in typed:
        if field_name == name and re.search(pattern, path):
            return value(world)
    return None


TEXT_KINDS = ("text", "email", "password", "search", "textarea", "number", "date", "time", "select")


def plausible(form, world):
    """The form as a person would send it: what the page filled in, chose or
    checked; the required fields it leaves empty typed from TYPED; and in a form
    of checkboxes none of which is checked, the first one checked. A required
    field TYPED does not know raises LookupError."""
    data = {}
    for f in form.fields.values():
        if f.name.endswith("csrf_token") or f.kind == "button":
            continue
        values = list(f.values) if f.kind == "hidden" else [v for v in f.values if v != ""]
        if not values and not f.required and f.kind in TEXT_KINDS:
            typed = typed_value(world, form.path, f.name, TYPED_UNMARKED)
            values = [] if typed is None else [typed]
        if not values and f.required and f.kind == "select":
            # A required choice whose placeholder is chosen (Move to…): a person
            # picks the first real option.
            values = [option for option in f.options if option != ""][:1]
        if not values and f.required:
            typed = typed_value(world, form.path, f.name)
            if typed is None:
                raise LookupError(
                    f"required field {f.name!r} (on {form.found_on}) is empty; teach "
                    f"TYPED of tests/probe_support.py what to type into it"
                )
            values = [typed]
        if not values and f.kind in TEXT_KINDS:
            values = [""]
        if values:
            data[f.name] = values if len(values) > 1 else values[0]
    checkboxes = [f for f in form.fields.values() if f.kind == "checkbox"]
    if checkboxes and not any(f.name in data for f in checkboxes) and checkboxes[0].options:
        data[checkboxes[0].name] = checkboxes[0].options[0]
    return data


def pages_of(rules, world):
    """Every GET page of the app, each parameter with every candidate. A rule whose
    parameters PARAMS cannot fill is left out here, not the whole crawl with it:
    the tests that ask for its cases fail on it by name."""
    pages = []
    for rule in rules:
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        try:
            names = candidates(rule)
        except LookupError:
            continue
        keys = sorted(names)
        for combo in itertools.product(*(names[k] for k in keys)):
            pages.append(fill(rule, world, dict(zip(keys, combo, strict=True))))
    return pages


def endpoint_of(app, method, path):
    """The endpoint a request reaches, or None."""
    try:
        return app.url_map.bind("localhost").match(path, method=method)[0]
    except Exception:  # noqa: BLE001 - werkzeug's routing exceptions: no route, a form posting nowhere
        return None
