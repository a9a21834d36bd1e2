"""Limits on what a person may try again and again: guessing codes (the code box,
the parents' box, sign-up with a code, and asking whether a custom code's text is
taken), logging in, and making the app send mail (docs/SECURITY.md, "Limits").

Each limit counts under a key per account and a key per address, never one shared
key. The counts live in one table of the app's database, which every worker of
every server shares, one row per key. An attempt first reserves its place with one
atomic upsert that returns the new count (attempts sent at the same instant each
get their own number, so exactly the limit gets through), and gives the place
back when it turns out not to be a failure (a code that worked, a right password)
or when it is refused for the limit.

A whole school usually reaches the app from one address, so the address has two
thresholds (docs/SECURITY.md works the numbers through): above `shared`, only
accounts that failed themselves in their own window wait; above `hostile`,
everyone at the address waits. An account with no failures of its own is held
back only by an address far above any school's rate.

Where the counts are written: PostgreSQL, in a short transaction of their own on
a second connection, so the busy row of a school's address is never locked for
the length of someone's redemption; SQLite, in the request's transaction when it
already holds the write lock (a second connection would wait for it), otherwise
in a short transaction of its own as well. A count taken in a transaction that
then fails stays counted: the safe direction."""

import calendar
import math
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from flask import current_app
from sqlalchemy import bindparam, text

from . import database
from .errors import DomainError
from .extensions import db
from .models import utcnow
from .words import plural


@dataclass(frozen=True)
class Policy:
    """One kind of attempt: how many failures an account may have in its window,
    and how many an address may have in its own before accounts that failed
    themselves (`shared`) and then everyone (`hostile`) must wait. `shared` None:
    only `hostile` applies to the address."""

    name: str
    per_account: int
    account_window: timedelta
    shared: int | None
    hostile: int
    address_window: timedelta
    # Words for what is limited, in the wait message: "codes that didn't work",
    # and for the account's own: "from your account".
    what: str
    own: str = "from your account"


class Limited(DomainError):
    """The attempt was refused before anything was tried: wait, then try again."""

    def __init__(self, message: str, wait: timedelta, whose: str) -> None:
        super().__init__(message)
        self.wait = wait
        self.whose = whose


ACCOUNT = "account"
SHARED = "shared"
HOSTILE = "hostile"


def _in_minutes(wait):
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    return plural(minutes, "minute")


def wait_message(policy: Policy, whose: str, wait: timedelta) -> str:
    """The wait, in plain words, saying whose attempts caused it."""
    pause = f"Wait {_in_minutes(wait)}, then try again."
    if whose == ACCOUNT:
        return f"Too many {policy.what} {policy.own}. {pause}"
    if whose == SHARED:
        return (
            f"Many {policy.what} have come from your network in the last hour (a school's "
            f"network is shared by everyone in it), and some of them from your account. {pause}"
        )
    return (
        f"Far too many {policy.what} have come from your network in the last hour, from many "
        f"accounts. {pause}"
    )


# One statement for both keys, written the same way on SQLite (3.35+) and
# PostgreSQL: a new key starts its window at 1; a key whose window has ended
# starts a new one; any other adds 1. Each key's row is locked only for this
# statement. Times are whole seconds since the epoch.
_RESERVE = text("""
    INSERT INTO attempt_counts (name, count, started_at, expires_at)
    VALUES {rows}
    ON CONFLICT (name) DO UPDATE SET
      count = CASE WHEN attempt_counts.expires_at <= excluded.started_at THEN 1
                   ELSE attempt_counts.count + 1 END,
      started_at = CASE WHEN attempt_counts.expires_at <= excluded.started_at
                        THEN excluded.started_at ELSE attempt_counts.started_at END,
      expires_at = CASE WHEN attempt_counts.expires_at <= excluded.started_at
                        THEN excluded.expires_at ELSE attempt_counts.expires_at END
    RETURNING name, count, expires_at
""")
_RESERVE_ROWS = {
    size: text(_RESERVE.text.format(rows=", ".join(f"(:name{i}, 1, :now, :expires{i})" for i in range(size))))
    for size in (1, 2)
}
# Given back only within the window it was taken in.
_GIVE_BACK = text(
    "UPDATE attempt_counts SET count = count - 1 WHERE name = :name AND expires_at = :expires AND count > 0"
)


def _seconds(instant):
    """Whole seconds since the epoch of a naive UTC instant."""
    return calendar.timegm(instant.utctimetuple())


def _count(params):
    """Run the counting statement where the module's docstring says: its rows,
    and whether it ran in the request's own transaction."""
    statement = _RESERVE_ROWS[sum(1 for k in params if k.startswith("name"))]
    return database.run_apart(lambda conn: conn.execute(statement, params).all())


@dataclass
class Attempt:
    """A reserved attempt: failed() keeps its count, passed() gives it back."""

    policy: Policy
    keys: dict[str, int]  # key name -> the expiry (epoch seconds) of the window it was counted in
    params: dict[str, Any] = field(default_factory=dict)  # of the statement that counted it
    in_session: bool = False
    done: bool = False

    def failed(self) -> None:
        """A failure stays counted, even when it was counted in the request's
        transaction (SQLite) and that is rolled back: then it is counted again,
        apart (database.run_apart)."""
        self.done = True
        if self.in_session and self.params:
            statement, params = _RESERVE_ROWS[len(self.keys)], self.params
            database.again_if_rolled_back(lambda conn: conn.execute(statement, params).all())

    def passed(self) -> None:
        """Not a failure (or not tried at all): the count goes back."""
        if self.done:
            return
        self.done = True
        rows = [{"name": name, "expires": expires} for name, expires in self.keys.items()]
        if rows:
            database.run_apart(lambda conn: conn.execute(_GIVE_BACK, rows))


