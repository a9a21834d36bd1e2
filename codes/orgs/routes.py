"""The organization tree: the organization, its classrooms and courses, and who
teaches or leads them."""
from flask import Blueprint, flash, render_template
from flask_login import current_user, login_required

from .. import access
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..joincodes.forms import JoinCodeForm
from ..seats import operations as seat_operations
from ..seats.forms import AllotmentForm
from ..web import apply_errors, see_other
from . import operations
from .forms import CoursesForm, EmailForm, NameForm, OrganizationForm, PersonForm

bp = Blueprint("orgs", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def _org_page(org, scope, status=200, **forms):
    people = operations.organization_staff(org) if scope.admin else []
    settings = forms.pop("settings", None) or OrganizationForm(obj=org)
    return render_template(
        "orgs/org.html", org=org, scope=scope, people=people, settings=settings,
        seats=seat_operations.summary(org),
        classroom_form=forms.pop("classroom_form", None) or NameForm(prefix="classroom"),
        course_form=forms.pop("course_form", None) or NameForm(prefix="course"),
        person_form=forms.pop("person_form", None) or EmailForm(prefix="person"),
    ), status


@bp.get("/orgs")
def index():
    return render_template("orgs/index.html", orgs=access.staff_organizations(current_user),
                           form=OrganizationForm())


@bp.post("/orgs")
def create():
    form = OrganizationForm()
    if form.validate_on_submit():
        try:
            org = operations.create_organization(
                current_user, form.name.data, form.timezone.data, form.seat_limit.data,
                form.default_code_days.data)
        except FieldErrors as e:
            apply_errors(form, e)
        else:
            db.session.commit()
            return see_other("orgs.show", org_id=org.id)
    return render_template("orgs/index.html", orgs=access.staff_organizations(current_user),
                           form=form), 422


@bp.get("/orgs/<int:org_id>")
def show(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    return _org_page(org, scope)


@bp.post("/orgs/<int:org_id>/settings")
def settings(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    form = OrganizationForm()
    if form.validate_on_submit():
        try:
            operations.update_organization(current_user, org, form.name.data, form.timezone.data,
                                           form.seat_limit.data, form.default_code_days.data)
        except FieldErrors as e:
            db.session.rollback()
            apply_errors(form, e)
        else:
            db.session.commit()
            flash("Settings saved.", "info")
            return see_other("orgs.show", org_id=org.id)
    return _org_page(org, scope, 422, settings=form)


@bp.post("/orgs/<int:org_id>/classrooms")
def create_classroom(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    form = NameForm(prefix="classroom")
    if form.validate_on_submit():
        classroom = operations.create_classroom(current_user, org, form.name.data)
        db.session.commit()
        return see_other("orgs.classroom", classroom_id=classroom.id)
    return _org_page(org, scope, 422, classroom_form=form)


@bp.post("/orgs/<int:org_id>/courses")
def create_course(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    form = NameForm(prefix="course")
    if form.validate_on_submit():
        course = operations.create_course(current_user, org, form.name.data)
        db.session.commit()
        return see_other("orgs.course", course_id=course.id)
    return _org_page(org, scope, 422, course_form=form)


@bp.post("/orgs/<int:org_id>/people")
def add_person(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    form = EmailForm(prefix="person")
    if form.validate_on_submit():
        try:
            user = operations.add_staff_member(current_user, org, form.email.data)
        except FieldErrors as e:
            apply_errors(form, e)
        else:
            db.session.commit()
            flash(f"{user.name} is now one of {org.name}'s people.", "info")
            return see_other("orgs.show", org_id=org.id)
    return _org_page(org, scope, 422, person_form=form)


def classroom_page(classroom, scope, tab, status=200, **context):
    return render_template(f"orgs/classroom_{tab}.html", classroom=classroom, org=classroom.organization,
                           scope=scope, tab=tab, **context), status


def _classroom_admin_forms(classroom, **forms):
    org = classroom.organization
    courses_form = forms.get("courses_form") or CoursesForm(
        course_ids=[c.id for c in classroom.courses])
    courses_form.course_ids.choices = [(c.id, c.name) for c in org.courses]
    leader_form = forms.get("leader_form") or PersonForm()
    leader_form.user_id.choices = [(u.id, f"{u.name} ({u.email})")
                                   for u in operations.organization_people(org)]
    rename_form = forms.get("rename_form") or NameForm(obj=classroom)
    allotment_form = forms.get("allotment_form") or AllotmentForm(obj=classroom)
    return {"courses_form": courses_form, "leader_form": leader_form, "rename_form": rename_form,
            "allotment_form": allotment_form}


def settings_tab_refused(classroom, scope, **forms):
    """The classroom's settings tab again, with one form's errors beside its fields."""
    return classroom_page(classroom, scope, "settings", 422,
                          **_classroom_admin_forms(classroom, **forms))


@bp.get("/classrooms/<int:classroom_id>")
def classroom(classroom_id):
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    return classroom_page(classroom, scope, "members", join_form=JoinCodeForm(formdata=None))


@bp.get("/classrooms/<int:classroom_id>/settings")
def classroom_settings(classroom_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    return classroom_page(classroom, scope, "settings", **_classroom_admin_forms(classroom))


@bp.post("/classrooms/<int:classroom_id>/rename")
def rename_classroom(classroom_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    form = NameForm()
    if form.validate_on_submit():
        operations.rename_classroom(current_user, classroom, form.name.data)
        db.session.commit()
        return see_other("orgs.classroom_settings", classroom_id=classroom.id)
    return settings_tab_refused(classroom, scope, rename_form=form)


@bp.post("/classrooms/<int:classroom_id>/courses")
def classroom_courses(classroom_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    form = CoursesForm()
    if form.validate_on_submit():
        try:
            operations.set_classroom_courses(current_user, classroom, form.course_ids.data)
        except DomainError as e:
            db.session.rollback()
            apply_errors(form, e)
        else:
            db.session.commit()
            flash("Courses saved.", "info")
            return see_other("orgs.classroom_settings", classroom_id=classroom.id)
    return settings_tab_refused(classroom, scope, courses_form=form)


@bp.post("/classrooms/<int:classroom_id>/leaders")
def add_leader(classroom_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    form = PersonForm()
    if form.validate_on_submit():
        try:
            operations.add_leader(current_user, classroom, form.user_id.data)
        except FieldErrors as e:
            apply_errors(form, e)
        else:
            db.session.commit()
            return see_other("orgs.classroom_settings", classroom_id=classroom.id)
    return settings_tab_refused(classroom, scope, leader_form=form)


@bp.post("/classrooms/<int:classroom_id>/leaders/<int:user_id>/remove")
def remove_leader(classroom_id, user_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    operations.remove_leader(current_user, classroom, user_id)
    db.session.commit()
    return see_other("orgs.classroom_settings", classroom_id=classroom.id)


@bp.post("/classrooms/<int:classroom_id>/delete")
def delete_classroom(classroom_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    org_id, name = classroom.org_id, classroom.name
    operations.delete_classroom(current_user, classroom)
    db.session.commit()
    flash(f"Classroom {name} deleted. Its people stay in the organization.", "info")
    return see_other("orgs.show", org_id=org_id)


def _course_page(course, scope, status=200, **forms):
    people = operations.organization_people(course.organization) if scope.admin else []
    instructor_form = forms.get("instructor_form") or PersonForm()
    instructor_form.user_id.choices = [(u.id, f"{u.name} ({u.email})") for u in people]
    return render_template(
        "orgs/course.html", course=course, org=course.organization, scope=scope, tab="members",
        instructor_form=instructor_form,
        rename_form=forms.get("rename_form") or NameForm(obj=course),
    ), status


@bp.get("/courses/<int:course_id>")
def course(course_id):
    course, scope = access.course_for_staff(current_user, course_id)
    return _course_page(course, scope)


@bp.post("/courses/<int:course_id>/rename")
def rename_course(course_id):
    course, scope = access.course_for_admin(current_user, course_id)
    form = NameForm()
    if form.validate_on_submit():
        operations.rename_course(current_user, course, form.name.data)
        db.session.commit()
        return see_other("orgs.course", course_id=course.id)
    return _course_page(course, scope, 422, rename_form=form)


@bp.post("/courses/<int:course_id>/instructors")
def add_instructor(course_id):
    course, scope = access.course_for_admin(current_user, course_id)
    form = PersonForm()
    if form.validate_on_submit():
        try:
            operations.add_instructor(current_user, course, form.user_id.data)
        except FieldErrors as e:
            apply_errors(form, e)
        else:
            db.session.commit()
            return see_other("orgs.course", course_id=course.id)
    return _course_page(course, scope, 422, instructor_form=form)


@bp.post("/courses/<int:course_id>/instructors/<int:user_id>/remove")
def remove_instructor(course_id, user_id):
    course, scope = access.course_for_admin(current_user, course_id)
    operations.remove_instructor(current_user, course, user_id)
    db.session.commit()
    return see_other("orgs.course", course_id=course.id)


@bp.post("/courses/<int:course_id>/delete")
def delete_course(course_id):
    course, scope = access.course_for_admin(current_user, course_id)
    org_id, name = course.org_id, course.name
    operations.delete_course(current_user, course)
    db.session.commit()
    flash(f"Course {name} deleted.", "info")
    return see_other("orgs.show", org_id=org_id)
