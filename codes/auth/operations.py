"""Accounts: sign-up, sign-in, email verification, password links and passwords."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TypeGuard

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from .. import attempts, audit
from ..codetext import MAX_TYPED, canonical
from ..errors import DomainError, FieldErrors
from ..extensions import db
from ..models import Code, PendingSignup, User, utcnow
from ..parents import operations as parents
from ..redeem import operations as redeeming
from . import sessions

VERIFY_MAX_AGE = 3 * 24 * 3600


def find_user(email: str | None) -> User | None:
    return db.session.scalar(select(User).where(User.email_key == User.key_for(email or "")))


def create_user(name: str, email: str, password: str, verified: bool = False) -> User:
    """A new account. Emails are unique whatever their case. For the CLI, the
    demo and tests: people sign up through request_signup and finish_signup."""
    email = email.strip()
    if find_user(email) is not None:
        raise FieldErrors({"email": "An account with that email already exists."})
    name = name.strip()
    user = User(
        name=name,
        email=email,
        email_key=User.key_for(email),
        search_key=User.search_key_for(name, email),
        email_verified=verified,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(user, "user.signup", user)
    return user


class LoginRefused(DomainError):
    """A wrong email or password: the same answer for both."""

    def __init__(self) -> None:
        super().__init__("That email and password don't match an account.", field="password")


_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash():
    """A hash to check a password against when there is no account (or no usable
    password), so that an unknown email costs what a known one does."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash(secrets.token_hex(16), method=method)
    return _DUMMY_HASHES[method]


def _usable(user: User | None) -> TypeGuard[User]:
    return user is not None and "$" in user.password_hash


def authenticate(email: str | None, password: str | None) -> User:
    """The account whose email and password these are, or LoginRefused. A hash is
    checked whether or not the email has an account with a password."""
    user = find_user(email)
    if not _usable(user):
        check_password_hash(_dummy_hash(), password or "")
        raise LoginRefused()
    if not user.check_password(password):
        raise LoginRefused()
    return user


def log_in_attempt(email: str | None, password: str | None, now: datetime | None = None) -> User:
    """Logging in, through the attempt pipeline (codes.attempts.attempt): wrong
    passwords are limited per typed email, whether or not it has an account,
    and per address. Returns the user; raises LoginRefused or attempts.Limited."""
    return attempts.attempt(
        attempts.login_policy(),
        User.key_for(email or ""),
        audit.client_address(),
        lambda: authenticate(email, password),
        lambda refusal: True,
        now,
    )


SIGNUP_MAX_AGE = 24 * 3600


def _signup_serializer(secret_key):
    return URLSafeTimedSerializer(secret_key, salt="finish-signup")


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignupRequested:
    """What request_signup did: `pending` for a new email (whose mail carries
    `token`), None when the email already has an account (`existing`)."""

    email: str
    pending: PendingSignup | None = None
    existing: User | None = None
    token: str = ""


def request_signup(
    secret_key: str,
    name: str,
    email: str,
    password: str,
    code_text: str | None,
    next_path: str | None,
    browser_token: str,
) -> SignupRequested:
    """A sign-up asked for. Nothing is said to the person about whether the email
    has an account: the answer is the same either way, and the mail says what to
    do. A new email gets a pending sign-up, finished by the mailed link; an email
    with an account gets a mail saying so. The password is hashed either way, so
    both take the same time."""
    email = email.strip()
    password_hash = generate_password_hash(
        password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    )
    existing = find_user(email)
    if existing is not None:
        return SignupRequested(email, existing=existing)
    pending = PendingSignup(
        email=email,
        email_key=User.key_for(email),
        name=name.strip(),
        password_hash=password_hash,
        code_text=(code_text or "").strip(),
        next_path=next_path or "",
        browser_hash=_digest(browser_token),
    )
    db.session.add(pending)
    db.session.flush()
    token = _signup_serializer(secret_key).dumps({"s": pending.id, "e": pending.email_key})
    return SignupRequested(email, pending=pending, token=token)


class SignupProblem(DomainError):
    """A sign-up link that cannot finish: expired, used, or the email has an
    account by now."""


