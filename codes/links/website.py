"""The code box a school pastes into its own website: a plain HTML form, with no
script and no secret, that opens this app at the top level with the code filled
in (links.join_typed). It works whatever a browser's rules on third-party
cookies, since nothing of this app runs inside the school's page."""

from flask import render_template
from markupsafe import Markup
from wtforms import Form, RadioField, StringField
from wtforms.validators import AnyOf, DataRequired, Length

from ..urls import public_url

MAX_BUTTON = 40
DEFAULT_BUTTON = "Join"
SAME_TAB = "same"
NEW_TAB = "new"
# How each choice is written in the form's target attribute: _top leaves any
# frame the school's page may itself be in.
TARGETS = {SAME_TAB: "_top", NEW_TAB: "_blank"}


class WebsiteForm(Form):
    """What the admin chooses of the code box: a GET form (it changes nothing,
    so no CSRF token)."""

    button = StringField(
        "Button text",
        default=DEFAULT_BUTTON,
        validators=[
            DataRequired("Write the text of the button."),
            Length(max=MAX_BUTTON, message=f"At most {MAX_BUTTON} characters."),
        ],
    )
    opens = RadioField(
        "Opens",
        choices=[(SAME_TAB, "In the same tab"), (NEW_TAB, "In a new tab")],
        default=SAME_TAB,
        validate_choice=False,
        validators=[AnyOf(list(TARGETS), message="Choose the same tab or a new tab.")],
    )


def website_snippet(button: str, opens: str) -> Markup:
    """The HTML to paste: a GET form to /join on PUBLIC_URL (never the request's
    host), whose button says `button` (escaped) and which opens in the same tab
    or a new one. The same markup is the preview staff see."""
    return Markup(
        render_template(
            "links/_website_snippet.html",
            action=public_url("links.join_typed"),
            button=button,
            target=TARGETS[opens],
        ).strip()
    )
