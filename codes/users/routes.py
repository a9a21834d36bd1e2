"""The users tab: an organization's people, searchable and paged; moving and
removing students between classrooms; and the roster upload."""

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, flash, render_template, request, stream_with_context
from flask_login import current_user, login_required

from .. import access, csvfile, mail, messages
from ..auth.operations import password_reset_token
from ..errors import DomainError
from ..extensions import db
from ..invitations.operations import open_for_org as open_invitations
from ..invitations.operations import send as send_invitation
from ..listing import Cursor
from ..models import utcnow
from ..numbers import query_id
from ..seats import operations as seats
from ..timeutil import to_local
from ..urls import public_url, url_for_each
from ..web import asks_first, is_htmx, page_or_fragment, see_other
from . import operations, roster
from . import person as people
from .forms import MoveForm, RemoveForm, RosterForm

bp = Blueprint("users", __name__)


@bp.app_template_global()
def person_row_urls(org_id: int, args: dict[str, Any]) -> dict[str, Callable[[int], str]]:
    """The addresses each row of the people list links to, by the person's id
    (`args`: the list's search, classroom and page, kept by a move or a removal):
    built once for a page of rows (users/_people.html), or for one row alone."""
    return {
        "person": url_for_each("users.person", "user_id", org_id=org_id),
        "remove": url_for_each("users.remove", "user_id", org_id=org_id, **args),
        "move": url_for_each("users.move", "user_id", org_id=org_id, **args),
    }


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def _listing_args():
    """The listing being looked at (search, classroom, where its page starts:
    after or before a person, or at the end). Actions carry it in their query
    string, so a person comes back to the same list."""
    args = {}
    search = request.args.get("q", "")[: operations.MAX_SEARCH].strip()
    if search:
        args["q"] = search
    classroom_id = request.args.get("classroom", type=query_id)
    if classroom_id is not None:
        args["classroom"] = classroom_id
    for name in ("after", "before"):
        person_id = request.args.get(name, type=query_id)
        if person_id is not None:
            args[name] = person_id
    if request.args.get("last") == "1":
        args["last"] = 1
    return args


def _context(org, scope):
    args = _listing_args()
    classroom = None
    if "classroom" in args:
        classroom = access.classroom_in_scope_or_404(scope, args["classroom"])
    cursor = Cursor(after=args.get("after"), before=args.get("before"), last="last" in args)
    people = operations.list_people(scope, args.get("q", ""), classroom, cursor)
    invited = open_invitations(org) if scope.admin else []
    # The list without where its page starts: what the pager's links start from.
    listing = {name: value for name, value in args.items() if name in ("q", "classroom")}
    return dict(
        org=org,
        scope=scope,
        people=people,
        args=args,
        listing=listing,
        invited=invited,
        targets=scope.manageable_classrooms(),
    )


