"""Bulk Management > Codes: generate a batch of random codes, and the table of
existing codes with its batch filter, search, pages, deactivate, redemptions
and CSV export."""
from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required

from .. import access
from ..errors import DomainError
from ..extensions import db
from ..manage.operations import OutOfScope
from ..manage.operations import deactivate as deactivate_code
from ..models import utcnow
from ..timeutil import to_local
from ..web import apply_errors, back, form_status, is_htmx, page_or_fragment, safe_next
from . import operations
from .forms import GenerateForm

bp = Blueprint("bulk", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def _filters():
    """The table's state from the URL; anything malformed counts as not given."""
    args = request.args
    batch_id = args.get("batch", type=int)
    page = args.get("page", 1, type=int)
    return operations.CodeFilter(batch_id=batch_id, search=args.get("q", "").strip(),
                                 page=page if page and page > 0 else 1)


def _table_context(scope, filters):
    return dict(filters=filters, listing=operations.codes_page(scope, filters),
                here=url_for("bulk.codes", org_id=scope.org.id, **filters.args()))


def _existing_context(scope, filters):
    """The table with the filters above it, whose batch list it needs."""
    return dict(_table_context(scope, filters), batches=operations.batches(scope))


def _generate_context(scope, form, batch=None):
    form.set_choices(scope)
    return dict(form=form, batch=batch,
                generated=operations.batch_codes(scope, batch.id) if batch else [])


@bp.get("/orgs/<int:org_id>/bulk")
def codes(org_id):
    """The whole page, or for htmx (filtering and paging) only the table."""
    org, scope = access.org_for_staff(current_user, org_id)
    filters = _filters()
    if is_htmx():
        context = _table_context(scope, filters)
    else:
        form = GenerateForm(formdata=None)
        form.fill_defaults(org)
        made = operations.visible_batch(scope, request.args.get("made", type=int))
        context = dict(_generate_context(scope, form, made), **_existing_context(scope, filters))
    return page_or_fragment("bulk/codes.html", "bulk/_table.html", org=org, scope=scope,
                            **context)


@bp.post("/orgs/<int:org_id>/bulk")
def generate(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    form = GenerateForm()
    form.set_choices(scope)
    if form.validate_on_submit():
        try:
            batch = operations.generate_batch(current_user, scope, form.to_input(org))
        except OutOfScope:
            raise
        except DomainError as e:
            db.session.rollback()
            apply_errors(form, e)
        else:
            db.session.commit()
            return _generated(scope, batch)
    if is_htmx():
        return render_template("bulk/_generate.html", org=org, scope=scope,
                               **_generate_context(scope, form)), form_status()
    return render_template("bulk/codes.html", org=org, scope=scope,
                           **_generate_context(scope, form),
                           **_existing_context(scope, operations.CodeFilter())), form_status()


def _generated(scope, batch):
    """htmx: a fresh form with the new codes beneath, and the existing-codes table
    (swapped out of band) showing them on top; the URL becomes the page that shows
    this batch. A plain post goes to that page."""
    org = scope.org
    made_url = url_for("bulk.codes", org_id=org.id, made=batch.id)
    if not is_htmx():
        flash(f"{batch.count} codes made.", "success")
        return redirect(made_url, code=303)
    form = GenerateForm(formdata=None)
    form.fill_defaults(org)
    response = Response(render_template(
        "bulk/_generated_response.html", org=org, scope=scope,
        **_generate_context(scope, form, batch),
        **_existing_context(scope, operations.CodeFilter())))
    response.headers["HX-Replace-Url"] = made_url
    return response


@bp.post("/orgs/<int:org_id>/bulk/codes/<int:code_id>/deactivate")
def deactivate(org_id, code_id):
    org, scope = access.org_for_staff(current_user, org_id)
    code = access.visible_code_or_404(scope, code_id)
    deactivate_code(current_user, code)
    db.session.commit()
    if is_htmx():
        return render_template("bulk/_code.html", org=org, scope=scope, code=code,
                               here=request.form.get("next", ""))
    flash(f"Code {code.text} deactivated. It no longer works.", "info")
    return back(url_for("bulk.codes", org_id=org.id))


@bp.get("/orgs/<int:org_id>/bulk/codes/<int:code_id>/redemptions")
def redemptions(org_id, code_id):
    """Who redeemed a code: in place under its row for htmx, else a page."""
    org, scope = access.org_for_staff(current_user, org_id)
    code = access.visible_code_or_404(scope, code_id)
    return page_or_fragment("bulk/redemptions.html", "bulk/_redemptions_row.html",
                            org=org, scope=scope, code=code,
                            redeemed=operations.redemptions(code),
                            back_to=safe_next(request.args.get("next")))


@bp.get("/orgs/<int:org_id>/bulk/export.csv")
def export(org_id):
    """Exactly the rows the filtered table shows, all pages, streamed as CSV."""
    org, scope = access.org_for_staff(current_user, org_id)
    rows = operations.export_rows(scope, _filters())
    chunks = operations.csv_chunks(operations.EXPORT_HEADER, rows)
    name = f"codes-{org.id}-{to_local(org, utcnow()).date().isoformat()}.csv"
    return Response(stream_with_context(chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
