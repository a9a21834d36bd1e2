import secrets

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import database, mail, messages
from ..access import landing
from ..attempts import Limited
from ..codetext import MAX_TYPED
from ..database import reads_first
from ..errors import FieldErrors
from ..extensions import db
from ..redeem.operations import Redeemed, RedeemRefused
from ..urls import public_url
from ..web import apply_errors, asks_first, form_status, is_htmx, page_or_fragment, safe_next, see_other
from . import operations, sessions
from .forms import ChangePasswordForm, FinishSignupForm, ForgotForm, LoginForm, ResetForm, SignupForm

bp = Blueprint("auth", __name__)
# The browser that asked for a sign-up finishes it with one click (docs/SECURITY.md).
SIGNUP_BROWSER = "signup_browser"
SIGNUP_EMAIL = "signup_email"


def log_in(user):
    """The one way in. A new session record, and a fresh cookie session bound to
    it: nothing from before the login is carried over (the CSRF token changes
    too). The caller commits."""
    sessions.start(user)
    session.clear()
    login_user(user)


def log_out():
    """This browser's cookie session ends with the person's; the caller has
    ended the session's record (or all of them) and committed."""
    session.clear()
    logout_user()  # after clear(): it asks for the remember cookie to be deleted too


@bp.app_template_global()
def change_password_form():
    """The profile's change-password form (the profile page belongs to redeem)."""
    return ChangePasswordForm(formdata=None)


def send_verification(user):
    token = operations.verification_token(current_app.config["SECRET_KEY"], user)
    link = public_url("auth.verify", token=token)
    mail.queue_limited(
        user.email,
        "Confirm your email address",
        f"Hello {user.name},\n\nConfirm your email address by opening this link:\n{link}\n",
    )


def home_for(user):
    """The address of where the person lands (access.landing keeps the rule)."""
    place = landing(user)
    return url_for(place.endpoint, **place.args)


@bp.get("/")
def home():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return render_template("auth/home.html")


@bp.route("/login", methods=["GET", "POST"])
@reads_first  # the password is checked (about 65 ms of scrypt) before the write lock is taken
def login():
    # The letter's page brings a parent code along (parents.link_form).
    form = (
        LoginForm() if request.method == "POST" else LoginForm(code=request.args.get("code", "")[:MAX_TYPED])
    )
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        try:
            user = operations.log_in_attempt(form.email.data, form.password.data)
        except (operations.LoginRefused, Limited) as refusal:
            form.password.errors.append(refusal.message)
        else:
            database.begin_writing(db.session)
            log_in(user)
            if form.code.data:
                return _link_after_login(user, form.code.data)
            db.session.commit()
            return redirect(next_url or home_for(user), code=303)
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form, next=next_url), status


def _link_after_login(user, text):
    """Logged in with a parent code (the login not committed yet): it links them,
    and they land on the parents' page; refused, they are still logged in, told
    why, and the code waits in the parents' code box."""
    try:
        result = operations.link_after_login(user, text)
    except RedeemRefused as refusal:
        db.session.commit()  # the login, and the refusal's audit event, stay
        flash(f"You are logged in, but the parent code did not work: {refusal.message}", "error")
        return redirect(url_for("parents.index", code=text.strip()[:MAX_TYPED]), code=303)
    said = result.message if result is not None else None
    db.session.commit()
    if said:
        flash(said, "success")
    return see_other("parents.index")


