"""Every rule and method of app.url_map against every kind of person, on SQLite
and on PostgreSQL: what is out of a person's scope answers 404 (never 403, 200
or 500) and changes nothing; a logged-out person is sent to log in; what is in
scope answers 2xx or 3xx.

The routes come from url_map, so a new one is covered without being listed; a
route whose parameters, level or form this file cannot tell fails loudly. Each
parameter takes each of its candidates in one world of two organizations
(tests/probe_support.py); POSTs send the form the app's own page has for that
URL, as a person would submit it (the pages are read as the admin, the student
and the parent: between them they have every form). What each person should get
is decided by the route's level (LEVELS) and by whether the person may touch
every object the URL and the form name (probe_support.may_touch, from
DESIGN.md); the few refusals that are no question of scope are listed with their
reason (REFUSED). After each request every row of every table is compared with
the world's: a refusal that changed anything fails, and a change that was
allowed is undone before the next. Each case is asked plainly and with
HX-Request; when the app answered the plain request without looking at htmx's
headers (probe_support.make_app watches), the request with HX-Request would
take the same path through the same tables, and its case is judged on that
answer instead of sending it again.

Then the other organization's side: B's admin on B's own pages, exports and
forms reads nothing of A, and an id of A's in B's URLs, query arguments or
form fields is answered as an id that does not exist.
"""

import itertools
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import pytest
from probe_support import (
    ADMIN,
    DATABASES,
    FILE_FIELDS,
    HX,
    METHODS,
    PUBLIC,
    STAFF,
    USER,
    Tables,
    Thing,
    build_world,
    candidates,
    crawl,
    drop_app,
    endpoint_of,
    fill,
    make_app,
    may_touch,
    pages_of,
    plausible,
    read_facts,
    send,
    sessions_for,
    url_rules,
)

ROLES = ["anonymous", "student", "parent", "leader", "instructor", "admin", "other_admin"]
LINK = "link"

# The level of a route, by "METHOD /path" with parameters written <name>. The first
# match decides; a route that matches none fails its cases.
LEVELS = [
    # Anyone, logged in or not: the ways in, and the links letters and posters carry.
    (r"^(GET|HEAD) /$", PUBLIC),
    (
        r"^(GET|HEAD|POST) /(login|signup|password/forgot|password/reset/<token>|verify/<token>"
        r"|signup/finish/<token>)$",
        PUBLIC,
    ),
    (r"^(GET|HEAD) /(join|join/<text>|parents/link|static/<filename>|signup/sent)$", PUBLIC),
    # A digest's one-click unsubscribe (RFC 8058): the signed token is the proof.
    (r"^(GET|HEAD|POST) /unsubscribe/<token>$", PUBLIC),
    # An invitation's mailed link: whoever holds it is asked to log in first, then
    # told whether it is theirs (the link is the secret, so the page names the
    # organization to anyone logged in; answering it is the invited account's alone).
    (r"^(GET|HEAD) /invitations/<token>$", LINK),
    # Any logged-in person, on what is their own (DESIGN.md: student, parent).
    (
        r"^\w+ /(profile|profile/parent-codes|profile/parent-codes/<parent_code_id>/cancel|redeem"
        r"|orgs|parents|parents/link|parents/students/<user_id>|logout|logout/everywhere|verify/resend"
        r"|password/change|profile/invitations/<invitation_id>/<answer>|invitations/<token>/<answer>)$",
        USER,
    ),
    # An organization's admins only: its structure, people, seats, audit log, parent
    # links, invitations, failed mail, the welcome mail (each staff member's own
    # notification choices are STAFF, below).
    (
        r"^\w+ /orgs/<org_id>/(settings|website|classrooms|courses|people|audit|audit\.csv|parents"
        r"|parents/<link_id>/revoke|users/roster|invitations/<invitation_id>/(cancel|resend)"
        r"|deliveries|deliveries/<job_id>/retry|notifications/welcome)$",
        ADMIN,
    ),
    (
        r"^\w+ /classrooms/<classroom_id>/(settings|rename|courses|leaders|leaders/<user_id>/remove"
        r"|delete|allotment)$",
        ADMIN,
    ),
    (r"^\w+ /courses/<course_id>/(rename|instructors|instructors/<user_id>/remove|delete)$", ADMIN),
    # Staff within their scope: everything else an organization's URL names, and a
    # request to join through a code, which its code's staff answer.
    (r"^\w+ /(orgs|classrooms|courses|codes|expected)/<", STAFF),
    (r"^POST /requests/<request_id>/(accept|decline)$", STAFF),
]

