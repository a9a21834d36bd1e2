from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import mail
from ..access import staff_organizations
from ..errors import FieldErrors
from ..extensions import db
from ..web import safe_next, see_other
from . import operations
from .forms import LoginForm, SignupForm

bp = Blueprint("auth", __name__)


def send_verification(user):
    token = operations.verification_token(current_app.config["SECRET_KEY"], user)
    link = url_for("auth.verify", token=token, _external=True)
    mail.send(user.email, "Confirm your email address",
              f"Hello {user.name},\n\nConfirm your email address by opening this link:\n{link}\n")


def home_for(user):
    if staff_organizations(user):
        return url_for("orgs.index")
    return url_for("redeem.profile")


@bp.get("/")
def home():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return render_template("auth/home.html")


@bp.route("/login", methods=["GET", "POST"])
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
    form = SignupForm()
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        try:
            user = operations.create_user(form.name.data, form.email.data, form.password.data)
        except FieldErrors as e:
            form.email.errors.append(e.errors["email"])
        else:
            send_verification(user)
            db.session.commit()
            login_user(user)
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
@login_required
def resend_verification():
    if not current_user.email_verified:
        send_verification(current_user)
        flash(f"We sent a new confirmation link to {current_user.email}.", "info")
    return see_other("redeem.profile")
