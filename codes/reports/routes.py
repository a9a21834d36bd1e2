"""Reports: redemptions over time, new and existing members, seats, and
side-by-side comparisons, within the viewer's scope."""

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from .. import access
from ..numbers import query_number
from ..seats import operations as seats
from ..web import page_or_fragment
from ..words import coincides
from . import charts, operations
from .forms import CompareForm

bp = Blueprint("reports", __name__)

MAX_CODE_CHOICES = 100


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


@bp.context_processor
def report_choices():
    return {
        "periods": operations.PERIODS,
        "compared": (operations.MIN_COMPARED, operations.MAX_COMPARED),
        "coincide_note": coincides,
    }


def _period():
    return operations.period_named(request.args.get("period"))


@bp.get("/orgs/<int:org_id>/reports")
def organization(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    report = operations.organization_report(scope, _period(), operations.today_in(org))
    return render_template(
        "reports/org.html",
        org=org,
        scope=scope,
        report=report,
        seats=seats.summary(org) if scope.admin else None,
        chart=charts.bar_chart(report.timeline.buckets),
    )


@bp.get("/classrooms/<int:classroom_id>/reports")
def classroom(classroom_id):
    classroom, scope = access.classroom_for_staff(current_user, classroom_id)
    org = classroom.organization
    report = operations.classroom_report(scope, classroom, _period(), operations.today_in(org))
    return render_template(
        "reports/classroom.html",
        classroom=classroom,
        org=org,
        scope=scope,
        tab="reports",
        report=report,
        chart=charts.bar_chart(report.timeline.buckets),
    )


@bp.get("/codes/<int:code_id>/report")
def code(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    org = scope.org
    report = operations.code_report(scope, code, _period(), operations.today_in(org))
    redeemers = operations.redeemers(code, request.args.get("page", 1, type=query_number) or 1)
    return render_template(
        "reports/code.html",
        code=code,
        org=org,
        scope=scope,
        report=report,
        chart=charts.bar_chart(report.timeline.buckets),
        redeemers=redeemers,
    )


@bp.get("/orgs/<int:org_id>/reports/compare")
def compare(org_id):
    org, scope = access.org_for_staff(current_user, org_id)
    form = CompareForm(request.args)
    codes = [access.visible_code_or_404(scope, i) for i in dict.fromkeys(form.code.data or [])]
    classrooms = [
        access.classroom_in_scope_or_404(scope, i) for i in dict.fromkeys(form.classroom.data or [])
    ]
    search = (form.q.data or "") if form.q.validate(form) else ""
    form.code.choices = [
        (c.id, c.text) for c in operations.code_choices(scope, codes, search, MAX_CODE_CHOICES)
    ]
    form.classroom.choices = [(c.id, c.name) for c in operations.classroom_choices(scope, classrooms, search)]
    chosen = len(codes) + len(classrooms)
    comparison = chart = problem = None
    if chosen and not operations.MIN_COMPARED <= chosen <= operations.MAX_COMPARED:
        problem = (
            f"Choose {operations.MIN_COMPARED} to {operations.MAX_COMPARED} codes or "
            f"classrooms to compare (you chose {chosen})."
        )
    elif chosen:
        comparison = operations.compare(
            scope, operations.period_named(form.period.data), operations.today_in(org), codes, classrooms
        )
        chart = charts.line_chart(
            comparison.buckets,
            [(item.name, [b.total for b in item.timeline.buckets]) for item in comparison.items],
        )
    return page_or_fragment(
        "reports/compare.html",
        "reports/_compare_choices.html",
        422 if problem else 200,
        org=org,
        scope=scope,
        form=form,
        comparison=comparison,
        chart=chart,
        problem=problem,
    )
