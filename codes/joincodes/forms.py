from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class JoinCodeForm(FlaskForm):
    text = StringField(
        "Your own text",
        validators=[
            DataRequired("Type the new join code, or draw a random one."),
            Length(max=40, message="A code is 4 to 40 characters long."),
        ],
        description="4 to 40 letters, digits and dashes, like MHS-9A-2027.",
    )