def _key_names(policy, account, address):
    keys = {}
    if account is not None:
        keys[ACCOUNT] = f"{policy.name}:account:{account}"
    if address:
        keys["address"] = f"{policy.name}:address:{address}"
    return keys


def begin(
    policy: Policy, account: int | str | None, address: str | None, now: datetime | None = None
) -> Attempt:
    """Reserve an attempt of this kind for the account (an id or key; None when
    there is none yet) and the address, or raise Limited. The caller calls
    failed() or passed() on what it returns once it knows."""
    now = now or utcnow()
    names = _key_names(policy, account, address)
    if not names:
        return Attempt(policy, {})
    start = _seconds(now)
    windows = {ACCOUNT: policy.account_window, "address": policy.address_window}
    params = {"now": start}
    order = list(names.items())
    for i, (kind, name) in enumerate(order):
        params[f"name{i}"] = name
        params[f"expires{i}"] = start + int(windows[kind].total_seconds())
    counted, in_session = _count(params)
    rows = {row.name: row for row in counted}
    attempt = Attempt(policy, {name: rows[name].expires_at for _, name in order}, params, in_session)
    own = rows[names[ACCOUNT]] if ACCOUNT in names else None
    at_address = rows[names["address"]] if "address" in names else None
    blocked = None
    if own is not None and own.count > policy.per_account:
        blocked = (ACCOUNT, own)
    elif at_address is not None and at_address.count > policy.hostile:
        blocked = (HOSTILE, at_address)
    elif (
        at_address is not None
        and policy.shared is not None
        and at_address.count > policy.shared
        and own is not None
        and own.count > 1
    ):
        blocked = (SHARED, at_address)
    if blocked is None:
        return attempt
    attempt.passed()
    whose, row = blocked
    wait = timedelta(seconds=max(1, row.expires_at - start))
    raise Limited(wait_message(policy, whose, wait), wait, whose)


def _minutes(name):
    return timedelta(minutes=current_app.config[name])


def _address():
    """The address's thresholds and window, shared by codes and log-ins (the
    settings and their reasons: codes/__init__.py, docs/SECURITY.md)."""
    config = current_app.config
    return dict(
        shared=config["ADDRESS_FAILURES_SHARED"],
        hostile=config["ADDRESS_FAILURES_HOSTILE"],
        address_window=_minutes("ADDRESS_FAILURE_WINDOW_MINUTES"),
    )


def codes_policy() -> Policy:
    """Guessing codes: the code box, the parents' box, sign-up with a code, and
    asking whether a custom code's text is taken all share this budget."""
    return Policy(
        name="codes",
        per_account=current_app.config["REDEEM_FAILURES_PER_ACCOUNT"],
        account_window=_minutes("REDEEM_FAILURE_WINDOW_MINUTES"),
        **_address(),
        what="codes that didn't work",
    )


def login_policy() -> Policy:
    """Wrong passwords, counted per typed email (whether or not it has an
    account, so the limit says nothing about who is registered) and per address."""
    return Policy(
        name="login",
        per_account=current_app.config["LOGIN_FAILURES_PER_ACCOUNT"],
        account_window=_minutes("LOGIN_FAILURE_WINDOW_MINUTES"),
        **_address(),
        what="wrong passwords",
        own="for this email address",
    )


def mail_policy() -> Policy:
    """Mail a person can make the app send (sign-up, a new confirmation link, a
    password link, an invitation): every one counts, per recipient and per
    client address."""
    hour = timedelta(hours=1)
    return Policy(
        name="mail",
        per_account=current_app.config["MAIL_PER_RECIPIENT_PER_HOUR"],
        account_window=hour,
        shared=None,
        hostile=current_app.config["MAIL_PER_ADDRESS_PER_HOUR"],
        address_window=hour,
        what="emails asked for",
        own="to this address",
    )


def counts(policy: Policy, account: int | str | None = None, address: str | None = None) -> dict[str, int]:
    """The current counts of the keys (for tests and the operators' checks)."""
    names = _key_names(policy, account, address)
    rows = db.session.execute(
        text("SELECT name, count, expires_at FROM attempt_counts WHERE name IN :names").bindparams(
            bindparam("names", expanding=True)
        ),
        {"names": list(names.values()) or [""]},
    ).all()
    now = _seconds(utcnow())
    # The column: a Row reads a column named count before tuple's count(), which
    # its type leaves open.
    found = {r.name: cast(int, r.count) for r in rows if r.expires_at > now}
    return {kind: found.get(name, 0) for kind, name in names.items()}


T = TypeVar("T")  # what an attempt's work returns


def attempt(
    policy: Policy,
    account: int | str | None,
    address: str | None,
    work: Callable[[], T],
    is_failure: Callable[[DomainError], bool],
    now: datetime | None = None,
) -> T:
    """Run work() as one attempt of a kind: the one pipeline of the code box, the
    parents' box, sign-up with a code, custom code texts and logging in.

    The attempt is reserved first: while the account or the address must wait,
    Limited is raised and work is not run. Then work runs in a savepoint, so a
    refusal (a DomainError it raises) leaves nothing of it; the refusal counts as
    a failure when is_failure(refusal) says so. A success, and a refusal that is
    no failure, give the count back. Returns what work returns."""
    reserved = begin(policy, account, address, now)
    try:
        with db.session.begin_nested():
            result = work()
    except DomainError as refusal:
        if is_failure(refusal):
            reserved.failed()
        else:
            reserved.passed()
        raise
    except BaseException:
        # Not an answer about the attempt (the database busy, a bug): it is not
        # counted against the person, where the count can still be given back.
        with suppress(Exception):
            reserved.passed()
        raise
    reserved.passed()
    return result