# Refusals that are no question of scope, by (method, rule, role): the form comes
# back with its message (a 4xx, or 200 for htmx, which swaps only 2xx) and
# nothing changes.
REFUSED = {
    # Making an organization makes its admin, and staff roles go only to verified
    # addresses (DESIGN.md); Pat has not confirmed his.
    ("POST", "/orgs", "parent"): "Pat's address is not verified"
}

# Form fields that name objects, by field name: the kind of thing each value is.
FORM_IDS = {
    "classroom_ids": "classroom",
    "classroom_id": "classroom",
    "from_classroom_id": "classroom",
    "to_classroom_id": "classroom",
    "course_ids": "course",
    "code_ids": "code",
    "user_id": "person",
}
# What each such field is sent with in turn, the rest of the form as a person
# fills it: every thing of its kind in A (some in the person's scope, some not)
# and one of B's. The page offers a staff member only what is theirs; a request
# can name anything.
FORM_ID_THINGS = {
    "classroom": ["room1", "room2", "room3", "room_b"],
    "course": ["algebra", "biology", "course_b"],
    "person": ["student", "student3", "leader", "both", "student_b"],
    "code": ["room_code", "course_code", "mixed_code", "room3_code", "code_b"],
    "batch": ["batch", "batch_b"],
}
# Query arguments that name objects (filters, the codes and classrooms compared),
# by name: the kind of thing each value is. Those the admin's links and GET forms
# carry for a route are sent likewise.
QUERY_IDS = {"classroom": "classroom", "course": "course", "code": "code", "batch": "batch", "made": "batch"}


def _plain(rule_text):
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"<\1>", rule_text)


def level_of(method, rule):
    key = f"{method} {_plain(rule.rule)}"
    for pattern, level in LEVELS:
        if re.search(pattern, key):
            return level
    raise LookupError(f"{key}: teach LEVELS of tests/test_route_matrix.py who may use it")


def _cases():
    cases = []
    for rule in url_rules():
        for method in sorted(rule.methods & set(METHODS)):
            try:
                names = candidates(rule)
                combos = [
                    dict(zip(sorted(names), c, strict=True))
                    for c in itertools.product(*(names[k] for k in sorted(names)))
                ]
                problem = None
            except LookupError as error:
                combos, problem = [{}], str(error)
            for chosen in combos:
                for role in ROLES:
                    # HEAD runs the GET view: once plainly is enough.
                    for htmx in (False,) if method == "HEAD" else (False, True):
                        label = " ".join(f"{k}={v}" for k, v in chosen.items())
                        ident = (
                            f"{method} {rule.rule}{' ' + label if label else ''} as {role}"
                            f"{' htmx' if htmx else ''}"
                        )
                        cases.append(
                            pytest.param(
                                method, rule.rule, rule.endpoint, chosen, role, htmx, problem, id=ident
                            )
                        )
    return cases


@dataclass
class Matrix:
    kind: str
    app: object
    world: object
    facts: object
    sessions: dict
    by_path: dict  # (method, path) -> forms found there
    by_endpoint: dict  # (method, endpoint) -> forms found for it anywhere
    query_ids: dict  # endpoint -> the QUERY_IDS its links and GET forms carry
    rules: dict  # (rule, endpoint) -> Rule
    tables: Tables
    # (method, endpoint, path, role) -> an answer without HX-Request from an app
    # that never looked at htmx's headers, and the tables it changed, until the
    # same case with HX-Request takes it.
    plain: dict = field(default_factory=dict)


