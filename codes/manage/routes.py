"""Staff create, edit, pause, deactivate and delete codes on a classroom's or a
course's Codes tab."""

from flask import Blueprint, flash, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import exists
from sqlalchemy.orm import selectinload

from .. import access, messages
from ..approval.operations import pending_counts
from ..errors import DomainError
from ..extensions import db
from ..models import Code, CodeClassroom, CodeCourse
from ..web import asks_first, back, is_htmx, safe_next, save
from . import operations
from .forms import CodeForm
from .pages import edit_page

bp = Blueprint("manage", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def _codes_of(scope, classroom=None, course=None):
    # What each row shows of its code, read for all the rows at once.
    query = (
        scope.visible_codes()
        .order_by(Code.created_at.desc(), Code.id.desc())
        .options(selectinload(Code.classrooms), selectinload(Code.courses), selectinload(Code.join_code_of))
    )
    if classroom is not None:
        query = query.where(
            exists().where(CodeClassroom.code_id == Code.id, CodeClassroom.classroom_id == classroom.id)
        )
    if course is not None:
        query = query.where(exists().where(CodeCourse.code_id == Code.id, CodeCourse.course_id == course.id))
    return db.session.scalars(query).all()


def _tab(scope, form, classroom=None, course=None, status=200, warning=None):
    org = scope.org
    form.set_choices(scope)
    codes = _codes_of(scope, classroom, course)
    context = dict(
        org=org,
        scope=scope,
        form=form,
        codes=codes,
        waiting=pending_counts([c.id for c in codes]),
        warning=warning,
        here=request.path,
    )
    if classroom is not None:
        context["form_action"] = url_for("manage.create_for_classroom", classroom_id=classroom.id)
        return render_template(
            "orgs/classroom_codes.html", classroom=classroom, tab="codes", **context
        ), status
    context["form_action"] = url_for("manage.create_for_course", course_id=course.id)
    return render_template("manage/course_codes.html", course=course, tab="codes", **context), status


def _create(scope, classroom=None, course=None):
    form = CodeForm()
    form.set_choices(scope)
    if made := save(form, lambda: operations.create_code(current_user, scope, form.to_input(scope.org))):
        code = made.value
        flash(messages.code_created(code), "info")
        warning = operations.weak_code_warning(code)
        if warning:
            flash(warning, "warning")
        return back(request.path)
    return _tab(scope, form, classroom, course, status=422)


@bp.get("/classrooms/<int:classroom_id>/codes")
def classroom_codes(classroom_id):
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    form = CodeForm(formdata=None)
    form.fill_defaults(scope.org, classroom_ids=[classroom.id])
    return _tab(scope, form, classroom=classroom)


@bp.post("/classrooms/<int:classroom_id>/codes")
def create_for_classroom(classroom_id):
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    return _create(scope, classroom=classroom)


@bp.get("/courses/<int:course_id>/codes")
def course_codes(course_id):
    course, scope = access.course_for_staff(current_user, course_id)
    form = CodeForm(formdata=None)
    form.fill_defaults(scope.org, course_ids=[course.id])
    return _tab(scope, form, course=course)


@bp.post("/courses/<int:course_id>/codes")
def create_for_course(course_id):
    course, scope = access.course_for_staff(current_user, course_id)
    return _create(scope, course=course)


@bp.get("/codes/<int:code_id>/edit")
def edit(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    return edit_page(code, scope)


@bp.post("/codes/<int:code_id>/edit")
def update(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    form = CodeForm()
    form.set_choices(scope)
    if save(form, lambda: operations.update_code(current_user, scope, code, form.to_input(scope.org))):
        flash(messages.code_saved(code), "info")
        warning = operations.weak_code_warning(code)
        if warning:
            flash(warning, "warning")
        return back(url_for("manage.edit", code_id=code.id))
    return edit_page(code, scope, form, 422)


def _row_or_back(code, scope, error=None, done=None):
    """htmx swaps the code's row in place; a plain post goes back to the page.
    Either way what was done (`done`) is said among the page's messages; an
    error stands in the row for htmx."""
    if done:
        flash(done, "success")
    if is_htmx():
        return render_template(
            "manage/_code_row.html",
            code=code,
            scope=scope,
            here=safe_next(request.form.get("next")) or "",
            row_error=error,
        )
    if error:
        flash(error, "error")
    return back(url_for("manage.edit", code_id=code.id))


@bp.post("/codes/<int:code_id>/toggle")
def toggle(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    try:
        operations.set_enabled(current_user, code, request.form.get("enabled") == "1")
    except DomainError as e:
        db.session.rollback()
        return _row_or_back(code, scope, e.message)
    db.session.commit()
    return _row_or_back(code, scope, done=messages.code_switched(code))


@bp.post("/codes/<int:code_id>/deactivate")
def deactivate(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    if (asked := asks_first("deactivate_code", code=code.text)) is not None:
        return asked
    operations.deactivate(current_user, code)
    db.session.commit()
    return _row_or_back(code, scope, done=messages.code_deactivated(code))


@bp.post("/codes/<int:code_id>/delete")
def delete(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    if (asked := asks_first("delete_code", code=code.text)) is not None:
        return asked
    text = code.text
    operations.delete_code(current_user, code)
    db.session.commit()
    flash(messages.code_deleted(text), "success")
    if is_htmx():
        return ""
    return back(url_for("orgs.show", org_id=scope.org.id))
