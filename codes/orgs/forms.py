from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from ..auth.forms import MaxLength
from ..numbers import IdCheckboxes, WholeNumberField, as_id
from ..seats.operations import LIMIT_RANGE, MAX_SEATS
from ..timeutil import timezone_names
from .operations import DEFAULT_CODE_DAYS


class NameForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired("Give it a name."), Length(max=120, message="At most 120 characters.")],
    )


class OrganizationForm(NameForm):
    timezone = SelectField("Time zone", default="UTC")
    seat_limit = WholeNumberField(
        "Seat limit",
        validators=[Optional()],
        min=0,
        max=MAX_SEATS,
        range_message=LIMIT_RANGE,
        min_message="The seat limit can't be negative.",
        description="Empty for unlimited.",
    )
    default_code_days = WholeNumberField(
        "Default code lifetime (days)",
        default=DEFAULT_CODE_DAYS,
        validators=[Optional()],
        min=1,
        max=3650,
        range_message="Between 1 and 3650 days.",
        description="New codes expire this many days after they are made. Empty for none.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_names()


class EmailForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter an email."),
            MaxLength(max=254, message="At most 254 characters."),
            Email("That doesn't look like an email address.", check_deliverability=False),
        ],
    )


class PersonForm(FlaskForm):
    user_id = SelectField("Person", coerce=as_id, validate_choice=False)


class CoursesForm(FlaskForm):
    course_ids = IdCheckboxes("Courses")