@pytest.fixture(scope="module", params=DATABASES)
def matrix(request, tmp_path_factory):
    kind = request.param
    # Every export is big here, so its page (and the form that asks for it to be
    # made and mailed) is crawled like the others.
    app = make_app(kind, tmp_path_factory.mktemp(f"matrix-{kind}"), EXPORT_INLINE_MAX=0)
    try:
        world = build_world(app)
        facts = read_facts(app)
        sessions = sessions_for(app, world, ROLES)
        rules = {(r.rule, r.endpoint): r for r in app.url_map.iter_rules()}
        pages = pages_of(rules.values(), world)
        # The admin's pages have every form of the organization's and the public
        # pages; the student's profile has the parent-code forms and the buttons
        # that answer B's invitation (so has its mailed link's page, for him
        # alone), and the parent, not yet verified, has the button that sends the
        # link again.
        forms, links, _ = crawl(app, [sessions[r] for r in ("admin", "student", "parent")], pages)
        by_path, by_endpoint, query_ids = {}, {}, {}
        for form in forms:
            by_path.setdefault((form.method, form.path), []).append(form)
            endpoint = endpoint_of(app, form.method, form.path)
            if endpoint is not None:
                by_endpoint.setdefault((form.method, endpoint), []).append(form)
            if form.method == "GET" and endpoint is not None:
                query_ids.setdefault(endpoint, set()).update(set(form.fields) & set(QUERY_IDS))
        for _, path, args in links:
            endpoint = endpoint_of(app, "GET", path)
            if endpoint is not None:
                query_ids.setdefault(endpoint, set()).update(set(args) & set(QUERY_IDS))
        tables = Tables(app)
        try:
            yield Matrix(kind, app, world, facts, sessions, by_path, by_endpoint, query_ids, rules, tables)
        finally:
            tables.close()
    finally:
        drop_app(app, kind)


def form_data(m, method, endpoint, path):
    """The form the app's page has for this URL (or, if no page lists this very
    URL, for the same route elsewhere), and what a person would send with it
    (probe_support.plausible)."""
    forms = m.by_path.get((method, path)) or m.by_endpoint.get((method, endpoint))
    if not forms:
        pytest.fail(
            f"{method} {path}: no page of the app has a form for it, so this test "
            f"cannot fill it in; teach tests/probe_support.py where it is"
        )
    try:
        return forms[0], plausible(forms[0], m.world)
    except LookupError as error:
        pytest.fail(f"{method} {path}: {error}")


def named_objects(m, data):
    """The things the form's id fields name, as may_touch reads them."""
    things = []
    for name, kind in FORM_IDS.items():
        values = data.get(name)
        if values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            if value == "":
                continue
            ident = int(value)
            org = (
                next((o for o, i in m.world.org_ids.items() if ident in m.facts.members.get(i, ())), None)
                if kind == "person"
                else None
            )
            things.append(Thing(f"{name}={value}", kind, ident, org))
    return things


def expected(m, role, level, things, refused):
    if level == PUBLIC:
        return "ok"
    if role == "anonymous":
        return "login"
    if level == LINK:
        return "ok"
    user_id = m.world.people[role][0]
    if not all(may_touch(m.facts, m.world, user_id, t, level) for t in things):
        return "gone"
    return "refused" if refused else "ok"


WANT = {
    "ok": "2xx or 3xx (in scope)",
    "gone": "404 (out of scope)",
    "login": "a redirect to log in",
    "refused": "the form again with its message, changing nothing",
}


def _excerpt(answer):
    if answer.error:
        return "exception:\n" + answer.error
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text)).strip()
    return f"body: {text[:300]!r}"


def _status(answer):
    """The status, after the page that asked to confirm the change, if one did."""
    if answer.confirmation is None:
        return str(answer.status)
    return f"{answer.confirmation.status} asking to confirm, then {answer.status}"