def _signup_mail(requested):
    """The one mail a sign-up sends: the link that finishes it, or, for an email
    that has an account already, what to do instead."""
    if requested.pending is not None:
        link = public_url("auth.finish_signup", token=requested.token)
        return (
            "Finish signing up",
            f"Hello {requested.pending.name},\n\nTo finish signing up, open this link within a "
            f"day:\n{link}\n\nIf you did not sign up, ignore this message: nothing is made "
            f"without it.\n",
        )
    login = public_url("auth.login")
    reset = public_url("auth.forgot_password")
    return (
        "You already have an account",
        f"Hello {requested.existing.name},\n\nSomeone, perhaps you, tried to sign up with this "
        f"address, which already has an account. Log in here:\n{login}\n\nForgot your "
        f"password? Set a new one here:\n{reset}\n\nIf it was not you, ignore this message: "
        f"nothing has changed.\n",
    )


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    # A short link (/join/<code>) brings the code along to fill in.
    form = (
        SignupForm()
        if request.method == "POST"
        else SignupForm(code=request.args.get("code", "")[:MAX_TYPED])
    )
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        text = (form.code.data or "").strip()
        try:
            if text:
                operations.attempt_signup_code(text, form.email.data)
        except RedeemRefused as refusal:
            # Nothing is made; the attempt's audit event stays.
            db.session.commit()
            form.code.errors.append(refusal.message)
        else:
            browser = secrets.token_urlsafe(16)
            requested = operations.request_signup(
                current_app.config["SECRET_KEY"],
                form.name.data,
                form.email.data,
                form.password.data,
                text,
                next_url,
                browser,
            )
            # Queued in the sign-up's own transaction: no link goes out for a
            # sign-up a failed commit never made, and none is lost once it is made.
            mail.queue_limited(requested.email, *_signup_mail(requested))
            db.session.commit()
            session[SIGNUP_BROWSER] = browser
            session[SIGNUP_EMAIL] = requested.email
            return see_other("auth.signup_sent")
    return render_template("auth/signup.html", form=form, next=next_url), 422 if form.errors else 200


@bp.get("/signup/sent")
def signup_sent():
    """The same answer whether or not the email had an account: the mail says
    what to do."""
    return render_template("auth/signup_sent.html", email=session.get(SIGNUP_EMAIL, ""))


def _finish_page(token, pending, form, status=200):
    asks_password = not operations.same_browser(pending, session.get(SIGNUP_BROWSER))
    return render_template(
        "auth/finish_signup.html", token=token, pending=pending, form=form, asks_password=asks_password
    ), status


def _pending(token):
    """The pending sign-up a link names, or None with the reason flashed."""
    try:
        return operations.pending_signup(current_app.config["SECRET_KEY"], token)
    except operations.SignupProblem as problem:
        flash(problem.message, "error")
        return None


@bp.get("/signup/finish/<token>")
def finish_signup_form(token):
    # A page with a button, not a change on GET: mail scanners open links.
    pending = _pending(token)
    if pending is None:
        return see_other("auth.login")
    return _finish_page(token, pending, FinishSignupForm(formdata=None))


@bp.post("/signup/finish/<token>")
def finish_signup(token):
    pending = _pending(token)
    if pending is None:
        return see_other("auth.login")
    form = FinishSignupForm()
    if not form.validate_on_submit():
        return _finish_page(token, pending, form, 422)
    try:
        user = operations.finish_signup(pending, form.password.data, session.get(SIGNUP_BROWSER))
    except FieldErrors as errors:
        db.session.rollback()
        apply_errors(form, errors)
        return _finish_page(token, pending, form, 422)
    said = refusal = None
    try:
        result = operations.redeem_after_signup(user, pending)
        if result is not None:
            # Worded before the commit, which expires what it names.
            said = messages.joined(result) if isinstance(result, Redeemed) else result.message
    except RedeemRefused as refused:
        refusal = refused
    next_url = safe_next(pending.next_path)
    log_in(user)
    db.session.commit()
    flash("Welcome! Your account is ready and your email address is confirmed.", "info")
    if said is not None:
        flash(said, "success")
    if refusal is not None:
        flash(f"Your account is made, but the code you typed did not work: {refusal.message}", "error")
    return redirect(next_url or home_for(user), code=303)


@bp.post("/logout")
@login_required
def logout():
    sessions.end(current_user)
    db.session.commit()
    log_out()
    return see_other("auth.login")


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere():
    if (asked := asks_first("logout_everywhere")) is not None:
        return asked
    operations.end_every_session(current_user)
    db.session.commit()
    log_out()
    flash("You are logged out everywhere, on this device too.", "info")
    return see_other("auth.login")


