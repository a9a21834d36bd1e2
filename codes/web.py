"""What every page shares: htmx page-or-fragment answers, login handling,
security headers and template helpers."""
from itertools import chain
from urllib.parse import urlsplit

from flask import make_response, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError

from . import database
from . import status as code_status
from .errors import FieldErrors
from .extensions import db, login_manager
from .manage.operations import OutOfScope
from .models import User
from .timeutil import format_local

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def is_htmx():
    """An htmx request that wants a fragment (history restores want whole pages)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def page_or_fragment(page, fragment, status=200, **context):
    """One URL, one source: the full page for a plain request, the partial the
    page includes for htmx. Caches must keep the two apart."""
    response = make_response(render_template(fragment if is_htmx() else page, **context), status)
    response.headers["Vary"] = "HX-Request"
    return response


def see_other(endpoint, **values):
    return redirect(url_for(endpoint, **values), code=303)


def form_status():
    """A form with errors: 422 for a plain post; 200 for htmx, which swaps only 2xx."""
    return 200 if is_htmx() else 422


def safe_next(target):
    """Only a path on this site: never another host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def back(default):
    """After a plain post: 303 to the page the form came from, or the default."""
    return redirect(safe_next(request.form.get("next")) or default, code=303)


def apply_errors(form, error):
    """Put a domain error's messages beside the form's fields."""
    errors = error.errors if isinstance(error, FieldErrors) else {None: error.message}
    for name, message in errors.items():
        target = form._fields.get(name) if name else None
        if target is None:
            form.form_errors.append(message)
        else:
            target.errors = [*target.errors, message]


# Built once, with the id as a parameter: Session.get builds its SELECT anew for
# every request, which cost as much as running it.
_USER = select(User).where(User.id == bindparam("user_id"))


@login_manager.user_loader
def load_user(user_id):
    return db.session.scalars(_USER, {"user_id": int(user_id)}).first()


@login_manager.unauthorized_handler
def unauthorized():
    login = url_for("auth.login", next=request.full_path if request.query_string else request.path)
    if is_htmx():
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login
        return response
    return redirect(login)


BUSY_RETRY_SECONDS = 2


def init_app(app):
    @app.errorhandler(404)
    @app.errorhandler(OutOfScope)
    def not_found(error):
        return render_template("errors/404.html"), 404

    @app.errorhandler(413)
    def too_large(error):
        return render_template("errors/too_large.html"), 413

    @app.errorhandler(CSRFError)
    def stale_form(error):
        response = make_response(render_template("errors/stale_form.html"), 400)
        if is_htmx():
            # htmx swaps nothing on a 400: reload the page, which brings a fresh token.
            response.headers["HX-Refresh"] = "true"
        return response

    @app.before_request
    def refuse_nul_characters():
        # No text anyone types holds a NUL character, and PostgreSQL cannot store
        # or even compare one: refuse it before any form or query sees it.
        values = chain.from_iterable(d.listvalues() for d in (request.args, request.form))
        if any("\x00" in value for group in values for value in group):
            return render_template("errors/bad_input.html"), 400

    @app.errorhandler(OperationalError)
    def database_busy(error):
        if not database.is_busy(error):
            raise error
        app.logger.warning("Database busy, answered 503: %s", error)
        # A page of its own, rendered without the context processors: base.html's
        # navigation, and Flask-Login's current_user, would ask the busy database
        # who is logged in.
        response = make_response(app.jinja_env.get_template("errors/busy.html").render(), 503)
        response.headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", PERMISSIONS)
        if app.config["HTTPS"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # Checked first so that an answer which set its own (the busy page) never
        # loads the user from a database that is too busy.
        if "Cache-Control" not in response.headers and current_user.is_authenticated:
            response.headers["Cache-Control"] = "no-store"
        return response

    app.jinja_env.globals.update(
        is_htmx=is_htmx,
        code_status=code_status.code_status,
        format_local=format_local,
    )