@bp.get("/orgs/<int:org_id>/users")
def index(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    return page_or_fragment("users/index.html", "users/_people.html", **_context(org, scope))


@bp.get("/orgs/<int:org_id>/users/<int:user_id>")
def person(org_id, user_id):
    """One person, in detail, within the viewer's scope."""
    org, scope = access.org_for_staff(current_user, org_id)
    detail = people.person_detail(scope, access.person_in_scope_or_404(scope, user_id))
    return render_template("users/person.html", org=org, scope=scope, detail=detail)


@bp.get("/orgs/<int:org_id>/users/<int:user_id>/export.csv")
def person_export(org_id, user_id):
    """The person page as CSV: the same rows, within the same scope."""
    org, scope = access.org_for_staff(current_user, org_id)
    detail = people.person_detail(scope, access.person_in_scope_or_404(scope, user_id))
    chunks = csvfile.chunks(people.CSV_HEADER, people.csv_rows(scope, detail))
    name = f"person-{user_id}-{to_local(org, utcnow()).date().isoformat()}.csv"
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _row(org, scope, person, row_error=None):
    return render_template(
        "users/_person_row.html",
        org=org,
        scope=scope,
        row=operations.person_rows(scope, [person])[0],
        args=_listing_args(),
        targets=scope.manageable_classrooms(),
        row_error=row_error,
    )


def _changed(org, scope, person, message):
    """htmx swaps the person's row (or drops it, if the change took them out of
    the scope); a plain post goes back to the list it came from. Both say what
    was done."""
    flash(message, "success")
    if is_htmx():
        return _row(org, scope, person) if scope.can_see_person(person.id) else ""
    return see_other("users.index", org_id=org.id, **_listing_args())


def _refused(org, scope, person, message):
    if is_htmx():
        return _row(org, scope, person, row_error=message)
    return page_or_fragment(
        "users/index.html", "users/_people.html", 422, page_error=message, **_context(org, scope)
    )


def _first_error(form):
    return next(message for messages in form.errors.values() for message in messages)


@bp.post("/orgs/<int:org_id>/users/<int:user_id>/move")
def move(org_id, user_id):
    org, scope = access.org_for_staff(current_user, org_id)
    person = access.person_in_scope_or_404(scope, user_id)
    form = MoveForm()
    if not form.validate_on_submit():
        return _refused(org, scope, person, _first_error(form))
    target = access.classroom_in_scope_or_404(scope, form.to_classroom_id.data)
    source = None
    if form.from_classroom_id.data is not None:
        source = access.classroom_in_scope_or_404(scope, form.from_classroom_id.data)
    try:
        if source is None:
            operations.place_student(current_user, scope, person, target)
        else:
            operations.move_student(current_user, scope, person, source, target)
    except DomainError as e:
        db.session.rollback()
        return _refused(org, scope, person, e.message)
    said = messages.placed(person, target) if source is None else messages.moved(person, source, target)
    db.session.commit()
    return _changed(org, scope, person, said)


@bp.post("/orgs/<int:org_id>/users/<int:user_id>/remove")
def remove(org_id, user_id):
    org, scope = access.org_for_staff(current_user, org_id)
    person = access.person_in_scope_or_404(scope, user_id)
    form = RemoveForm()
    if not form.validate_on_submit():
        return _refused(org, scope, person, _first_error(form))
    classroom = access.classroom_in_scope_or_404(scope, form.classroom_id.data)
    if (asked := asks_first("remove_member", person=person.name, classroom=classroom.name)) is not None:
        return asked
    try:
        operations.remove_from_classroom(current_user, scope, person, classroom)
    except DomainError as e:
        db.session.rollback()
        return _refused(org, scope, person, e.message)
    db.session.commit()
    return _changed(org, scope, person, messages.removed(person, classroom))


def _mail_roster(org, result):
    """Queued in the roster's transaction: new accounts get a link to set their
    password, and invited people their invitation."""
    secret = current_app.config["SECRET_KEY"]
    for user in result.new_accounts:
        token = password_reset_token(secret, user, welcome=True)
        link = public_url("auth.reset_password", token=token)
        mail.queue_limited(
            user.email,
            f"Your account for {org.name}",
            (
                f"Hello {user.name},\n\n{org.name} made you an account on Codes. Set your password "
                f"by opening this link within 14 days:\n{link}\n"
            ),
            per_address=False,
            org=org,
        )
    for invitation in result.invitations:
        send_invitation(invitation)


def _roster_page(org, scope, form, problems=(), status=200):
    return render_template(
        "users/roster.html",
        org=org,
        scope=scope,
        form=form,
        problems=problems,
        limits=roster,
        seats=seats.summary(org),
    ), status


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
            result = roster.upload_roster(
                current_user, org, form.roster.data.read(roster.MAX_ROSTER_BYTES + 1)
            )
        except roster.RosterRefused as refused:
            db.session.rollback()
            problems = refused.problems
        else:
            _mail_roster(org, result)
            db.session.commit()
            flash(result.summary, "success")
            return see_other("users.index", org_id=org.id)
    return _roster_page(org, scope, form, problems, 422)
