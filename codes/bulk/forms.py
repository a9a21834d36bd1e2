from datetime import timedelta

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField
from wtforms.validators import Length, Optional, StopValidation

from ..manage.forms import CodeOptions
from ..manage.operations import MAX_USES
from ..models import ROLE_STUDENT, ROLE_TEACHER, utcnow
from ..numbers import IdCheckboxes, WholeNumberField
from ..timeutil import DayField, to_local, to_utc
from . import actions
from .operations import (
    BATCH_USES_AT_LEAST,
    BATCH_USES_RANGE,
    MAX_COUNT,
    MAX_PREFIX,
    MAX_PREFIX_TEXT,
    BatchInput,
)

SINGLE, NUMBER, UNLIMITED = "single", "number", "unlimited"


def _upper(value):
    return value.strip().upper() if isinstance(value, str) else value


class GenerateForm(CodeOptions):
    classroom_ids = IdCheckboxes("Classrooms")
    course_ids = IdCheckboxes("Courses")
    count = WholeNumberField(
        "How many codes",
        validators=[Optional()],
        default=30,
        min=1,
        max=MAX_COUNT,
        range_message=f"Make 1 to {MAX_COUNT} codes at a time.",
        description=f"1 to {MAX_COUNT}.",
    )
    prefix = StringField(
        "Prefix",
        filters=[_upper],
        validators=[
            Length(max=MAX_PREFIX_TEXT, message=f"A prefix is at most {MAX_PREFIX} letters and digits.")
        ],
        description=f"Optional, up to {MAX_PREFIX} letters and digits, like "
        "SPRING2027 or FALL-2027. It is public: the random part keeps "
        "codes secret.",
    )
    valid_until = DayField(
        "Expires", validators=[Optional()], description="Codes work to the end of that day. Empty: no expiry."
    )
    uses = RadioField(
        "Uses per code",
        default=SINGLE,
        choices=[(SINGLE, "Single use"), (NUMBER, "A number of uses"), (UNLIMITED, "Unlimited")],
    )
    # Rendered beside the "a number of uses" choice; read only when it is chosen.
    max_uses = WholeNumberField(
        "Number of uses", min=1, max=MAX_USES, range_message=BATCH_USES_RANGE, min_message=BATCH_USES_AT_LEAST
    )
    role = RadioField(
        "Grants",
        default=ROLE_STUDENT,
        choices=[
            (ROLE_STUDENT, "Student: joins and is enrolled"),
            (ROLE_TEACHER, "Teacher: leads or teaches the targets"),
        ],
    )

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
        if field.data is None and not field.process_errors:
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
            approval=bool(self.approval.data),
            surge_guard=bool(self.surge_guard.data),
            member_days=self.member_days.data,
            member_until=to_utc(org, self.member_until.data, end_of_day=True),
        )


TICKED, ALL_SHOWN = "ticked", "all"


class BulkActionForm(FlaskForm):
    """One action on many codes of the existing-codes table: those ticked, or
    all the filter shows (the filter's state comes along in the form too)."""

    code_ids = IdCheckboxes("Codes", most=actions.MAX_CODES, too_many=actions.TOO_MANY)
    act_on = RadioField(
        "Act on",
        default=TICKED,
        choices=[
            (TICKED, "The codes ticked below"),
            (ALL_SHOWN, f"All the codes the filter shows (up to {actions.MAX_CODES})"),
        ],
        validate_choice=False,
    )
    bulk_action = SelectField(
        "Action",
        default=actions.OFF,
        choices=[
            (actions.OFF, "Switch off"),
            (actions.ON, "Switch on"),
            (actions.EXPIRY, "Change expiry"),
            (actions.DEACTIVATE, "Deactivate for good"),
        ],
        validate_choice=False,
    )
    new_expiry = DayField(
        "New expiry",
        validators=[Optional()],
        description="For Change expiry: the codes work to the end of that day. Empty: no expiry.",
    )

    def validate_act_on(self, field):
        if field.data not in (TICKED, ALL_SHOWN):
            raise StopValidation("Choose the codes ticked, or all the codes the filter shows.")

    def validate_bulk_action(self, field):
        if field.data not in actions.ACTIONS:
            raise StopValidation("Choose what to do with the codes.")

    @property
    def all_shown(self):
        return self.act_on.data == ALL_SHOWN

    def to_change(self, org):
        return actions.Change(
            action=self.bulk_action.data,
            valid_until=to_utc(org, self.new_expiry.data, end_of_day=True)
            if self.bulk_action.data == actions.EXPIRY
            else None,
        )
