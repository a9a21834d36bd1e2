"""Parents: the parents' page and its code box, a student's parent codes on
their profile, a classroom's parent-visibility switch and parent letters, and
an organization's parent links for its admins."""
import re

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import access, mail
from ..codetext import MAX_TYPED
from ..errors import DomainError
from ..extensions import db
from ..models import ParentLink
from ..redeem.routes import limits as code_limits
from ..timeutil import format_local
from ..web import back, form_status, is_htmx, page_or_fragment, see_other
from . import letters, operations
from .forms import ParentCodeForm

bp = Blueprint("parents", __name__)
# Whether the letters' hint may promise an emailed copy.
bp.add_app_template_global(mail.configured, "mail_configured")


@bp.app_template_global()
def parent_code_panel(student):
    """What the profile's parent-code panel shows. The profile page belongs to
    the redeem area; the panel loads its own data so that page needs none."""
    return {
        "student": access.is_student(student),
        "codes": operations.active_codes(student),
        "parents": operations.linked_parents(student),
        "zone": operations.home_org(student),
        "limit": operations.MAX_ACTIVE,
    }


@bp.app_template_global()
def parent_link_url(parent_code):
    """The link a parent opens to enter this parent code, as letters print it."""
    return url_for("parents.link_form", code=parent_code.text, _external=True)


# -- the parents' page ---------------------------------------------------------

def _parents_page(form, result=None, status=200):
    students = [(s, access.shown_to_parents(s)) for s in access.linked_students(current_user)]
    return page_or_fragment("parents/index.html", "parents/_link.html", status,
                            form=form, result=result, students=students)


@bp.get("/parents")
@login_required
def index():
    # The letter's link brings the code along to fill in.
    return _parents_page(ParentCodeForm(formdata=None,
                                        code=request.args.get("code", "")[:MAX_TYPED]))


@bp.get("/parents/link")
def link_form():
    """The letter's link: the parents' page with the code filled in; someone not
    logged in signs up first (or logs in from there) and comes back here."""
    if current_user.is_authenticated:
        response = redirect(url_for("parents.index", code=request.args.get("code", "")[:MAX_TYPED]))
    else:
        response = redirect(url_for("auth.signup", next=request.full_path))
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
        result = operations.attempt_link(current_user, form.code.data, code_limits())
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
    return render_template("parents/student.html", student=student,
                           shared=access.shown_to_parents(student))


# -- a student's parent codes ----------------------------------------------------

def _panel_or_profile(message, made=None, category="success"):
    if is_htmx():
        return render_template("parents/_codes.html", made=made, message=message,
                               category=category)
    flash(message, category)
    return redirect(url_for("redeem.profile") + "#parent-codes", code=303)


@bp.post("/profile/parent-codes")
@login_required
def make_code():
    """Always for the person logged in: nothing in the request names a student."""
    try:
        made = operations.make_parent_code(current_user, current_user)
    except DomainError as error:
        db.session.rollback()
        return _panel_or_profile(error.message, category="error")
    db.session.commit()
    return _panel_or_profile(
        f"Your new parent code is {made.text}. Give it to your parent or guardian: it works "
        f"once, for 14 days.", made)


@bp.post("/profile/parent-codes/<int:parent_code_id>/cancel")
@login_required
def cancel_code(parent_code_id):
    parent_code = access.own_parent_code_or_404(current_user, parent_code_id)
    operations.cancel_parent_code(current_user, parent_code)
    db.session.commit()
    return _panel_or_profile(f"The parent code {parent_code.text} no longer works.")


# -- a classroom's switch and letters ----------------------------------------------

@bp.post("/classrooms/<int:classroom_id>/parents-can-see")
@login_required
def visibility(classroom_id):
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    operations.set_parents_can_see(current_user, classroom, request.form.get("on") == "1")
    db.session.commit()
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
    sheets = [letters.Letter(student.name, code.text, parent_link_url(code), expires)
              for student, code in made]
    org_name, room_name = org.name, classroom.name
    teacher_name, teacher_email = current_user.name, current_user.email
    # Committed before the PDF is drawn (about 25 ms a page) and the mail sent: no
    # lock is held meanwhile.
    db.session.commit()
    pdf = letters.build_pdf(org_name, room_name, sheets)
    filename = f"parent-letters-{_slug(room_name)}.pdf"
    students = f"{len(sheets)} student" if len(sheets) == 1 else f"{len(sheets)} students"
    sent = mail.send(
        teacher_email, f"Parent letters for {room_name}",
        f"Hello {teacher_name},\n\n"
        f"Attached are the parent letters for the {students} of {room_name} ({org_name}): "
        f"one page per student, with a parent code, its link, a QR code and instructions. "
        f"Each code links one parent, once, until {expires}.\n\n"
        f"Print them and give each student their own page.\n",
        [mail.Attachment(filename, "application/pdf", pdf)],
    )
    if mail.configured() and not sent:
        flash(f"The letters could not be emailed to {teacher_email}; the download has them "
              f"all.", "warning")
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
        access.org_parent_links(scope)
        .order_by(ParentLink.revoked_at.is_not(None), ParentLink.created_at.desc(),
                  ParentLink.id.desc())
    ).all()
    return render_template("parents/org_links.html", org=org, scope=scope, links=links,
                           section="parents", here=request.path)


@bp.post("/orgs/<int:org_id>/parents/<int:link_id>/revoke")
@login_required
def revoke(org_id, link_id):
    org, scope = access.org_for_admin(current_user, org_id)
    link = access.parent_link_for_admin_or_404(scope, link_id)
    operations.revoke_link(current_user, org, link)
    db.session.commit()
    if is_htmx():
        return render_template("parents/_link_row.html", org=org, link=link)
    flash(f"{link.parent.name} is no longer linked to {link.student.name}.", "info")
    return back(url_for("parents.org_links", org_id=org.id))
