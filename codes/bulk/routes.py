"""Bulk Management > Codes: generate a batch of random codes, and the table of
existing codes with its filters (batch, status, classroom, course, search),
pages, deactivate, redemptions, actions on many codes at once and CSV export."""

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import access, messages, questions
from ..codetext import MAX_TYPED
from ..errors import FieldErrors
from ..exports import operations as exports
from ..exports import routes as export_pages
from ..extensions import db
from ..manage.operations import deactivate as deactivate_code
from ..numbers import query_id, query_number
from ..timeutil import format_local, to_local
from ..urls import url_for_each
from ..web import (
    apply_errors,
    asks_first,
    back,
    confirmation_page,
    form_status,
    is_htmx,
    page_or_fragment,
    safe_next,
    save,
)
from ..words import plural
from . import actions, operations
from .forms import TICKED, BulkActionForm, GenerateForm

bp = Blueprint("bulk", __name__)


@bp.app_template_global()
def code_unlocks(code) -> str:
    """What one code unlocks, worded as every table of codes words it."""
    return operations.code_unlocks(code)


@bp.app_template_global()
def code_row_urls(org_id: int) -> dict[str, Callable[[int], str]]:
    """The addresses each row of a codes table links to, by the code's id: built
    once for a table of fifty rows (bulk/_table.html), or for one row alone."""
    return {
        "redemptions": url_for_each("bulk.redemptions", "code_id", org_id=org_id),
        "deactivate": url_for_each("bulk.deactivate", "code_id", org_id=org_id),
        "edit": url_for_each("manage.edit", "code_id"),
        "print": url_for_each("links.print_code", "code_id"),
        "report": url_for_each("reports.code", "code_id"),
    }


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def _filters(scope, values=None):
    """The table's state from the URL (or from a form that carries it); anything
    malformed counts as not given, but a classroom or course that is not one of
    the person's own is not found (404), as if it did not exist."""
    args = request.args if values is None else values
    batch_id = args.get("batch", type=query_id)
    page = args.get("page", 1, type=query_number)
    # Cut before anything else reads it: the search is shown, and carried in
    # every link of the table.
    search = args.get("q", "")[:MAX_TYPED].strip()
    shown = args.get("status", operations.LIVE)
    classroom_id = args.get("classroom", type=query_id)
    course_id = args.get("course", type=query_id)
    if classroom_id is not None:
        access.classroom_in_scope_or_404(scope, classroom_id)
    if course_id is not None:
        access.course_in_scope_or_404(scope, course_id)
    return operations.CodeFilter(
        batch_id=batch_id,
        search=search,
        page=page if page and page > 0 else 1,
        status=shown if shown in operations.STATUS_FILTERS else operations.LIVE,
        classroom_id=classroom_id,
        course_id=course_id,
    )


def _table_context(scope, filters, bulk_form=None, ticked=(), panel=None):
    """The table and the bulk-action form above it; `panel` what a bulk action
    asks or did, shown above the table; `ticked` the codes to show ticked."""
    return dict(
        filters=filters,
        listing=operations.codes_page(scope, filters),
        here=url_for("bulk.codes", org_id=scope.org.id, **filters.args()),
        bulk_form=bulk_form or BulkActionForm(formdata=None),
        ticked=set(ticked),
        panel=panel,
    )


def _existing_context(scope, filters, **table):
    """The table with the filters above it, whose batch and target lists it needs."""
    return dict(
        _table_context(scope, filters, **table),
        batch_choices=operations.batch_choices(scope, filters.batch_id, request.args.get("batches", "")),
        batches_listed=operations.BATCHES_LISTED,
        max_batch_find=operations.MAX_BATCH_FIND,
        statuses=operations.STATUS_FILTERS,
        classrooms=scope.manageable_classrooms(),
        courses=scope.manageable_courses(),
    )


def _generate_context(scope, form, batch=None):
    form.set_choices(scope)
    return dict(form=form, batch=batch, generated=operations.batch_codes(scope, batch.id) if batch else [])


