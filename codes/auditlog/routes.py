"""The organization's audit log, for its admins: filter, page, export."""

from flask import Blueprint, request, url_for
from flask_login import current_user, login_required

from .. import access
from ..exports import operations as exports
from ..exports import routes as export_pages
from ..numbers import query_number
from ..web import form_status, is_htmx, page_or_fragment
from . import operations
from .forms import FilterForm

bp = Blueprint("auditlog", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in admins."""


def _filter_args(form):
    """The filter as query arguments, empty ones left out, for links that keep it."""
    return {name: request.args[name] for name in form._fields if request.args.get(name)}


def _log_page(org, scope, form, log, status=200):
    return page_or_fragment(
        "auditlog/log.html",
        "auditlog/_log.html",
        status,
        org=org,
        scope=scope,
        form=form,
        log=log,
        args=_filter_args(form),
        # The fragment is the filtered log only; the day's pressure sits above it.
        pressure=None if is_htmx() else operations.pressure(scope),
    )


@bp.get("/orgs/<int:org_id>/audit")
def log(org_id):
    org, scope = access.org_for_admin(current_user, org_id)
    form = FilterForm(formdata=request.args)
    if not form.validate():
        return _log_page(org, scope, form, None, form_status())
    number = request.args.get("page", 1, type=query_number)
    return _log_page(org, scope, form, operations.page(scope, form.to_filter(), number))


@bp.get("/orgs/<int:org_id>/audit.csv")
def export(org_id):
    """The filtered log as CSV, streamed; more than EXPORT_INLINE_MAX events are
    offered to be prepared by a worker and mailed instead (docs/EXPORTS.md)."""
    org, scope = access.org_for_admin(current_user, org_id)
    form = FilterForm(formdata=request.args)
    if not form.validate():
        return _log_page(org, scope, form, None, 422)
    args = _filter_args(form)
    return export_pages.file_or_offer(
        org,
        scope,
        exports.AUDIT,
        form.to_filter(),
        url_for("auditlog.export_later", org_id=org.id),
        args,
        url_for("auditlog.log", org_id=org.id, **args),
    )


@bp.post("/orgs/<int:org_id>/audit.csv")
def export_later(org_id):
    """A big export of the filtered log, made by a worker and mailed."""
    org, scope = access.org_for_admin(current_user, org_id)
    form = FilterForm(formdata=request.form)
    if not form.validate():
        return _log_page(org, scope, form, None, 422)
    return export_pages.asked(org, scope, exports.AUDIT, form.to_filter())


@bp.app_template_global()
def audit_url(org, args, **changes):
    """A link to the log with the current filter and some arguments changed."""
    return url_for("auditlog.log", org_id=org.id, **{**args, **changes})
