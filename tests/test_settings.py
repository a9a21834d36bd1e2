"""Every setting the documentation names is read from the environment, with its
type; a value that does not fit stops the app at start, naming the setting."""

import re
from pathlib import Path

import pytest
from smtp_support import Server
from sqlalchemy import select

from codes import create_app, mail, settings
from codes.extensions import db
from codes.jobs.worker import run_until_idle
from codes.models import Job
from codes.urls import public_url
from databases import DATABASES

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "DEPLOY.md"]
IN_BACKTICKS = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)(?:=[^`]*)?`")
EXPORTED = re.compile(r"^\s*export\s+(.+)$", re.MULTILINE)
ASSIGNED = re.compile(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)=")
# Upper-case words in backticks that are no setting of the app's.
NOT_SETTINGS = {
    "TEST_DATABASE_URL",
    "CHROMIUM_PATH",
    "CODES_REQUIRE_SERVICES",  # the tests'
    "UPDATE",
    "INSERT",
    "ON",
    "CONFLICT",
    "DO",
    "RETURNING",  # SQL
    "SETTINGS",  # the list's own name
}
PUBLIC = "https://codes.example.org"

# For each setting: what the environment says, the config key, and what it must become.
SAMPLES = {
    "DATABASE_URL": (
        "postgres://codes@db.internal/codes",
        "SQLALCHEMY_DATABASE_URI",
        "postgresql+psycopg://codes@db.internal/codes",
    ),
    "SECRET_KEY": ("from-the-environment", "SECRET_KEY", "from-the-environment"),
    "PUBLIC_URL": ("https://enrol.example.net/", "PUBLIC_URL", "https://enrol.example.net"),
    "TRUSTED_HOSTS": (
        "intranet.example, .school.example",
        "TRUSTED_HOSTS",
        ["codes.example.org", "intranet.example", ".school.example"],
    ),
    "HTTPS": ("1", "HTTPS", True),
    "PROXY_HOPS": ("2", "PROXY_HOPS", 2),
    "REDEEM_FAILURES_PER_ACCOUNT": ("4", "REDEEM_FAILURES_PER_ACCOUNT", 4),
    "REDEEM_FAILURE_WINDOW_MINUTES": ("7", "REDEEM_FAILURE_WINDOW_MINUTES", 7),
    "BURST_FAILURES": ("40", "BURST_FAILURES", 40),
    "BURST_WINDOW_MINUTES": ("5", "BURST_WINDOW_MINUTES", 5),
    "ADDRESS_FAILURES_SHARED": ("250", "ADDRESS_FAILURES_SHARED", 250),
    "ADDRESS_FAILURES_HOSTILE": ("900", "ADDRESS_FAILURES_HOSTILE", 900),
    "ADDRESS_FAILURE_WINDOW_MINUTES": ("30", "ADDRESS_FAILURE_WINDOW_MINUTES", 30),
    "LOGIN_FAILURES_PER_ACCOUNT": ("6", "LOGIN_FAILURES_PER_ACCOUNT", 6),
    "LOGIN_FAILURE_WINDOW_MINUTES": ("20", "LOGIN_FAILURE_WINDOW_MINUTES", 20),
    "MAIL_PER_RECIPIENT_PER_HOUR": ("3", "MAIL_PER_RECIPIENT_PER_HOUR", 3),
    "MAIL_PER_ADDRESS_PER_HOUR": ("2000", "MAIL_PER_ADDRESS_PER_HOUR", 2000),
    "MAIL_SERVER": ("smtp.example.org", "MAIL_SERVER", "smtp.example.org"),
    "MAIL_PORT": ("587", "MAIL_PORT", 587),
    "MAIL_USE_TLS": ("true", "MAIL_USE_TLS", True),
    "MAIL_USE_SSL": ("0", "MAIL_USE_SSL", False),
    "MAIL_USERNAME": ("codes", "MAIL_USERNAME", "codes"),
    "MAIL_PASSWORD": ("s3cret word", "MAIL_PASSWORD", "s3cret word"),
    "MAIL_DEFAULT_SENDER": ("Codes <codes@example.org>", "MAIL_DEFAULT_SENDER", "Codes <codes@example.org>"),
    "MAIL_TIMEOUT": ("25", "MAIL_TIMEOUT", 25),
    "JOB_LEASE_SECONDS": ("90", "JOB_LEASE_SECONDS", 90),
    "JOB_RETRY_SECONDS": ("15", "JOB_RETRY_SECONDS", 15),
    "JOB_GIVE_UP_MINUTES": ("720", "JOB_GIVE_UP_MINUTES", 720),
    "JOB_BATCH": ("25", "JOB_BATCH", 25),
    "JOB_POLL_SECONDS": ("3", "JOB_POLL_SECONDS", 3),
    "EXPORT_INLINE_MAX": ("2000", "EXPORT_INLINE_MAX", 2000),
    "EXPORT_KEEP_HOURS": ("24", "EXPORT_KEEP_HOURS", 24),
    "SQLITE_QUEUE_WAIT_SECONDS": ("4", "SQLITE_QUEUE_WAIT_SECONDS", 4),
    "REQUEST_DEADLINE_SECONDS": ("20", "REQUEST_DEADLINE_SECONDS", 20),
}
NAMES = [s.name for s in settings.SETTINGS]


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """An environment with none of the settings but what a server needs to start."""
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("SECRET_KEY", "test")
    monkeypatch.setenv("PUBLIC_URL", PUBLIC)
    return monkeypatch


def documented_names():
    names = set()
    for document in DOCUMENTS:
        text = document.read_text()
        names |= set(IN_BACKTICKS.findall(text))
        for line in EXPORTED.findall(text):
            names |= set(ASSIGNED.findall(line))
    return names - NOT_SETTINGS


def test_every_documented_setting_is_read_from_the_environment():
    unread = documented_names() - set(NAMES)
    assert not unread, f"documented but never read: add {sorted(unread)} to codes/settings.py SETTINGS"
    assert {"PUBLIC_URL", "TRUSTED_HOSTS", "MAIL_SERVER", "MAIL_PORT"} <= documented_names()


@pytest.mark.parametrize("name", NAMES)
def test_each_setting_comes_from_the_environment_with_its_type(environment, name):
    if name not in SAMPLES:
        pytest.fail(f"give {name} a sample value in tests/test_settings.py SAMPLES")
    text, key, expected = SAMPLES[name]
    environment.setenv(name, text)
    app = create_app()
    assert app.config[key] == expected
    assert type(app.config[key]) is type(expected)
    kind = next(s.kind for s in settings.SETTINGS if s.name == name)
    assert isinstance(expected, kind)


def test_mail_is_sent_as_the_environment_configures_it(environment, tmp_path):
    """Every MAIL_ setting README and DEPLOY.md name, set in the environment
    alone, decides how a real SMTP server on loopback is spoken to."""
    server = Server().start()
    try:
        environment.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'mailenv.db'}")
        environment.setenv("MAIL_SERVER", "127.0.0.1")
        environment.setenv("MAIL_PORT", str(server.port))
        environment.setenv("MAIL_USE_TLS", "0")
        environment.setenv("MAIL_USE_SSL", "0")
        environment.setenv("MAIL_USERNAME", "codes")
        environment.setenv("MAIL_PASSWORD", "s3cret word")
        environment.setenv("MAIL_DEFAULT_SENDER", "Codes <codes@example.org>")
        environment.setenv("MAIL_TIMEOUT", "7")
        app = create_app({"TESTING": True})
        DATABASES.make_fresh(app)
        with app.app_context():
            assert app.config["MAIL_TIMEOUT"] == 7
            mail.queue("sam@school.example", "Hello", "Hello Sam")
            db.session.commit()
            db.session.remove()
        run_until_idle(app)
        (message,) = server.inbox.messages()
        assert message["From"] == "Codes <codes@example.org>" and message["To"] == "sam@school.example"
        assert server.inbox.logins == [("codes", "s3cret word")]
    finally:
        server.stop()


def test_tls_from_the_environment_is_asked_of_the_server(environment, tmp_path):
    """A server that offers no STARTTLS: with MAIL_USE_TLS from the environment
    the mail is not sent in the clear but kept for a retry."""
    server = Server().start()
    try:
        environment.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'tls.db'}")
        environment.setenv("MAIL_SERVER", "127.0.0.1")
        environment.setenv("MAIL_PORT", str(server.port))
        environment.setenv("MAIL_TIMEOUT", "2")
        environment.setenv("MAIL_USE_TLS", "1")
        app = create_app({"TESTING": True})
        DATABASES.make_fresh(app)
        with app.app_context():
            mail.queue("sam@school.example", "Hello", "Hello Sam")
            db.session.commit()
            run_until_idle(app)
            job = db.session.scalar(select(Job).where(Job.kind == mail.KIND))
            assert job.status == "queued" and job.attempts == 1 and job.last_error
            db.session.remove()
        assert server.inbox.messages() == []
    finally:
        server.stop()


