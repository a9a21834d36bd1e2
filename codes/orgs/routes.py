"""The organization tree: the organization, its classrooms and courses, and who
teaches or leads them."""

from flask import Blueprint, flash, render_template, request
from flask_login import current_user, login_required

from .. import access, messages
from ..extensions import db
from ..invitations.operations import open_for_org as open_invitations
from ..invitations.operations import send as send_invitation
from ..joincodes.forms import JoinCodeForm
from ..links.website import WebsiteForm, website_snippet
from ..seats import operations as seat_operations
from ..seats.forecast import seat_forecast
from ..timeutil import format_local
from ..web import asks_first, form_status, is_htmx, page_or_fragment, save, see_other
from . import operations
from .forms import CoursesForm, EmailForm, NameForm, OrganizationForm, PersonForm
from .pages import classroom_admin_forms, classroom_page, picker, settings_part, settings_tab_refused

bp = Blueprint("orgs", __name__)


@bp.app_template_global()
def shows_organizations(scope=None):
    """Whether the navigation leads to the organizations: for staff only
    (access.manages_any, told the page's scope when it has one); anyone else
    may make one from their profile."""
    return access.manages_any(current_user, scope)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


# A page of several forms, drawn again after one of them was refused, shows that
# one as it was sent and every other one as it is saved (formdata=None): left to
# Flask-WTF, they too were filled from the refused post, which lacks their
# fields, and a classroom's courses were drawn unticked, then saved so.
def _org_page(org, scope, status=200, **forms):
    people = operations.organization_staff(org) if scope.admin else []
    invited = [i for i in open_invitations(org) if i.classroom_id is None] if scope.admin else []
    settings = forms.pop("settings", None) or OrganizationForm(formdata=None, obj=org)
    return render_template(
        "orgs/org.html",
        org=org,
        scope=scope,
        people=people,
        invited=invited,
        settings=settings,
        seats=seat_operations.summary(org),
        **_forecast(org, scope),
        classroom_form=forms.pop("classroom_form", None) or NameForm(formdata=None, prefix="classroom"),
        course_form=forms.pop("course_form", None) or NameForm(formdata=None, prefix="course"),
        person_form=forms.pop("person_form", None) or EmailForm(formdata=None, prefix="person"),
        **(_website(WebsiteForm()) if scope.admin else {}),
    ), status


def _forecast(org, scope):
    """The seat forecast and its words, for an organization with a seat limit."""
    forecast = seat_forecast(org)
    if forecast is None:
        return {"forecast": None}
    day = format_local(org, forecast.runs_out_at, with_time=False) if forecast.runs_out_at else ""
    return {
        "forecast": forecast,
        "forecast_said": messages.seat_forecast(forecast, day),
        "forecast_warning": messages.seat_forecast_warning(forecast, scope.admin) if forecast.warn else "",
    }


def _website(form):
    """The website code box's choices and the snippet they make; refused
    choices show the default snippet, with their messages beside the fields."""
    chosen = form if form.validate() else WebsiteForm()
    return {"website": form, "snippet": website_snippet(chosen.button.data, chosen.opens.data)}


@bp.get("/orgs")
def index():
    return render_template("orgs/index.html", places=access.workplaces(current_user), form=OrganizationForm())


@bp.post("/orgs")
def create():
    form = OrganizationForm()
    made = save(
        form,
        lambda: operations.create_organization(
            current_user,
            form.name.data,
            form.timezone.data,
            form.seat_limit.data,
            form.default_code_days.data,
        ),
    )
    if made:
        return see_other("orgs.show", org_id=made.value.id)
    return render_template("orgs/index.html", places=access.workplaces(current_user), form=form), 422


