"""A staff member's own big exports: the page that lists them, and the download
of one, theirs alone (docs/EXPORTS.md). The exports' own routes (codes,
audit log) ask for them through big_page and asked."""

from flask import Blueprint, Response, flash, redirect, render_template, stream_with_context, url_for
from flask_login import current_user, login_required

from .. import access, messages
from ..errors import DomainError
from ..extensions import db
from ..models import utcnow
from ..web import is_htmx
from . import operations

bp = Blueprint("exports", __name__)


@bp.app_template_global()
def file_size(size):
    """A file's size as people read it: 900 bytes, 12 KB, 3.4 MB."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.0f} KB"
    return f"{size / 1_000_000:.1f} MB"


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def big_page(org, scope, kind, action, fields, back_to):
    """What a GET of a big export answers instead of the file: why, and the
    button that asks for it to be prepared and mailed (a change, so a POST with
    its CSRF token), carrying the filter in `fields`."""
    label = operations.KINDS[kind].label
    return render_template(
        "exports/big.html",
        org=org,
        scope=scope,
        label=label,
        said=messages.export_too_big(operations.inline_max(), label),
        action=action,
        fields=fields,
        back_to=back_to,
    )


def file_or_offer(org, scope, kind, filters, action, args, back_to):
    """A GET of an export: the CSV streamed, or for a big one the page that
    offers it prepared and mailed (big_page), the filter's `args` carried."""
    if operations.is_big(kind, scope, filters):
        return big_page(org, scope, kind, action, list(args.items()), back_to)
    name = operations.filename(kind, org, utcnow())
    return Response(
        stream_with_context(operations.csv_text(kind, scope, filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def asked(org, scope, kind, filters):
    """Queue the export for the person and commit, then say so: a plain post
    goes to My exports, htmx gets the words in place of the button."""
    label = operations.KINDS[kind].label
    try:
        operations.ask(current_user, scope, kind, filters)
    except DomainError as refusal:
        db.session.rollback()
        flash(refusal.message, "error")
        queued = False
    else:
        db.session.commit()
        flash(messages.export_asked(current_user.email, label), "success")
        queued = True
    if is_htmx():
        return render_template("exports/_asked.html", org=org, queued=queued)
    return redirect(url_for("exports.mine", org_id=org.id), code=303)


@bp.get("/orgs/<int:org_id>/exports")
def mine(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    return render_template(
        "exports/mine.html",
        org=org,
        scope=scope,
        exports=operations.mine(scope),
        kinds=operations.KINDS,
        inline_max=operations.inline_max(),
        section="exports",
    )


@bp.get("/orgs/<int:org_id>/exports/<int:export_id>.csv")
def download(org_id, export_id):
    """The stored file, streamed a chunk at a time, named as the streamed export is."""
    org, scope = access.org_for_staff(current_user, org_id)
    export = operations.ready_for(scope, export_id)
    name = operations.filename(export.kind, org, export.created_at)
    return Response(
        stream_with_context(operations.stored(export)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Length": str(export.size)},
    )
