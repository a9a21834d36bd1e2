"""Accounts: sign-up, sign-in and email verification."""
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from .. import audit
from ..codetext import MAX_TYPED, canonical
from ..errors import FieldErrors
from ..extensions import db
from ..models import User, utcnow
from ..redeem import operations as redeeming

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


def sign_up_with_code(name, email, password, text, limits, now=None):
    """A new account that joins with a code in the same step, whole or not at all.

    Every redemption rule applies (codes.redeem.operations.redeem). The account
    and the redemption are made in one savepoint: if the code is refused, the
    account is not made either and only the attempt's audit event remains.
    There is no account to count a failed attempt against, so it counts
    against the address alone. Returns (user, Redeemed); raises FieldErrors for
    the account's fields and RedeemRefused for the code."""
    now = now or utcnow()
    key = canonical(text)[:MAX_TYPED]
    ip = audit.client_address()
    wait = limits.counter.wait(None, ip, limits, now)
    if wait is not None:
        code = redeeming.find_code(text)
        audit.record(None, f"redeem.{redeeming.LIMITED}", code,
                     org_id=code.org_id if code else None, at=now, key=key, signup=True)
        raise redeeming.RedeemRefused(redeeming.LIMITED, redeeming.describe_wait(wait))
    try:
        with db.session.begin_nested():
            user = create_user(name, email, password)
            result = redeeming.redeem(user, text, now)
    except redeeming.RedeemRefused as refusal:
        code = refusal.code
        audit.record(None, f"redeem.{refusal.outcome}", code,
                     org_id=code.org_id if code else None, at=now, key=key, signup=True)
        if refusal.outcome in redeeming.GUESS_OUTCOMES:
            limits.counter.count_failure(None, ip, limits)
        if refusal.outcome == redeeming.DOMAIN and User.key_for(email).rpartition("@")[2] in code.domains:
            # The address is right but not verified yet, and verifying needs the account.
            raise redeeming.RedeemRefused(redeeming.DOMAIN, (
                "This code is only for verified addresses. Sign up without the code, confirm "
                "your email with the link we send you, then enter the code on your profile."
            ), code) from None
        raise
    audit.record(user, f"redeem.{result.outcome}", result.code, at=now, key=key,
                 took_seat=result.took_seat, signup=True)
    return user, result


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


RESET_MAX_AGE = 24 * 3600


def _reset_serializer(secret_key):
    return URLSafeTimedSerializer(secret_key, salt="reset-password")


def _password_stamp(user):
    # Part of the current hash: once the password changes, older links stop working.
    return user.password_hash[-12:]


def password_reset_token(secret_key, user):
    return _reset_serializer(secret_key).dumps({"u": user.id, "p": _password_stamp(user)})


def user_for_reset(secret_key, token):
    """The account a reset link is for, while the link is signed, less than a day old
    and not yet used (the password has not changed since); else None."""
    try:
        data = _reset_serializer(secret_key).loads(token, max_age=RESET_MAX_AGE)
    except BadSignature:
        return None
    user = db.session.get(User, data.get("u"))
    if user is None or data.get("p") != _password_stamp(user):
        return None
    return user


def reset_password(user, password):
    """Set a new password through an emailed link. Following the link proves the
    address is theirs, so the email counts as verified too."""
    user.set_password(password)
    user.email_verified = True
    db.session.flush()
    audit.record(user, "user.password_reset", user)
