from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize
from wtforms import IntegerField
from wtforms.validators import InputRequired

from .roster import MAX_ROSTER_BYTES, MAX_ROSTER_MB


class MoveForm(FlaskForm):
    from_classroom_id = IntegerField("From", validators=[
        InputRequired("Choose the classroom they leave.")])
    to_classroom_id = IntegerField("Move to", validators=[
        InputRequired("Choose the classroom they move to.")])


class RemoveForm(FlaskForm):
    classroom_id = IntegerField("Classroom", validators=[
        InputRequired("Choose the classroom they leave.")])


class RosterForm(FlaskForm):
    roster = FileField("Roster file (CSV)", validators=[
        FileRequired("Choose a CSV file."),
        FileAllowed(["csv"], "Choose a .csv file (in a spreadsheet: File, Save as, CSV)."),
        FileSize(MAX_ROSTER_BYTES,
                 message=f"The file is larger than {MAX_ROSTER_MB:g} MB. "
                         "Split it into smaller files."),
    ], description="Columns: email, name, classroom. The first row names them.")
