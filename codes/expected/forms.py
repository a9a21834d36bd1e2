from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileSize
from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from .operations import MAX_FILE_BYTES, MAX_PASTED


class ExpectedForm(FlaskForm):
    emails = TextAreaField(
        "Emails you expect",
        validators=[
            Optional(),
            Length(
                max=MAX_PASTED, message=f"Paste at most {MAX_PASTED:,} characters at once. Split the list."
            ),
        ],
        description="One a line; a name after a comma if you like (ana@example.org, Ana Lima).",
    )
    file = FileField(
        "Or a file (CSV or text)",
        validators=[
            FileAllowed(["csv", "txt"], "Choose a .csv or .txt file."),
            FileSize(MAX_FILE_BYTES, message="The file is larger than 1 MB. Split it."),
        ],
    )
