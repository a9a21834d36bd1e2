"""Numbers people send, in URLs, query strings and forms, bounded to what the
database stores.

Werkzeug's int converter, request.args' type=int and WTForms' IntegerField take
numbers of any size, while PostgreSQL's integer stops at 2,147,483,647 and
SQLite's at 2**63 - 1: past them the driver raised, and the page answered 500.
An id past the range names nothing, so it is answered as any unknown id is; a
number typed into a form says in plain words what it takes."""

from typing import Any, cast

from werkzeug.routing import IntegerConverter, Map
from wtforms import IntegerField, SelectMultipleField
from wtforms.form import BaseForm
from wtforms.validators import StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

# PostgreSQL's integer, the type of every id and count column.
MAX_INTEGER = 2**31 - 1
# Names nothing: ids start at 1.
NO_ID = 0
NOT_WHOLE = "Enter a whole number."


def _at_most(limit):
    """A pattern for the whole numbers from 0 to `limit` written without a sign:
    fewer digits than the limit, or as many and not above it."""
    text = str(limit)
    options = [rf"\d{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for place, digit in enumerate(text):
        lowest = 1 if place == 0 and len(text) > 1 else 0
        below = int(digit) - 1
        if below >= lowest:
            rest = len(text) - place - 1
            options.append(
                text[:place]
                + (str(below) if below == lowest else f"[{lowest}-{below}]")
                + (rf"\d{{{rest}}}" if rest else "")
            )
    return "|".join([*options, text])


class BoundedIntConverter(IntegerConverter):
    """Werkzeug's int, registered as "int" in place of it, up to MAX_INTEGER. Its
    pattern takes no larger number, so such a URL matches no rule and is not
    found (404), as an id of nothing. (A number refused only after matching, by
    max= alone, answered 405 where another method shares the path.)"""

    regex = _at_most(MAX_INTEGER)

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_INTEGER,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def as_id(value: Any) -> int:
    """An id from a form (the coerce of a select or of checkboxes): whatever can't
    be one, not a whole number or out of range, is NO_ID, which the checks that
    follow answer as any unknown id."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return NO_ID
    return number if 0 < number <= MAX_INTEGER else NO_ID


class IdCheckboxes(SelectMultipleField):
    """A list of checkboxes, one per thing (a classroom, a course): the ids ticked,
    an empty list when none is, never None. (A post of nothing but unticked boxes,
    its token in a header as htmx sends it, has no form data at all: WTForms then
    gave None, which the operations could not go through.) Ids are checked
    against the person's scope by the operation, not against the choices.
    With `most`, a form sending more ids than that is refused beside the field
    (`too_many`) before any of them is read."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(
        self,
        label: str | None = None,
        validators: Any = None,
        most: int | None = None,
        too_many: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("coerce", as_id)
        kwargs.setdefault("validate_choice", False)
        super().__init__(label, validators, **kwargs)
        self.most = most
        self.too_many = too_many or (f"Choose at most {most:,}." if most is not None else "")

    def process_formdata(self, valuelist: list[Any]) -> None:
        if self.most is not None and len(valuelist) > self.most:
            self.data = []
            raise ValueError(self.too_many)
        super().process_formdata(valuelist)

    def process_data(self, value: Any) -> None:
        super().process_data(value)
        if self.data is None:
            self.data = []


def query_id(text: str) -> int:
    """For request.args.get(..., type=query_id): text that is no whole number is
    not given (ValueError), as before; a number out of range names nothing."""
    number = int(text)
    return number if 0 < number <= MAX_INTEGER else NO_ID


def query_number(text: str) -> int:
    """For request.args.get(..., type=query_number), such as a page: a whole
    number within the integer range, or not given (ValueError)."""
    number = int(text)
    if not -MAX_INTEGER <= number <= MAX_INTEGER:
        raise ValueError(text)
    return number


class WholeNumberField(IntegerField):
    """A number typed into a form, with one message in plain words: NOT_WHOLE for
    anything but a whole number ("2.5", "abc"), or `range_message` outside `min`
    to `max` (also the input's min and max attributes; `min_message`, if given,
    below min). Empty is None, for
    Optional or InputRequired to judge. WTForms' own IntegerField said "Not a
    valid integer value." and then the range's message beside it."""

    def __init__(
        self,
        label: str | None = None,
        validators: list[Any] | None = None,
        min: int | None = None,
        max: int = MAX_INTEGER,
        range_message: str | None = None,
        min_message: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(label, validators, **kwargs)
        self.min, self.max = min, max
        self.range_message = range_message or f"Enter a number from {min or 0:,} to {max:,}."
        self.min_message = min_message or self.range_message
        if min is not None:
            self.flags.min = min
        self.flags.max = max

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        if not valuelist[0].strip():
            self.data = None
            return
        try:
            self.data = int(valuelist[0])
        except ValueError:
            self.data = None
            raise ValueError(NOT_WHOLE) from None

    def post_validate(self, form: BaseForm, validation_stopped: bool) -> None:
        if validation_stopped or self.errors or self.data is None:
            return
        # validate() has made the errors a list by now; the stubs know them as a Sequence.
        errors = cast(list[str], self.errors)
        if self.min is not None and self.data < self.min:
            errors.append(self.min_message)
        elif self.data > self.max:
            errors.append(self.range_message)


class IdField(IntegerField):
    """An id a form sends (a hidden field, a select): whatever can't be one is
    NO_ID (as_id), answered as any unknown id; empty (or white space) is None,
    refused with `required` when it is given. DataRequired would refuse NO_ID as
    empty too, where an id past the range must be answered as any unknown id."""

    def __init__(
        self,
        label: str | None = None,
        validators: list[Any] | None = None,
        required: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(label, validators, **kwargs)
        self.required = required
        if required:
            self.flags.required = True

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = as_id(valuelist[0]) if valuelist and valuelist[0].strip() else None

    def pre_validate(self, form: BaseForm) -> None:
        if self.required and self.data is None:
            raise StopValidation(self.required)
