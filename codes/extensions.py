"""The Flask extensions, made once here and bound to the app in create_app."""

from collections.abc import Callable

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event, text

# Named constraints keep Alembic migrations stable across SQLite and PostgreSQL.
naming = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=naming))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


def made_with_the_tables(create: Callable[[str], list[str]], drop: Callable[[str], list[str]]) -> None:
    """Run create(dialect name)'s statements after the tables are made, and
    drop(dialect name)'s before they go: what the models cannot say themselves
    (triggers, trigger functions, search indexes), made with the tables as the
    migrations make them."""

    @event.listens_for(db.metadata, "after_create")
    def _create(target, connection, **kw):
        for statement in create(connection.dialect.name):
            connection.execute(text(statement))

    @event.listens_for(db.metadata, "before_drop")
    def _drop(target, connection, **kw):
        for statement in drop(connection.dialect.name):
            connection.execute(text(statement))
