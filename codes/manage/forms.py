from datetime import timedelta

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..models import ROLE_STUDENT, ROLE_TEACHER, utcnow
from ..timeutil import to_local, to_utc
from .operations import CodeInput


def _checkboxes(label):
    return SelectMultipleField(label, coerce=int, validate_choice=False,
                               widget=ListWidget(prefix_label=False),
                               option_widget=CheckboxInput())


class CodeForm(FlaskForm):
    text = StringField("Code", validators=[
        DataRequired("Type the code people will enter."),
        Length(max=40, message="A code is 4 to 40 characters long.")],
        description="4 to 40 letters, digits and dashes, like MHS-PTA-2027.")
    classroom_ids = _checkboxes("Classrooms")
    course_ids = _checkboxes("Courses")
    valid_from = DateField("Valid from", validators=[Optional()])
    valid_from_time = TimeField("at", validators=[Optional()])
    valid_until = DateField("Valid until", validators=[Optional()],
                            description="Without a time, the code works to the end of that day.")
    valid_until_time = TimeField("at", validators=[Optional()])
    max_uses = IntegerField("Max uses", validators=[
        Optional(), NumberRange(min=1, message="Max uses is at least 1. Leave it empty for unlimited.")],
        description="Empty for unlimited.")
    allowed_domains = StringField("Allowed email domains", validators=[
        Optional(), Length(max=500, message="At most 500 characters.")],
        description="Only people with these email domains can use it, like school.org. "
                    "Empty for anyone.")
    role = SelectField("Grants", choices=[(ROLE_STUDENT, "Student: joins and is enrolled"),
                                          (ROLE_TEACHER, "Teacher: leads or teaches the targets")],
                       default=ROLE_STUDENT)

    def set_choices(self, scope):
        self.classroom_ids.choices = [(c.id, c.name) for c in scope.manageable_classrooms()]
        self.course_ids.choices = [(c.id, c.name) for c in scope.manageable_courses()]

    def fill_defaults(self, org, classroom_ids=(), course_ids=()):
        """A new code starts with its page's target and the organization's default lifetime."""
        self.classroom_ids.data = list(classroom_ids)
        self.course_ids.data = list(course_ids)
        if org.default_code_days:
            until = to_local(org, utcnow()) + timedelta(days=org.default_code_days)
            self.valid_until.data = until.date()

    def fill_from(self, org, code):
        self.text.data = code.text
        self.classroom_ids.data = [c.id for c in code.classrooms]
        self.course_ids.data = [c.id for c in code.courses]
        self.max_uses.data = code.max_uses
        self.allowed_domains.data = " ".join(code.domains)
        self.role.data = code.role
        for name, instant in (("valid_from", code.valid_from), ("valid_until", code.valid_until)):
            local = to_local(org, instant)
            if local is not None:
                self[name].data = local.date()
                keep_time = (local.hour, local.minute) not in ((0, 0), (23, 59))
                self[name + "_time"].data = local.time() if keep_time else None

    def to_input(self, org):
        return CodeInput(
            text=self.text.data or "",
            classroom_ids=self.classroom_ids.data or [],
            course_ids=self.course_ids.data or [],
            valid_from=to_utc(org, self.valid_from.data, self.valid_from_time.data),
            valid_until=to_utc(org, self.valid_until.data, self.valid_until_time.data,
                               end_of_day=True),
            max_uses=self.max_uses.data,
            domains_text=self.allowed_domains.data or "",
            role=self.role.data,
        )

