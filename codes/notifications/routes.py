"""A staff member's own notification settings (the organization's welcome
mail: its admins'), the one-click unsubscribe of the digest
mails, and the organization's deliveries given up, with Retry."""

from flask import Blueprint, flash, render_template, request, url_for
from flask_login import current_user, login_required

from .. import access, jobs, messages
from ..errors import DomainError
from ..extensions import csrf, db
from ..web import back, is_htmx, page_or_fragment, see_other
from . import alerts, operations

bp = Blueprint("notifications", __name__)
bp.add_app_template_global(jobs.recipient, "job_recipient")
bp.add_app_template_global(jobs.subject, "job_subject")


@bp.app_template_global()
def said_retried(job):
    return messages.delivery_retried(jobs.recipient(job))


@bp.app_template_global()
def said_unsubscribed(org, kind=operations.DIGEST):
    return messages.unsubscribed(org.name, kind)


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


def _settings_page(org, scope, status=200, said=None, part=None):
    """The notifications page, or (htmx) the one card `part` that changed."""
    fragments = {
        "digest": "notifications/_digest.html",
        "alerts": "notifications/_alerts.html",
        "welcome": "notifications/_welcome.html",
    }
    return page_or_fragment(
        "notifications/settings.html",
        fragments.get(part, "notifications/_digest.html"),
        status,
        org=org,
        scope=scope,
        digest=operations.wants_digest(current_user, org),
        alerts=alerts.wants_alerts(current_user, org),
        said=said,
        part=part,
        section="notifications",
    )


@bp.get("/orgs/<int:org_id>/notifications")
@login_required
def settings(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    return _settings_page(org, scope)


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
    named = operations.for_unsubscribe_token(token)
    if named is None:
        return _not_a_link()
    _, org, kind = named
    return render_template("notifications/unsubscribe.html", token=token, org=org, kind=kind, done=False)


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # RFC 8058: the mail client posts it, one click, with no page; the signed token is the proof
def unsubscribe(token):
    named = operations.for_unsubscribe_token(token)
    if named is None:
        return _not_a_link()
    user, org, kind = named
    operations.set_choice(user, org, kind, False)
    db.session.commit()
    return render_template("notifications/unsubscribe.html", token=token, org=org, kind=kind, done=True)