def check(answer, want, htmx):
    status, headers = answer.status, answer.headers
    location = headers.get("Location", "") or headers.get("HX-Redirect", "")
    if answer.error:
        return False
    if answer.confirmation is not None and want in ("gone", "login"):
        # Out of scope, or logged out, there is nothing to confirm.
        return False
    if want == "ok":
        return 200 <= status < 400 and not location.startswith("/login?next=")
    if want == "gone":
        return status == 404
    if want == "refused":
        return status in ((200, 422) if htmx else (400, 422))
    if htmx:
        return status == 401 and headers.get("HX-Redirect", "").startswith("/login?next=")
    return status == 302 and headers.get("Location", "").startswith("/login?next=")


@pytest.mark.parametrize("method, rule_text, endpoint, chosen, role, htmx, problem", _cases())
def test_route_by_role(matrix, method, rule_text, endpoint, chosen, role, htmx, problem):
    if problem:
        pytest.fail(problem)
    m = matrix
    rule = m.rules[(rule_text, endpoint)]
    try:
        level = level_of(method, rule)
    except LookupError as error:
        pytest.fail(str(error))
    path = fill(rule, m.world, chosen)
    things = [m.world.thing(name) for name in chosen.values()]
    data = form = None
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        form, data = form_data(m, method, endpoint, path)
        things += named_objects(m, data)
    refused = REFUSED.get((method, rule_text, role))
    want = expected(m, role, level, things, refused)
    # The same request without HX-Request, sent just before, that never looked at
    # htmx's headers: this one would be answered as it was, from the same tables.
    twin = (method, endpoint, path, role)
    plain = m.plain.pop(twin, None) if htmx else None
    reused = plain is not None
    if plain is not None:
        answer, changes = plain
    else:
        answer = send(m.app, m.sessions[role], method, path, data=data, headers=HX if htmx else None)
        changes = m.tables.put_back()
        if not htmx and method != "HEAD" and not answer.read_htmx:
            m.plain[twin] = (answer, changes)
    location = answer.headers.get("Location") or answer.headers.get("HX-Redirect") or ""
    shown_data = {k: v for k, v in (data or {}).items() if k not in FILE_FIELDS}
    where = (
        f"{method} {path} ({rule_text}, {level} level, {chosen or 'no parameters'}"
        f"{', refused: ' + refused if refused else ''}) as {role}"
        f"{' with HX-Request' if htmx else ''} on {m.kind}, form {shown_data}"
        f"{' (answered as without it: the app never looked)' if reused else ''}"
    )
    assert check(answer, want, htmx), (
        f"{where}: expected {WANT[want]}, got {_status(answer)}"
        f"{' -> ' + location if location else ''}\n{_excerpt(answer)}"
        f"{chr(10) + 'and it changed ' + ', '.join(changes) if changes else ''}"
    )
    if want != "ok":
        assert not changes, f"{where}: refused ({_status(answer)}), yet it changed {', '.join(changes)}"
    url_things = [m.world.thing(name) for name in chosen.values()]
    if htmx or role == "anonymous" or level == PUBLIC or expected(m, role, level, url_things, None) != "ok":
        return
    if form is not None:
        problems = form_id_variants(m, role, level, method, path, url_things, form, data)
        assert not problems, (
            f"{method} {path} ({rule_text}, {level} level) as {role} on {m.kind}, "
            f"ids inside the form:\n" + "\n".join(problems)
        )
    if method == "GET" and m.query_ids.get(endpoint):
        problems = query_id_variants(m, role, level, path, url_things, sorted(m.query_ids[endpoint]))
        assert not problems, (
            f"GET {path} ({rule_text}, {level} level) as {role} on {m.kind}, "
            f"ids in the query:\n" + "\n".join(problems)
        )


