"""The instance folder and the SQLite database (password hashes) are for the
app's own user alone: instance/ is 0700, the database and the -wal and -shm
files SQLite makes beside it are 0600, from before SQLAlchemy first connects.
Before, the database was created readable by every user of the machine."""

import os
import stat

import pytest

import codes
from codes import create_app
from codes.extensions import db


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A checkout of the app in a fresh folder, with no instance folder yet, under
    the usual umask (022: new files readable by everyone unless made otherwise)."""
    for name in ("templates", "static", "migrations"):
        (tmp_path / name).symlink_to(codes.ROOT / name)
    monkeypatch.setattr(codes, "ROOT", tmp_path)
    for name in ("DATABASE_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    old = os.umask(0o022)
    yield tmp_path
    os.umask(old)


@pytest.fixture
def first_request():
    """Tables made and one page served; the pool keeps its connection open, so
    the -wal and -shm files are there to look at until the end of the test."""
    apps = []

    def serve(app):
        apps.append(app)
        with app.app_context():
            db.create_all()
            db.session.remove()
        assert app.test_client().get("/login").status_code == 200

    yield serve
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def test_a_new_instance_and_its_database_are_private(root, first_request):
    app = create_app({"TESTING": True})
    instance = root / "instance"
    assert app.instance_path == str(instance)
    assert mode(instance) == 0o700
    database = instance / "codes.db"
    assert database.exists() and mode(database) == 0o600, "made before the first connection"
    first_request(app)
    for name in ("codes.db", "codes.db-wal", "codes.db-shm", "secret_key"):
        assert mode(instance / name) == 0o600, name


def test_files_an_older_version_left_open_are_closed(root):
    instance = root / "instance"
    instance.mkdir(mode=0o755)
    for name in ("codes.db", "codes.db-wal", "codes.db-shm"):
        (instance / name).touch(mode=0o644)
    create_app({"TESTING": True})
    assert mode(instance) == 0o700
    for name in ("codes.db", "codes.db-wal", "codes.db-shm"):
        assert mode(instance / name) == 0o600, name


def test_a_database_elsewhere_is_private_too(root, tmp_path, first_request):
    shared = tmp_path / "data"
    shared.mkdir(mode=0o755)
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{shared / 'codes.db'}"}
    )
    first_request(app)
    assert mode(shared) == 0o755, "a folder the app did not make is left as it is"
    for name in ("codes.db", "codes.db-wal", "codes.db-shm", "codes.db-writers"):
        assert mode(shared / name) == 0o600, name


def test_a_missing_folder_for_the_database_is_made_private(root, tmp_path):
    create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'new' / 'codes.db'}",
        }
    )
    assert mode(tmp_path / "new") == 0o700
    assert mode(tmp_path / "new" / "codes.db") == 0o600


def test_a_database_in_memory_makes_no_file(root):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        db.create_all()
    assert not list((root / "instance").glob("*.db"))
