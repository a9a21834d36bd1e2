from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from ..timeutil import DayField
from .operations import KINDS, OTHER, OUTCOMES, AuditFilter


class FilterForm(FlaskForm):
    """The audit log's filter: a GET form, so links to a filtered log can be shared."""

    class Meta:
        csrf = False

    kind = SelectField(
        "Kind",
        default="",
        choices=[("", "All kinds"), *((k, label) for k, (label, _) in KINDS.items()), (OTHER, "Other")],
    )
    outcome = SelectField("Attempt outcome", choices=[("", "Any"), *OUTCOMES.items()], default="")
    person = StringField(
        "Person",
        description="Part of a name or an email.",
        validators=[Optional(), Length(max=120, message="At most 120 characters.")],
    )
    address = StringField(
        "Address",
        description="An IP address, exactly.",
        validators=[Optional(), Length(max=64, message="At most 64 characters.")],
    )
    since = DayField("From", validators=[Optional()])
    until = DayField("To", validators=[Optional()])

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The end date is before the start date.")

    def to_filter(self):
        return AuditFilter(
            kind=self.kind.data or "",
            person=self.person.data or "",
            address=self.address.data or "",
            outcome=self.outcome.data or "",
            since=self.since.data,
            until=self.until.data,
        )
