from datetime import timedelta

from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, RadioField, SelectMultipleField, StringField
from wtforms.validators import Optional, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from ..models import ROLE_STUDENT, ROLE_TEACHER, utcnow
from ..timeutil import to_local, to_utc
from .operations import MAX_COUNT, MAX_PREFIX, BatchInput

SINGLE, NUMBER, UNLIMITED = "single", "number", "unlimited"


def _checkboxes(label):
    return SelectMultipleField(label, coerce=int, validate_choice=False,
                               widget=ListWidget(prefix_label=False),
                               option_widget=CheckboxInput())


def _upper(value):
    return value.strip().upper() if isinstance(value, str) else value


class GenerateForm(FlaskForm):
    classroom_ids = _checkboxes("Classrooms")
    course_ids = _checkboxes("Courses")
    count = IntegerField("How many codes", validators=[Optional()], default=30,
                         description=f"1 to {MAX_COUNT}.")
    prefix = StringField("Prefix", filters=[_upper],
                         description=f"Optional, up to {MAX_PREFIX} letters and digits, like "
                                     "SPRING2027. It is public: the random part keeps codes secret.")
    valid_until = DateField("Expires", validators=[Optional()],
                            description="Codes work to the end of that day. Empty: no expiry.")
    uses = RadioField("Uses per code", default=SINGLE, choices=[
        (SINGLE, "Single use"), (NUMBER, "A number of uses"), (UNLIMITED, "Unlimited")])
    # Rendered beside the "a number of uses" choice; read only when it is chosen.
    max_uses = IntegerField("Number of uses")
    role = RadioField("Grants", default=ROLE_STUDENT, choices=[
        (ROLE_STUDENT, "Student: joins and is enrolled"),
        (ROLE_TEACHER, "Teacher: leads or teaches the targets")])

    def set_choices(self, scope):
        self.classroom_ids.choices = [(c.id, c.name) for c in scope.manageable_classrooms()]
        self.course_ids.choices = [(c.id, c.name) for c in scope.manageable_courses()]

    def fill_defaults(self, org):
        """A new batch expires after the organization's default lifetime for codes."""
        if org.default_code_days:
            until = to_local(org, utcnow()) + timedelta(days=org.default_code_days)
            self.valid_until.data = until.date()

    def validate_max_uses(self, field):
        # The number counts only when "a number of uses" is chosen.
        if self.uses.data != NUMBER:
            field.errors[:] = []
            raise StopValidation()
        if field.data is None:
            field.errors[:] = []
            raise StopValidation("Type how many times each code may be used.")

    def to_input(self, org):
        if self.uses.data == UNLIMITED:
            max_uses = None
        elif self.uses.data == NUMBER:
            max_uses = self.max_uses.data
        else:
            max_uses = 1
        return BatchInput(
            classroom_ids=self.classroom_ids.data or [],
            course_ids=self.course_ids.data or [],
            count=self.count.data,
            prefix=self.prefix.data or "",
            valid_until=to_utc(org, self.valid_until.data, end_of_day=True),
            max_uses=max_uses,
            role=self.role.data,
        )
