"""Hostile values into every form of the app, every query argument its links
carry and every URL with an id, on SQLite and on PostgreSQL: no answer is a 500,
no exception escapes, none takes SLOW_SECONDS.

The forms are the app's own: every page of url_map is read (BeautifulSoup) as
the admin, a student, a parent and someone logged out, for its <form>s (method,
action, fields with what the page filled in) and hx-post attributes, and for
the query arguments of its links; a POST route no page has a form for is fuzzed
from url_map alone. Each form is sent as the admin if the admin has it, else as
whoever does, and the student's profile and parents' forms as the student too.

Each field in turn gets the values of its kind (numbers and ids, the other
organization's among them, and lists; dates; times; links back; files; text in
every script, control characters, markup, formulas, very long strings), the
other fields keeping what a person would send, so that a value passing the
form's checks reaches the domain and the database. Then requests with every
field hostile at once carry most of the values, of every kind; when one fails,
each of its values is sent alone to name the field. Every URL parameter gets
the id-like values. Half the requests carry HX-Request. Values come from fixed
lists and a generator seeded with SEED, so every run sends the same requests.
A value that deleted what later requests name (a 404 after a success) has the
world put back first, and so does each form before its turn, and every success
of a route that uses up what the next request needs (RESTORE_AFTER). A change
answered with a page asking to confirm it is confirmed, the values sent again
under that page's form (probe_support.send), so that they reach the change.
"""

import itertools
import random
import re
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from probe_support import (
    DATABASES,
    FILE_FIELDS,
    HX,
    Field,
    Tables,
    build_world,
    candidates,
    crawl,
    drop_app,
    endpoint_of,
    fill,
    make_app,
    pages_of,
    plausible,
    roster_file,
    send,
    sessions_for,
)

SEED = 2027
MIN_VALUES = 10_000
# An answer slower than this is a failure too: one request must not hold a worker
# (and on SQLite the write lock) for seconds.
SLOW_SECONDS = 5.0
ROLES = ["admin", "student", "parent", "anonymous"]
GENERATED_PER_FIELD = 2
# Then requests with every field hostile at once, each value from ANY or the
# generator: most of the values sent, and of every kind. A form of n fields gets
# ALL_HOSTILE * n * n of them (at most ALL_HOSTILE_MAX), since a request to it
# carries n values.
ALL_HOSTILE = 2
ALL_HOSTILE_MAX = 100
# The most values a field of many values gets in one such request.
MANY = 20
# A form with the same fields as one fuzzed before (the same form on another page)
# gets every SAME_FORM_STRIDE-th value of each corpus.
SAME_FORM_STRIDE = 3
# Runs of GROWTH_UNITS of each shape, in every text field; one that takes over
# GROWTH_FLOOR (and three times the form's usual answer) is sent again
# GROWTH_FACTOR times as long (Run.growth).
GROWTH_SHAPES = [".", "a@", "<a "]
GROWTH_UNITS = 4000
GROWTH_FACTOR = 3
GROWTH_FLOOR = 0.08
TEXT_FIELDS = ("text", "search", "textarea", "email", "password")
# Routes whose success uses up what the next request to them needs: the session
# (logging out, everywhere too), the password the form asks for (changing it), the
# link (a reset, a sign-up finished, an invitation answered). After each success
# the world is put back, so that every value reaches as deep as the first.
RESTORE_AFTER = {
    "auth.logout",
    "auth.logout_everywhere",
    "auth.change_password",
    "auth.reset_password",
    "auth.finish_signup",
    "invitations.answer_link",
    "invitations.answer_on_profile",
}

