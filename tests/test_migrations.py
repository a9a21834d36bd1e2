"""The migrations build exactly the schema the models describe, on both databases."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from codes import create_app, search
from codes.extensions import db


@pytest.fixture
def empty_app(empty_db_url):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": empty_db_url})
    with app.app_context():
        assert inspect(db.engine).get_table_names() == []
        yield app
        db.session.remove()
        db.engine.dispose()


def test_upgrade_matches_models_and_downgrades(empty_app):
    upgrade()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": search.not_in_models})
        diff = compare_metadata(context, db.metadata)
    assert diff == []
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
