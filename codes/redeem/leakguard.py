"""The leak guard, in the redemption's own transaction (docs/APPROVAL.md): a code
that sees more redemptions in an hour than its staff set, or far more than its
usual rate, or one from an email domain they did not expect, switches itself to
approval mode and records when the spike began. Every function flushes and
never commits."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Float, Integer, bindparam, case, func, select, update

from .. import audit, database
from ..extensions import db
from ..models import SPIKE_DOMAIN, SPIKE_RATE, SPIKE_SURGE, Code, Redemption, User
from ..notifications import alerts

__all__ = [
    "SPIKE_DOMAIN",
    "SPIKE_RATE",
    "SPIKE_SURGE",
    "Spike",
    "rate_spike",
    "switch_to_approval",
    "unexpected_domain",
]

WINDOW = timedelta(hours=1)


# The usual-rate guard (docs/APPROVAL.md, "The usual rate"): an hour trips it
# when, with the redemption being made, it has at least SURGE_AT_LEAST of the
# code's redemptions and more than SURGE_TIMES its usual hourly rate. The usual
# rate is measured over the USUAL_OVER before the hour (from the code's first
# redemption, if later), and only once that covers USUAL_NEEDS.
SURGE_TIMES = 10
SURGE_AT_LEAST = 10
USUAL_OVER = timedelta(days=14)
USUAL_NEEDS = timedelta(days=1)


@dataclass(frozen=True)
class Spike:
    """Why the guard switches a code (SPIKE_RATE, SPIKE_SURGE, SPIKE_DOMAIN) and
    when the spike began; for SPIKE_SURGE, the hour's redemptions with the one
    that tripped it, and the usual rate (redemptions an hour) it was held
    against."""

    reason: str
    began: datetime
    count: int | None = None
    usual: float | None = None


def unexpected_domain(code: Code, user: User) -> bool:
    """Whether the person's email is not one the code's staff expect: another
    domain, or an address not verified (anyone can type any address)."""
    expected = code.expected
    if not expected:
        return False
    return not (user.email_verified and user.email_domain in expected)


# A person's own redemptions of one code: those staff accepted from requests
# are not arrivals the guard counts. Each read is a range of
# ix_redemptions_code_arrivals (code_id, through_request, created_at).
_ARRIVALS = (Redemption.code_id == bindparam("code_id"), Redemption.through_request.is_(False))


# The last hour's: how many, and the first.
_RECENT = select(func.count(), func.min(Redemption.created_at)).where(
    *_ARRIVALS, Redemption.created_at > bindparam("since")
)
# The weeks before the hour: how many, and the code's first redemption ever
# (the history may begin within them), the first entry of its index range.
_PAST = select(
    select(func.count())
    .where(
        *_ARRIVALS,
        Redemption.created_at > bindparam("past_since"),
        Redemption.created_at <= bindparam("until"),
    )
    .scalar_subquery(),
    select(Redemption.created_at)
    .where(*_ARRIVALS)
    .order_by(Redemption.created_at)
    .limit(1)
    .scalar_subquery(),
)


def _surging(code: Code, now: datetime, arriving: int) -> float | None:
    """The code's usual rate (redemptions an hour) when `arriving` redemptions
    in the last hour are more than SURGE_TIMES that rate; None when they are
    not, or when the code has no usual rate yet (its history before the hour
    is shorter than USUAL_NEEDS)."""
    until = now - WINDOW
    past, first = database.execute(
        _PAST, {"code_id": code.id, "past_since": until - USUAL_OVER, "until": until}
    ).one()
    if first is None:
        return None
    measured = until - max(first, until - USUAL_OVER)
    if measured < USUAL_NEEDS:
        return None
    # arriving > SURGE_TIMES * past / (measured / WINDOW), in whole microseconds.
    if arriving * measured <= SURGE_TIMES * past * WINDOW:
        return None
    return past / (measured / WINDOW)


def rate_spike(code: Code, now: datetime) -> Spike | None:
    """The spike one more redemption now would make, or None: the last hour's
    count exceeding the code's hourly limit (SPIKE_RATE), or, with its
    usual-rate guard on, at least SURGE_AT_LEAST and more than SURGE_TIMES its
    usual rate (SPIKE_SURGE). It began with the first redemption of that hour.
    To be asked holding the code's row (after the guarded UPDATE that counts the
    use), so the counts are of everything committed before and nothing else is
    counted meanwhile. The weeks before the hour are read only when the hour
    alone could trip the usual-rate guard."""
    recent, first = database.execute(_RECENT, {"code_id": code.id, "since": now - WINDOW}).one()
    arriving, began = recent + 1, first or now
    if code.hourly_limit is not None and arriving > code.hourly_limit:
        return Spike(SPIKE_RATE, began)
    if code.surge_guard and arriving >= SURGE_AT_LEAST:
        usual = _surging(code, now, arriving)
        if usual is not None:
            return Spike(SPIKE_SURGE, began, arriving, usual)
    return None


# The first spike's time, reason and figures are kept while its warning stands
# (every SET reads the row as it was before the UPDATE).
_FIRST_SPIKE = Code.spike_reason.is_(None)
_SWITCH = (
    update(Code)
    .where(Code.id == bindparam("code_id"))
    .values(
        approval=True,
        spike_at=func.coalesce(Code.spike_at, bindparam("began")),
        spike_reason=func.coalesce(Code.spike_reason, bindparam("reason")),
        spike_count=case((_FIRST_SPIKE, bindparam("count", type_=Integer)), else_=Code.spike_count),
        spike_usual=case((_FIRST_SPIKE, bindparam("usual", type_=Float)), else_=Code.spike_usual),
    )
    .execution_options(synchronize_session=False)
)
_SWITCH_GIVING_BACK = _SWITCH.values(uses=Code.uses - 1)
# The same, only while the code is not in approval mode yet: the one writer
# whose UPDATE finds approval off (a second waits for the row, and on
# PostgreSQL re-evaluates the WHERE on what the first left) is the switch.
_SWITCH_NOW = {
    statement: statement.where(Code.approval.is_(False)) for statement in (_SWITCH, _SWITCH_GIVING_BACK)
}


def switch_to_approval(code: Code, spike: Spike, now: datetime, give_back_use: bool = False) -> None:
    """Put the code in approval mode because of a spike, keeping the first
    spike's time, reason and figures while its warning stands; `give_back_use`
    uncounts the use just counted for the redemption that crossed the limit,
    which waits as a request instead.

    The one place a leak is noticed: its audit event is written here, and this
    is where the staff's alert is queued, in this transaction: once per switch,
    by the one redemption whose UPDATE turned approval on (a code already in
    approval mode, by its staff or a racing redemption, alerts nobody again)."""
    statement = _SWITCH_GIVING_BACK if give_back_use else _SWITCH
    params = {
        "code_id": code.id,
        "began": spike.began,
        "reason": spike.reason,
        "count": spike.count,
        "usual": spike.usual,
    }
    switched = database.execute(_SWITCH_NOW[statement], params).rowcount == 1
    if not switched:
        database.execute(statement, params)
    db.session.expire(code, ["approval", "spike_at", "spike_reason", "spike_count", "spike_usual", "uses"])
    detail = {"reason": spike.reason, "began": spike.began}
    if spike.reason == SPIKE_SURGE and spike.usual is not None:
        # Read in the log as "Redemptions in the hour" and "Usual an hour".
        detail.update(redemptions_in_the_hour=spike.count, usual_an_hour=round(spike.usual, 3))
    audit.insert(None, "code.spike", code, org_id=code.org_id, at=now, **detail)
    if switched:
        alerts.code_waits_for_approval(code, spike)
