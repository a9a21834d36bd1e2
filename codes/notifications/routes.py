"""A staff member's own notification settings (the organization's welcome
mail: its admins'), the one-click unsubscribe of the digest
mails, and the organization's deliveries given up, with Retry."""

from flask import Blueprint, abort, flash, make_response, render_template, request, url_for
from flask_login import current_user, login_required

from .. import access, jobs, messages
from ..errors import DomainError, FieldErrors
from ..extensions import csrf, db
from ..numbers import query_number
from ..web import MAX_ID, back, is_htmx, page_or_fragment, see_other
from . import alerts, choices, operations

bp = Blueprint("notifications", __name__)
bp.add_app_template_global(jobs.recipient, "job_recipient")
bp.add_app_template_global(jobs.subject, "job_subject")


@bp.app_template_global()
def said_retried(job):
    return messages.delivery_retried(jobs.recipient(job))


@bp.app_template_global()
def said_unsubscribed(link, rooms):
    if link.room_ids:
        return messages.unsubscribed_rooms(link.org.name, [room.name for room in rooms])
    return messages.unsubscribed(link.org.name, link.kind)


@bp.get("/orgs/<int:org_id>/deliveries")
@login_required
def deliveries(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    return render_template(
        "notifications/deliveries.html",
        org=org,
        scope=scope,
        failed=jobs.failed_for_org(org),
        section="deliveries",
        here=request.path,
    )


@bp.post("/orgs/<int:org_id>/deliveries/<int:job_id>/retry")
@login_required
def retry(org_id, job_id):
    org, scope = access.org_for_admin(current_user, org_id)
    job = access.job_for_admin_or_404(scope, job_id)
    try:
        jobs.retry(current_user, org, job)
    except DomainError as refusal:
        db.session.rollback()
        flash(refusal.message, "error")
    else:
        to = jobs.recipient(job)
        db.session.commit()
        flash(messages.delivery_retried(to), "info")
    if is_htmx():
        return render_template("notifications/_retried.html", job=job)
    return back(url_for("notifications.deliveries", org_id=org.id))


def _settings_page(org, scope, status=200, said=None, part=None, page=None, refused=None):
    """The notifications page, or (htmx) the one card `part` that changed.
    refused: a classroom's choices refused (choices.RoomChoice, the errors by
    field), shown beside its fields."""
    fragments = {
        "digest": "notifications/_digest.html",
        "alerts": "notifications/_alerts.html",
        "welcome": "notifications/_welcome.html",
        "rooms": "notifications/_rooms.html",
    }
    rooms = choices.room_page(scope, page) if scope.admin or scope.classroom_ids else None
    room_errors = {}
    if refused is not None and rooms is not None:
        row, errors = refused
        room_errors[row.room.id] = errors
        if all(r.room.id != row.room.id for r in rooms.rows):
            rooms.rows.insert(0, row)
    return page_or_fragment(
        "notifications/settings.html",
        fragments.get(part, "notifications/_digest.html"),
        status,
        org=org,
        scope=scope,
        digest=operations.wants_digest(current_user, org),
        alerts=alerts.wants_alerts(current_user, org),
        rooms=rooms,
        room_errors=room_errors,
        said=said,
        part=part,
        section="notifications",
    )


@bp.get("/orgs/<int:org_id>/notifications")
@login_required
def settings(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    # With htmx, only the pager of the classrooms asks: their card.
    return _settings_page(org, scope, part="rooms", page=request.args.get("page", 1, type=query_number))


def _answer(org, scope, part, said):
    if not is_htmx():
        flash(said, "success")
        return see_other("notifications.settings", org_id=org.id)
    return _settings_page(org, scope, said=said, part=part)


@bp.post("/orgs/<int:org_id>/notifications")
@login_required
def save_settings(org_id):
    return _save_choice(org_id, operations.DIGEST, "daily_digest", "digest", messages.digest_set)


@bp.post("/orgs/<int:org_id>/notifications/alerts")
@login_required
def save_alerts(org_id):
    return _save_choice(org_id, alerts.ALERTS, "alerts", "alerts", messages.alerts_set)


def _save_choice(org_id, kind, field, part, said):
    """One of the person's own choices of the organization's mail, any staff's."""
    org, scope = access.org_for_staff(current_user, org_id)
    on = request.form.get(field) == "1"
    operations.set_choice(current_user, org, kind, on)
    db.session.commit()
    return _answer(org, scope, part, said(on))


def _form_id(name):
    """An id a form names: a whole number in the ids' range, or 404 (it names nothing)."""
    text = request.form.get(name, "")
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID):
        abort(404)
    return int(text)


@bp.post("/orgs/<int:org_id>/notifications/classrooms")
@login_required
def save_room(org_id):
    """The person's own choices for one classroom in their scope (any other: 404)."""
    org, scope = access.org_for_staff(current_user, org_id)
    room = access.classroom_in_scope_or_404(scope, _form_id("classroom_id"))
    page = request.form.get("page", 1, type=query_number)
    try:
        choices.set_room_choices(
            current_user, room, request.form.get("digest", ""), request.form.get("alerts", "")
        )
    except FieldErrors as refused:
        db.session.rollback()
        row = choices.room_choice(current_user, room)
        if is_htmx():
            return _room_fragment(org, scope, row, page, errors=refused.errors)
        return _settings_page(org, scope, 422, page=page, refused=(row, refused.errors))
    db.session.commit()
    said = messages.room_choices_set(room.name)
    if not is_htmx():
        flash(said, "success")
        return see_other("notifications.settings", org_id=org.id, page=page)
    return _room_fragment(org, scope, choices.room_choice(current_user, room), page, said=said)


def _room_fragment(org, scope, row, page, said=None, errors=None):
    response = make_response(
        render_template(
            "notifications/_room.html",
            org=org,
            scope=scope,
            row=row,
            page=page,
            room_errors={row.room.id: errors} if errors else {},
            said=said,
        )
    )
    response.headers["Vary"] = "HX-Request"
    return response


@bp.post("/orgs/<int:org_id>/notifications/welcome")
@login_required
def save_welcome(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    on = request.form.get("welcome_mail") == "1"
    operations.set_welcome(current_user, org, on)
    db.session.commit()
    return _answer(org, scope, "welcome", messages.welcome_set(on))


def _not_a_link():
    flash(messages.unsubscribe_link_invalid(), "error")
    return see_other("auth.home")


@bp.get("/unsubscribe/<token>")
def unsubscribe_form(token):
    # A page with a button, not a change on GET: mail scanners open links.
    link = operations.for_unsubscribe_token(token)
    if link is None:
        return _not_a_link()
    return _unsubscribe_page(token, link, operations.rooms_named(link), done=False)


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # RFC 8058: the mail client posts it, one click, with no page; the signed token is the proof
def unsubscribe(token):
    link = operations.for_unsubscribe_token(token)
    if link is None:
        return _not_a_link()
    rooms = operations.unsubscribe(link)
    db.session.commit()
    return _unsubscribe_page(token, link, rooms, done=True)


def _unsubscribe_page(token, link, rooms, done):
    return render_template(
        "notifications/unsubscribe.html",
        token=token,
        link=link,
        org=link.org,
        kind=link.kind,
        rooms=rooms,
        done=done,
    )