BIG = "99999999999999999999"
INTEGERS = [
    "0",
    "1",
    "-1",
    "2.5",
    "-2.5",
    "1e3",
    "1E400",
    "NaN",
    "inf",
    "-0",
    "007",
    " 42 ",
    "+7",
    "0x1F",
    "1_000",
    "١٢",
    "１２",
    "²",
    str(2**31 - 1),
    str(2**31),
    str(-(2**31) - 1),
    str(2**32),
    str(2**63 - 1),
    str(2**63),
    str(-(2**63) - 1),
    str(2**64),
    BIG,
    "-" + BIG,
    "9" * 400,
    "9" * 5000,
]
CONTROL = [
    "\x00",
    "a\x00b",
    "\x01\x02\x03",
    "\x07\x08\x0b\x0c",
    "\x1b[31mred",
    "\x7f",
    "\r\n",
    "\t",
    "\u0085\u2028\u2029",
    "\u200b\u200c\u200d\ufeff",
    "\u202eevil\u202c",
    "\ud7ff\ue000",
    "\uffff\ufffe",
    "\U0010ffff",
    "\U000e0041",
]
UNICODE = [
    "Ærøskøbing",
    "İstanbul ıi",
    "STRAßE ß",
    "ﬁ ﬂ ﬀ",
    "K Å",
    "ＡＢＣ１２３",
    "Ⅻ ⅻ",
    "ǅ ǈ",
    "e\u0301" * 40,
    "Z" + "\u0336\u0337\u0338\u0489" * 30,
    "😀",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "🇺🇦🇯🇵",
    "👍🏽" * 50,
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "𒀀𓀀𐌀",
]
MARKUP = [
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "<svg/onload=alert(1)>",
    "{{7*7}}",
    "{% raw %}",
    "${7*7}",
    "<!--",
    "]]>",
    "&amp;&lt;&#0;",
    "%3Cscript%3E",
    "' OR '1'='1",
    "1; DROP TABLE users; --",
    "\\",
    "%",
    "_",
    "%%__\\%",
    "../../etc/passwd",
    "%00",
    "\\x00",
]
FORMULAS = [
    "=1+1",
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-1+1",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "=cmd|' /C calc'!A0",
]
DATES = [
    "2027-02-30",
    "2027-13-01",
    "2027-00-10",
    "0000-00-00",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "1969-12-31",
    "31/12/2027",
    "12/31/2027",
    "2027.12.31",
    "2027-1-1",
    "2027-12-31T23:59:59Z",
    "2027-W52",
    "20271231",
    "today",
    "-2027-01-01",
    " 2027-01-01 ",
]
TIMES = [
    "25:00",
    "23:60",
    "24:00",
    "12:00 PM",
    "-1:00",
    "00:00:00.000001",
    "23:59:59.9999999",
    "99:99",
    "1200",
    "T12:00",
]
URLS = [
    "//evil.example",
    "https://evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/%2F%2Fevil.example",
    "/\x00",
    "/" + "a" * 5000,
    "?next=//x",
    "#x",
]
EMAILS = [
    "a@b",
    "@",
    "a@",
    "x" * 300 + "@example.org",
    "ä@ö.de",
    "a@[127.0.0.1]",
    '"quoted"@example.org',
    "SAM@OAK.EXAMPLE",
    " sam@oak.example ",
    "sam@oak.example\n",
    "a@b@c",
    "a" * 64 + "@" + "b" * 250 + ".org",
]
LONG = ["A" * 41, "A" * 121, "A" * 201, "a-" * 2500, "OAK-ROOM1-2027" * 20_000, "\u00e9" * 100_000]
# Under MAX_CONTENT_LENGTH (2 MB) with the rest of the form.
HUGE = ["Z" * 1_500_000, "9" * 1_500_000]
INVALID_UTF8 = [b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\x80", b"caf\xe9"]
CSV_FILES = [
    b"",
    b"\x00" * 100,
    b"email,name,classroom\n",
    b"\xef\xbb\xbfemail,name,classroom\nx@oak.example,X,Oak Room 1\n",
    b"email,name,classroom\n=1+1,@SUM(A1),+1\n",
    b"email,name,classroom\n" + b"a@b.c,\xff\xfe,x\n",
    b"email;name;classroom\nx@oak.example;X;Oak Room 1\n",
    b'email,name,classroom\n"unclosed,x,y\n',
    b"email,name,classroom\n" + b"x," * 5000 + b"\n",
    b"not,a,roster\n1,2,3\n",
    b"email,name,classroom\n" + b"".join(b"p%d@oak.example,P%d,Oak Room 1\n" % (i, i) for i in range(300)),
    b"email,name,classroom\nsam@oak.example,Sam,Oak Room 1\nSAM@OAK.EXAMPLE,Sam,Oak Room 1\n",
    b"\r\r\r\n\n",
    b"email\tname\tclassroom\n",
    "email,name,classroom\nü@ö.de,Ünï,Ω\n".encode("utf-16"),
]


def _every_script(per_value=40):
    """One assigned character from each 128-code-point stretch of Unicode (every
    script's block, symbols and emoji among them), in strings of per_value."""
    chars = []
    for start in range(0x80, 0x110000, 0x80):
        for code in range(start, start + 0x80):
            if 0xD800 <= code <= 0xDFFF:
                break
            if unicodedata.category(chr(code)) not in ("Cn", "Cs"):
                chars.append(chr(code))
                break
    return ["".join(chars[i : i + per_value]) for i in range(0, len(chars), per_value)]


SCRIPTS = _every_script()
ANY = list(
    dict.fromkeys(
        INTEGERS
        + CONTROL
        + UNICODE
        + SCRIPTS
        + MARKUP
        + FORMULAS
        + DATES
        + TIMES
        + URLS
        + EMAILS
        + LONG
        + INVALID_UTF8
    )
)

# What a single field gets while the others keep what a person would send, so
# that a value that passes the form's checks reaches the domain and the database:
# the values most likely to get that far, by the field's kind.
DEEP_INTEGERS = [
    "0",
    "-1",
    "2.5",
    " 42 ",
    "١٢",
    "1_000",
    str(2**31 - 1),
    str(2**31),
    str(-(2**31) - 1),
    str(2**63 - 1),
    str(2**63),
    str(-(2**63) - 1),
    BIG,
    "-" + BIG,
    "9" * 400,
    "9" * 5000,
    "",
    "abc",
    INVALID_UTF8[0],
]
DEEP_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x1b[31mred",
    "\u202eevil\u202c",
    "\u200b\ufeff",
    "👨‍👩‍👧‍👦",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "%_\\",
    "=1+1",
    "A" * 41,
    "A" * 121,
    "A" * 201,
    "OAK-ROOM1-2027" * 20_000,
    INVALID_UTF8[0],
    BIG,
]
DEEP_DATES = [
    "2027-02-30",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "1969-12-31",
    "31/12/2027",
    "2027-12-31T23:59:59Z",
    "20271231",
    "-2027-01-01",
    " 2027-01-01 ",
]
DEEP_TIMES = ["25:00", "24:00", "12:00 PM", "00:00:00.000001", "23:59:59.9999999", "T12:00"]
# What an id in a URL gets: the route's converter lets only digits through (any
# script's), so the rest are a few to show that it does.
URL_INTEGERS = [
    "0",
    "١٢",
    str(2**31 - 1),
    str(2**31),
    str(2**63 - 1),
    str(2**63),
    BIG,
    "9" * 5000,
    "-1",
    "2.5",
    "abc",
    "%00",
    INVALID_UTF8[0],
]
# The rest of the text values, DEEP_SLICE of them to each text field in turn.
TEXT_REST = [v for v in ANY if v not in DEEP_TEXT]
DEEP_SLICE = 3
BUTTON_ONLY = ["", "//evil.example", "javascript:alert(1)", "\x00", BIG, INVALID_UTF8[0], "A" * 5000]
# Kinds of id a field's name says it holds, and the other organization's thing of that kind.
ID_KINDS = {
    "classroom": "room_b",
    "course": "course_b",
    "user": "student_b",
    "code": "code_b",
    "batch": "batch_b",
    "link": "link_b",
}


def _numeric(field):
    """A number box, or a choice (or hidden field) whose values are all ids."""
    values = [v for v in list(field.values) + list(field.options) if v]
    return field.kind == "number" or (
        field.kind in ("hidden", "select", "select-multiple", "checkbox", "radio")
        and bool(values)
        and all(v.isdigit() for v in values)
    )


def corpus_for(field, world, rest):
    """The values a single field gets, by what it holds: numbers and ids (the other
    organization's id of that kind, lists of ids), dates, times, a link back, a
    file, emails, text (DEEP_TEXT and the next DEEP_SLICE of the rest)."""
    values = list(field.values) + list(field.options)
    if field.name in FILE_FIELDS or field.kind == "file":
        return [("file", content) for content in CSV_FILES]
    if field.name == "next":
        return URLS + ["", "\x00", INVALID_UTF8[0]]
    if _numeric(field):
        own = [v for v in values if v][:1]
        other = [str(world.value(b)) for k, b in ID_KINDS.items() if k in field.name]
        return DEEP_INTEGERS + other + [own + [BIG], own * 600, own + other]
    if field.kind == "date":
        return DEEP_DATES + ["", BIG]
    if field.kind == "time":
        return DEEP_TIMES + ["", BIG]
    own = EMAILS if field.kind == "email" or "email" in field.name else []
    return own + DEEP_TEXT + [next(rest) for _ in range(DEEP_SLICE)]


def generated(rng, count):
    """Random values: unicode strings of random lengths and code points, and integers
    of every size, from the seeded generator."""
    out = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.45:
            length = rng.choice([1, 2, 5, 20, 100, 1000])
            out.append("".join(_random_char(rng) for _ in range(length)))
        elif kind < 0.8:
            out.append(str(rng.randint(-(10 ** rng.randint(1, 30)), 10 ** rng.randint(1, 30))))
        else:
            out.append(rng.choice(ANY))
    return out


def _random_char(rng):
    while True:
        code = rng.choice(
            [
                rng.randint(0, 0x7F),
                rng.randint(0x80, 0x2FFF),
                rng.randint(0x3000, 0xFFFF),
                rng.randint(0x10000, 0x10FFFF),
            ]
        )
        if not 0xD800 <= code <= 0xDFFF:
            return chr(code)


@dataclass
class Target:
    """One thing to fuzz: a form (or a route url_map has and no page shows), or a
    URL whose parameters get the values, sent by one role."""

    role: str
    method: str
    path: str
    endpoint: str
    fields: dict  # name -> Field (empty for a URL's parameters)
    base: dict  # what a person would send
    in_query: bool = False


@dataclass
class Failure:
    role: str
    method: str
    path: str
    endpoint: str
    field: str
    value: str
    status: int
    seconds: float
    detail: str


def _show(value):
    if isinstance(value, tuple):
        value = value[1]
    text = repr(value)
    return text if len(text) <= 90 else f"{text[:60]}... ({len(text)} chars)"


@dataclass
class Fuzz:
    kind: str
    app: object
    world: object
    sessions: dict
    tables: Tables
    forms: list
    links: list
    seen: list


@pytest.fixture(scope="module", params=DATABASES)
def fuzz(request, tmp_path_factory):
    kind = request.param
    # Failed attempts are not limited here: a fuzzer that gets "wait 15 minutes"
    # after ten guesses (or, from its one address, after 600) tests nothing behind
    # the limit.
    app = make_app(
        kind,
        tmp_path_factory.mktemp(f"fuzz-{kind}"),
        REDEEM_FAILURES_PER_ACCOUNT=10**9,
        LOGIN_FAILURES_PER_ACCOUNT=10**9,
        ADDRESS_FAILURES_SHARED=10**9,
        ADDRESS_FAILURES_HOSTILE=10**9,
    )
    try:
        world = build_world(app)
        sessions = sessions_for(app, world, ROLES)
        rules = list(app.url_map.iter_rules())
        pages = pages_of(rules, world)
        forms, links, seen = crawl(app, [sessions[r] for r in ROLES], pages)
        tables = Tables(app)
        try:
            yield Fuzz(kind, app, world, sessions, tables, forms, links, seen)
        finally:
            tables.close()
    finally:
        drop_app(app, kind)


def form_targets(fz):
    """Every form the crawl found, once per route: as the admin if the admin has it,
    else as the first who does; the forms of the student's profile and parents'
    page as the student too. And every POST route of url_map no page posts to."""
    targets, taken = [], set()
    for form in fz.forms:
        endpoint = endpoint_of(fz.app, form.method, form.path)
        if endpoint is None or endpoint == "static":
            continue
        key = (form.method, endpoint, form.found_by)
        earlier = {role for m, e, role in taken if (m, e) == (form.method, endpoint)}
        students_own = form.found_by == "student" and form.found_on in ("/profile", "/parents")
        if key in taken or (earlier and not students_own):
            continue
        taken.add(key)
        fields = {n: f for n, f in form.fields.items() if not n.endswith("csrf_token") and f.kind != "button"}
        targets.append(
            Target(
                form.found_by,
                form.method,
                form.action,
                endpoint,
                fields,
                plausible(form, fz.world),
                in_query=form.method == "GET",
            )
        )
    found = {(m, e) for m, e, _ in taken}
    for rule in fz.app.url_map.iter_rules():
        if "POST" in rule.methods and ("POST", rule.endpoint) not in found:
            chosen = {name: options[0] for name, options in candidates(rule).items()}
            targets.append(Target("admin", "POST", fill(rule, fz.world, chosen), rule.endpoint, {}, {}))
    return targets


def link_targets(fz, known):
    """The query arguments the pages' links carry (paging, filters, next=), per
    route and role, for those the GET forms did not already name."""
    args = defaultdict(set)
    paths = {}
    for role, path, query in fz.links:
        endpoint = endpoint_of(fz.app, "GET", path)
        if endpoint is None or endpoint == "static" or not query:
            continue
        key = (role, endpoint)
        args[key] |= set(query) - known.get(key, set())
        paths.setdefault(key, path)
    return [
        Target(
            role,
            "GET",
            paths[(role, e)],
            e,
            {n: Field(n, "text", []) for n in sorted(names)},
            {},
            in_query=True,
        )
        for (role, e), names in sorted(args.items())
        if names
    ]


def _converters(rule):
    """{parameter: its converter's name} as the rule is written ("default" for none)."""
    return {
        name: converter or "default"
        for converter, name in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule.rule)
    }


