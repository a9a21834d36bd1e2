from wtforms import Form, SearchField, SelectField
from wtforms.validators import Length, Optional

from ..numbers import IdCheckboxes
from .operations import DEFAULT_PERIOD, MAX_SEARCH, PERIODS


class CompareForm(Form):
    """What to put side by side: a GET form (it changes nothing, so no CSRF token),
    so a comparison has a link that can be shared or bookmarked."""

    q = SearchField(
        "Find a code or classroom",
        description="Part of a code or a classroom's name.",
        validators=[Optional(), Length(max=MAX_SEARCH)],
    )
    code = IdCheckboxes("Codes")
    classroom = IdCheckboxes("Classrooms")
    period = SelectField("Period", choices=[(p.key, p.label) for p in PERIODS], default=DEFAULT_PERIOD.key)
