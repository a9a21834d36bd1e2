from flask_wtf import FlaskForm
from wtforms.validators import DataRequired

from ..redeem.forms import CodeBoxField


class ParentCodeForm(FlaskForm):
    code = CodeBoxField(
        "Parent code", validators=[DataRequired("Type the parent code from the letter or from your child.")]
    )
