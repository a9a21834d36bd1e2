"""The staff pages read a large organization through indexes: no query of theirs
scans a table of codes, members, people or audit events in full. SQLite's
plans do not depend on a table's size until ANALYZE runs, so a small world
shows the plan a district's would get, and a regression fails here rather than
in a benchmark (bench/growth.py prints PostgreSQL's plans at full size)."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, text

from codes import audit
from codes.extensions import db
from codes.manage.operations import deactivate
from codes.models import Code, utcnow
from codes.redeem.operations import redeem
from conftest import HX, batch_of

# The tables that grow with an organization's people and history.
GROWING = {
    "codes",
    "users",
    "org_members",
    "classroom_members",
    "enrollments",
    "redemptions",
    "audit_events",
    "code_classrooms",
    "code_courses",
    # a total per code ever redeemed (codes.reports.aggregates), which "all
    # time"'s table of codes reads band by band (models.REDEMPTIONS_BAND)
    "report_totals",
}
# Not report_days (codes.reports.aggregates): the reports read it by the
# organization and the period's days, and what grows with it is days, not
# people. What the reports still sort is the codes of the period's days
# (the table of the 15 most redeemed) for 30 days, 12 weeks and 12 months.
SCAN = re.compile(r"\bSCAN (\w+)")
# A sort or grouping in a temporary b-tree reads every row it sorts: all of an
# organization's, when what it reads grows with the organization. (The right
# part of an ORDER BY sorts only rows that tie on its left part: the codes of
# one batch, made at one instant.)
SORTED_ALL = re.compile(r"USE TEMP B-TREE FOR (ORDER BY|GROUP BY|DISTINCT)")
# But the totals tie by the thousand (every code used once has 1), so a sort of
# the right part of their order (the text after the redemptions) reads them all.
SORTED_TIES = re.compile(r"USE TEMP B-TREE FOR RIGHT PART OF ORDER BY")
TIED = {"report_totals"}
# A search on the organization alone reads all its rows of that table, unless
# the statement stops early (a page, a count to the cap).
OF_THE_ORGANIZATION = re.compile(
    r"SEARCH (\w+) USING (?:COVERING )?INDEX \w+ \((?:org_id=\?(?: AND deleted_at=\?)?)\)"
)
# A statement that reads the rows of ids already chosen (the targets of the 50
# codes on the page, the classrooms of its 25 people, the rows a search's
# trigram index found: codes.byids) sorts only those.
OF_CHOSEN_IDS = re.compile(r"\b\w*id IN \(\?|\bid IN \(__\[POSTCOMPILE|json_each\(\?\) AS ids CROSS JOIN")
# A trigram index read (codes.search), as SQLite plans it.
TRIGRAMS = re.compile(r"SCAN (?:codes_key_search|users_search) VIRTUAL TABLE INDEX")
# The ids, read first (codes.byids), as SQLite plans them.
IDS_FIRST = "SCAN ids VIRTUAL TABLE"
# The condition of a search (codes.search.contains), as SQLAlchemy writes it.
SEARCHED = re.compile(r"LIKE '%' \|\| \? \|\| '%'")
# What still reads all of an organization's rows of a kind, and why: each is a
# known cost, measured by bench/growth.py (docs/PERFORMANCE.md, "Growth"). The
# test fails when one of these is fixed, too, so that this list stays true.
READS_ALL = {
    # the day's pressure above the log counts the last 24 hours' refused
    # attempts by address: a day's, not the whole history
    "audit log, first page"
}
# Pages whose search must read a trigram index (codes.search), and then read
# what it found first: a statement that walked the organization's index until
# it had a page (LIMIT) would stop early when rows match often, and read them
# all when few do, as a rare search did on SQLite (docs/PERFORMANCE.md, "Growth").
SEARCHES = {"bulk codes, search", "people, search", "audit log, by person", "staff picker, search"}


@pytest.fixture
def world(client, make):
    """An organization with a classroom and a course, a batch of codes, students
    who redeemed some, a deactivated code; and another organization beside it."""
    org = make.org(name="Oak School", timezone="Europe/Paris")
    course = make.course(org, "Algebra")
    room = make.classroom(org, "Room 1", courses=[course])
    batch = batch_of(org, 30)
    codes = db.session.query(Code).filter(Code.batch_id == batch.id).order_by(Code.id).all()
    people = [make.user(f"Núñez {n}") for n in range(6)]
    for n, person in enumerate(people):
        redeem(person, codes[n].text)
    redeem(make.user("Second Code"), room.join_code.text)
    deactivate(org.admin, codes[10])
    # Refused attempts naming more codes than SQLite takes an organization for
    # (ten rows), so that a page naming them cannot read them by the list alone.
    late = make.user("Late Núñez")
    for code in codes[12:26]:
        audit.record(late, "redeem.used", code, org_id=org.id)
    db.session.commit()
    other = make.org(name="Elm School")
    make.classroom(other, "Elm Room")
    batch_of(other, 5)
    client.login(org.admin)
    return dict(
        org=org,
        room=room,
        batch=batch,
        search=codes[3].key[-5:].lower(),
        client=client,
        people=[p.id for p in people],
    )


def pages(w):
    o, room = w["org"].id, w["room"].id
    return [
        ("bulk codes, first page", f"/orgs/{o}/bulk", None),
        ("bulk codes, page 2", f"/orgs/{o}/bulk?page=2", HX),
        ("bulk codes, search", f"/orgs/{o}/bulk?q={w['search']}", HX),
        ("bulk codes, one batch", f"/orgs/{o}/bulk?batch={w['batch'].id}", HX),
        ("people, first page", f"/orgs/{o}/users", None),
        ("people, search", f"/orgs/{o}/users?q=n%C3%BA%C3%B1", None),
        ("people, last page", f"/orgs/{o}/users?last=1", None),
        ("people, after a person", f"/orgs/{o}/users?after={w['people'][2]}", HX),
        ("people, before a person", f"/orgs/{o}/users?before={w['people'][4]}", HX),
        ("organization report, 30 days", f"/orgs/{o}/reports", None),
        ("organization report, all time", f"/orgs/{o}/reports?period=all", None),
        ("classroom report, all time", f"/classrooms/{room}/reports?period=all", None),
        ("audit log, first page", f"/orgs/{o}/audit", None),
        ("audit log, by outcome", f"/orgs/{o}/audit?outcome=refused", HX),
        ("audit log, by person", f"/orgs/{o}/audit?person=n%C3%BA%C3%B1ez", HX),
        ("staff picker, search", f"/classrooms/{room}/settings?person=n%C3%BA%C3%B1", None),
    ]


def plans(statements):
    """(plan line, statement) of each SELECT, as SQLite plans it."""
    lines = []
    with db.engine.connect() as conn:
        for statement, parameters in statements:
            if statement.lstrip().upper().startswith("SELECT"):
                plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
                lines += [(detail, statement) for *_, detail in plan]
    return lines


# A growing table read by one row's id (a person's, a code's): a few rows.
BY_ONE = re.compile(r"\((?:rowid|id|user_id|code_id|classroom_id|course_id)=\?")


def reads_all(lines):
    """The plan lines that read a growing table in full: a scan of it, a search
    of all the organization's rows of it, or a sort of every row a statement
    reading it selects (unless it reads them by ids already chosen, or by one
    row's id: the rows of the page, or of the person looking)."""
    found = []
    by_statement: dict[str, list[str]] = {}
    for detail, statement in lines:
        by_statement.setdefault(statement, []).append(detail)
    for statement, details in by_statement.items():
        growing = [
            d for d in details if (m := re.match(r"(?:SCAN|SEARCH) (\w+)", d)) and m.group(1) in GROWING
        ]
        for detail in details:
            scan = SCAN.search(detail) or OF_THE_ORGANIZATION.search(detail)
            if scan and scan.group(1) in GROWING:
                if not (detail.startswith("SEARCH") and " LIMIT " in statement):
                    found.append(detail)
            elif (
                SORTED_ALL.search(detail)
                and not OF_CHOSEN_IDS.search(statement)
                and not all(BY_ONE.search(d) for d in growing)
            ):
                found.append(detail)
            elif SORTED_TIES.search(detail) and any(
                re.match(rf"(?:SCAN|SEARCH) {t}\b", d) for t in TIED for d in growing
            ):
                found.append(detail)
    return found


def test_no_staff_page_scans_a_growing_table(world):
    seen = []

    def heard(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    problems, searched = {}, set()
    # Removed again at the end: the app (and its engine) serves the next tests.
    event.listen(db.engine, "before_cursor_execute", heard)
    try:
        for name, url, headers in pages(world):
            seen.clear()
            response = world["client"].get(url, headers=headers)
            assert response.status_code == 200, (name, response.status_code)
            lines = plans(list(seen))
            if found := reads_all(lines):
                problems[name] = found
            if any(TRIGRAMS.search(detail) for detail, _ in lines):
                searched.add(name)
    finally:
        event.remove(db.engine, "before_cursor_execute", heard)
    assert set(problems) == READS_ALL, problems
    assert searched == SEARCHES


def test_the_search_indexes_answer_what_like_answers(world):
    """The trigram table finds exactly the keys LIKE finds (three characters or
    more go through it), and follows inserts, updates and deletes."""
    wanted = world["search"].upper()
    through_index = db.session.scalars(
        text("SELECT rowid FROM codes_key_search WHERE key LIKE :p"), {"p": f"%{wanted}%"}
    ).all()
    plain = db.session.scalars(text("SELECT id FROM codes WHERE key LIKE :p"), {"p": f"%{wanted}%"}).all()
    assert sorted(through_index) == sorted(plain) and plain
    code = db.session.get(Code, plain[0])
    code.key = "RENAMEDKEY0001"
    db.session.commit()
    assert db.session.scalars(
        text("SELECT rowid FROM codes_key_search WHERE key LIKE '%AMEDKEY0%'")
    ).all() == [code.id]


def test_the_leak_guard_counts_a_codes_redemptions_from_its_index(make):
    """The redemption of a code with both rate guards, in an hour busy enough
    that the weeks before it are read too: each of the guard's counts is a
    range of ix_redemptions_code_arrivals (the hour, the weeks before it, the
    first redemption), never the code's whole history, nor the organization's."""
    org = make.org()
    room = make.classroom(org)
    code = make.code(org, "PLANNED-2027", classrooms=[room], hourly_limit=100, surge_guard=True)
    now = utcnow()
    for _ in range(9):
        redeem(make.user(), code.text, now - timedelta(minutes=5))
        db.session.commit()
    student = make.user()
    seen = []

    def heard(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", heard)
    try:
        redeem(student, code.text, now)
    finally:
        event.remove(db.engine, "before_cursor_execute", heard)
    db.session.rollback()
    read = [detail for detail, _ in plans(seen) if re.match(r"(SCAN|SEARCH) redemptions\b", detail)]
    arrivals = "SEARCH redemptions USING COVERING INDEX ix_redemptions_code_arrivals "
    assert sorted(d for d in read if d.startswith(arrivals)) == sorted(
        [
            arrivals + "(code_id=? AND through_request=?)",
            arrivals + "(code_id=? AND through_request=? AND created_at>?)",
            arrivals + "(code_id=? AND through_request=? AND created_at>? AND created_at<?)",
        ]
    )
    # Besides, only the person's own redemption of the code is looked up.
    assert [d for d in read if not d.startswith(arrivals)] == [
        "SEARCH redemptions USING INDEX sqlite_autoindex_redemptions_1 (code_id=? AND user_id=?)"
    ]


def searched_first(lines):
    """The plan lines of a search's statements (those holding its LIKE) that do
    not read the rows the trigram index found first, or that read a growing
    table by the organization alone even under a LIMIT."""
    found = []
    by_statement: dict[str, list[str]] = {}
    for detail, statement in lines:
        by_statement.setdefault(statement, []).append(detail)
    for statement, details in by_statement.items():
        if not SEARCHED.search(statement):
            continue
        loops = [d for d in details if re.match(r"(?:SCAN|SEARCH) ", d)]
        if not loops or not loops[0].startswith(IDS_FIRST):
            found.append(loops[0] if loops else statement)
        for detail in loops:
            scan = SCAN.search(detail) or OF_THE_ORGANIZATION.search(detail)
            if scan and scan.group(1) in GROWING:
                found.append(detail)
    return found


def test_a_search_reads_what_its_trigram_index_found_first(world):
    """Each search's page and count start from the ids the index gave and look
    each one up by its key, so they cost what the matches cost, not what the
    organization holds."""
    seen = []

    def heard(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    problems, searching = {}, set()
    event.listen(db.engine, "before_cursor_execute", heard)
    try:
        for name, url, headers in pages(world):
            if name not in SEARCHES:
                continue
            seen.clear()
            response = world["client"].get(url, headers=headers)
            assert response.status_code == 200, (name, response.status_code)
            lines = plans(list(seen))
            if any(SEARCHED.search(statement) for _, statement in lines):
                searching.add(name)
            if found := searched_first(lines):
                problems[name] = found
    finally:
        event.remove(db.engine, "before_cursor_execute", heard)
    assert searching == SEARCHES
    assert problems == {}


# A page of people read from its key (codes.listing.keyset_page): a range of the
# name index that starts at the person the cursor names.
FROM_THE_KEY = re.compile(
    r"SEARCH org_members USING COVERING INDEX ix_org_members_org_name "
    r"\(org_id=\? AND \(name,email_key,user_id\)[<>]"
)


@pytest.mark.parametrize("name", ["after", "before"])
def test_a_page_of_people_reads_from_its_cursor_not_from_the_start(world, name):
    """The rows of a page after or before a person, and the count of those in
    front of it, start in the index at that person, in the index's order: no
    rows skipped, none sorted."""
    seen = []

    def heard(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    o, person = world["org"].id, world["people"][3]
    event.listen(db.engine, "before_cursor_execute", heard)
    try:
        assert world["client"].get(f"/orgs/{o}/users?{name}={person}", headers=HX).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", heard)
    keyed = [(d, s) for d, s in plans(seen) if "(org_members.name, org_members.email_key" in s]
    assert {s for _, s in keyed}, "no statement read from the cursor"
    for statement in {s for _, s in keyed}:
        details = [d for d, s in keyed if s == statement]
        assert any(FROM_THE_KEY.search(d) for d in details), details
        assert not any(SORTED_ALL.search(d) for d in details), details
