"""Every code's short link (/join/<code>), its QR code, and a page to print."""

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import access
from ..codetext import MAX_TYPED, typed_code_problem
from ..urls import public_url
from ..web import safe_next
from . import operations

bp = Blueprint("links", __name__)


@bp.app_template_global()
def join_link(code):
    """A code's short link, which its QR code and posters show."""
    return public_url("links.join", text=code.text)


@bp.get("/join/<text>")
def join(text):
    """Open the redeem form with the code filled in: on the profile for someone
    logged in, on the sign-up page otherwise. Nothing here says whether the
    code exists: the form's answer does, within the attempt limits."""
    return _open_with(text[:MAX_TYPED])


@bp.get("/join")
def join_typed():
    """Where the code box on a school's own website sends what was typed
    (?code=...): the same as the short link, at the top level of the browser.
    It only fills the box in, never redeems: the person presses the button. Text
    that can be no code (longer than any) is not carried; the box opens empty."""
    text = request.args.get("code", "").strip()
    return _open_with("" if typed_code_problem(text) else text)


def _open_with(text):
    if current_user.is_authenticated:
        target = url_for("redeem.profile", code=text)
    else:
        target = url_for("auth.signup", code=text)
    response = redirect(target)
    # Where it leads depends on who is logged in: no cache may keep one answer for all.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/codes/<int:code_id>/qr.svg")
@login_required
def qr(code_id):
    code, _ = access.code_for_staff(current_user, code_id)
    response = make_response(operations.qr_svg(join_link(code), title=f"QR code of {code.text}"))
    response.headers["Content-Type"] = "image/svg+xml"
    return response


@bp.get("/codes/<int:code_id>/print")
@login_required
def print_code(code_id):
    code, scope = access.code_for_staff(current_user, code_id)
    places = [c.name for c in code.classrooms] + [c.name for c in code.courses]
    return render_template(
        "links/print.html",
        code=code,
        org=scope.org,
        places=places,
        link=operations.without_scheme(join_link(code)),
        back=safe_next(request.args.get("next")) or url_for("manage.edit", code_id=code.id),
    )
