from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize
from wtforms.validators import Optional

from ..numbers import IdField
from .roster import MAX_ROSTER_BYTES, MAX_ROSTER_MB


class MoveForm(FlaskForm):
    # Empty for a student in no classroom: they are placed in one.
    from_classroom_id = IdField("From", validators=[Optional()])
    to_classroom_id = IdField("Move to", required="Choose the classroom they move to.")


class RemoveForm(FlaskForm):
    classroom_id = IdField("Classroom", required="Choose the classroom they leave.")


class RosterForm(FlaskForm):
    roster = FileField(
        "Roster file (CSV)",
        validators=[
            FileRequired("Choose a CSV file."),
            FileAllowed(["csv"], "Choose a .csv file (in a spreadsheet: File, Save as, CSV)."),
            FileSize(
                MAX_ROSTER_BYTES,
                message=f"The file is larger than {MAX_ROSTER_MB:g} MB. Split it into smaller files.",
            ),
        ],
        description="Columns: email, name, classroom. The first row names them.",
    )