def url_values(name, converter_name, world):
    if converter_name in ("int", "float"):
        other = [str(world.value(b)) for k, b in ID_KINDS.items() if k in name]
        return URL_INTEGERS + other
    return DEEP_TEXT + URLS + [".", "..", "%2e%2e", "a/b"]


def url_targets(fz):
    """Every rule with parameters, for each parameter every id-like (or text)
    value, the others one of the first organization's own; sent by every role
    that sees a page or a form of the route."""
    out = []
    forms_by_endpoint = {}
    for form in fz.forms:
        endpoint = endpoint_of(fz.app, form.method, form.path)
        if endpoint:
            forms_by_endpoint.setdefault((form.method, endpoint), form)
    ok_roles = defaultdict(set)
    for form in fz.forms:
        ok_roles[endpoint_of(fz.app, form.method, form.path)].add(form.found_by)
    for role, page in fz.seen:
        ok_roles[endpoint_of(fz.app, "GET", page)].add(role)
    for rule in sorted(fz.app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.arguments or rule.endpoint == "static":
            continue
        chosen = {name: options[0] for name, options in candidates(rule).items()}
        for method in sorted(rule.methods & {"GET", "POST"}):
            form = forms_by_endpoint.get((method, rule.endpoint))
            base = plausible(form, fz.world) if form is not None else {}
            seen_by = ok_roles[rule.endpoint]
            role = next((r for r in ("admin", "student", "parent") if r in seen_by), "admin")
            for name, converter in _converters(rule).items():
                values = url_values(name, converter, fz.world)
                out.append((role, method, rule, chosen, name, values, base))
    return out


def _path_with(rule, world, chosen, name, value):
    """The rule's path with one parameter a raw value (quoted as a browser would),
    the others the world's: no converter gets to refuse it first."""
    values = {n: str(world.value(t)) for n, t in chosen.items()}
    raw = value.decode("latin-1") if isinstance(value, bytes) else value
    values[name] = quote(raw, safe="")
    return re.sub(
        r"<(?:[^:>]+:)?([^>]+)>",
        lambda m: values[m.group(1)] if m.group(1) != name else values[name],
        rule.rule,
    )


def _data(target, changes):
    data = dict(target.base)
    for name in list(data):
        if name in FILE_FIELDS:
            data[name] = ("file", data[name][0].getvalue())
    data.update(changes)
    return data


def _count(value):
    """How many values a field's value is: a list counts its distinct items."""
    return len({repr(v) for v in value}) if isinstance(value, list) else 1


class Run:
    def __init__(self, fz):
        self.fz = fz
        self.failures = []
        self.rest = itertools.cycle(TEXT_REST)
        self.fieldsets = set()
        self.cost = defaultdict(lambda: [0, 0.0])
        self.times = defaultdict(list)
        self.grown = set()
        self.last_seconds, self.last_status = 0.0, 0
        self.values = 0
        # Requests sent (a few again: after the world was put back, or when slow),
        # and the answers judged, one per value.
        self.requests = 0
        self.answers = 0
        self.seconds = 0.0
        self.slowest = []

    def send(
        self, target_role, method, path, endpoint, data, htmx, label, value, succeeded, again_if_slow=True
    ):
        """One request; a 404 after this route answered well, with the tables
        changed, means an earlier value deleted what it names, so the world is put
        back and the request sent again."""
        fz = self.fz
        session = fz.sessions[target_role]

        def once():
            form, query = (None, data) if method == "GET" else (_files(data), None)
            answer = send(
                fz.app, session, method, path, data=form, query_string=query, headers=HX if htmx else None
            )
            # And the confirmed one, when a page asked to confirm the change.
            self.requests += 1 if answer.confirmation is None else 2
            return answer

        answer = once()
        if answer.status == 404 and succeeded and not answer.error and fz.tables.put_back():
            answer = once()
        if answer.seconds > SLOW_SECONDS and not answer.error and again_if_slow:
            # Once more, so that a moment when the machine was busy is not counted.
            answer = min(answer, once(), key=lambda a: a.seconds)
        if endpoint in RESTORE_AFTER and answer.status < 400:
            fz.tables.put_back()
        self.answers += 1
        self.seconds += answer.seconds
        self.last_seconds, self.last_status = answer.seconds, answer.status
        self.times[(method, endpoint)].append(answer.seconds)
        self.cost[(method, endpoint)][0] += 1
        self.cost[(method, endpoint)][1] += answer.seconds
        shown_path = path if len(path) <= 100 else f"{path[:80]}... ({len(path)} chars)"
        self.slowest = sorted(
            [*self.slowest, (answer.seconds, method, shown_path, label, _show(value))], reverse=True
        )[:8]
        if answer.error or answer.status >= 500 or answer.seconds > SLOW_SECONDS:
            detail = answer.error or (
                f"answered {answer.status}"
                if answer.status >= 500
                else f"slower than {SLOW_SECONDS:g} s\ntook {answer.seconds:.1f} s"
            )
            self.failures.append(
                Failure(
                    target_role,
                    method,
                    path,
                    endpoint,
                    label,
                    _show(value),
                    answer.status,
                    answer.seconds,
                    detail,
                )
            )
        return answer.status < 400

    def target(self, target, rng):
        fz = self.fz
        fz.tables.put_back()
        succeeded = False
        # A form that is just a button, or a route no page has a form for, gets a
        # few values in a field that forms here have.
        names = sorted(target.fields) or ["next"]
        cases = []
        stride = SAME_FORM_STRIDE if tuple(names) in self.fieldsets else 1
        self.fieldsets.add(tuple(names))
        for n, name in enumerate(names):
            field = target.fields.get(name)
            if field is None:
                values = BUTTON_ONLY
            else:
                values = corpus_for(field, fz.world, self.rest) + generated(rng, GENERATED_PER_FIELD)
            if n == 0 and field is not None and field.name not in FILE_FIELDS:
                values += HUGE
            # Numbers, ids and dates stay whole: most of what breaks, breaks on them.
            step = 1 if field is not None and (_numeric(field) or field.kind in ("date", "time")) else stride
            cases += [({name: v}, name, v) for v in values[::step]]
        for _ in range(min(ALL_HOSTILE_MAX, ALL_HOSTILE * len(names) ** 2) // stride):
            changes = {n: self.hostile(rng, target.fields.get(n)) for n in names if n not in FILE_FIELDS}
            if changes:
                cases.append((changes, "+".join(changes), changes))
        for i, (changes, label, value) in enumerate(cases):
            self.values += sum(_count(v) for v in changes.values())
            failed = len(self.failures)
            succeeded |= self.send(
                target.role,
                target.method,
                target.path,
                target.endpoint,
                _data(target, changes),
                htmx=i % 2 == 1,
                label=label,
                value=value,
                succeeded=succeeded,
            )
            if len(self.failures) > failed and len(changes) > 1:
                self.narrow(target, changes, i % 2 == 1)
        for name in names:
            field = target.fields.get(name)
            key = (target.method, target.endpoint, name)
            if field is not None and field.kind in TEXT_FIELDS and key not in self.grown:
                self.grown.add(key)
                self.growth(target, name)

    def growth(self, target, name):
        """Runs of characters that a backtracking pattern reads again and again (a
        run of trailing punctuation that is not trailing, and the like), once per
        route and field, at GROWTH_UNITS and at GROWTH_FACTOR times as many: if the
        first takes noticeably longer than this form's usual answer, the second
        must take no more than about GROWTH_FACTOR times as long. Growing with the
        square of the input is a way to keep a worker (and SQLite's write lock)
        busy for minutes with one request. Both are always sent, so every run
        sends the same requests; only a first answer slow enough to measure is
        compared (below the floor the ratio is noise)."""
        usual = sorted(self.times[(target.method, target.endpoint)] or [0.02])
        usual = usual[len(usual) // 2]
        for shape in GROWTH_SHAPES:
            small, big = shape * GROWTH_UNITS + "A", shape * GROWTH_UNITS * GROWTH_FACTOR + "A"
            self.values += 2
            self.send(
                target.role,
                target.method,
                target.path,
                target.endpoint,
                _data(target, {name: small}),
                htmx=False,
                label=name,
                value=small,
                succeeded=False,
            )
            took = self.last_seconds
            failed = len(self.failures)
            self.send(
                target.role,
                target.method,
                target.path,
                target.endpoint,
                _data(target, {name: big}),
                htmx=False,
                label=name,
                value=big,
                succeeded=False,
                again_if_slow=False,
            )
            if took >= max(GROWTH_FLOOR, 3 * usual) and self.last_seconds > GROWTH_FACTOR**1.5 * took:
                # A slow answer recorded as such is this, said better.
                del self.failures[failed:]
                self.failures.append(
                    Failure(
                        target.role,
                        target.method,
                        target.path,
                        target.endpoint,
                        name,
                        _show(big),
                        self.last_status,
                        self.last_seconds,
                        f"grows faster than its input (a run of {shape!r})\n"
                        f"{len(small):,} characters took {took:.2f} s, {len(big):,} took "
                        f"{self.last_seconds:.2f} s",
                    )
                )

    def narrow(self, target, changes, htmx):
        """A request with every field hostile failed: send each of its values alone,
        the other fields as a person fills them, to name the field. The combined
        failure stays only if no field fails alone."""
        combined = self.failures.pop()
        before = len(self.failures)
        for name, value in changes.items():
            self.send(
                target.role,
                target.method,
                target.path,
                target.endpoint,
                _data(target, {name: value}),
                htmx=htmx,
                label=name,
                value=value,
                succeeded=False,
            )
        if len(self.failures) == before:
            self.failures.append(combined)

    @staticmethod
    def hostile(rng, field):
        """A value from ANY or the generator; for a field of many values (a group of
        checkboxes, a multiple select), a list of them, each of which the app reads."""

        def one():
            return rng.choice(ANY) if rng.random() < 0.75 else generated(rng, 1)[0]

        many = field is not None and (
            field.kind == "select-multiple" or (field.kind == "checkbox" and len(field.options) > 1)
        )
        return [one() for _ in range(rng.randint(1, MANY))] if many else one()

    def url(self, role, method, rule, chosen, name, values, base):
        succeeded = False
        self.fz.tables.put_back()
        for i, value in enumerate(values):
            path = _path_with(rule, self.fz.world, chosen, name, value)
            data = _data(Target(role, method, path, rule.endpoint, {}, base), {}) if method != "GET" else None
            self.values += 1
            succeeded |= self.send(
                role,
                method,
                path,
                rule.endpoint,
                data,
                htmx=i % 2 == 1,
                label=f"<{name}>",
                value=value,
                succeeded=succeeded,
            )


def _files(data):
    """The form with each file made afresh (a request reads and closes its files)."""
    if data is None:
        return None
    return {
        name: roster_file(value[1]) if isinstance(value, tuple) and value[:1] == ("file",) else value
        for name, value in data.items()
    }


def report(run, kind, app):
    """The failures grouped by cause (the exception and where in the app it was
    raised, or the status), each cause with every route, role and field that
    met it and some of the values."""
    causes = defaultdict(lambda: defaultdict(list))
    for f in run.failures:
        value = f.value
        lines = f.detail.splitlines()
        # The exception and the app's frame that raised it; or what was wrong.
        cause = "\n".join(lines[:2] if lines[1:2] and lines[1].startswith("  at ") else lines[:1])
        if len(lines) > 1 and not lines[1].startswith("  at "):
            value = f"{value} ({lines[1]})"
        rule = next(iter(app.url_map.iter_rules(f.endpoint))).rule
        causes[cause][(f.method, rule, f.role, f.field, f.status)].append(value)
    out = [f"{len(run.failures)} of {run.answers} answers failed on {kind}, of {len(causes)} causes:"]
    for n, (cause, places) in enumerate(sorted(causes.items(), key=lambda c: -len(c[1])), 1):
        out.append(f"{n}. {cause}".replace("\n", "\n   "))
        for (method, rule, role, field, status), values in sorted(places.items()):
            distinct = sorted(set(values), key=lambda v: (len(v), v))
            more = f" and {len(distinct) - 8} more" if len(distinct) > 8 else ""
            out.append(
                f"   - {method} {rule} as {role}, {field}: {status} for {', '.join(distinct[:8])}{more}"
            )
    return "\n".join(out)


def test_no_value_in_any_form_or_url_gives_a_500(fuzz):
    started = time.perf_counter()
    rng = random.Random(SEED)
    run = Run(fuzz)
    forms = form_targets(fuzz)
    known = defaultdict(set)
    for t in forms:
        if t.in_query:
            known[(t.role, t.endpoint)] |= set(t.fields)
    targets = forms + link_targets(fuzz, known)
    for role, method, rule, chosen, name, values, base in url_targets(fuzz):
        run.url(role, method, rule, chosen, name, values, base)
    for target in targets:
        run.target(target, rng)
    elapsed = time.perf_counter() - started
    slowest = "\n".join(f"  {s:.2f} s {m} {p} {label}={v}" for s, m, p, label, v in run.slowest)
    print(
        f"\n{fuzz.kind}: {run.values} values in {run.requests} requests to {len(targets)} forms "
        f"and query strings and every URL with an id; {elapsed:.1f} s in all, "
        f"{1000 * run.seconds / max(run.answers, 1):.1f} ms a request on average; "
        f"the world was put back {fuzz.tables.restores} times\n"
        f"slowest:\n{slowest}\ncostliest routes:\n"
        + "\n".join(
            f"  {t:.1f} s in {n} requests: {m} {e}"
            for (m, e), (n, t) in sorted(run.cost.items(), key=lambda kv: -kv[1][1])[:12]
        )
    )
    problems = [f"only {run.values} values were sent, not {MIN_VALUES}"] if run.values < MIN_VALUES else []
    if run.failures:
        problems.append(report(run, fuzz.kind, fuzz.app))
    assert not problems, "\n".join(problems)