def query_id_variants(m, role, level, path, url_things, names):
    """The page asked for with each id-naming query argument naming each of
    FORM_ID_THINGS of its kind in turn: one out of the person's scope is answered
    as an id nothing has is (the same status: a 404, or the list as for no such
    filter), one in scope never 403, 404 or 500."""
    problems = []
    for name in names:
        nowhere = send(m.app, m.sessions[role], "GET", path, query_string={name: NOWHERE})
        for thing in FORM_ID_THINGS[QUERY_IDS[name]]:
            value = str(m.world.value(thing))
            named = Thing(f"?{name}={value}", QUERY_IDS[name], int(value), m.world.thing(thing).org)
            want = expected(m, role, level, [*url_things, named], None)
            answer = send(m.app, m.sessions[role], "GET", path, query_string={name: value})
            if want == "gone":
                good = not answer.error and answer.status == nowhere.status
                wanted = f"{nowhere.status}, as for an id nothing has (out of scope)"
            else:
                good = not answer.error and answer.status < 500 and answer.status not in (403, 404)
                wanted = "an answer (not 403, 404 or 500; in scope)"
            if not good:
                problems.append(
                    f"  ?{name}={value} ({thing}): expected {wanted}, got {answer.status}\n"
                    f"  {_excerpt(answer)}"
                )
    changes = m.tables.put_back()
    if changes:
        problems.append(f"  asking changed {', '.join(changes)}")
    return problems


def form_id_variants(m, role, level, method, path, url_things, form, data):
    """The form sent again with each id field naming each of FORM_ID_THINGS in
    turn: one out of the person's scope is 404 and changes nothing, as if it did
    not exist; one in scope is answered (a refusal with its message is fine, it
    is no question of scope), never 403, 404 or 500."""
    problems = []
    for name in sorted(set(form.fields) & set(FORM_IDS)):
        sent = data.get(name, [])
        sent = {str(v) for v in (sent if isinstance(sent, list) else [sent])}
        for thing in FORM_ID_THINGS[FORM_IDS[name]]:
            value = str(m.world.value(thing))
            if sent == {value}:
                continue
            variant = {**data, name: value}
            want = expected(m, role, level, url_things + named_objects(m, variant), None)
            answer = send(m.app, m.sessions[role], method, path, data=variant)
            changes = m.tables.put_back()
            location = answer.headers.get("Location", "")
            if want == "gone":
                good = (
                    answer.status == 404 and answer.confirmation is None and not answer.error and not changes
                )
            else:
                good = (
                    not answer.error
                    and answer.status < 500
                    and answer.status not in (403, 404)
                    and not location.startswith("/login?next=")
                )
            if not good:
                problems.append(
                    f"  field {name}={value} ({thing}): expected "
                    f"{WANT[want] if want == 'gone' else 'an answer (not 403, 404 or 500)'}, got "
                    f"{_status(answer)}{' -> ' + location if location else ''}"
                    f"{', and it changed ' + ', '.join(changes) if changes else ''}\n"
                    f"  {_excerpt(answer)}"
                )
    return problems


# -- the other organization's side --------------------------------------------------------

# B's things, to fill B's own URLs with.
B_PARAMS = {
    "org_id": "org_b",
    "classroom_id": "room_b",
    "course_id": "course_b",
    "code_id": "code_b",
    "link_id": "link_b",
    "parent_code_id": "parent_code_b",
    "user_id": "both",
    "text": "code_b_text",
    "invitation_id": "invitation_b",
    "expected_id": "expected_b",
    "export_id": "export_b",
    "answer": "decline",
}
# What a parameter, a query argument or a field holds, by a word of its name, and
# the first organization's thing of that kind.
A_BY_KIND = [
    ("classroom", ["room1"]),
    ("course", ["algebra"]),
    ("code", ["room_code"]),
    ("user", ["student"]),
    ("link", ["link", "link_both"]),
    ("batch", ["batch"]),
    ("made", ["batch"]),
    ("invitation", ["invitation"]),
    ("expected", ["expected1"]),
    ("export", ["export"]),
    ("org", ["org"]),
]
# An id nothing has, well inside every database's integer range.
NOWHERE = "2000000000"