def test_an_empty_variable_keeps_the_default(environment):
    environment.setenv("PROXY_HOPS", "")
    environment.setenv("MAIL_SERVER", "")
    app = create_app()
    assert app.config["PROXY_HOPS"] == 0 and not app.config.get("MAIL_SERVER")


@pytest.mark.parametrize(
    "name, text",
    [
        ("MAIL_PORT", "abc"),
        ("MAIL_TIMEOUT", "1.5"),
        ("PROXY_HOPS", "-1"),
        ("REDEEM_FAILURES_PER_ACCOUNT", "ten"),
        ("HTTPS", "maybe"),
        ("MAIL_USE_TLS", "2"),
    ],
)
def test_a_bad_value_stops_the_app_naming_the_setting(environment, name, text):
    environment.setenv(name, text)
    with pytest.raises(settings.SettingError, match=f"^{name} must be"):
        create_app()


def test_without_public_url_a_server_does_not_start(environment):
    environment.delenv("PUBLIC_URL")
    with pytest.raises(settings.SettingError, match="PUBLIC_URL is not set"):
        create_app()
    # Tests that hand out no links may leave it out.
    assert create_app({"TESTING": True}).config["TRUSTED_HOSTS"] is None


@pytest.mark.parametrize(
    "url",
    [
        "codes.example.org",
        "ftp://codes.example.org",
        "https://",
        "https://codes.example.org/?x=1",
        "https://codes.example.org:port",
        "https://user@codes.example.org",
    ],
)
def test_a_public_url_that_is_no_address_stops_the_app(environment, url):
    environment.setenv("PUBLIC_URL", url)
    with pytest.raises(settings.SettingError, match="^PUBLIC_URL must be"):
        create_app()


def test_public_url_may_have_a_path(environment):
    environment.setenv("PUBLIC_URL", "https://example.org/codes/")
    app = create_app()
    assert app.config["TRUSTED_HOSTS"] == ["example.org"]
    with app.test_request_context("/", base_url="https://example.org/codes"):
        assert public_url("links.join", text="OAK-9A") == "https://example.org/codes/join/OAK-9A"
    with app.app_context():
        assert public_url("auth.login", next="/orgs") == "https://example.org/codes/login?next=/orgs"
