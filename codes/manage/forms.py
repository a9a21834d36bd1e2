from datetime import timedelta

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TimeField
from wtforms.validators import DataRequired, Length, Optional

from ..duration import DAYS_RANGE, MAX_DAYS
from ..models import ROLE_STUDENT, ROLE_TEACHER, utcnow
from ..numbers import IdCheckboxes, WholeNumberField
from ..timeutil import DayField, to_local, to_utc
from .operations import HOURLY_RANGE, MAX_USES, MAX_USES_RANGE, CodeInput


class TickBox(BooleanField):
    """A checkbox that takes only what a checkbox sends: ticked ("y", or "on",
    "true", "1") or not ("", "false", "0", "off", or nothing at all). Anything
    else is refused with `refused` beside it, where WTForms' BooleanField reads
    every value but "" and "false" as ticked (so "0" and "off" turned it on)."""

    TICKED = ("y", "on", "true", "1")
    UNTICKED = ("", "false", "0", "off")

    def __init__(self, label=None, validators=None, refused="Tick the box or leave it empty.", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.refused = refused

    def process_formdata(self, valuelist):
        value = valuelist[0].strip().lower() if valuelist else ""
        self.data = value in self.TICKED
        if not self.data and value not in self.UNTICKED:
            raise ValueError(self.refused)


class CodeOptions(FlaskForm):
    """The fields a single code and a batch share: approval of each person, the
    usual-rate guard (docs/APPROVAL.md), and how long the membership it gives
    lasts (codes.duration)."""

    approval = TickBox(
        "Approve each person",
        refused="Tick the box to approve each person, or leave it empty.",
        description="Each redemption waits until staff accept it; the seat and the use count only then.",
    )
    surge_guard = TickBox(
        "Watch for a surge",
        refused="Tick the box to watch for a surge, or leave it empty.",
        description=(
            "An hour of 10 or more redemptions and over 10 times the code's usual rate (of the two weeks "
            "before) switches it to approval by itself. For a code people pick up one by one, not one a "
            "whole class types at once."
        ),
    )
    member_days = WholeNumberField(
        "Membership for, in days",
        validators=[Optional()],
        min=1,
        max=MAX_DAYS,
        range_message=DAYS_RANGE,
        min_message=DAYS_RANGE,
        description="Counted from each redemption. Empty: no end.",
    )
    member_until = DayField(
        "or membership until", validators=[Optional()], description="To the end of that day. Not both."
    )


class CodeForm(CodeOptions):
    text = StringField(
        "Code",
        validators=[
            DataRequired("Type the code people will enter."),
            Length(max=40, message="A code is 4 to 40 characters long."),
        ],
        description="4 to 40 letters, digits and dashes, like MHS-PTA-2027.",
    )
    classroom_ids = IdCheckboxes("Classrooms")
    course_ids = IdCheckboxes("Courses")
    valid_from = DayField("Valid from", validators=[Optional()])
    valid_from_time = TimeField("at", validators=[Optional()])
    valid_until = DayField(
        "Valid until",
        validators=[Optional()],
        description="Without a time, the code works to the end of that day.",
    )
    valid_until_time = TimeField("at", validators=[Optional()])
    max_uses = WholeNumberField(
        "Max uses",
        validators=[Optional()],
        min=1,
        max=MAX_USES,
        range_message=MAX_USES_RANGE,
        min_message="Max uses is at least 1. Leave it empty for unlimited.",
        description="Empty for unlimited.",
    )
    allowed_domains = StringField(
        "Allowed email domains",
        validators=[Optional(), Length(max=500, message="At most 500 characters.")],
        description="Only people with these email domains can use it, like school.org. Empty for anyone.",
    )
    hourly_limit = WholeNumberField(
        "Redemptions an hour, at most",
        validators=[Optional()],
        min=1,
        max=MAX_USES,
        range_message=HOURLY_RANGE,
        min_message=HOURLY_RANGE,
        description="More than this in an hour switches the code to approval by itself. Empty: no check.",
    )
    expected_domains = StringField(
        "Expected email domain",
        validators=[Optional(), Length(max=500, message="At most 500 characters.")],
        description="A redemption from any other address switches the code to approval. Empty: no check.",
    )
    role = SelectField(
        "Grants",
        choices=[
            (ROLE_STUDENT, "Student: joins and is enrolled"),
            (ROLE_TEACHER, "Teacher: leads or teaches the targets"),
        ],
        default=ROLE_STUDENT,
    )

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
        self.approval.data = code.approval
        self.surge_guard.data = code.surge_guard
        self.hourly_limit.data = code.hourly_limit
        self.expected_domains.data = " ".join(code.expected)
        self.member_days.data = code.member_days
        until = to_local(org, code.member_until)
        self.member_until.data = until.date() if until is not None else None
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
            valid_until=to_utc(org, self.valid_until.data, self.valid_until_time.data, end_of_day=True),
            max_uses=self.max_uses.data,
            domains_text=self.allowed_domains.data or "",
            role=self.role.data,
            approval=bool(self.approval.data),
            surge_guard=bool(self.surge_guard.data),
            hourly_limit=self.hourly_limit.data,
            expected_text=self.expected_domains.data or "",
            member_days=self.member_days.data,
            member_until=to_utc(org, self.member_until.data, end_of_day=True),
        )
