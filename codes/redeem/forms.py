from typing import Any

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, ValidationError

from ..codetext import typed_code_problem


class CodeBoxField(StringField):
    """A box a person types or pastes a code into (the profile, sign-up, the
    parents' page). Text longer than any code is refused beside the box
    (codes.codetext.typed_code_problem), before anything looks it up; the input
    has no maxlength, which would cut a paste without a word."""

    def __init__(self, label: str | None = None, validators: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(
            label,
            [*(validators or []), self._no_longer_than_a_code],
            render_kw={"maxlength": False},
            **kwargs,
        )

    @staticmethod
    def _no_longer_than_a_code(form: Any, field: StringField) -> None:
        problem = typed_code_problem(field.data)
        if problem:
            raise ValidationError(problem)


class RedeemForm(FlaskForm):
    code = CodeBoxField("Code", validators=[DataRequired("Type the code you were given.")])