def _a_things(name):
    """A's things of the kind a name says it holds: the kind itself ("classroom",
    "batch"), or its id or ids ("to_classroom_id", "course_ids"), never a word
    inside another ("default_code_days")."""
    words = re.split(r"[_\-]", name)
    if len(words) > 1 and words[-1] not in ("id", "ids"):
        return []
    return next((things for word, things in A_BY_KIND if word in words), [])


def a_secrets(m):
    """What B must never read: the names of A and of its classrooms and courses, the
    texts of its codes and of its students' parent codes, the names and emails of
    the people only A has (or who are linked to A's students only), and the emails
    A invited. Not the emails B invited itself: B typed those (DESIGN.md: until the
    invitation is accepted B sees the email it typed, never the account's name)."""
    from sqlalchemy import select

    from codes.extensions import db
    from codes.models import (
        Classroom,
        Code,
        Course,
        ExpectedPerson,
        Invitation,
        Organization,
        ParentCode,
        User,
    )

    a, b = m.world.org_ids["A"], m.world.org_ids["B"]
    only_a = m.facts.members[a] - m.facts.members[b]
    parents_a = {
        parent
        for parent in m.facts.link_parent.values()
        if all(m.facts.link_orgs[i] == {a} for i, p in m.facts.link_parent.items() if p == parent)
    } - m.facts.members[b]
    with m.app.app_context():
        s = db.session
        secrets = [s.get(Organization, a).name]
        secrets += s.scalars(select(Classroom.name).where(Classroom.org_id == a)).all()
        secrets += s.scalars(select(Course.name).where(Course.org_id == a)).all()
        secrets += s.scalars(select(Code.text).where(Code.org_id == a)).all()
        secrets += s.scalars(select(ParentCode.text).where(ParentCode.student_id.in_(only_a))).all()
        for user in s.scalars(select(User).where(User.id.in_(only_a | parents_a))):
            secrets += [user.name, user.email]
        secrets += s.scalars(select(Invitation.email).where(Invitation.org_id == a)).all()
        secrets += s.scalars(
            select(ExpectedPerson.email)
            .join(Classroom, Classroom.id == ExpectedPerson.classroom_id)
            .where(Classroom.org_id == a)
        ).all()
        typed_by_b = set(s.scalars(select(Invitation.email).where(Invitation.org_id == b)))
        s.remove()
    return sorted(set(secrets) - typed_by_b)


def _leaks(answer, secrets, asked):
    """The secrets an answer shows that the request did not carry itself."""
    if answer.status >= 300 or not answer.body:
        return []
    text = answer.text
    return [x for x in secrets if x in text and x not in asked]


