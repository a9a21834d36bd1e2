"""Staff of a classroom (its admins and leaders) change its join code, to a new
random one or to a text they choose, on the classroom's page."""

from flask import Blueprint, flash, render_template
from flask_login import current_user, login_required

from .. import access, messages
from ..errors import DomainError
from ..extensions import db
from ..orgs.pages import classroom_page
from ..web import apply_errors, asks_first, is_htmx, see_other
from . import operations
from .forms import JoinCodeForm

bp = Blueprint("joincodes", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def _answer(classroom, scope, form, changed=None):
    """htmx swaps the join-code card in place (200, errors included, since htmx
    swaps only 2xx); a plain post goes back to the classroom's page, or shows it
    again (422) with the message beside the field."""
    said = messages.join_code_changed(changed) if changed else None
    if is_htmx():
        return render_template(
            "joincodes/_join_code.html", classroom=classroom, scope=scope, join_form=form, changed=said
        )
    if form.errors:
        return classroom_page(classroom, scope, "members", 422, join_form=form)
    flash(said, "info")
    return see_other("orgs.classroom", classroom_id=classroom.id)


def _change(classroom, scope, form, text=None):
    if (asked := asks_first("replace_join_code", classroom=classroom.name)) is not None:
        return asked
    try:
        changed = operations.change_join_code(current_user, classroom, text)
    except DomainError as e:
        db.session.rollback()
        apply_errors(form, e)
        return _answer(classroom, scope, form)
    db.session.commit()
    return _answer(classroom, scope, JoinCodeForm(formdata=None), changed)


@bp.post("/classrooms/<int:classroom_id>/join-code")
def custom(classroom_id):
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    form = JoinCodeForm()
    if not form.validate_on_submit():
        return _answer(classroom, scope, form)
    return _change(classroom, scope, form, form.text.data)


@bp.post("/classrooms/<int:classroom_id>/join-code/random")
def random(classroom_id):
    # CSRF is checked for every post (codes.extensions.csrf); nothing else is typed.
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    return _change(classroom, scope, JoinCodeForm(formdata=None))
