"""An admin sets a classroom's seat allotment on its settings tab (the
organization's limit is among the organization's settings)."""
from flask import Blueprint, flash
from flask_login import current_user, login_required

from .. import access
from ..errors import FieldErrors
from ..extensions import db
from ..orgs.routes import settings_tab_refused
from ..web import apply_errors, see_other
from . import operations
from .forms import AllotmentForm

bp = Blueprint("seats", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


@bp.post("/classrooms/<int:classroom_id>/allotment")
def set_allotment(classroom_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    form = AllotmentForm()
    if form.validate_on_submit():
        try:
            operations.set_allotment(current_user, classroom, form.seat_allotment.data)
        except FieldErrors as e:
            db.session.rollback()
            apply_errors(form, e)
        else:
            db.session.commit()
            if classroom.seat_allotment is None:
                flash(f"{classroom.name} has no seat allotment now.", "info")
            else:
                flash(f"{classroom.seat_allotment} seats are allotted to {classroom.name}.", "info")
            return see_other("orgs.classroom_settings", classroom_id=classroom.id)
    return settings_tab_refused(classroom, scope, allotment_form=form)
