"""What every page shares: htmx page-or-fragment answers, login handling,
security headers, the answers to errors and template helpers."""

import re
import secrets
from collections.abc import Callable
from itertools import chain
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from flask import (
    Flask,
    current_app,
    g,
    get_flashed_messages,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from werkzeug.exceptions import InternalServerError, SecurityError

from . import database, questions, words
from . import status as code_status
from .access import OutOfScope
from .auth.sessions import token_hash
from .errors import DomainError, FieldErrors
from .extensions import db, login_manager
from .models import User, UserSession
from .numbers import BoundedIntConverter
from .timeutil import format_local
from .urls import url_for_each

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


def autofocus(field, asked=False):
    """Where a page puts the keyboard's focus. An answer to a post is a refused
    form: the first field with an error, so the person lands on what to fix
    (htmx focuses it too, in a fragment it swaps in); no other field, even one
    the page otherwise focuses. Any other page: the field the template asks for."""
    if request.method != "POST":
        return bool(asked)
    if field.errors and not g.get("autofocus_given"):
        g.autofocus_given = True
        return True
    return False


def see_other(endpoint, **values):
    return redirect(url_for(endpoint, **values), code=303)


def form_status():
    """A form with errors: 422 for a plain post; 200 for htmx, which swaps only 2xx."""
    return 200 if is_htmx() else 422


# Longer than any path of this site: not looked at.
MAX_NEXT = 2000


def safe_next(target):
    """Only a path on this site: never another host. Every `next` a page draws or
    follows passes here first. Browsers read a backslash as a slash and drop
    tabs and newlines, so "/\\host" and "/<tab>/host" lead to another site."""
    if not target or len(target) > MAX_NEXT:
        return None
    if "\\" in target or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def back(default):
    """After a plain post: 303 to the page the form came from, or the default."""
    return redirect(safe_next(request.form.get("next")) or default, code=303)


def asks_first(kind, **names):
    """For an action that cannot be undone: None once the person said yes to its
    question (codes/questions.py), asked by the button where JavaScript runs;
    otherwise the page that asks it, which posts the same form again with
    confirmed=1. Call it after the scope is checked and before anything is done."""
    if request.form.get("confirmed") == "1":
        return None
    fields = [
        (name, value)
        for name in request.form
        for value in request.form.getlist(name)
        if name not in ("csrf_token", "confirmed", "next")
    ]
    return confirmation_page(kind, fields, **names)


def confirmation_page(kind, fields, **names):
    """The page that asks the question `kind` (codes/questions.py) and, answered
    yes, posts `fields` (name, value pairs) again to this URL with confirmed=1:
    asks_first's, or a route's that decides itself what is to be confirmed."""
    back_to = safe_next(request.form.get("next"))
    if back_to:
        fields = [*fields, ("next", back_to)]
    response = make_response(
        render_template(
            "confirm.html",
            question=questions.question(kind, **names),
            label=questions.answer(kind, **names),
            action=request.full_path.rstrip("?"),
            fields=fields,
            back=back_to or url_for("auth.home"),
        )
    )
    response.headers["Vary"] = "HX-Request"
    return response


def reloads_to(blueprint, rules):
    """For each URL that only takes a post, a GET that sends the person (303) to
    the page whose form posts there, `rules` mapping the URL's rule to that
    page's endpoint. A plain post that answers a page of its own (a form with
    its errors, a question asked first) leaves that URL in the address bar:
    reloaded, or opened again, it was a bare 405. The page's own arguments are
    taken from the URL's, and the GET answers as that page would where it does
    not show: out of the person's scope 404, logged out the way to log in."""
    for rule, endpoint in rules.items():

        def reload(endpoint=endpoint, **values):
            names = next(current_app.url_map.iter_rules(endpoint)).arguments
            args = {k: v for k, v in values.items() if k in names}
            # The page's own checks say who may see it (a GET: it changes nothing):
            # its blueprint's (logged in), then its view's (the scope).
            for check in current_app.before_request_funcs.get(endpoint.rpartition(".")[0], ()):
                answer = current_app.ensure_sync(check)()
                if answer is not None:
                    return answer
            page = current_app.make_response(
                current_app.ensure_sync(current_app.view_functions[endpoint])(**args)
            )
            if page.status_code != 200:
                return page
            return see_other(endpoint, **args)

        blueprint.add_url_rule(rule, "reload" + re.sub(r"\W+", "_", rule), reload, methods=["GET"])


def apply_errors(form, error):
    """Put a domain error's messages beside the form's fields (above the form
    when it names none)."""
    errors = error.errors if isinstance(error, FieldErrors) else {error.field: error.message}
    for name, message in errors.items():
        target = form._fields.get(name) if name else None
        if target is None:
            form.form_errors.append(message)
        else:
            target.errors = [*target.errors, message]


class Saved(NamedTuple):
    """What a change made by `save` returned (a tuple of one: true even when it is None)."""

    value: Any


def save(form, change: Callable[[], Any]) -> Saved | None:
    """A post's one transaction: when the form passes its checks, `change` (an
    operation, which flushes and raises DomainError) is made and committed, and
    what it returned comes back as Saved; when the form or the operation refuses,
    the transaction is rolled back, the messages stand beside the form's fields,
    and None comes back, for the route to answer the form again."""
    if not form.validate_on_submit():
        return None
    try:
        value = change()
    except DomainError as refused:
        db.session.rollback()
        apply_errors(form, refused)
        return None
    db.session.commit()
    return Saved(value)


# Built once, with the parameters bound per request: Session.get builds its
# SELECT anew for every request, which cost as much as running it.
_USER = (
    select(User)
    .join(UserSession, UserSession.user_id == User.id)
    .where(
        User.id == bindparam("user_id"),
        UserSession.token_hash == bindparam("token_hash"),
        UserSession.ended_at.is_(None),
    )
)
# Ids past PostgreSQL's integer would make the driver raise, not find nobody.
MAX_ID = 2**31 - 1
# secrets.token_urlsafe(32) is 43 characters; anything much longer is no token of ours.
MAX_TOKEN = 100


@login_manager.user_loader
def load_user(session_id):
    """The account of a session that has not ended. The cookie's id is
    "<user id>:<token>" (User.get_id); anything else, such as a plain id from
    before sessions were recorded, is nobody: logged out, never an error."""
    if not isinstance(session_id, str):
        return None
    user_id, _, token = session_id.partition(":")
    if not (
        user_id.isascii()
        and user_id.isdigit()
        and len(user_id) <= 10
        and int(user_id) <= MAX_ID
        and 0 < len(token) <= MAX_TOKEN
    ):
        return None
    user = db.session.scalars(_USER, {"user_id": int(user_id), "token_hash": token_hash(token)}).first()
    if user is not None:
        user.session_token = token
    return user


@login_manager.unauthorized_handler
def unauthorized():
    login = url_for("auth.login", next=request.full_path if request.query_string else request.path)
    if is_htmx():
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login
        return response
    return redirect(login)


REQUEST_ID = "codes.request_id"


def request_id():
    """A random id of this request: the error page shows it to the person, and the
    log line with the traceback names it, so a person who quotes it leads there."""
    return request.environ.setdefault(REQUEST_ID, secrets.token_hex(6))


class App(Flask):
    def log_exception(self, exc_info):
        """What Flask logs for an error that no handler answered (the 500 page
        follows), with the request's id. A database that is not there is
        answered 503 instead, and logged there."""
        if database.unavailable(exc_info[1]) is not None:
            return
        self.logger.error(
            "Request %s failed: %s %s", request_id(), request.method, request.path, exc_info=exc_info
        )


# Seconds to wait before trying again, by why the database could not do it: a
# lock or a restart passes in seconds; a full disk needs someone to make room.
RETRY_SECONDS = {database.BUSY: 2, database.DOWN: 2, database.FULL: 60}


OUTCOME_LOGGED = {
    "nothing": "nothing saved",
    "saved": "saved before",
    "unknown": "lost during COMMIT: saved or not",
}


def _outcome(reason):
    """What the person asked for became: "saved" (the commit was done, the page
    after it failed), "unknown" (the connection was lost during COMMIT itself, so
    PostgreSQL may have committed), or "nothing"."""
    environ = request.environ
    if environ.get(database.COMMITTED, False):
        return "saved"
    if reason == database.DOWN and environ.get(database.COMMITTING, False):
        return "unknown"
    return "nothing"


def _plain_page(template, status, **context):
    """A page rendered without the context processors: base.html's navigation,
    and Flask-Login's current_user, would ask a database that is not there (or
    broken) who is logged in."""
    page = current_app.jinja_env.get_template(template).render(**context)
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def unavailable_answer(error):
    """The "try again" answer (503, Retry-After) to a database error that means
    the database cannot do it now (codes.database.unavailable), wherever in the
    request it met it; None for any other error."""
    reason = database.unavailable(error)
    if reason is None:
        return None
    outcome = _outcome(reason)
    log = current_app.logger.error if reason == database.FULL else current_app.logger.warning
    log("Database %s, answered 503 (%s): %s", reason, OUTCOME_LOGGED[outcome], error)
    try:
        db.session.rollback()
    except SQLAlchemyError:
        # The connection is gone: there is nothing to roll back here, and the
        # server ends a transaction whose connection it lost.
        pass
    response = _plain_page("errors/busy.html", 503, reason=reason, outcome=outcome)
    response.headers["Retry-After"] = str(RETRY_SECONDS[reason])
    return response


def init_app(app):
    # Before any blueprint adds its rules: every <int:...> in them is bounded.
    app.url_map.converters["int"] = BoundedIntConverter

    # First of all, for the request's deadline (codes.database).
    app.before_request(database.start_request)

    # Before Flask-SQLAlchemy's own teardown (the last registered runs first).
    # Ending the session rolls back on its connection; when the server dropped
    # that connection since (restarted after the request's last statement), the
    # rollback fails, and raised from a teardown it would be gunicorn's bare 500
    # for a request already answered. SQLAlchemy has put the dead connection
    # aside by then: the second try ends the session, and the server ended the
    # transaction with the connection.
    @app.teardown_appcontext
    def end_session(error):
        try:
            db.session.remove()
        except SQLAlchemyError as lost:
            if database.unavailable(lost) is None:
                raise
            app.logger.warning("Connection lost before the session ended: %s", lost)
            db.session.remove()

    @app.before_request
    def refuse_foreign_host():
        # A Host outside TRUSTED_HOSTS leaves the request without URLs to build
        # (so no page that links anywhere can be shown): a plain page, before any
        # other check renders one.
        if isinstance(request.routing_exception, SecurityError):
            page = app.jinja_env.get_template("errors/bad_host.html").render()
            return make_response(page, 400)

    @app.errorhandler(404)
    @app.errorhandler(OutOfScope)
    def not_found(error):
        return render_template("errors/404.html"), 404

    @app.errorhandler(405)
    def not_a_page(error):
        # A URL that only takes a form's post, opened or reloaded (a refused form's
        # page leaves it in the address bar): a page of the app's, not a bare 405.
        return render_template("errors/not_a_page.html"), 405, {"Allow": ", ".join(error.valid_methods or ())}

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

    # Any error of the database's, raised anywhere in the view (loading the
    # logged-in person first of all): "try again" when it means the database
    # cannot do it now; anything else goes on to the 500 page. The errors below
    # with handlers of their own (409) are answered there.
    @app.errorhandler(SQLAlchemyError)
    def database_unavailable(error):
        response = unavailable_answer(error)
        if response is None:
            raise error
        return response

    # What no handler answered, and what a handler raised: an error page of the
    # app's own, with the id of the log line that holds the traceback
    # (App.log_exception). A database not there, met by an error page or an
    # after-request hook, is still "try again".
    @app.errorhandler(InternalServerError)
    def unexpected(error):
        original = getattr(error, "original_exception", None)
        if original is not None:
            response = unavailable_answer(original)
            if response is not None:
                return response
        saved = request.environ.get(database.COMMITTED, False)
        return _plain_page("errors/unexpected.html", 500, request_id=request_id(), saved=saved)

    # Two requests at once can still meet where a row lock does not reach: a row
    # inserted for a classroom deleted meanwhile (a foreign key), a row updated
    # or read again after another request deleted it. The domain functions lock
    # what their change depends on, in one order, and answer a row gone as not
    # found (codes.database.lock_present); this one handler answers the rest,
    # in every area, including those whose functions take no lock: rolled back,
    # a plain 409 that says nothing was saved, never a 500. One place, rather
    # than a try in every view, so that no change is left out.
    @app.errorhandler(IntegrityError)
    @app.errorhandler(StaleDataError)
    @app.errorhandler(ObjectDeletedError)
    def changed_meanwhile(error):
        db.session.rollback()
        saved = request.environ.get(database.COMMITTED, False)
        app.logger.warning("Changed meanwhile, answered 409: %s", error, exc_info=error)
        response = make_response(render_template("errors/changed.html", saved=saved), 409)
        if is_htmx():
            # htmx swaps nothing on a 409: reload the page, which shows how things stand.
            response.headers["HX-Refresh"] = "true"
        return response

    # An action answered to htmx says what it did as a plain post's page does:
    # what the route flashed goes with the fragment, swapped out of band into
    # the page's messages. Not on an answer that swaps nothing (an error, a
    # redirect, a refresh): the next page shows them then.
    @app.after_request
    def flashes_for_htmx(response):
        if (
            not is_htmx()
            or response.status_code != 200
            or response.mimetype != "text/html"
            or response.is_streamed
            or "_flashes" not in session
            or any(h in response.headers for h in ("HX-Redirect", "HX-Refresh", "HX-Location"))
        ):
            return response
        messages = get_flashed_messages(with_categories=True)
        # In a <template>, which htmx takes out-of-band swaps from too: an answer
        # of table rows may not hold a <div> (the browser would move it out of
        # the table, and the markup would be invalid).
        response.set_data(
            response.get_data(as_text=True)
            + "<template>"
            + render_template("_flashes.html", messages=messages, oob=True)
            + "</template>"
        )
        return response

    @app.after_request
    def security_headers(response):
        # Checked first so that an answer which set its own (the busy page) never
        # loads the user from a database that is not there. An answer whose view
        # never asked who is logged in (Werkzeug's 405) loads the person here: a
        # database not there is "try again" here too, as in any view.
        if "Cache-Control" not in response.headers:
            try:
                private = current_user.is_authenticated
            except SQLAlchemyError as error:
                busy = unavailable_answer(error)
                if busy is None:
                    raise
                response, private = busy, False
            if private:
                response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", PERMISSIONS)
        if app.config["HTTPS"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    from .models import ROLE_TEACHER
    from .redeem.operations import PARENT_CODE

    app.jinja_env.globals.update(
        question=questions.question,
        plural=words.plural,
        plural_counted=words.plural_counted,
        counted_range=words.counted_range,
        choose=words.choose,
        # Constants templates compare with, named once in the code.
        ROLE_TEACHER=ROLE_TEACHER,
        PARENT_CODE=PARENT_CODE,
        is_htmx=is_htmx,
        autofocus=autofocus,
        code_status=code_status.code_status,
        format_local=format_local,
        url_for_each=url_for_each,
    )
