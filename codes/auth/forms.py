from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from ..codetext import MAX_TYPED

MIN_PASSWORD = 8


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."),
                                                     Length(max=200)])


class SignupForm(FlaskForm):
    name = StringField("Your name", validators=[
        DataRequired("Enter your name."), Length(max=120, message="At most 120 characters.")])
    email = EmailField("Email", validators=[
        DataRequired("Enter your email."), Length(max=254, message="At most 254 characters."),
        Email("That doesn't look like an email address.", check_deliverability=False)])
    password = PasswordField("Password", validators=[
        DataRequired("Choose a password."),
        Length(min=MIN_PASSWORD, max=200, message=f"Use at least {MIN_PASSWORD} characters.")])
    code = StringField("Code (optional)", validators=[
        Optional(), Length(max=MAX_TYPED, message="That is too long to be a code.")],
        description="Got a code from your school or trainer? Type it here to join at once.")


class ForgotForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])


class ResetForm(FlaskForm):
    password = PasswordField("New password", validators=[
        DataRequired("Choose a password."),
        Length(min=MIN_PASSWORD, max=200, message=f"Use at least {MIN_PASSWORD} characters.")])
