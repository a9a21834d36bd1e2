"""A code's staff answer its requests (one by one or all at once), rotate it
when it leaked, and take out who joined through it since the spike began, on
the code's page (docs/APPROVAL.md)."""

from flask import Blueprint, flash, render_template, request, url_for
from flask_login import current_user, login_required

from .. import access, messages
from ..errors import DomainError
from ..extensions import db
from ..manage.pages import edit_page
from ..models import User
from ..users.operations import remove_from_classroom
from ..web import asks_first, back, is_htmx, safe_next
from . import operations
from .forms import RemoveJoinedForm
from .pages import guard_context

bp = Blueprint("approval", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def _answer(code, scope, done=None, error=None, category="success"):
    """htmx swaps the code's approval section in place; a plain post goes back
    to the code's page. Either way what was done is said among the messages."""
    if done:
        flash(done, category)
    if is_htmx():
        return render_template(
            "approval/_guard.html",
            code=code,
            scope=scope,
            next=safe_next(request.form.get("next")) or "",
            **guard_context(scope, code, error),
        )
    if error:
        flash(error, "error")
    return back(url_for("manage.edit", code_id=code.id))


def _refused(code, scope, error):
    """A form of the section refused: beside the section, in place for htmx
    (200, as htmx swaps only 2xx), on the code's page for a plain post (422)."""
    if is_htmx():
        return _answer(code, scope, error=error)
    return edit_page(code, scope, status=422, guard_error=error)


@bp.post("/requests/<int:request_id>/accept")
def accept(request_id):
    join_request, code, scope = access.join_request_for_staff(current_user, request_id)
    person = db.session.get(User, join_request.user_id)
    decision = operations.accept(current_user, join_request)
    db.session.commit()
    return _answer(code, scope, messages.request_answered(decision, person))


@bp.post("/requests/<int:request_id>/decline")
def decline(request_id):
    join_request, code, scope = access.join_request_for_staff(current_user, request_id)
    person = db.session.get(User, join_request.user_id)
    if (asked := asks_first("decline_request", person=person.name, code=code.text)) is not None:
        return asked
    decision = operations.decline(current_user, join_request)
    db.session.commit()
    return _answer(code, scope, messages.request_answered(decision, person))


@bp.post("/codes/<int:code_id>/requests/accept-all")
def accept_all(code_id):
    return _answer_all(code_id, "accept_all_requests", operations.accept_all)


@bp.post("/codes/<int:code_id>/requests/decline-all")
def decline_all(code_id):
    return _answer_all(code_id, "decline_all_requests", operations.decline_all)


def _answer_all(code_id, question, answer):
    """Accept or decline every request waiting for a code, asked first with how many."""
    code, scope = access.code_for_staff(current_user, code_id)
    count = operations.pending_counts([code.id]).get(code.id, 0)
    if (asked := asks_first(question, count=count, code=code.text)) is not None:
        return asked
    decisions = answer(current_user, code)
    db.session.commit()
    return _answer(code, scope, messages.requests_answered(decisions))


@bp.post("/codes/<int:code_id>/rotate")
def rotate(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    if (asked := asks_first("rotate_code", code=code.text)) is not None:
        return asked
    old_text = code.text
    try:
        operations.rotate(current_user, code)
    except DomainError as e:
        db.session.rollback()
        return _answer(code, scope, error=e.message)
    db.session.commit()
    return _answer(code, scope, messages.code_rotated(code, old_text))


@bp.post("/codes/<int:code_id>/spike/dismiss")
def dismiss(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    operations.dismiss_spike(current_user, code)
    db.session.commit()
    return _answer(code, scope, messages.spike_dismissed(code), category="info")


@bp.post("/codes/<int:code_id>/joined/remove")
def remove_joined(code_id):
    """The ordinary removal (codes.users.operations.remove_from_classroom), from
    the list of who joined through the code since its spike, answered there."""
    code, scope = access.code_for_staff(current_user, code_id)
    form = RemoveJoinedForm()
    if not form.validate_on_submit():
        return _refused(code, scope, next(m for ms in form.errors.values() for m in ms))
    person = access.person_in_scope_or_404(scope, form.user_id.data)
    classroom = access.classroom_in_scope_or_404(scope, form.classroom_id.data)
    if (asked := asks_first("remove_member", person=person.name, classroom=classroom.name)) is not None:
        return asked
    try:
        remove_from_classroom(current_user, scope, person, classroom)
    except DomainError as e:
        db.session.rollback()
        return _refused(code, scope, e.message)
    db.session.commit()
    return _answer(code, scope, messages.removed(person, classroom))
