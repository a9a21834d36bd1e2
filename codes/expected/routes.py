"""A classroom's expected people: the list staff paste or upload, who of it has
joined, and the addresses of those who have not yet."""

from flask import Blueprint, flash, render_template
from flask_login import current_user, login_required

from .. import access, messages
from ..errors import FieldErrors
from ..extensions import db
from ..web import apply_errors, form_status, is_htmx, see_other
from . import operations
from .forms import ExpectedForm

bp = Blueprint("expected", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def _page(classroom, scope, form, status=200):
    template = "expected/_expected.html" if is_htmx() else "expected/classroom.html"
    response = render_template(
        template,
        classroom=classroom,
        org=classroom.organization,
        scope=scope,
        tab="expected",
        form=form,
        expected=operations.expected_list(classroom),
        limits=operations,
    )
    return response, status, {"Vary": "HX-Request"}


@bp.get("/classrooms/<int:classroom_id>/expected")
def show(classroom_id):
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    return _page(classroom, scope, ExpectedForm(formdata=None))


@bp.post("/classrooms/<int:classroom_id>/expected")
def add(classroom_id):
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    form = ExpectedForm()
    if form.validate_on_submit():
        try:
            text = form.emails.data or ""
            if form.file.data:
                text += "\n" + operations.file_text(form.file.data.read(operations.MAX_FILE_BYTES + 1))
            added = operations.add_expected(current_user, scope, classroom, operations.read_list(text))
        except FieldErrors as e:
            db.session.rollback()
            apply_errors(form, e)
        else:
            said = messages.expected_added(added, classroom)
            db.session.commit()
            flash(said, "success")
            if not is_htmx():
                return see_other("expected.show", classroom_id=classroom.id)
            return _page(classroom, scope, ExpectedForm(formdata=None))
    return _page(classroom, scope, form, form_status())


@bp.post("/expected/<int:expected_id>/remove")
def remove(expected_id):
    expected, classroom, scope = access.expected_for_staff(current_user, expected_id)
    said = messages.expected_removed(expected, classroom)
    operations.remove_expected(current_user, scope, expected)
    db.session.commit()
    flash(said, "success")
    if not is_htmx():
        return see_other("expected.show", classroom_id=classroom.id)
    return _page(classroom, scope, ExpectedForm(formdata=None))