@bp.route("/password/change", methods=["GET", "POST"])
@reads_first  # the current password is checked before the write lock is taken
@login_required
def change_password():
    """The profile's form, and a page of its own to show it again with its errors
    after a plain post."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            operations.confirm_password(current_user, form.current_password.data)
        except FieldErrors as e:
            apply_errors(form, e)
        else:
            database.begin_writing(db.session)
            operations.change_password(current_user, form.new_password.data)
            db.session.commit()
            message = "Your new password is set. You are logged out everywhere else."
            if not is_htmx():
                flash(message, "success")
                return see_other("redeem.profile")
            return page_or_fragment(
                "auth/password.html",
                "auth/_password.html",
                password_form=ChangePasswordForm(formdata=None),
                password_changed=message,
            )
    status = form_status() if form.errors else 200
    return page_or_fragment("auth/password.html", "auth/_password.html", status, password_form=form)


@bp.get("/verify/<token>")
def verify(token):
    # A page with a button, not a change on GET: mail scanners open links.
    return render_template("auth/verify.html", token=token)


@bp.post("/verify/<token>")
def confirm_email(token):
    user = operations.verify_email(current_app.config["SECRET_KEY"], token)
    if user is None:
        flash("That confirmation link is not valid or has expired. Ask for a new one.", "error")
    else:
        db.session.commit()
        flash("Your email address is confirmed.", "info")
    return redirect(url_for("redeem.profile") if current_user.is_authenticated else url_for("auth.login"))


@bp.post("/verify/resend")
@reads_first  # the write lock only for the mail's row in the queue
@login_required
def resend_verification():
    if not current_user.email_verified:
        send_verification(current_user)
        db.session.commit()
        flash(f"We sent a new confirmation link to {current_user.email}.", "info")
    return see_other("redeem.profile")


@bp.route("/password/forgot", methods=["GET", "POST"])
@reads_first  # the write lock only for the mail's row in the queue
def forgot_password():
    """Ask for a link to set a new password. The answer is the same whether or not
    the email has an account, and so is the work: a mail goes either way, saying
    what to do."""
    form = ForgotForm()
    if form.validate_on_submit():
        user = operations.find_user(form.email.data)
        if user is not None:
            token = operations.password_reset_token(current_app.config["SECRET_KEY"], user)
            link = public_url("auth.reset_password", token=token)
            mail.queue_limited(
                user.email,
                "Set your password",
                f"Hello {user.name},\n\nSet a new password for your account by opening "
                f"this link within a day:\n{link}\n\nIf you did not ask for it, ignore "
                f"this message: your password stays as it is.\n",
            )
        else:
            link = public_url("auth.signup")
            mail.queue_limited(
                form.email.data.strip(),
                "Set your password",
                f"Hello,\n\nSomeone, perhaps you, asked to set a password for this "
                f"address, but no account has it. To make one, sign up here:\n{link}\n\n"
                f"If it was not you, ignore this message.\n",
            )
        db.session.commit()
        flash(
            "We sent a message to that address: it says how to set a password. "
            "A link in it works for one day.",
            "info",
        )
        return see_other("auth.login")
    return render_template("auth/forgot.html", form=form), 422 if form.errors else 200


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    user = operations.user_for_reset(current_app.config["SECRET_KEY"], token)
    if user is None:
        flash(
            "That link is not valid any more: it was used or is over a day old. Ask for a new one.", "error"
        )
        return see_other("auth.forgot_password")
    form = ResetForm()
    if form.validate_on_submit():
        operations.reset_password(user, form.password.data)
        log_in(user)
        db.session.commit()
        flash("Your new password is set.", "success")
        return redirect(home_for(user), code=303)
    return render_template("auth/reset.html", form=form, token=token), 422 if form.errors else 200
