from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired


class RedeemForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired("Type the code you were given.")])
