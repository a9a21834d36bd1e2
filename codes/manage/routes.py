"""Staff create, edit, pause, deactivate and delete codes on a classroom's or a
course's Codes tab."""
from flask import Blueprint, flash, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import exists

from .. import access
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..models import Code, CodeClassroom, CodeCourse
from ..web import apply_errors, back, is_htmx
from . import operations
from .forms import CodeForm

bp = Blueprint("manage", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def _codes_of(scope, classroom=None, course=None):
    query = scope.visible_codes().order_by(Code.created_at.desc(), Code.id.desc())
    if classroom is not None:
        query = query.where(exists().where(CodeClassroom.code_id == Code.id,
                                           CodeClassroom.classroom_id == classroom.id))
    if course is not None:
        query = query.where(exists().where(CodeCourse.code_id == Code.id,
                                           CodeCourse.course_id == course.id))
    return db.session.scalars(query).all()


def _tab(scope, form, classroom=None, course=None, status=200, warning=None):
    org = scope.org
    form.set_choices(scope)
    context = dict(org=org, scope=scope, form=form, codes=_codes_of(scope, classroom, course),
                   warning=warning, here=request.path)
    if classroom is not None:
        context["form_action"] = url_for("manage.create_for_classroom", classroom_id=classroom.id)
        return render_template("orgs/classroom_codes.html", classroom=classroom,
                               tab="codes", **context), status
    context["form_action"] = url_for("manage.create_for_course", course_id=course.id)
    return render_template("manage/course_codes.html", course=course, tab="codes",
                           **context), status


def _create(scope, classroom=None, course=None):
    form = CodeForm()
    form.set_choices(scope)
    if form.validate_on_submit():
        try:
            code = operations.create_code(current_user, scope, form.to_input(scope.org))
        except FieldErrors as e:
            db.session.rollback()
            apply_errors(form, e)
        else:
            db.session.commit()
            flash(f"Code {code.text} created.", "info")
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


def _edit_page(code, scope, form, status=200):
    form.set_choices(scope)
    return render_template("manage/code_edit.html", code=code, org=scope.org, scope=scope,
                           form=form, next=request.values.get("next", "")), status


@bp.get("/codes/<int:code_id>/edit")
def edit(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    form = CodeForm(formdata=None)
    form.fill_from(scope.org, code)
    return _edit_page(code, scope, form)


@bp.post("/codes/<int:code_id>/edit")
def update(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    form = CodeForm()
    form.set_choices(scope)
    if form.validate_on_submit():
        try:
            operations.update_code(current_user, scope, code, form.to_input(scope.org))
        except FieldErrors as e:
            db.session.rollback()
            apply_errors(form, e)
        else:
            db.session.commit()
            flash(f"Code {code.text} saved.", "info")
            warning = operations.weak_code_warning(code)
            if warning:
                flash(warning, "warning")
            return back(url_for("manage.edit", code_id=code.id))
    return _edit_page(code, scope, form, 422)


def _row_or_back(code, scope, error=None):
    """htmx swaps the code's row in place; a plain post goes back to the page."""
    if is_htmx():
        return render_template("manage/_code_row.html", code=code, scope=scope,
                               here=request.form.get("next", ""), row_error=error)
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
    return _row_or_back(code, scope)


@bp.post("/codes/<int:code_id>/deactivate")
def deactivate(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    operations.deactivate(current_user, code)
    db.session.commit()
    return _row_or_back(code, scope)


@bp.post("/codes/<int:code_id>/delete")
def delete(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    text = code.text
    operations.delete_code(current_user, code)
    db.session.commit()
    if is_htmx():
        return ""
    flash(f"Code {text} deleted.", "info")
    return back(url_for("orgs.show", org_id=scope.org.id))
