from flask_wtf import FlaskForm

from ..numbers import IdField


class RemoveJoinedForm(FlaskForm):
    user_id = IdField("Person", required="Choose the person to remove.")
    classroom_id = IdField("Classroom", required="Choose the classroom they leave.")
