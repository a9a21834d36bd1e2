from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import mail
from ..access import is_parent, is_student, staff_organizations
from ..database import reads_only
from ..errors import FieldErrors
from ..extensions import db
from ..redeem.operations import RedeemRefused
from ..redeem.routes import limits as redeem_limits
from ..web import apply_errors, safe_next, see_other
from . import operations
from .forms import ForgotForm, LoginForm, ResetForm, SignupForm

bp = Blueprint("auth", __name__)


def send_verification(user):
    token = operations.verification_token(current_app.config["SECRET_KEY"], user)
    link = url_for("auth.verify", token=token, _external=True)
    mail.send(user.email, "Confirm your email address",
              f"Hello {user.name},\n\nConfirm your email address by opening this link:\n{link}\n")


def home_for(user):
    if staff_organizations(user):
        return url_for("orgs.index")
    if is_parent(user) and not is_student(user):
        return url_for("parents.index")
    return url_for("redeem.profile")


@bp.get("/")
def home():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return render_template("auth/home.html")


@bp.route("/login", methods=["GET", "POST"])
@reads_only
def login():
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        user = operations.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(next_url or home_for(user), code=303)
        form.password.errors.append("That email and password don't match an account.")
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form, next=next_url), status


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    # A short link (/join/<code>) brings the code along to fill in.
    form = SignupForm() if request.method == "POST" else SignupForm(code=request.args.get("code"))
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        text = (form.code.data or "").strip()
        result = None
        try:
            if text:
                user, result = operations.sign_up_with_code(
                    form.name.data, form.email.data, form.password.data, text, redeem_limits())
            else:
                user = operations.create_user(form.name.data, form.email.data, form.password.data)
        except FieldErrors as e:
            db.session.rollback()
            apply_errors(form, e)
        except RedeemRefused as refusal:
            # The account went with the refused code; the attempt's audit event stays.
            db.session.commit()
            form.code.errors.append(refusal.message)
        else:
            # Committed before the mail goes: a slow mail server must not hold
            # the database's write lock, and no link goes out for an account
            # that a failed commit never made.
            db.session.commit()
            send_verification(user)
            login_user(user)
            if result is not None:
                flash(result.message, "success")
            flash("Welcome! We sent a link to confirm your email address.", "info")
            return redirect(next_url or url_for("redeem.profile"), code=303)
    return render_template("auth/signup.html", form=form, next=next_url), 422 if form.errors else 200


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    return see_other("auth.login")


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
@reads_only  # changes nothing; the mail is sent holding no write lock
@login_required
def resend_verification():
    if not current_user.email_verified:
        send_verification(current_user)
        flash(f"We sent a new confirmation link to {current_user.email}.", "info")
    return see_other("redeem.profile")


@bp.route("/password/forgot", methods=["GET", "POST"])
@reads_only  # changes nothing; the mail is sent holding no write lock
def forgot_password():
    """Ask for a link to set a new password. The answer is the same whether or not
    the email has an account, so the form tells nobody who is registered."""
    form = ForgotForm()
    if form.validate_on_submit():
        user = operations.find_user(form.email.data)
        if user is not None:
            token = operations.password_reset_token(current_app.config["SECRET_KEY"], user)
            link = url_for("auth.reset_password", token=token, _external=True)
            mail.send(user.email, "Set your password",
                      f"Hello {user.name},\n\nSet a new password for your account by opening "
                      f"this link within a day:\n{link}\n\nIf you did not ask for it, ignore this "
                      f"message: your password stays as it is.\n")
        flash("If an account has that email, we sent it a link to set a password. "
              "It works for one day.", "info")
        return see_other("auth.login")
    return render_template("auth/forgot.html", form=form), 422 if form.errors else 200


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    user = operations.user_for_reset(current_app.config["SECRET_KEY"], token)
    if user is None:
        flash("That link is not valid any more: it was used or is over a day old. "
              "Ask for a new one.", "error")
        return see_other("auth.forgot_password")
    form = ResetForm()
    if form.validate_on_submit():
        operations.reset_password(user, form.password.data)
        db.session.commit()
        login_user(user)
        flash("Your new password is set.", "success")
        return redirect(home_for(user), code=303)
    return render_template("auth/reset.html", form=form, token=token), 422 if form.errors else 200
