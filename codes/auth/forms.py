from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, StopValidation, ValidationError

from ..codetext import MAX_TYPED
from ..redeem.forms import CodeBoxField

MIN_PASSWORD = 8


class MaxLength(Length):
    """Length that ends the field's checks when the text is too long, so the
    validators after it never read it: email_validator reads an address a
    character at a time, over a second for the two megabytes a form may carry."""

    def __call__(self, form, field):
        try:
            super().__call__(form, field)
        except ValidationError as error:
            raise StopValidation(str(error)) from None


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=200)])
    # A parent code the person came with (the letter's page): it links them once
    # they are in.
    code = HiddenField(validators=[Optional(), Length(max=MAX_TYPED)])


class SignupForm(FlaskForm):
    name = StringField(
        "Your name",
        validators=[DataRequired("Enter your name."), Length(max=120, message="At most 120 characters.")],
    )
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter your email."),
            MaxLength(max=254, message="At most 254 characters."),
            Email("That doesn't look like an email address.", check_deliverability=False),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Choose a password."),
            Length(min=MIN_PASSWORD, max=200, message=f"Use at least {MIN_PASSWORD} characters."),
        ],
    )
    code = CodeBoxField(
        "Code (optional)",
        validators=[Optional()],
        description="Got a code from your school or trainer? Type it here to join at once.",
    )


class ForgotForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])


class ResetForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[
            DataRequired("Choose a password."),
            Length(min=MIN_PASSWORD, max=200, message=f"Use at least {MIN_PASSWORD} characters."),
        ],
    )


class FinishSignupForm(FlaskForm):
    # Asked only when the link is opened in another browser than the sign-up's.
    password = PasswordField(
        "The password you chose", validators=[Optional(), Length(max=200, message="At most 200 characters.")]
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[
            DataRequired("Enter your current password."),
            Length(max=200, message="That is not your current password."),
        ],
    )
    new_password = PasswordField(
        "New password",
        validators=[
            DataRequired("Choose a new password."),
            Length(min=MIN_PASSWORD, max=200, message=f"Use at least {MIN_PASSWORD} characters."),
        ],
    )
