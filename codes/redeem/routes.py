"""A student's profile: the code box, and the classrooms and courses they are in."""
from datetime import timedelta

from flask import Blueprint, current_app, flash, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from ..codetext import MAX_TYPED
from ..extensions import db
from ..models import Classroom, ClassroomMember, Code, Course, Enrollment, Redemption
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


# Built once, with the person's id as a parameter: building them (and their
# cache keys) on every answer cost more than running them.
_MY_CLASSROOMS = (
    select(Classroom).join(ClassroomMember, ClassroomMember.classroom_id == Classroom.id)
    .where(ClassroomMember.user_id == bindparam("user_id")).order_by(Classroom.name)
    .options(joinedload(Classroom.organization))
)
_MY_COURSES = (
    select(Course).join(Enrollment, Enrollment.course_id == Course.id)
    .where(Enrollment.user_id == bindparam("user_id")).order_by(Course.name)
    .options(joinedload(Course.organization))
)
_MY_REDEMPTIONS = (
    select(Redemption).where(Redemption.user_id == bindparam("user_id"))
    .order_by(Redemption.created_at.desc())
    .options(joinedload(Redemption.code).joinedload(Code.organization))
)


def my_places(user_id):
    params = {"user_id": user_id}
    return {
        "classrooms": db.session.scalars(_MY_CLASSROOMS, params).all(),
        "courses": db.session.scalars(_MY_COURSES, params).all(),
        "redemptions": db.session.scalars(_MY_REDEMPTIONS, params).all(),
    }


def _profile(form, result=None, status=200, refusal=None, user_id=None):
    """The page, or its partial for htmx. After a commit, pass the user's id read
    before it: current_user is expired by the commit, and reading its id would
    load the whole row again for nothing."""
    template = "redeem/_redeem.html" if is_htmx() else "redeem/profile.html"
    return render_template(template, form=form, result=result, refusal=refusal,
                           **my_places(user_id or current_user.id)), status


@bp.get("/profile")
@login_required
def profile():
    # A short link (/join/<code>) brings the code along to fill in.
    return _profile(RedeemForm(formdata=None, code=request.args.get("code", "")[:MAX_TYPED]))


@bp.post("/redeem")
@login_required
def redeem():
    form = RedeemForm()
    user_id = current_user.id
    if not form.validate_on_submit():
        return _profile(form, status=form_status())
    try:
        result = operations.attempt_redeem(current_user, form.code.data, limits())
    except operations.RedeemRefused as refusal:
        # The refusal left nothing but its audit event, which must be kept.
        db.session.commit()
        form.code.errors = [refusal.message]
        return _profile(form, status=form_status(), refusal=refusal, user_id=user_id)
    db.session.commit()
    if is_htmx():
        return _profile(RedeemForm(formdata=None), result=result, user_id=user_id)
    flash(result.message, "success")
    return see_other("redeem.profile")