def test_the_other_organization_meets_nothing_of_the_first(matrix):
    """B's admin on B's own pages, exports and forms: nothing of A shows (A's student
    Max shares with B, nothing of his life in A does either); and wherever B's
    pages, query arguments or forms take an id, one of A's is answered as an id
    that does not exist is (same status, same tables changed), never served."""
    m = matrix
    session = m.sessions["other_admin"]
    secrets = a_secrets(m)
    problems = []

    # 1. Every page of B (and the admin's own), plain and htmx: none of A's names or codes.
    pages = []
    for rule in m.rules.values():
        if "GET" not in rule.methods or rule.endpoint == "static" or not set(rule.arguments) <= set(B_PARAMS):
            continue
        pages.append(fill(rule, m.world, {name: B_PARAMS[name] for name in rule.arguments}))
    for page in sorted(pages):
        for headers in (None, HX):
            answer = send(m.app, session, "GET", page, headers=headers)
            leaked = _leaks(answer, secrets, page)
            if leaked or answer.error or answer.status >= 500:
                problems.append(
                    f"GET {page}{' (htmx)' if headers else ''} as B's admin: "
                    f"{answer.status}, shows {leaked} {answer.error or ''}"
                )
    m.tables.put_back()

    def same_as_nowhere(method, path, a_path, data=None, a_data=None, query=None, a_query=None, label=""):
        nowhere = send(m.app, session, method, path, data=data, query_string=query)
        nowhere_changes = m.tables.put_back()
        answer = send(m.app, session, method, a_path, data=a_data, query_string=a_query)
        answer_changes = m.tables.put_back()
        asked = a_path + repr(a_data) + repr(a_query)
        leaked = _leaks(answer, secrets, asked) + (
            _leaks(answer.confirmation, secrets, asked) if answer.confirmation else []
        )
        if answer.error or (_status(answer), answer_changes) != (_status(nowhere), nowhere_changes) or leaked:
            problems.append(
                f"{method} {a_path} as B's admin, {label}: answered {_status(answer)} changing "
                f"{answer_changes or 'nothing'}, where an id nothing has gets {_status(nowhere)} "
                f"changing {nowhere_changes or 'nothing'}; shows {leaked} {answer.error or ''}"
            )

    b_pages = sorted(p for p in pages if "/export" not in p and ".csv" not in p)
    forms, links, _ = crawl(m.app, [session], b_pages)
    b_forms = {}
    for form in forms:
        endpoint = endpoint_of(m.app, form.method, form.path)
        b_forms.setdefault((form.method, endpoint), form)

    # 2. B's URLs with an A id for one parameter (the others B's), with B's own form.
    for rule in sorted(m.rules.values(), key=lambda r: r.rule):
        names = sorted(rule.arguments)
        if len(names) < 2 or not set(names) <= set(B_PARAMS):
            continue
        for name, thing in ((n, t) for n in names for t in _a_things(n)):
            for method in sorted(rule.methods & {"GET", "POST"}):
                chosen = {n: B_PARAMS[n] for n in names}
                b_values = {n: m.world.value(t) for n, t in chosen.items()}
                a_path = rule.build({**b_values, name: m.world.value(thing)}, append_unknown=False)[1]
                path = rule.build({**b_values, name: int(NOWHERE)}, append_unknown=False)[1]
                form = b_forms.get((method, rule.endpoint))
                data = plausible(form, m.world) if method == "POST" and form else None
                same_as_nowhere(method, path, a_path, data=data, a_data=data, label=f"<{name}> = A's {thing}")

    # 3. B's pages' forms and links, each id they carry replaced by one of A's.
    # Where B's forms send B's admin once they are done (a batch just made: ?made=).
    for form in forms:
        if form.method != "POST":
            continue
        answer = send(m.app, session, "POST", form.action, data=plausible(form, m.world))
        m.tables.put_back()
        target = urlsplit(answer.headers.get("Location", ""))
        if target.query and target.path.startswith("/"):
            links.append(("other_admin", target.path, dict(parse_qsl(target.query))))
    done = set()
    for form in forms:
        for name, f in form.fields.items():
            key = (form.method, form.path, name)
            typed = f.kind in ("text", "search", "email", "password", "textarea", "button")
            if not _a_things(name) or key in done or typed:
                continue
            done.add(key)
            base = plausible(form, m.world)
            for thing in _a_things(name):
                here, there = {**base, name: NOWHERE}, {**base, name: str(m.world.value(thing))}
                if form.method == "GET":
                    same_as_nowhere(
                        "GET", form.path, form.path, query=here, a_query=there, label=f"?{name}= A's {thing}"
                    )
                else:
                    same_as_nowhere(
                        form.method,
                        form.path,
                        form.path,
                        data=here,
                        a_data=there,
                        label=f"field {name} = A's {thing}",
                    )
    for _, path, args in links:
        for name in args:
            key = ("GET", path, name)
            if not _a_things(name) or key in done:
                continue
            done.add(key)
            for thing in _a_things(name):
                same_as_nowhere(
                    "GET",
                    path,
                    path,
                    query={**args, name: NOWHERE},
                    a_query={**args, name: str(m.world.value(thing))},
                    label=f"?{name}= A's {thing}",
                )
    assert len(secrets) > 10 and len(pages) > 15 and len(done) > 10, "the probe found too little"
    assert not problems, f"{len(problems)} on {m.kind}:\n" + "\n".join(problems)
