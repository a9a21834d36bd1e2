"""A page of a large organization's codes filtered by a status reads the
listing's index on PostgreSQL, not the whole table: the status filter is plain
conditions on the code's columns (codes.status.sql_is), whose share of the rows
the planner estimates from its statistics. Compared as the CASE of sql_status
with a word, it was guessed at one row in two hundred, so the planner read an
organization's million codes in full, then sorted them, for a page of 25
(bench/growth.py at S3: page 100 of the codes table took a second)."""

import random
from datetime import timedelta

import pytest
from plan_support import most_read
from sqlalchemy import event, insert, text

from codes.codetext import canonical
from codes.extensions import db
from codes.models import Code, utcnow
from conftest import Factory, build_app, client_as, postgres_url

CODES = 60_000
OTHERS = 20_000
CHUNK = 10_000
# What a page may read of the organization's codes: its count reads to 10,001
# matches (codes.listing), a page to its offset; reading them all is 60,000.
BOUND = 40_000


@pytest.fixture
def big_org():
    app = build_app(postgres_url())
    with app.app_context():
        make = Factory()
        other = make.org(name="Elm School")
        org = make.org(admin=make.user("Oak Admin"))
        rng = random.Random(16)
        now = utcnow()
        rows = []
        # Another organization's codes first in the table, as on a shared server.
        for n in range(-OTHERS, CODES):
            made = now - timedelta(minutes=CODES - n)
            rows.append(
                dict(
                    org_id=org.id if n >= 0 else other.id,
                    text=f"BIG-{n:+07d}",
                    key=canonical(f"BIG-{n:+07d}"),
                    role="student",
                    valid_until=made + timedelta(days=rng.choice((30, 365, 900))),
                    max_uses=rng.choice((1, 1, 1, 5, None)),
                    uses=rng.choice((0, 0, 1)),
                    allowed_domains="",
                    enabled=rng.random() > 0.05,
                    deactivated_at=made if rng.random() < 0.02 else None,
                    created_at=made,
                )
            )
        for start in range(0, len(rows), CHUNK):
            db.session.execute(insert(Code), rows[start : start + CHUNK])
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        yield app, org
        db.session.remove()
        db.engine.dispose()


def _selects_on_codes(app, org, url):
    seen = []

    def heard(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and " codes" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", heard)
    try:
        response = client_as(app, {"admin": org.admin}, "admin").get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", heard)
    assert response.status_code == 200
    return seen


def test_pages_of_live_codes_read_no_more_than_their_count_and_offset(big_org):
    """The table's own view (live codes, its first page and page 100) and any
    status. A rare status (off, used up) is still counted by reading every code
    of the organization: no index holds a code's status (docs/PERFORMANCE.md)."""
    app, org = big_org
    for query in ("", "?page=100", "?status=all&page=300"):
        statements = _selects_on_codes(app, org, f"/orgs/{org.id}/bulk{query}")
        assert statements
        read, statement = most_read(statements, {"codes"})[0]
        assert read < BOUND, f"{query}: {read} rows of codes read by\n{statement}"
