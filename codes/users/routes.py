"""The users tab: an organization's people, searchable and paged; moving and
removing students between classrooms; and the roster upload."""
from flask import Blueprint, flash, render_template, request
from flask_login import current_user, login_required

from .. import access
from ..errors import DomainError
from ..extensions import db
from ..seats import operations as seats
from ..web import is_htmx, page_or_fragment, see_other
from . import operations, roster
from .forms import MoveForm, RemoveForm, RosterForm

bp = Blueprint("users", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def _listing_args():
    """The listing being looked at (search, classroom, page). Actions carry it
    in their query string, so a person comes back to the same list."""
    args = {}
    search = request.args.get("q", "").strip()[:operations.MAX_SEARCH]
    if search:
        args["q"] = search
    classroom_id = request.args.get("classroom", type=int)
    if classroom_id:
        args["classroom"] = classroom_id
    page = request.args.get("page", type=int)
    if page and page > 1:
        args["page"] = page
    return args


def _context(org, scope):
    args = _listing_args()
    classroom = None
    if "classroom" in args:
        classroom = access.classroom_in_scope_or_404(scope, args["classroom"])
    people = operations.list_people(scope, args.get("q", ""), classroom, args.get("page", 1))
    return dict(org=org, scope=scope, people=people, args=args,
                targets=scope.manageable_classrooms())


@bp.get("/orgs/<int:org_id>/users")
def index(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    return page_or_fragment("users/index.html", "users/_people.html", **_context(org, scope))


def _row(org, scope, person, row_error=None):
    return render_template("users/_person_row.html", org=org, scope=scope,
                           row=operations.person_rows(scope, [person])[0], args=_listing_args(),
                           targets=scope.manageable_classrooms(), row_error=row_error)


def _changed(org, scope, person, message):
    """htmx swaps the person's row (or drops it, if the change took them out of
    the scope); a plain post goes back to the list it came from."""
    if is_htmx():
        return _row(org, scope, person) if scope.can_see_person(person.id) else ""
    flash(message, "info")
    return see_other("users.index", org_id=org.id, **_listing_args())


def _refused(org, scope, person, message):
    if is_htmx():
        return _row(org, scope, person, row_error=message)
    return page_or_fragment("users/index.html", "users/_people.html", 422,
                            page_error=message, **_context(org, scope))


def _first_error(form):
    return next(message for messages in form.errors.values() for message in messages)


@bp.post("/orgs/<int:org_id>/users/<int:user_id>/move")
def move(org_id, user_id):
    org, scope = access.org_for_staff(current_user, org_id)
    person = access.person_in_scope_or_404(scope, user_id)
    form = MoveForm()
    if not form.validate_on_submit():
        return _refused(org, scope, person, _first_error(form))
    source = access.classroom_in_scope_or_404(scope, form.from_classroom_id.data)
    target = access.classroom_in_scope_or_404(scope, form.to_classroom_id.data)
    try:
        operations.move_student(current_user, scope, person, source, target)
    except DomainError as e:
        db.session.rollback()
        return _refused(org, scope, person, e.message)
    db.session.commit()
    return _changed(org, scope, person, f"{person.name} moved from {source.name} to {target.name}.")


@bp.post("/orgs/<int:org_id>/users/<int:user_id>/remove")
def remove(org_id, user_id):
    org, scope = access.org_for_staff(current_user, org_id)
    person = access.person_in_scope_or_404(scope, user_id)
    form = RemoveForm()
    if not form.validate_on_submit():
        return _refused(org, scope, person, _first_error(form))
    classroom = access.classroom_in_scope_or_404(scope, form.classroom_id.data)
    try:
        operations.remove_from_classroom(current_user, scope, person, classroom)
    except DomainError as e:
        db.session.rollback()
        return _refused(org, scope, person, e.message)
    db.session.commit()
    return _changed(org, scope, person, f"{person.name} removed from {classroom.name}.")


def _roster_page(org, scope, form, problems=(), status=200):
    return render_template("users/roster.html", org=org, scope=scope, form=form,
                           problems=problems, limits=roster, seats=seats.summary(org)), status


@bp.get("/orgs/<int:org_id>/users/roster")
def roster_form(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    return _roster_page(org, scope, RosterForm(formdata=None))


@bp.post("/orgs/<int:org_id>/users/roster")
def upload_roster(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    form = RosterForm()
    problems = []
    if form.validate_on_submit():
        try:
            result = roster.upload_roster(current_user, org,
                                          form.roster.data.read(roster.MAX_ROSTER_BYTES + 1))
        except roster.RosterRefused as refused:
            db.session.rollback()
            problems = refused.problems
        else:
            db.session.commit()
            flash(result.summary, "success")
            return see_other("users.index", org_id=org.id)
    return _roster_page(org, scope, form, problems, 422)
