"""codes: enrollment codes for organizations, classrooms and courses."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

from werkzeug.middleware.proxy_fix import ProxyFix

from . import database, settings
from .extensions import csrf, db, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def _private_folder(path):
    """The instance folder, for the app's user alone: it holds the secret key and,
    by default, the SQLite database with its password hashes."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o700)


def _secret_key(instance_path):
    """Read the instance's secret key, making one on first run; never committed."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(test_config=None):
    from . import web

    app = web.App(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    _private_folder(app.instance_path)
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI="sqlite:///" + str(Path(app.instance_path) / "codes.db"),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        # A teacher's page left open all afternoon must still work: the CSRF token
        # lives as long as the session it is bound to (which logout ends).
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_DURATION=timedelta(days=14),
        REMEMBER_COOKIE_SAMESITE="Lax",
        # Failed attempts (codes.attempts, docs/SECURITY.md "Limits"): per account
        # within its window, and per address within an hour: above SHARED the
        # accounts that failed themselves wait, above HOSTILE everyone there.
        REDEEM_FAILURES_PER_ACCOUNT=10,
        REDEEM_FAILURE_WINDOW_MINUTES=15,
        # A burst of attempts at an organization's codes that didn't work: this
        # many within the window alert its admins (docs/JOBS.md, "Alerts").
        BURST_FAILURES=20,
        BURST_WINDOW_MINUTES=10,
        ADDRESS_FAILURES_SHARED=300,
        ADDRESS_FAILURES_HOSTILE=600,
        ADDRESS_FAILURE_WINDOW_MINUTES=60,
        LOGIN_FAILURES_PER_ACCOUNT=10,
        LOGIN_FAILURE_WINDOW_MINUTES=15,
        MAIL_PER_RECIPIENT_PER_HOUR=5,
        MAIL_PER_ADDRESS_PER_HOUR=1000,
        PROXY_HOPS=0,
        # Roster files are the largest uploads (1 MB); refuse bigger bodies before reading them.
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        # Served over HTTPS (the proxy's job): cookies are sent only over it, and HSTS.
        HTTPS=False,
        # The address people open the app at, which links handed out are built on
        # (codes.web.public_url); required outside tests.
        PUBLIC_URL="",
        # Bounds that nest under gunicorn's --timeout and the proxy's (docs/DEPLOY.md,
        # "Timeouts"): a writer's wait for its turn on SQLite, and how long a request
        # may run and still commit.
        SQLITE_QUEUE_WAIT_SECONDS=database.SQLITE_QUEUE_WAIT_SECONDS,
        REQUEST_DEADLINE_SECONDS=database.REQUEST_DEADLINE_SECONDS,
        # The job queue (docs/JOBS.md): how long a worker holds a job it took, the
        # first wait after a failure (doubled each time), when a failing job is
        # given up, how many jobs a worker takes at once, and how often an idle
        # one looks.
        JOB_LEASE_SECONDS=300,
        JOB_RETRY_SECONDS=30,
        JOB_GIVE_UP_MINUTES=24 * 60,
        JOB_BATCH=10,
        JOB_POLL_SECONDS=1,
        MAIL_TIMEOUT=10,
        # Exports of more rows than this are made by a worker and mailed as a
        # link, kept this many hours (docs/EXPORTS.md).
        EXPORT_INLINE_MAX=50_000,
        EXPORT_KEEP_HOURS=72,
    )
    app.config.from_pyfile("config.py", silent=True)
    # Servers are configured by their environment (docs/DEPLOY.md), which wins.
    settings.read_environment(app.config)
    if test_config:
        app.config.update(test_config)
    settings.apply_public_url(app.config)
    app.config["SQLALCHEMY_DATABASE_URI"] = database.normalize_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"],
        app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        queue_wait=app.config["SQLITE_QUEUE_WAIT_SECONDS"],
    )
    database.private_sqlite_files(app.config["SQLALCHEMY_DATABASE_URI"])
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)
    if app.config.get("HTTPS"):
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
        app.config["PREFERRED_URL_SCHEME"] = "https"
    if app.config["PROXY_HOPS"]:
        hops = app.config["PROXY_HOPS"]
        # Not X-Forwarded-Host: the proxy passes Host through, and the Host is
        # checked against TRUSTED_HOSTS; a forwarded one is whatever the client wrote.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)

    web.init_app(app)

    from .approval.routes import bp as approval_bp
    from .auditlog.routes import bp as auditlog_bp
    from .auth.routes import bp as auth_bp
    from .bulk.routes import bp as bulk_bp
    from .expected.routes import bp as expected_bp
    from .exports.routes import bp as exports_bp
    from .invitations.routes import bp as invitations_bp
    from .joincodes.routes import bp as joincodes_bp
    from .links.routes import bp as links_bp
    from .manage.routes import bp as manage_bp
    from .notifications.routes import bp as notifications_bp
    from .orgs.routes import bp as orgs_bp
    from .parents.routes import bp as parents_bp
    from .redeem.routes import bp as redeem_bp
    from .reports.routes import bp as reports_bp
    from .seats.routes import bp as seats_bp
    from .users.routes import bp as users_bp

    for blueprint in (
        auth_bp,
        orgs_bp,
        manage_bp,
        redeem_bp,
        bulk_bp,
        auditlog_bp,
        users_bp,
        reports_bp,
        seats_bp,
        joincodes_bp,
        links_bp,
        parents_bp,
        invitations_bp,
        approval_bp,
        expected_bp,
        notifications_bp,
        exports_bp,
    ):
        app.register_blueprint(blueprint)

    from . import cli

    cli.init_app(app)

    return app
