"""Accounts: sign-up, sign-in and email verification."""
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from .. import audit
from ..errors import FieldErrors
from ..extensions import db
from ..models import User

VERIFY_MAX_AGE = 3 * 24 * 3600


def find_user(email):
    return db.session.scalar(select(User).where(User.email_key == User.key_for(email or "")))


def create_user(name, email, password, verified=False):
    """A new account. Emails are unique whatever their case."""
    email = email.strip()
    if find_user(email) is not None:
        raise FieldErrors({"email": "An account with that email already exists. Log in instead."})
    user = User(name=name.strip(), email=email, email_key=User.key_for(email),
                email_verified=verified)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(user, "user.signup", user)
    return user


def authenticate(email, password):
    user = find_user(email)
    if user is None or not user.check_password(password):
        return None
    return user


def _serializer(secret_key):
    return URLSafeTimedSerializer(secret_key, salt="verify-email")


def verification_token(secret_key, user):
    return _serializer(secret_key).dumps({"u": user.id, "e": user.email_key})


def verify_email(secret_key, token):
    """Mark the account's email verified if the signed token is valid, unexpired
    and names the account's current email. Returns the user or None."""
    try:
        data = _serializer(secret_key).loads(token, max_age=VERIFY_MAX_AGE)
    except BadSignature:
        return None
    user = db.session.get(User, data.get("u"))
    if user is None or user.email_key != data.get("e"):
        return None
    if not user.email_verified:
        user.email_verified = True
        db.session.flush()
        audit.record(user, "user.verify", user)
    return user
