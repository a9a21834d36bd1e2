"""Parents: the parents' page and its code box, a student's parent codes on
their profile, a classroom's parent-visibility switch and parent letters, and
an organization's parent links for its admins."""

import re

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import access, mail, messages
from ..codetext import MAX_TYPED
from ..errors import DomainError
from ..extensions import db
from ..models import ParentLink
from ..timeutil import format_local
from ..urls import public_url
from ..web import asks_first, back, form_status, is_htmx, page_or_fragment, see_other
from . import letters, operations
from .forms import ParentCodeForm

bp = Blueprint("parents", __name__)
# Whether the letters' hint may promise an emailed copy.
bp.add_app_template_global(mail.configured, "mail_configured")


@bp.app_template_global()
def parent_code_panel(student):
    """What the profile's parent-code panel shows. The profile page belongs to
    the redeem area; the panel loads its own data so that page needs none."""
    orgs = operations.student_organizations(student)
    return {
        "student": bool(orgs),
        "orgs": orgs,
        "codes": operations.active_codes(student),
        "parents": operations.linked_parents(student),
        "limit": operations.MAX_ACTIVE,
    }


@bp.app_template_global()
def parent_link_url(parent_code):
    """The link a parent opens to enter this parent code, as letters print it."""
    return public_url("parents.link_form", code=parent_code.text)


# -- the parents' page ---------------------------------------------------------


def _parents_page(form, result=None, status=200):
    students = [(s, access.shown_to_parent(current_user, s)) for s in access.linked_students(current_user)]
    return page_or_fragment(
        "parents/index.html", "parents/_link.html", status, form=form, result=result, students=students
    )


@bp.get("/parents")
@login_required
def index():
    # The letter's link brings the code along to fill in.
    return _parents_page(ParentCodeForm(formdata=None, code=request.args.get("code", "")[:MAX_TYPED]))


@bp.get("/parents/link")
def link_form():
    """The letter's link: the parents' page with the code filled in. Someone not
    logged in gets a page that starts from the code: sign up with it (the
    sign-up's code box links them when the sign-up is finished), or log in with
    it (which links them at once)."""
    code = request.args.get("code", "")[:MAX_TYPED]
    if current_user.is_authenticated:
        response = redirect(url_for("parents.index", code=code))
    else:
        # A page of its own, which starts from the code: sign up with it, or log in with it.
        response = make_response(render_template("parents/start.html", code=code, back=request.full_path))
    # Where it leads depends on who is logged in.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/parents/link")
@login_required
def link():
    form = ParentCodeForm()
    if not form.validate_on_submit():
        return _parents_page(form, status=form_status())
    try:
        result = operations.attempt_link(current_user, form.code.data)
    except operations.LinkRefused as refusal:
        # The refusal left nothing but its audit event, which must be kept.
        db.session.commit()
        form.code.errors = [refusal.message]
        return _parents_page(form, status=form_status())
    db.session.commit()
    if is_htmx():
        return _parents_page(ParentCodeForm(formdata=None), result=result)
    flash(result.message, "success")
    return see_other("parents.index")


@bp.get("/parents/students/<int:user_id>")
@login_required
def student(user_id):
    student = access.student_for_parent_or_404(current_user, user_id)
    return render_template(
        "parents/student.html", student=student, shared=access.shown_to_parent(current_user, student)
    )


# -- a student's parent codes ----------------------------------------------------


def _panel_or_profile(message, made=None, category="success"):
    if is_htmx():
        return render_template("parents/_codes.html", made=made, message=message, category=category)
    flash(message, category)
    return redirect(url_for("redeem.profile") + "#parent-codes", code=303)


@bp.post("/profile/parent-codes")
@login_required
def make_code():
    """Always for the person logged in: nothing in the request names a student.
    The organization it is for comes from the form when they are a student of
    several; any other organization's id answers as a refusal beside it."""
    org_id = request.form.get("org_id", type=int)
    try:
        made = operations.make_parent_code(current_user, current_user, org_id=org_id)
    except DomainError as error:
        db.session.rollback()
        return _panel_or_profile(error.message, category="error")
    said = messages.parent_code_made(made, operations.retired_by(made), operations.MAX_ACTIVE)
    db.session.commit()
    return _panel_or_profile(said, made)


@bp.post("/profile/parent-codes/<int:parent_code_id>/cancel")
@login_required
def cancel_code(parent_code_id):
    parent_code = access.own_parent_code_or_404(current_user, parent_code_id)
    if (asked := asks_first("cancel_parent_code", code=parent_code.text)) is not None:
        return asked
    operations.cancel_parent_code(current_user, parent_code)
    db.session.commit()
    return _panel_or_profile(messages.parent_code_cancelled(parent_code))


# -- a classroom's switch and letters ----------------------------------------------


@bp.post("/classrooms/<int:classroom_id>/parents-can-see")
@login_required
def visibility(classroom_id):
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    operations.set_parents_can_see(current_user, classroom, request.form.get("on") == "1")
    db.session.commit()
    flash(messages.parents_can_see(classroom), "success")
    if is_htmx():
        return render_template("parents/_classroom.html", classroom=classroom, scope=scope)
    return see_other("orgs.classroom", classroom_id=classroom.id)


def _slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "classroom"


@bp.post("/classrooms/<int:classroom_id>/parent-letters")
@login_required
def parent_letters(classroom_id):
    """Fresh parent codes for the whole classroom, as a PDF that downloads at once
    and is also emailed to the teacher."""
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    org = classroom.organization
    try:
        made = operations.make_classroom_parent_codes(current_user, classroom)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return see_other("orgs.classroom", classroom_id=classroom.id)
    expires = format_local(org, made[0][1].expires_at)
    sheets = [
        letters.Letter(student.name, code.text, parent_link_url(code), expires) for student, code in made
    ]
    org_name, room_name = org.name, classroom.name
    teacher_email = current_user.email
    filename = f"parent-letters-{_slug(room_name)}.pdf"
    # The mail is queued in the transaction that makes the codes, and carries
    # what its PDF is drawn from: the worker draws it, the request draws only
    # the download, after the commit, holding no lock.
    mail.queue(
        teacher_email,
        *messages.parent_letters_mail(current_user.name, org_name, room_name, len(sheets), expires),
        org=org,
        attach=letters.attachment_of(filename, org_name, room_name, sheets),
    )
    db.session.commit()
    pdf = letters.build_pdf(org_name, room_name, sheets)
    if mail.configured():
        flash(messages.letters_on_their_way(teacher_email), "info")
    response = make_response(pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# -- an organization's parent links --------------------------------------------------


@bp.get("/orgs/<int:org_id>/parents")
@login_required
def org_links(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    links = db.session.scalars(
        access.org_parent_links(scope).order_by(
            ParentLink.revoked_at.is_not(None), ParentLink.created_at.desc(), ParentLink.id.desc()
        )
    ).all()
    return render_template(
        "parents/org_links.html", org=org, scope=scope, links=links, section="parents", here=request.path
    )


@bp.post("/orgs/<int:org_id>/parents/<int:link_id>/revoke")
@login_required
def revoke(org_id, link_id):
    org, scope = access.org_for_admin(current_user, org_id)
    link = access.parent_link_for_admin_or_404(scope, link_id)
    if (asked := asks_first("revoke_link", parent=link.parent.name, student=link.student.name)) is not None:
        return asked
    operations.revoke_link(current_user, org, link)
    db.session.commit()
    flash(messages.link_revoked(link), "success")
    if is_htmx():
        return render_template("parents/_link_row.html", org=org, link=link)
    return back(url_for("parents.org_links", org_id=org.id))