@bp.get("/orgs/<int:org_id>")
def show(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    return _org_page(org, scope)


@bp.get("/orgs/<int:org_id>/website")
def website(org_id):
    """The code box for the school's website, with the button and the tab the
    admin chose (a GET: choosing saves nothing)."""
    org, scope = access.org_for_admin(current_user, org_id)
    form = WebsiteForm(request.args)
    shown = _website(form)
    status = form_status() if form.errors else 200
    return page_or_fragment("orgs/website.html", "orgs/_website.html", status, org=org, scope=scope, **shown)


@bp.post("/orgs/<int:org_id>/settings")
def settings(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    form = OrganizationForm()
    if save(
        form,
        lambda: operations.update_organization(
            current_user,
            org,
            form.name.data,
            form.timezone.data,
            form.seat_limit.data,
            form.default_code_days.data,
        ),
    ):
        flash(messages.settings_saved(), "info")
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


def _invite(org, email):
    """The invitation and its mail, queued in the same transaction."""
    invitation = operations.invite_person(current_user, org, email)
    send_invitation(invitation)
    return invitation


@bp.post("/orgs/<int:org_id>/people")
def add_person(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    form = EmailForm(prefix="person")
    if made := save(form, lambda: _invite(org, form.email.data)):
        flash(messages.person_invited(made.value, org), "info")
        return see_other("orgs.show", org_id=org.id)
    return _org_page(org, scope, 422, person_form=form)


@bp.get("/classrooms/<int:classroom_id>")
def classroom(classroom_id):
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    return classroom_page(classroom, scope, "members", join_form=JoinCodeForm(formdata=None))


@bp.get("/classrooms/<int:classroom_id>/settings")
def classroom_settings(classroom_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    return classroom_page(
        classroom, scope, "settings", **classroom_admin_forms(classroom, request.args.get("person"))
    )


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
    if save(form, lambda: operations.set_classroom_courses(current_user, classroom, form.course_ids.data)):
        flash(messages.courses_saved(classroom, classroom.courses), "success")
        if is_htmx():
            return settings_part(classroom, scope, "courses")
        return see_other("orgs.classroom_settings", classroom_id=classroom.id)
    if is_htmx():
        return settings_part(classroom, scope, "courses", courses_form=form)
    return settings_tab_refused(classroom, scope, courses_form=form)


@bp.post("/classrooms/<int:classroom_id>/leaders")
def add_leader(classroom_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    form = PersonForm()
    if made := save(form, lambda: operations.add_leader(current_user, classroom, form.user_id.data)):
        leader, added = made.value
        flash(messages.leader_added(leader, classroom, added), "success" if added else "info")
        if is_htmx():
            return settings_part(classroom, scope, "leaders")
        return see_other("orgs.classroom_settings", classroom_id=classroom.id)
    if is_htmx():
        return settings_part(classroom, scope, "leaders", leader_form=form)
    return settings_tab_refused(classroom, scope, leader_form=form)


@bp.post("/classrooms/<int:classroom_id>/leaders/<int:user_id>/remove")
def remove_leader(classroom_id, user_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    removed = operations.remove_leader(current_user, classroom, user_id)
    said = removed and messages.leader_removed(removed, classroom)
    db.session.commit()
    if said:
        flash(said, "success")
    return see_other("orgs.classroom_settings", classroom_id=classroom.id)


@bp.post("/classrooms/<int:classroom_id>/delete")
def delete_classroom(classroom_id):
    classroom, scope = access.classroom_for_admin(current_user, classroom_id)
    if (asked := asks_first("delete_classroom", name=classroom.name)) is not None:
        return asked
    org_id, name = classroom.org_id, classroom.name
    operations.delete_classroom(current_user, classroom)
    db.session.commit()
    flash(messages.classroom_deleted(name), "info")
    return see_other("orgs.show", org_id=org_id)


def _course_page(course, scope, status=200, **forms):
    instructor_form = forms.get("instructor_form") or PersonForm(formdata=None)
    instructor_pick = (
        picker(
            course.organization,
            request.args.get("person"),
            {u.id for u in course.instructors},
            "teaches this course",
            instructor_form,
        )
        if scope.admin
        else None
    )
    return render_template(
        "orgs/course.html",
        course=course,
        org=course.organization,
        scope=scope,
        tab="members",
        instructor_form=instructor_form,
        instructor_pick=instructor_pick,
        rename_form=forms.get("rename_form") or NameForm(formdata=None, obj=course),
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
    if made := save(form, lambda: operations.add_instructor(current_user, course, form.user_id.data)):
        instructor, added = made.value
        flash(messages.instructor_added(instructor, course, added), "success" if added else "info")
        return see_other("orgs.course", course_id=course.id)
    return _course_page(course, scope, 422, instructor_form=form)


@bp.post("/courses/<int:course_id>/instructors/<int:user_id>/remove")
def remove_instructor(course_id, user_id):
    course, scope = access.course_for_admin(current_user, course_id)
    removed = operations.remove_instructor(current_user, course, user_id)
    said = removed and messages.instructor_removed(removed, course)
    db.session.commit()
    if said:
        flash(said, "success")
    return see_other("orgs.course", course_id=course.id)


@bp.post("/courses/<int:course_id>/delete")
def delete_course(course_id):
    course, scope = access.course_for_admin(current_user, course_id)
    if (asked := asks_first("delete_course", name=course.name)) is not None:
        return asked
    org_id, name = course.org_id, course.name
    operations.delete_course(current_user, course)
    db.session.commit()
    flash(messages.course_deleted(name), "info")
    return see_other("orgs.show", org_id=org_id)