def pending_signup(secret_key: str, token: str) -> PendingSignup:
    """The pending sign-up a link is for, while it is signed, a day old at most
    and unused; else SignupProblem."""
    try:
        data = _signup_serializer(secret_key).loads(token, max_age=SIGNUP_MAX_AGE)
    except BadSignature:
        raise SignupProblem(
            "That sign-up link is not valid or is over a day old. Sign up again to get a new one."
        ) from None
    pending = db.session.get(PendingSignup, data.get("s"))
    if pending is None or pending.email_key != data.get("e"):
        raise SignupProblem("That sign-up link is not valid. Sign up again to get a new one.")
    if pending.used_at is not None or find_user(pending.email) is not None:
        raise SignupProblem("This sign-up is already finished: log in with your email and password.")
    return pending


def same_browser(pending: PendingSignup, browser_token: str | None) -> bool:
    return bool(browser_token) and hmac.compare_digest(pending.browser_hash, _digest(browser_token))


def finish_signup(
    pending: PendingSignup,
    password: str | None = None,
    browser_token: str | None = None,
    now: datetime | None = None,
) -> User:
    """Make the account a confirmed link asked for, with its email verified. The
    browser that signed up finishes as it is; any other must give the password
    chosen (FieldErrors beside it otherwise). Returns the new user."""
    if not same_browser(pending, browser_token) and not check_password_hash(
        pending.password_hash, password or ""
    ):
        raise FieldErrors(
            {
                "password": (
                    "Type the password you chose when you signed up (this is not the browser you "
                    "signed up in)."
                )
            }
        )
    user = User(
        name=pending.name,
        email=pending.email,
        email_key=pending.email_key,
        password_hash=pending.password_hash,
        email_verified=True,
    )
    db.session.add(user)
    pending.used_at = now or utcnow()
    db.session.flush()
    audit.record(user, "user.signup", user)
    return user


def _serializer(secret_key):
    return URLSafeTimedSerializer(secret_key, salt="verify-email")


def verification_token(secret_key: str, user: User) -> str:
    return _serializer(secret_key).dumps({"u": user.id, "e": user.email_key})


def verify_email(secret_key: str, token: str) -> User | None:
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
# A roster's new account is mailed a link to set its first password: it lasts
# as long as an invitation (codes.invitations.operations.LIFETIME).
WELCOME_MAX_AGE = 14 * 24 * 3600


def _reset_serializer(secret_key):
    return URLSafeTimedSerializer(secret_key, salt="reset-password")


def _password_stamp(user):
    # Part of the current hash: once the password changes, older links stop working.
    return user.password_hash[-12:]


def password_reset_token(secret_key: str, user: User, welcome: bool = False) -> str:
    """A link's token to set the account's password: a day for a reset asked for,
    fourteen for the first password of an account a roster made (welcome)."""
    return _reset_serializer(secret_key).dumps({"u": user.id, "p": _password_stamp(user), "w": bool(welcome)})


def user_for_reset(secret_key: str, token: str) -> User | None:
    """The account a password link is for, while the link is signed, within its
    age (password_reset_token) and not yet used (the password has not changed
    since); else None."""
    try:
        data, signed_at = _reset_serializer(secret_key).loads(
            token, max_age=WELCOME_MAX_AGE, return_timestamp=True
        )
    except BadSignature:
        return None
    age = (utcnow() - signed_at.replace(tzinfo=None)).total_seconds()
    if not data.get("w") and age > RESET_MAX_AGE:
        return None
    user = db.session.get(User, data.get("u"))
    if user is None or data.get("p") != _password_stamp(user):
        return None
    return user


def reset_password(user: User, password: str) -> None:
    """Set a new password through an emailed link. Following the link proves the
    address is theirs, so the email counts as verified too. Every session of the
    account ends: whoever knew the old password is logged out too."""
    user.set_password(password)
    user.email_verified = True
    db.session.flush()
    sessions.end_all(user)
    audit.record(user, "user.password_reset", user)


CODE = "code"
PARENT = "parent"


