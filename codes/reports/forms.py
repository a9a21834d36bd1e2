from wtforms import Form, SelectField, SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget

from .operations import DEFAULT_PERIOD, PERIODS


def _checkboxes(label):
    return SelectMultipleField(label, coerce=int, validate_choice=False,
                               widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())


class CompareForm(Form):
    """What to put side by side: a GET form (it changes nothing, so no CSRF token),
    so a comparison has a link that can be shared or bookmarked."""

    code = _checkboxes("Codes")
    classroom = _checkboxes("Classrooms")
    period = SelectField("Period", choices=[(p.key, p.label) for p in PERIODS],
                         default=DEFAULT_PERIOD.key)
