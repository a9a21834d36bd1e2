"""A student's profile: the code box, and the classrooms and courses they are in."""
from datetime import timedelta

from flask import Blueprint, current_app, flash, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import bindparam, literal, null, select, union_all

from .. import database
from ..codetext import MAX_TYPED
from ..database import reads_first
from ..extensions import db
from ..models import (
    Classroom,
    ClassroomMember,
    Code,
    Course,
    Enrollment,
    Organization,
    Redemption,
)
from ..web import form_status, is_htmx, see_other
from . import operations
from .forms import RedeemForm
from .limits import current_counter

bp = Blueprint("redeem", __name__)


def limits():
    config = current_app.config
    return operations.AttemptLimits(
        per_account=config["REDEEM_FAILURES_PER_ACCOUNT"],
        per_address=config["REDEEM_FAILURES_PER_ADDRESS"],
        window=timedelta(minutes=config["REDEEM_FAILURE_WINDOW_MINUTES"]),
        counter=current_counter(),
    )


# The person's classrooms, courses and codes used, with their organizations,
# as plain rows in one statement built once: loading them as objects, in three
# statements, cost more than the rest of the answer. `timezone` is the
# organization's, so format_local reads a row as it reads an organization.
_MY_PLACES = union_all(
    # First, as it names the columns and gives them their types (created_at a
    # timestamp, which SQLite returns as text unless typed).
    select(literal("code").label("kind"), Code.text.label("name"),
           Organization.name.label("org_name"), Organization.timezone, Redemption.created_at)
    .join(Code, Code.id == Redemption.code_id)
    .join(Organization, Organization.id == Code.org_id)
    .where(Redemption.user_id == bindparam("user_id")),
    select(literal("classroom"), Classroom.name, Organization.name, Organization.timezone, null())
    .join(ClassroomMember, ClassroomMember.classroom_id == Classroom.id)
    .join(Organization, Organization.id == Classroom.org_id)
    .where(ClassroomMember.user_id == bindparam("user_id")),
    select(literal("course"), Course.name, Organization.name, Organization.timezone, null())
    .join(Enrollment, Enrollment.course_id == Course.id)
    .join(Organization, Organization.id == Course.org_id)
    .where(Enrollment.user_id == bindparam("user_id")),
)


def my_places(user_id):
    rows = database.execute(_MY_PLACES, {"user_id": user_id}).all()
    return {
        "classrooms": sorted((r for r in rows if r.kind == "classroom"), key=lambda r: r.name),
        "courses": sorted((r for r in rows if r.kind == "course"), key=lambda r: r.name),
        "redemptions": sorted((r for r in rows if r.kind == "code"),
                              key=lambda r: r.created_at, reverse=True),
    }


def _profile(form, places, joined=None, status=200, refusal=None):
    """The page, or its partial for htmx, with the person's places (my_places)
    and what a redemption just did (`joined`, its message)."""
    template = "redeem/_redeem.html" if is_htmx() else "redeem/profile.html"
    return render_template(template, form=form, joined=joined, refusal=refusal,
                           **places), status


@bp.get("/profile")
@login_required
def profile():
    # A short link (/join/<code>) brings the code along to fill in.
    return _profile(RedeemForm(formdata=None, code=request.args.get("code", "")[:MAX_TYPED]),
                    my_places(current_user.id))


@bp.post("/redeem")
@reads_first
@login_required
def redeem():
    form = RedeemForm()
    user_id = current_user.id
    if not form.validate_on_submit():
        return _profile(form, my_places(user_id), status=form_status())
    try:
        result = operations.attempt_redeem(current_user, form.code.data, limits())
    except operations.RedeemRefused as refusal:
        # The refusal left nothing but its audit event, which must be kept. The
        # lists are read before the commit, in the same transaction.
        form.code.errors = [refusal.message]
        places = my_places(user_id)
        db.session.commit()
        return _profile(form, places, status=form_status(), refusal=refusal)
    # Worded before the commit, which expires what the message names.
    message = result.message
    if not is_htmx():
        db.session.commit()
        flash(message, "success")
        return see_other("redeem.profile")
    places = my_places(user_id)
    db.session.commit()
    form.code.data = ""  # the box emptied for the next code
    return _profile(form, places, joined=message)
