"""A search reads the rows its trigram index finds first (codes.search.read_first),
and falls back to the column itself when the index finds more than CANDIDATES
rows. Either way a page shows the same rows, in the same order, with the same
count, as the condition alone selects; rows of other organizations the index
finds are never shown. On SQLite and PostgreSQL alike."""

import pytest
from sqlalchemy import select

from codes import audit, search
from codes.access import Scope
from codes.auditlog.operations import AuditFilter
from codes.auditlog.operations import page as audit_page
from codes.bulk.operations import ANY_STATUS, LIVE, CodeFilter, codes_page
from codes.extensions import db
from codes.models import Code, User
from codes.orgs.operations import staff_candidates
from codes.redeem.operations import redeem
from codes.users.operations import list_people
from conftest import Factory


@pytest.fixture
def schools(any_db_app):
    """Two organizations whose codes and people share texts a search finds."""
    make = Factory()
    oak, elm = make.org(name="Oak School"), make.org(name="Elm School")
    rooms = {org.id: make.classroom(org, "Room 1") for org in (oak, elm)}
    for org in (oak, elm):
        for n in range(7):
            code = make.code(org, f"MAPLE-{org.id}{n:02d}-QX", classrooms=[rooms[org.id]])
            student = make.user(f"Maple Núñez {org.id}-{n}", f"maple{org.id}-{n}@example.org")
            redeem(student, code.text)
            audit.record(student, "redeem.ok", code, org_id=org.id)
        make.code(org, f"OTHER-{org.id}-ZZZZ", classrooms=[rooms[org.id]])
    db.session.commit()
    return oak, elm


def _each_way(monkeypatch, see):
    """What `see()` shows reading the trigram index first, and with the index
    giving up (more candidates than it reads)."""
    first = see()
    monkeypatch.setattr(search, "CANDIDATES", 3)
    fallen_back = see()
    return first, fallen_back


def test_the_codes_a_search_shows_are_the_same_either_way(schools, monkeypatch):
    oak, elm = schools
    scope = Scope(oak.admin, oak)
    key = CodeFilter(search="maple").key
    assert len(search.candidates(Code.key, key)) == 14

    def see():
        listed = codes_page(scope, CodeFilter(search="maple", status=ANY_STATUS), per_page=5)
        second = codes_page(scope, CodeFilter(search="maple", status=LIVE, page=2), per_page=5)
        return [c.text for c in listed.codes], listed.total, listed.pages, [c.text for c in second.codes]

    first, fallen_back = _each_way(monkeypatch, see)
    assert first == fallen_back
    texts, total, pages, second = first
    assert total == 7 and pages == 2 and len(second) == 2
    assert all(text.startswith(f"MAPLE-{oak.id}") for text in texts + second)
    assert search.candidates(Code.key, key) is None


def test_the_people_a_search_shows_are_the_same_either_way(schools, monkeypatch):
    oak, elm = schools
    scope = Scope(oak.admin, oak)

    def see():
        listed = list_people(scope, "maple ñúñez")
        return [row.user.name for row in listed.rows], listed.total

    first, fallen_back = _each_way(monkeypatch, see)
    assert first == fallen_back
    names, total = first
    assert total == 7 and names == sorted(names)
    assert all(name.startswith(f"Maple Núñez {oak.id}-") for name in names)


def test_the_staff_picker_finds_the_same_people_either_way(schools, monkeypatch):
    oak, elm = schools

    def see():
        found, total = staff_candidates(oak, "maple", set())
        return [c.user.name for c in found], total

    first, fallen_back = _each_way(monkeypatch, see)
    assert first == fallen_back
    assert first[1] == 7


def test_the_audit_log_by_person_is_the_same_either_way(schools, monkeypatch):
    oak, elm = schools
    scope = Scope(oak.admin, oak)

    def see():
        shown = audit_page(scope, AuditFilter(person="maple núñez"), 1)
        return [(e.event.id, e.person.name) for e in shown.rows], shown.total

    first, fallen_back = _each_way(monkeypatch, see)
    assert first == fallen_back
    events, total = first
    assert total == len(events) > 0
    ids = [event_id for event_id, _ in events]
    oak_people = set(db.session.scalars(select(User.name).where(User.name.like(f"Maple Núñez {oak.id}-%"))))
    assert {name for _, name in events} == oak_people
    assert ids == sorted(ids, reverse=True)


def test_short_texts_are_not_read_from_the_index_and_wildcards_match_themselves(schools):
    assert search.candidates(Code.key, "MA") is None
    # SQLite's FTS5 LIKE has no escape: such a text is searched by the column alone.
    wildcard = search.candidates(User.search_key, "ma%")
    assert wildcard == ([] if db.engine.dialect.name == "postgresql" else None)