@bp.get("/orgs/<int:org_id>/bulk")
def codes(org_id):
    """The whole page, or for htmx (filtering and paging) only the table."""
    org, scope = access.org_for_staff(current_user, org_id)
    filters = _filters(scope)
    if is_htmx():
        context = _table_context(scope, filters)
    else:
        form = GenerateForm(formdata=None)
        form.fill_defaults(org)
        made = operations.visible_batch(scope, request.args.get("made", type=query_id))
        context = dict(_generate_context(scope, form, made), **_existing_context(scope, filters))
    return page_or_fragment("bulk/codes.html", "bulk/_table.html", org=org, scope=scope, **context)


@bp.post("/orgs/<int:org_id>/bulk")
def generate(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    form = GenerateForm()
    form.set_choices(scope)
    if made := save(form, lambda: operations.generate_batch(current_user, scope, form.to_input(org))):
        return _generated(scope, made.value)
    if is_htmx():
        return render_template(
            "bulk/_generate.html", org=org, scope=scope, **_generate_context(scope, form)
        ), form_status()
    return render_template(
        "bulk/codes.html",
        org=org,
        scope=scope,
        **_generate_context(scope, form),
        **_existing_context(scope, operations.CodeFilter()),
    ), form_status()


def _generated(scope, batch):
    """htmx: a fresh form with the new codes beneath, and the existing-codes table
    (swapped out of band) showing them on top; the URL becomes the page that shows
    this batch. A plain post goes to that page."""
    org = scope.org
    made_url = url_for("bulk.codes", org_id=org.id, made=batch.id)
    if not is_htmx():
        flash(messages.codes_made(batch.count), "success")
        return redirect(made_url, code=303)
    form = GenerateForm(formdata=None)
    form.fill_defaults(org)
    response = Response(
        render_template(
            "bulk/_generated_response.html",
            org=org,
            scope=scope,
            **_generate_context(scope, form, batch),
            **_existing_context(scope, operations.CodeFilter()),
        )
    )
    response.headers["HX-Replace-Url"] = made_url
    return response


@bp.post("/orgs/<int:org_id>/bulk/codes/<int:code_id>/deactivate")
def deactivate(org_id, code_id):
    org, scope = access.org_for_staff(current_user, org_id)
    code = access.visible_code_or_404(scope, code_id)
    if (asked := asks_first("deactivate_code", code=code.text)) is not None:
        return asked
    deactivate_code(current_user, code)
    db.session.commit()
    flash(messages.code_deactivated(code), "success")
    if is_htmx():
        return render_template(
            "bulk/_code.html",
            org=org,
            scope=scope,
            code=code,
            targets=operations.target_names([code.id]),
            here=safe_next(request.form.get("next")) or "",
        )
    return back(url_for("bulk.codes", org_id=org.id))


@bp.get("/orgs/<int:org_id>/bulk/codes/<int:code_id>/redemptions")
def redemptions(org_id, code_id):
    """Who redeemed a code: in place under its row for htmx, else a page."""
    org, scope = access.org_for_staff(current_user, org_id)
    code = access.visible_code_or_404(scope, code_id)
    return page_or_fragment(
        "bulk/redemptions.html",
        "bulk/_redemptions_row.html",
        org=org,
        scope=scope,
        code=code,
        redeemed=operations.redemptions(code),
        back_to=safe_next(request.args.get("next")),
        lasts=messages.membership_given(code, format_local(org, code.member_until, with_time=False)),
    )


@bp.get("/orgs/<int:org_id>/bulk/export.csv")
def export(org_id):
    """Exactly the rows the filtered table shows, all pages, streamed as CSV; an
    export of more than EXPORT_INLINE_MAX rows is offered to be prepared by a
    worker and mailed instead (docs/EXPORTS.md)."""
    org, scope = access.org_for_staff(current_user, org_id)
    filters = _filters(scope)
    args = filters.args(page=None)
    return export_pages.file_or_offer(
        org,
        scope,
        exports.CODES,
        filters,
        url_for("bulk.export_later", org_id=org.id),
        args,
        url_for("bulk.codes", org_id=org.id, **args),
    )


@bp.post("/orgs/<int:org_id>/bulk/export.csv")
def export_later(org_id):
    """A big export of the filter's codes, made by a worker and mailed."""
    org, scope = access.org_for_staff(current_user, org_id)
    return export_pages.asked(org, scope, exports.CODES, _filters(scope, request.form))


@dataclass(frozen=True)
class Asked:
    """The question a bulk action asks before it is done, and the fields its
    yes sends again."""

    question: str
    label: str
    fields: list


def _question(org, codes, change):
    """The question's kind and names: how many codes, and the new expiry's day."""
    names = {"codes": plural(len(codes), "code")}
    if change.action == actions.EXPIRY:
        if change.valid_until is None:
            return "bulk_no_expiry", names
        return "bulk_expiry", dict(names, day=_day(org, change))
    return "bulk_" + change.action, names


def _day(org, change):
    local = to_local(org, change.valid_until)
    return local.date().isoformat() if local else None


@bp.post("/orgs/<int:org_id>/bulk/actions")
def act(org_id):
    """Deactivate, switch off or on, or change the expiry of the codes ticked or
    of all the filter shows: asked first, saying how many, then done to all of
    them in the request's one transaction. An id of a code the person may not
    manage is not found (404), and nothing is changed."""
    org, scope = access.org_for_staff(current_user, org_id)
    filters = _filters(scope, request.form)
    form = BulkActionForm()
    if form.validate_on_submit():
        try:
            ids = actions.ids_the_filter_shows(scope, filters) if form.all_shown else form.code_ids.data
            codes = actions.codes_named(scope, ids)
            change = form.to_change(org)
            actions.problems(codes, change)
        except FieldErrors as e:
            db.session.rollback()
            apply_errors(form, e)
        else:
            if request.form.get("confirmed") != "1":
                return _ask(scope, filters, form, codes, change)
            done = actions.apply(current_user, codes, change)
            db.session.commit()
            said = messages.codes_changed(done, _day(org, change))
            if not is_htmx():
                flash(said, "success")
                return back(url_for("bulk.codes", org_id=org.id, **filters.args()))
            return _bulk_table(scope, filters, panel={"done": said})
    ticked = form.code_ids.data or []
    if is_htmx():
        return _bulk_table(scope, filters, form, ticked=ticked)
    generate = GenerateForm(formdata=None)
    generate.fill_defaults(org)
    return render_template(
        "bulk/codes.html",
        org=org,
        scope=scope,
        **_generate_context(scope, generate),
        **_existing_context(scope, filters, bulk_form=form, ticked=ticked),
    ), form_status()


def _ask(scope, filters, form, codes, change):
    """The question, with the very codes counted: what the yes sends is their
    ids, so the codes confirmed are the codes changed, even those found as "all
    the filter shows"."""
    kind, names = _question(scope.org, codes, change)
    expiry = form.new_expiry.data.isoformat() if form.new_expiry.data else ""
    fields = [
        ("bulk_action", change.action),
        ("new_expiry", expiry),
        ("act_on", TICKED),
        *(("code_ids", code.id) for code in codes),
        *filters.args().items(),
    ]
    if not is_htmx():
        return confirmation_page(kind, fields, **names)
    asked = Asked(questions.question(kind, **names), questions.answer(kind, **names), fields)
    return _bulk_table(scope, filters, form, ticked=[c.id for c in codes], panel={"asked": asked})


def _bulk_table(scope, filters, form=None, ticked=(), panel=None):
    """htmx: the table again, for the same filter and page, with what the action
    asks or did above it."""
    response = make_response(
        render_template(
            "bulk/_table.html",
            org=scope.org,
            scope=scope,
            **_table_context(scope, filters, bulk_form=form, ticked=ticked, panel=panel),
        )
    )
    response.headers["Vary"] = "HX-Request"
    return response
