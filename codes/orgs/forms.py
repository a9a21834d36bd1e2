from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..timeutil import timezone_names
from .operations import DEFAULT_CODE_DAYS


class NameForm(FlaskForm):
    name = StringField("Name", validators=[
        DataRequired("Give it a name."), Length(max=120, message="At most 120 characters.")])


class OrganizationForm(NameForm):
    timezone = SelectField("Time zone", default="UTC")
    seat_limit = IntegerField("Seat limit", validators=[
        Optional(), NumberRange(min=0, message="The seat limit can't be negative.")],
        description="Empty for unlimited.")
    default_code_days = IntegerField("Default code lifetime (days)", default=DEFAULT_CODE_DAYS,
        validators=[Optional(), NumberRange(min=1, max=3650, message="Between 1 and 3650 days.")],
        description="New codes expire this many days after they are made. Empty for none.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_names()


class EmailForm(FlaskForm):
    email = EmailField("Email of an existing account", validators=[
        DataRequired("Enter an email."), Length(max=254)])


class PersonForm(FlaskForm):
    user_id = SelectField("Person", coerce=int, validate_choice=False)


class CoursesForm(FlaskForm):
    course_ids = SelectMultipleField("Courses", coerce=int, validate_choice=False,
                                     widget=ListWidget(prefix_label=False),
                                     option_widget=CheckboxInput())