def check_signup_code(text: str, email: str, now: datetime | None = None) -> str:
    """What can be said of a code typed at sign-up before the account exists:
    that it is unknown, no longer valid, not active, used up, or not for this
    email's domain. Returns CODE or PARENT (a parent code, which links the new
    account to its student); raises RedeemRefused. Seats, and whether the
    person is in its places already, are decided when the account is made."""
    now = now or utcnow()
    code = redeeming.find_code(text)
    if code is None:
        parent_code = parents.find_parent_code(text)
        if parent_code is None:
            raise redeeming.RedeemRefused(
                redeeming.UNKNOWN, "We don't recognize that code. Check it and try again."
            )
        refusal: redeeming.RedeemRefused | None = parents.refusal_for(parent_code, now)
        if refusal is not None:
            raise refusal
        return PARENT
    if code.deleted_at is not None or not (code.classrooms or code.courses):
        raise redeeming.RedeemRefused(
            redeeming.INVALID, "That code is no longer valid. Ask whoever gave it to you for a new one.", code
        )
    refusal = redeeming.refusal_for_status(code, now) or redeeming.domain_refusal(
        code, User.key_for(email).rpartition("@")[2]
    )
    if refusal is not None:
        raise refusal
    return CODE


def attempt_signup_code(text: str, email: str, now: datetime | None = None) -> str:
    """check_signup_code as an attempt (codes.attempts.attempt): failures count
    against the typed email and the address, in the budget of every code box;
    an attempt at an organization's code goes in its audit trail."""
    now = now or utcnow()
    key = canonical(text)[:MAX_TYPED] if len(text) <= MAX_TYPED else ""
    try:
        return attempts.attempt(
            attempts.codes_policy(),
            f"email:{User.key_for(email)}",
            audit.client_address(),
            lambda: check_signup_code(text, email, now),
            redeeming.is_guess,
            now,
        )
    except attempts.Limited as limited:
        redeeming.record_attempt(None, redeeming.LIMITED, redeeming.find_code(text), key, now, signup=True)
        raise redeeming.RedeemRefused(redeeming.LIMITED, limited.message) from None
    except redeeming.RedeemRefused as refusal:
        code = refusal.code if isinstance(refusal.code, Code) else None
        redeeming.record_attempt(None, refusal.outcome, code, key, now, signup=True)
        raise


def link_after_login(user: User, code_text: str | None, now: datetime | None = None) -> parents.Linked | None:
    """The parent code a person logged in with (from the letter's page) links
    them to its student, as the parents' code box does (attempt_link, which
    counts a failure and raises its LinkRefused); None when none came along."""
    if not (code_text or "").strip():
        return None
    return parents.attempt_link(user, code_text, now)


def redeem_after_signup(
    user: User, pending: PendingSignup, now: datetime | None = None
) -> redeeming.Redeemed | parents.Linked | None:
    """Redeem the code typed with a sign-up, now that its account exists: a
    parent code links them to its student, any other code is redeemed as the
    code box redeems it. Returns the result (with .message) or raises its
    RedeemRefused; None when no code was typed."""
    if not pending.code_text:
        return None
    if parents.find_parent_code(pending.code_text) is not None:
        return parents.attempt_link(user, pending.code_text, now)
    return redeeming.attempt_redeem(user, pending.code_text, now)


def confirm_password(user: User, password: str) -> None:
    """Changing the password asks for the current one, so that someone who finds
    a session left open cannot take the account over; wrong ones count with the
    account's wrong passwords at log-in (codes.attempts.login_policy)."""

    def check():
        if not user.check_password(password):
            raise FieldErrors({"current_password": "That is not your current password."})

    try:
        attempts.attempt(
            attempts.login_policy(), user.email_key, audit.client_address(), check, lambda refusal: True
        )
    except attempts.Limited as limited:
        raise FieldErrors({"current_password": limited.message}) from None


def change_password(user: User, password: str) -> None:
    """Set a new password from the account's own session (confirm_password first).
    Every other session of the account ends; this one stays."""
    user.set_password(password)
    db.session.flush()
    sessions.end_all(user, keep_current=True)
    audit.record(user, "user.password_change", user)


def end_every_session(user: User) -> None:
    """Log out everywhere: every session of the account ends, this one too."""
    sessions.end_all(user)
    audit.record(user, "user.logout_everywhere", user)
