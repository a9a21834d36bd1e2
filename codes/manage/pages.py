"""The code's edit page, for every route that draws it (codes.manage.routes, and
codes.approval.routes when a form of its section is refused)."""

from flask import render_template, request

from ..access import Scope
from ..approval.pages import guard_context
from ..models import Code
from ..web import safe_next
from .forms import CodeForm


def edit_page(code: Code, scope: Scope, form: CodeForm | None = None, status: int = 200, guard_error=None):
    """The page: the code's form (as saved, unless a refused `form` is given) and
    its approval section."""
    if form is None:
        form = CodeForm(formdata=None)
        form.fill_from(scope.org, code)
    form.set_choices(scope)
    return render_template(
        "manage/code_edit.html",
        code=code,
        org=scope.org,
        scope=scope,
        form=form,
        next=safe_next(request.values.get("next")) or "",
        **guard_context(scope, code, guard_error),
    ), status
