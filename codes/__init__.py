"""codes: enrollment codes for organizations, classrooms and courses."""
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import database
from .extensions import csrf, db, login_manager, mailer, migrate

ROOT = Path(__file__).resolve().parent.parent
ENV_NUMBERS = ("PROXY_HOPS", "REDEEM_FAILURES_PER_ACCOUNT", "REDEEM_FAILURES_PER_ADDRESS",
               "REDEEM_FAILURE_WINDOW_MINUTES")


def _secret_key(instance_path):
    """Read the instance's secret key, making one on first run; never committed."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(test_config=None):
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
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
        REDEEM_FAILURES_PER_ACCOUNT=10,
        REDEEM_FAILURES_PER_ADDRESS=30,
        REDEEM_FAILURE_WINDOW_MINUTES=15,
        PROXY_HOPS=0,
        # Roster files are the largest uploads (1 MB); refuse bigger bodies before reading them.
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        # Served over HTTPS (the proxy's job): cookies are sent only over it, and HSTS.
        HTTPS=False,
        # Where failed redemption attempts are counted: empty for the app's own
        # database (the audit trail), or a redis:// URL shared by every app server.
        RATELIMIT_STORAGE_URI="",
    )
    app.config.from_pyfile("config.py", silent=True)
    if os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    # Servers are configured by their environment (docs/DEPLOY.md).
    if os.environ.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = os.environ["RATELIMIT_STORAGE_URI"]
    for name in ENV_NUMBERS:
        if os.environ.get(name):
            app.config[name] = int(os.environ[name])
    if os.environ.get("HTTPS") == "1":
        app.config["HTTPS"] = True
    if test_config:
        app.config.update(test_config)
    app.config["SQLALCHEMY_DATABASE_URI"] = database.normalize_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    )
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or _secret_key(app.instance_path)
    if app.config.get("HTTPS"):
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
        app.config["PREFERRED_URL_SCHEME"] = "https"
    if app.config["PROXY_HOPS"]:
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    mailer.init_app(app)

    from . import web
    web.init_app(app)
    from .redeem import limits
    limits.init_app(app)

    from .auditlog.routes import bp as auditlog_bp
    from .auth.routes import bp as auth_bp
    from .bulk.routes import bp as bulk_bp
    from .joincodes.routes import bp as joincodes_bp
    from .links.routes import bp as links_bp
    from .manage.routes import bp as manage_bp
    from .orgs.routes import bp as orgs_bp
    from .parents.routes import bp as parents_bp
    from .redeem.routes import bp as redeem_bp
    from .reports.routes import bp as reports_bp
    from .seats.routes import bp as seats_bp
    from .users.routes import bp as users_bp

    for blueprint in (auth_bp, orgs_bp, manage_bp, redeem_bp, bulk_bp, auditlog_bp,
                      users_bp, reports_bp, seats_bp, joincodes_bp, links_bp, parents_bp):
        app.register_blueprint(blueprint)

    from . import cli
    cli.init_app(app)

    return app
