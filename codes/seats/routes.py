"""An admin sets a classroom's seat allotment on its settings tab (the
organization's limit is among the organization's settings)."""

from flask import Blueprint, flash
from flask_login import current_user, login_required

from .. import access, messages
from ..orgs.pages import settings_tab_refused
from ..web import save, see_other
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
    if save(form, lambda: operations.set_allotment(current_user, classroom, form.seat_allotment.data)):
        flash(messages.allotment_saved(classroom), "info")
        return see_other("orgs.classroom_settings", classroom_id=classroom.id)
    return settings_tab_refused(classroom, scope, allotment_form=form)
