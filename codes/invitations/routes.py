"""Invitations: the mailed link, the person's own list on their profile, and the
organization's admins taking one back or sending it again."""

from flask import Blueprint, abort, current_app, flash, render_template, url_for
from flask_login import current_user, login_required

from .. import access
from ..errors import DomainError
from ..extensions import db
from ..web import asks_first, back, see_other
from . import operations

bp = Blueprint("invitations", __name__)
bp.add_app_template_global(operations.for_person, "my_invitations")


@bp.get("/invitations/<token>")
def link(token):
    """The mailed link: log in (or sign up) as the invited address, then accept
    or decline here."""
    invitation = operations.for_token(token)
    if invitation is None:
        flash("That invitation link is not valid or is too old. Ask whoever sent it for a new one.", "error")
        return see_other("auth.home")
    if not current_user.is_authenticated:
        flash(
            f"Log in as {invitation.email} to answer the invitation, or sign up with that address first.",
            "info",
        )
        # The one answer to a logged-out request (codes.web.unauthorized): htmx gets
        # HX-Redirect, since it would follow a redirect and swap the login page in.
        return current_app.login_manager.unauthorized()
    return render_template(
        "invitations/answer.html",
        invitation=invitation,
        token=token,
        for_me=invitation.email_key == current_user.email_key,
    )


def _answer(invitation, accept, via_link):
    if (
        not accept
        and (asked := asks_first("decline_invitation", org=invitation.organization.name)) is not None
    ):
        return asked
    try:
        if accept:
            message = operations.accept(current_user, invitation, via_link=via_link).message
        else:
            operations.decline(current_user, invitation)
            message = f"You declined the invitation of {invitation.organization.name}."
    except DomainError as refusal:
        db.session.rollback()
        flash(refusal.message, "error")
        return see_other("redeem.profile")
    db.session.commit()
    flash(message, "success" if accept else "info")
    return see_other("redeem.profile")


@bp.post("/invitations/<token>/<any(accept, decline):answer>")
@login_required
def answer_link(token, answer):
    invitation = operations.for_token(token)
    if invitation is None or invitation.email_key != current_user.email_key:
        abort(404)
    return _answer(invitation, answer == "accept", via_link=True)


@bp.post("/profile/invitations/<int:invitation_id>/<any(accept, decline):answer>")
@login_required
def answer_on_profile(invitation_id, answer):
    invitation = operations.own_or_none(current_user, invitation_id)
    if invitation is None:
        abort(404)
    return _answer(invitation, answer == "accept", via_link=False)


@bp.post("/orgs/<int:org_id>/invitations/<int:invitation_id>/cancel")
@login_required
def cancel(org_id, invitation_id):
    org, scope = access.org_for_admin(current_user, org_id)
    invitation = access.invitation_for_admin_or_404(scope, invitation_id)
    if (asked := asks_first("cancel_invitation", email=invitation.email)) is not None:
        return asked
    try:
        operations.cancel(current_user, org, invitation)
    except DomainError as refusal:
        db.session.rollback()
        flash(refusal.message, "error")
    else:
        db.session.commit()
        flash(f"The invitation to {invitation.email} is cancelled.", "info")
    return back(url_for("users.index", org_id=org.id))


@bp.post("/orgs/<int:org_id>/invitations/<int:invitation_id>/resend")
@login_required
def resend(org_id, invitation_id):
    org, scope = access.org_for_admin(current_user, org_id)
    invitation = access.invitation_for_admin_or_404(scope, invitation_id)
    if not invitation.is_pending():
        flash("That invitation is no longer open.", "error")
        return back(url_for("users.index", org_id=org.id))
    invitation = operations.invite(current_user, org, invitation.email, invitation.classroom)
    operations.send(invitation)
    db.session.commit()
    flash(f"We sent the invitation to {invitation.email} again.", "info")
    return back(url_for("users.index", org_id=org.id))
