"""Server-side session records: a login lasts until its record is ended, whatever
copies of its cookie exist (Flask-Login's "alternative tokens")."""

import hashlib
import secrets

from sqlalchemy import update

from ..extensions import db
from ..models import UserSession, utcnow


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def start(user):
    """A new session of the account. Its token goes into the cookie through
    user.get_id(); only the token's hash is stored."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_hash=token_hash(token)))
    db.session.flush()
    user.session_token = token
    return token


def _end(*where):
    db.session.execute(
        update(UserSession).where(UserSession.ended_at.is_(None), *where).values(ended_at=utcnow()),
        execution_options={"synchronize_session": False},
    )


def end(user):
    """End the session the user was loaded with, for good: the cookie it was in,
    and every copy of it, are logged out."""
    _end(UserSession.user_id == user.id, UserSession.token_hash == token_hash(user.session_token))


def end_all(user, keep_current=False):
    """End every session of the account (or every other one: a new password
    logs out wherever the old one was used, but not the person who set it)."""
    where = [UserSession.user_id == user.id]
    if keep_current:
        where.append(UserSession.token_hash != token_hash(user.session_token))
    _end(*where)
