"""The classroom's pages, drawn by the areas that act on a classroom (its
organization's tree, seats, join codes): one source for its tabs."""

from flask import make_response, render_template

from .. import duration, messages
from ..seats.forms import AllotmentForm
from . import operations
from .forms import CoursesForm, NameForm, PersonForm


def classroom_page(classroom, scope, tab, status=200, **context):
    if tab == "members":
        context["member_ends"] = duration.ends_in(classroom)
    return render_template(
        f"orgs/classroom_{tab}.html",
        classroom=classroom,
        org=classroom.organization,
        scope=scope,
        tab=tab,
        **context,
    ), status


def picker(org, search, here_ids, here, form):
    """A leader or instructor picker: the people a search finds (all of them,
    up to a page, without one), each marked if they are staff already."""
    found, total = operations.staff_candidates(org, search, here_ids)
    form.user_id.choices = [(c.user.id, messages.picked(c, here)) for c in found]
    return {
        "search": (search or "").strip(),
        "more": messages.more_to_pick(len(found), total),
        "found": len(found),
    }


def classroom_admin_forms(classroom, search=None, **forms):
    """The settings tab's forms: those given (one refused, with its errors) and the
    others as saved (formdata=None: a refused post must not show less than what is
    saved)."""
    org = classroom.organization
    courses_form = forms.get("courses_form") or CoursesForm(
        formdata=None, course_ids=[c.id for c in classroom.courses]
    )
    courses_form.course_ids.choices = [(c.id, c.name) for c in org.courses]
    leader_form = forms.get("leader_form") or PersonForm(formdata=None)
    leader_pick = picker(org, search, {u.id for u in classroom.leaders}, "leads this classroom", leader_form)
    rename_form = forms.get("rename_form") or NameForm(formdata=None, obj=classroom)
    allotment_form = forms.get("allotment_form") or AllotmentForm(formdata=None, obj=classroom)
    return {
        "courses_form": courses_form,
        "leader_form": leader_form,
        "leader_pick": leader_pick,
        "rename_form": rename_form,
        "allotment_form": allotment_form,
    }


def settings_tab_refused(classroom, scope, **forms):
    """The classroom's settings tab again, with one form's errors beside its fields."""
    return classroom_page(classroom, scope, "settings", 422, **classroom_admin_forms(classroom, **forms))


def settings_part(classroom, scope, part, **forms):
    """One part of the settings tab (`orgs/_classroom_<part>.html`, which the tab
    includes), drawn for htmx after its form was sent: with the form's errors
    when refused, else as saved. 200 either way: htmx swaps no 4xx."""
    response = make_response(
        render_template(
            f"orgs/_classroom_{part}.html",
            classroom=classroom,
            org=classroom.organization,
            scope=scope,
            **classroom_admin_forms(classroom, **forms),
        )
    )
    response.headers["Vary"] = "HX-Request"
    return response
