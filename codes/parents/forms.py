from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired


class ParentCodeForm(FlaskForm):
    code = StringField("Parent code", validators=[
        DataRequired("Type the parent code from the letter or from your child.")])
