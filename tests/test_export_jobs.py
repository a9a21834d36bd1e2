"""Big exports (docs/EXPORTS.md): more rows than EXPORT_INLINE_MAX queue a job
instead of streaming; the worker stores the same bytes the streamed export
gives and mails the link, received by a real SMTP server on loopback; only the
person who asked downloads it, while they keep the role, until it expires; the
hourly clean-up deletes the expired ones. On SQLite and on PostgreSQL."""

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from smtp_support import Server
from sqlalchemy import select, update

from codes import jobs
from codes.access import Scope
from codes.bulk import operations as bulk
from codes.bulk.operations import CodeFilter
from codes.csvfile import chunks as csv_chunks
from codes.exports import operations as exports
from codes.extensions import db
from codes.jobs import periodic
from codes.jobs.worker import run_until_idle
from codes.models import Export, ExportChunk, Job, utcnow
from codes.orgs import operations as orgs
from conftest import HX, Factory, batch_of, build_app, count, postgres_url, said_by_htmx, soup, text_of

PUBLIC = "http://localhost"
THRESHOLD = 5


@pytest.fixture
def server():
    started = Server().start()
    yield started
    started.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, tmp_path, server):
    url = f"sqlite:///{tmp_path / 'exports.db'}" if request.param == "sqlite" else postgres_url()
    app = build_app(
        url, MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_TIMEOUT=5, EXPORT_INLINE_MAX=THRESHOLD
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def school(app):
    """An organization of 9 codes (more than the threshold) in a room Leo leads,
    with a second admin, Ada, and another organization's admin, Otto."""
    make = Factory()
    org = make.org(name="Oak School")
    leader = make.user("Leo Leader", "leo@oak.example")
    room = make.classroom(org, "Room 9A", leaders=[leader])
    batch_of(org, 8, prefix="OAK")
    ada = make.user("Ada Second", "ada@oak.example")
    make.join(org, ada)
    orgs.set_admin(org.admin, org, ada.id, True)
    db.session.commit()
    other = make.org(admin=make.user("Otto Other", "otto@elm.example"), name="Elm School")
    return {
        "org": org,
        "room": room,
        "admin": org.admin,
        "leader": leader,
        "ada": ada,
        "other": other,
        "otto": other.admin,
    }


def work(app):
    """The worker runs what is ready, the test's own transaction ended first (on
    SQLite it holds the write lock)."""
    db.session.commit()
    run_until_idle(app)


def client_of(app, user):
    client = app.test_client()
    client.login(user)
    return client


def streamed(app, client, path, **args):
    """The file the request streams for this filter, as if it were small."""
    app.config["EXPORT_INLINE_MAX"] = 1_000_000
    try:
        # Read within the request: the test client ends its transaction after it.
        response = client.get(path, query_string=args, buffered=True)
    finally:
        app.config["EXPORT_INLINE_MAX"] = THRESHOLD
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return response.headers["Content-Disposition"], response.get_data()


def mailed_link(server):
    (message,) = server.inbox.messages()
    body = message.get_body(("plain",)).get_content()
    found = re.search(r"Download it \(you need to be logged in\): (\S+)", body)
    assert found, body
    return message, found.group(1)


def test_a_big_export_queues_a_job_and_sends_no_csv(app, school, server):
    org = school["org"]
    admin = client_of(app, school["admin"])
    asking = admin.get(f"/orgs/{org.id}/bulk/export.csv", query_string={"status": "all"})
    assert asking.status_code == 200 and asking.mimetype == "text/html"
    assert "more than 5 rows" in text_of(asking)
    assert count(Export) == 0, "a GET changes nothing: the button posts"
    form = soup(asking).select_one("form#export-ask")
    fields = {i["name"]: i["value"] for i in form.select("input[type=hidden]") if i["name"] != "csrf_token"}
    assert fields == {"status": "all"}

    answer = admin.post(form["action"], data=fields)
    assert answer.status_code == 303 and answer.headers["Location"] == f"/orgs/{org.id}/exports"
    assert answer.mimetype != "text/csv"
    page = admin.get(answer.headers["Location"])
    said = text_of(page)
    assert f"being prepared. A link to download it will be mailed to {school['admin'].email}" in said
    assert "Being prepared" in said
    export = db.session.scalar(select(Export))
    assert (export.kind, export.status, export.user_id, export.org_id) == (
        "codes",
        "preparing",
        school["admin"].id,
        org.id,
    )
    assert json.loads(export.filters)["status"] == "all"
    job = db.session.scalar(select(Job).where(Job.kind == exports.KIND))
    assert json.loads(job.payload) == {"export_id": export.id}
    assert server.inbox.messages() == []

    fragment = admin.post(form["action"], data=fields, headers=HX)
    assert fragment.status_code == 200
    assert soup(fragment).select_one("#export-ask a")["href"] == f"/orgs/{org.id}/exports"
    assert count(Export) == 2


def test_a_small_export_still_streams(app, school):
    org = school["org"]
    admin = client_of(app, school["admin"])
    # The batch's 8 codes and the classroom's join code: 9, as many as allowed, streamed.
    app.config["EXPORT_INLINE_MAX"] = 9
    response = admin.get(f"/orgs/{org.id}/bulk/export.csv")
    assert response.mimetype == "text/csv" and response.is_streamed
    response.close()
    response = admin.get(f"/orgs/{org.id}/bulk/export.csv", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert len(list(csv.reader(io.StringIO(response.get_data(as_text=True))))) == 10
    app.config["EXPORT_INLINE_MAX"] = 8
    assert admin.get(f"/orgs/{org.id}/bulk/export.csv").mimetype == "text/html"
    assert count(Export) == 0 and count(Job, Job.kind == exports.KIND) == 0


@pytest.mark.parametrize(
    "kind, path, args",
    [
        ("codes", "bulk/export.csv", {"status": "all", "q": "OAK"}),
        ("audit", "audit.csv", {"person": "admin"}),
    ],
)
def test_the_worker_stores_the_bytes_the_streamed_export_gives_and_mails_the_link(
    app, school, server, monkeypatch, kind, path, args
):
    # Small chunks, so the file is many rows of export_chunks, each gathered
    # from several pieces of two rows.
    monkeypatch.setattr(exports, "CHUNK_BYTES", 200)
    monkeypatch.setattr(exports, "ROWS_A_PIECE", 2)
    monkeypatch.setattr(bulk, "EXPORT_CHUNK", 2)
    org = school["org"]
    admin = client_of(app, school["admin"])
    url = f"/orgs/{org.id}/{path}"
    assert admin.get(url, query_string=args).mimetype == "text/html"
    assert admin.post(url, data=args).status_code == 303
    expected = streamed(app, admin, url, **args)

    work(app)
    export = db.session.scalar(select(Export))
    assert export.status == "ready"
    assert count(ExportChunk, ExportChunk.export_id == export.id) > 2
    message, link = mailed_link(server)
    assert message["To"] == school["admin"].email
    assert message["Subject"] == f"Your {exports.KINDS[kind].label} export of Oak School is ready"
    assert message.get_body(("html",)) is not None, "multipart, as the other mails"
    assert link == f"{PUBLIC}/orgs/{org.id}/exports/{export.id}.csv"
    assert "The link works until" in message.get_body(("plain",)).get_content()

    got = admin.get(link.removeprefix(PUBLIC), buffered=True)
    assert got.status_code == 200 and got.mimetype == "text/csv"
    assert (got.headers["Content-Disposition"], got.get_data()) == expected
    assert export.size == len(got.get_data())
    assert export.rows == len(list(csv.reader(io.StringIO(got.get_data(as_text=True))))) - 1

    mine = soup(admin.get(f"/orgs/{org.id}/exports"))
    row = mine.select_one(f"#export-{export.id}")
    assert row.select_one("a")["href"] == f"/orgs/{org.id}/exports/{export.id}.csv"
    assert f"{export.rows} rows" in row.get_text(" ")

    work(app)
    assert len(server.inbox.messages()) == 1, "one mail, however often the worker runs"


@pytest.mark.parametrize("rows_a_chunk", [5, 12])
def test_the_workers_codes_file_is_what_csv_writer_writes_of_the_rows(
    app, school, server, monkeypatch, rows_a_chunk
):
    """The worker writes the codes as the request streams them (bulk.export_pieces,
    not csv.writer): its file is csv.writer's bytes of export_rows, with names
    that need quotes or would start a formula, and its count of rows is theirs,
    read in chunks that end before the last row or exactly at it."""
    monkeypatch.setattr(exports, "CHUNK_BYTES", 200)
    monkeypatch.setattr(bulk, "EXPORT_CHUNK", rows_a_chunk)
    make = Factory()
    org = school["org"]
    quoted = make.classroom(org, 'Room "A", east')
    make.code(org, "-DASH-FIRST", classrooms=[quoted], courses=[make.course(org, "=HYPERLINK(1)")])
    make.code(org, "CUSTOM-2", classrooms=[quoted, school["room"]])
    db.session.commit()
    scope = Scope(school["admin"], org)
    filters = CodeFilter(status="all")
    expected = "".join(csv_chunks(bulk.EXPORT_HEADER, bulk.export_rows(scope, filters), made_inert=True))
    assert len(expected.splitlines()) == 1 + 8 + 2 + 2, "the header, the batch, two codes, two join codes"
    exports.ask(school["admin"], scope, exports.CODES, filters)
    work(app)
    export = db.session.scalar(select(Export))
    assert export.status == "ready"
    assert b"".join(exports.stored(export)) == expected.encode("utf-8")
    assert export.rows == 12


def test_only_the_owner_still_staff_downloads_it_before_it_expires(app, school, server):
    org = school["org"]
    leader = client_of(app, school["leader"])
    assert leader.post(f"/orgs/{org.id}/bulk/export.csv", data={"status": "all"}).status_code == 303
    work(app)
    _, link = mailed_link(server)
    path = link.removeprefix(PUBLIC)
    assert leader.get(path).status_code == 200

    otto = client_of(app, school["otto"])
    assert otto.get(path).status_code == 404
    export_id = db.session.scalar(select(Export.id))
    assert otto.get(f"/orgs/{school['other'].id}/exports/{export_id}.csv").status_code == 404
    for colleague in ("admin", "ada"):
        assert client_of(app, school[colleague]).get(path).status_code == 404, colleague
    listed = soup(client_of(app, school["admin"]).get(f"/orgs/{org.id}/exports"))
    assert listed.select(".exports tr[id^=export-]") == [], "My exports lists only one's own"
    assert soup(leader.get(f"/orgs/{org.id}/exports")).select_one(f"#export-{export_id}") is not None

    db.session.execute(update(Export).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert leader.get(path).status_code == 404
    db.session.execute(update(Export).values(expires_at=utcnow() + timedelta(hours=1)))
    db.session.commit()
    assert leader.get(path).status_code == 200

    orgs.remove_leader(school["admin"], school["room"], school["leader"].id)
    db.session.commit()
    assert leader.get(path).status_code == 404


def test_an_admin_who_is_no_longer_one_gets_no_audit_export(app, school, server):
    org = school["org"]
    ada = client_of(app, school["ada"])
    assert ada.post(f"/orgs/{org.id}/audit.csv", data={}).status_code == 303
    orgs.set_admin(school["admin"], org, school["ada"].id, False)
    db.session.commit()
    work(app)
    export = db.session.scalar(select(Export))
    assert export.status == "failed"
    assert count(ExportChunk) == 0
    assert server.inbox.messages() == []
    assert db.session.scalar(select(Job.status).where(Job.kind == exports.KIND)) == "done"


def test_a_request_rolled_back_queues_nothing(app, school, server):
    scope = Scope(school["admin"], school["org"])
    exports.ask(school["admin"], scope, exports.CODES, CodeFilter(status="all"))
    db.session.rollback()
    assert count(Export) == 0 and count(Job) == 0
    work(app)
    assert server.inbox.messages() == []


def test_three_exports_being_prepared_are_enough(app, school):
    org = school["org"]
    admin = client_of(app, school["admin"])
    for _ in range(exports.PREPARING_AT_ONCE):
        assert admin.post(f"/orgs/{org.id}/bulk/export.csv", data={}).status_code == 303
    refused = admin.post(f"/orgs/{org.id}/bulk/export.csv", data={}, follow_redirects=True)
    assert "You have 3 exports being prepared already" in text_of(refused)
    refused = admin.post(f"/orgs/{org.id}/bulk/export.csv", data={}, headers=HX)
    assert "lists those being prepared" in text_of(refused)
    assert "You have 3 exports being prepared already" in said_by_htmx(refused)
    assert count(Export) == exports.PREPARING_AT_ONCE
    assert count(Job, Job.kind == exports.KIND) == exports.PREPARING_AT_ONCE


def test_a_worker_that_died_making_it_leaves_no_trace_in_the_file(app, school, server):
    """A first worker took the job and wrote a chunk, then died; the next, after
    its lease, makes the file of its own chunks alone, and mails once."""
    org = school["org"]
    admin = client_of(app, school["admin"])
    expected = streamed(app, admin, f"/orgs/{org.id}/bulk/export.csv")
    assert admin.post(f"/orgs/{org.id}/bulk/export.csv", data={}).status_code == 303
    (dead,) = jobs.claim("dead", 10)
    export_id = dead.payload["export_id"]
    exports._write_chunk(export_id, dead.attempts, 1, b"half a file")
    db.session.execute(update(Job).values(lease_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    work(app)
    export = db.session.get(Export, export_id)
    assert export.status == "ready" and export.attempt == dead.attempts + 1
    assert count(ExportChunk, ExportChunk.attempt == dead.attempts) == 0
    _, link = mailed_link(server)
    assert admin.get(link.removeprefix(PUBLIC), buffered=True).get_data() == expected[1]


def test_the_hourly_clean_up_deletes_the_expired_exports_once_per_hour(app, school, server):
    org = school["org"]
    admin = client_of(app, school["admin"])
    for _ in range(2):
        assert admin.post(f"/orgs/{org.id}/bulk/export.csv", data={}).status_code == 303
    work(app)
    old, new = db.session.scalars(select(Export.id).order_by(Export.id)).all()
    db.session.execute(
        update(Export).where(Export.id == old).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    assert count(ExportChunk, ExportChunk.export_id == old) > 0
    # This hour's clean-up ran already (the worker started it above): not again.
    hour = exports.hourly(utcnow())
    assert not periodic.start(exports.EXPIRE, hour)
    db.session.rollback()
    next_hour = exports.hourly(utcnow() + timedelta(hours=1))
    assert periodic.start(exports.EXPIRE, next_hour)
    assert not periodic.start(exports.EXPIRE, next_hour)
    db.session.commit()
    work(app)
    assert db.session.scalars(select(Export.id)).all() == [new]
    assert count(ExportChunk, ExportChunk.export_id == old) == 0
    assert count(ExportChunk, ExportChunk.export_id == new) > 0


def test_an_export_whose_job_is_given_up_says_it_could_not_be_made(app, school, server, monkeypatch):
    org = school["org"]
    admin = client_of(app, school["admin"])
    app.config["JOB_GIVE_UP_MINUTES"] = 0  # given up at its first failure
    assert admin.post(f"/orgs/{org.id}/bulk/export.csv", data={}).status_code == 303

    def broken(export_id, attempt, now=None):
        raise RuntimeError("the database said no")

    monkeypatch.setattr(exports, "make", broken)
    work(app)
    assert db.session.scalar(select(Export.status)) == "failed"
    assert db.session.scalar(select(Job.status).where(Job.kind == exports.KIND)) == "failed"
    assert "Could not be made" in text_of(admin.get(f"/orgs/{org.id}/exports"))
    assert server.inbox.messages() == []
