"""A student's profile: the code box, and the classrooms and courses they are in."""

from flask import Blueprint, flash, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import bindparam, literal, null, select, union_all

from .. import access, database, messages
from ..approval.operations import my_requests
from ..codetext import MAX_TYPED
from ..database import reads_first
from ..extensions import db
from ..models import Classroom, ClassroomMember, Code, Course, Enrollment, Organization, Redemption, User
from ..timeutil import format_local
from ..web import form_status, is_htmx, reloads_to, see_other
from . import operations
from .forms import RedeemForm

bp = Blueprint("redeem", __name__)


# The person's classrooms, courses and codes used, with their organizations,
# as plain rows in one statement built once: loading them as objects, in three
# statements, cost more than the rest of the answer. `timezone` is the
# organization's, so format_local reads a row as it reads an organization.
_MY_PLACES = union_all(
    # First, as it names the columns and gives them their types (`at` a
    # timestamp, which SQLite returns as text unless typed): when a code was
    # redeemed, or when a classroom membership ends (None: no end).
    select(
        literal("code").label("kind"),
        Code.id.label("id"),
        Code.text.label("name"),
        Organization.name.label("org_name"),
        Organization.timezone,
        Redemption.created_at.label("at"),
    )
    .join(Code, Code.id == Redemption.code_id)
    .join(Organization, Organization.id == Code.org_id)
    .where(Redemption.user_id == bindparam("user_id")),
    select(
        literal("classroom"),
        Classroom.id,
        Classroom.name,
        Organization.name,
        Organization.timezone,
        ClassroomMember.ends_at,
    )
    .join(ClassroomMember, ClassroomMember.classroom_id == Classroom.id)
    .join(Organization, Organization.id == Classroom.org_id)
    .where(ClassroomMember.user_id == bindparam("user_id")),
    select(literal("course"), Course.id, Course.name, Organization.name, Organization.timezone, null())
    .join(Enrollment, Enrollment.course_id == Course.id)
    .join(Organization, Organization.id == Course.org_id)
    .where(Enrollment.user_id == bindparam("user_id")),
)


def my_places(user_id):
    rows = database.execute(_MY_PLACES, {"user_id": user_id}).all()
    user = db.session.get(User, user_id)
    return {
        "teachers": access.teachers_of(
            [r.id for r in rows if r.kind == "classroom"], [r.id for r in rows if r.kind == "course"]
        ),
        "roles": access.staff_roles(user),
        "classrooms": sorted((r for r in rows if r.kind == "classroom"), key=lambda r: r.name),
        "courses": sorted((r for r in rows if r.kind == "course"), key=lambda r: r.name),
        "redemptions": sorted((r for r in rows if r.kind == "code"), key=lambda r: r.at, reverse=True),
        "requests": [
            (r, messages.my_request(r, format_local(r, r.decided_at or r.created_at)))
            for r in my_requests(user)
        ],
    }


def _profile(form, places, joined=None, status=200, refusal=None):
    """The page, or its partial for htmx, with the person's places (my_places)
    and what a redemption just did (`joined`, its message)."""
    template = "redeem/_redeem.html" if is_htmx() else "redeem/profile.html"
    return render_template(template, form=form, joined=joined, refusal=refusal, **places), status


@bp.get("/profile")
@login_required
def profile():
    # A short link (/join/<code>) brings the code along to fill in.
    return _profile(
        RedeemForm(formdata=None, code=request.args.get("code", "")[:MAX_TYPED]), my_places(current_user.id)
    )


@bp.post("/redeem")
@reads_first
@login_required
def redeem():
    form = RedeemForm()
    user_id = current_user.id
    if not form.validate_on_submit():
        return _profile(form, my_places(user_id), status=form_status())
    try:
        result = operations.attempt_redeem(current_user, form.code.data)
    except operations.RedeemRefused as refusal:
        # The refusal left nothing but its audit event, which must be kept. The
        # lists are read before the commit, in the same transaction.
        form.code.errors = [refusal.message]
        places = my_places(user_id)
        db.session.commit()
        return _profile(form, places, status=form_status(), refusal=refusal)
    # Worded before the commit, which expires what the message names.
    message = messages.joined(result)
    if not is_htmx():
        db.session.commit()
        flash(message, "success")
        return see_other("redeem.profile")
    places = my_places(user_id)
    db.session.commit()
    form.code.data = ""  # the box emptied for the next code
    return _profile(form, places, joined=message)


# Where a reload of a URL that only takes a post goes (codes.web.reloads_to).
reloads_to(bp, {"/redeem": "redeem.profile"})
