"""Each test starts on an empty database (tests/databases.py): build_app on a
database another test wrote in leaves no row behind, not even an attempt count
written apart, and ids start again at 1, on SQLite and on PostgreSQL."""

from codes import attempts
from codes.extensions import db
from codes.models import AttemptCount
from conftest import Factory, build_app, count


def write_a_little(url):
    """An organization with a classroom and a code, and a failed attempt; the ids."""
    app = build_app(url)
    with app.app_context():
        make = Factory()
        org = make.org()
        code = make.code(org, "USED-BEFORE-2027", classrooms=[make.classroom(org)])
        attempts.begin(attempts.codes_policy(), org.admin.id, "192.0.2.1").failed()
        db.session.commit()
        assert count(AttemptCount, AttemptCount.count == 1) == 2, "the account's and the address's"
        ids = (org.admin.id, org.id, code.id)
        db.session.remove()
        db.engine.dispose()
    return ids


def test_a_database_built_again_is_empty_and_its_ids_start_again(any_db_url):
    first = write_a_little(any_db_url)
    app = build_app(any_db_url)
    with app.app_context():
        assert {table.name: count(table) for table in db.metadata.sorted_tables} == {
            table.name: 0 for table in db.metadata.sorted_tables
        }
        db.session.remove()
        db.engine.dispose()
    assert write_a_little(any_db_url) == first == (1, 1, 2), "the classroom's join code is code 1"
