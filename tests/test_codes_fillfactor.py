"""On PostgreSQL a use of a code is written beside the row it replaces: each page
of codes keeps room (codes.models.CODES_FILLFACTOR), so the UPDATE of `uses` is a
HOT update, with no new entry in any index of the table, however many codes the
organization has. The schema the models make and the one the migrations make
keep the same room."""

import pytest
from flask_migrate import upgrade
from sqlalchemy import select, text

from codes import create_app
from codes.extensions import db
from codes.models import CODES_FILLFACTOR, Code
from codes.redeem.operations import redeem
from conftest import DATABASES, Factory, batch_of, postgres_url

USES_PER_PAGE = 5


def _options(table):
    return db.session.scalar(text("SELECT reloptions FROM pg_class WHERE relname = :t"), {"t": table})


def _pages(codes):
    """The page (block number of the ctid) each code's row is on."""
    rows = db.session.execute(
        select(Code.id, text("(ctid::text::point)[0]::int")).where(Code.id.in_([c.id for c in codes]))
    )
    return dict(rows.all())


@pytest.fixture
def migrated_url():
    postgres_url()
    url = DATABASES.postgres.create("_fill")
    yield url
    DATABASES.postgres.drop(url)


def test_the_tables_the_models_make_leave_room_on_each_page_of_codes(postgres_app):
    assert _options("codes") == [f"fillfactor={CODES_FILLFACTOR}"]
    assert _options("users") is None


def test_the_migrations_leave_the_same_room(migrated_url):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": migrated_url})
    with app.app_context():
        upgrade()
        assert _options("codes") == [f"fillfactor={CODES_FILLFACTOR}"]
        db.session.remove()
        db.engine.dispose()


def test_the_first_uses_of_bulk_made_codes_stay_on_their_pages(postgres_app):
    """Five uses on each page fit in the room it kept, whether or not PostgreSQL
    has pruned the rows they replaced yet (a long transaction anywhere on the
    server holds pruning back, so the test does not count on it)."""
    make = Factory()
    org = make.org()
    make.classroom(org)
    db.session.refresh(org)
    # Several pages of codes, written by one generation as a school's are.
    batch = batch_of(org, n=200)
    codes = db.session.scalars(select(Code).where(Code.batch_id == batch.id).order_by(Code.id)).all()
    before = _pages(codes)
    by_page: dict[int, list[Code]] = {}
    for code in codes:
        by_page.setdefault(before[code.id], []).append(code)
    assert len(by_page) > 1
    used = [code for on_page in by_page.values() for code in on_page[:USES_PER_PAGE]]
    for n, code in enumerate(used):
        redeem(make.user(f"Student {n}", f"student{n}@example.org"), code.text)
        db.session.commit()
    db.session.expire_all()
    assert all(code.uses == 1 for code in used)
    assert _pages(codes) == before
