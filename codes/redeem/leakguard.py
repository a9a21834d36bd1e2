"""The leak guard, in the redemption's own transaction (docs/APPROVAL.md): a code
that sees more redemptions in an hour than its staff set, or one from an email
domain they did not expect, switches itself to approval mode and records when
the spike began. Every function flushes and never commits."""

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update

from .. import audit, database
from ..extensions import db
from ..models import SPIKE_DOMAIN, SPIKE_RATE, Code, Redemption, User
from ..notifications import alerts

__all__ = ["SPIKE_DOMAIN", "SPIKE_RATE", "spike_began", "switch_to_approval", "unexpected_domain"]

WINDOW = timedelta(hours=1)


def unexpected_domain(code: Code, user: User) -> bool:
    """Whether the person's email is not one the code's staff expect: another
    domain, or an address not verified (anyone can type any address)."""
    expected = code.expected
    if not expected:
        return False
    return not (user.email_verified and user.email_domain in expected)


# A person's own redemptions of one code in the window: those staff accepted
# from requests are not arrivals the guard counts.
_RECENT = select(func.count(), func.min(Redemption.created_at)).where(
    Redemption.code_id == bindparam("code_id"),
    Redemption.through_request.is_(False),
    Redemption.created_at > bindparam("since"),
)


def spike_began(code: Code, now: datetime) -> datetime | None:
    """When the spike began, if one more redemption now would make the last
    hour's count exceed the code's hourly limit: the first redemption of that
    hour. None while within it. To be asked holding the code's row (after the
    guarded UPDATE that counts the use), so the count is of everything
    committed before and nothing else is counted meanwhile."""
    if code.hourly_limit is None:
        return None
    recent, first = database.execute(_RECENT, {"code_id": code.id, "since": now - WINDOW}).one()
    if recent < code.hourly_limit:
        return None
    return first or now


_SWITCH = (
    update(Code)
    .where(Code.id == bindparam("code_id"))
    .values(
        approval=True,
        spike_at=func.coalesce(Code.spike_at, bindparam("began")),
        spike_reason=func.coalesce(Code.spike_reason, bindparam("reason")),
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


def switch_to_approval(
    code: Code, reason: str, began: datetime, now: datetime, give_back_use: bool = False
) -> None:
    """Put the code in approval mode because of a spike (SPIKE_RATE, SPIKE_DOMAIN)
    that began at `began`, keeping the first spike's time and reason while its
    warning stands; `give_back_use` uncounts the use just counted for the
    redemption that crossed the limit, which waits as a request instead.

    The one place a leak is noticed: its audit event is written here, and this
    is where the staff's alert is queued, in this transaction: once per switch,
    by the one redemption whose UPDATE turned approval on (a code already in
    approval mode, by its staff or a racing redemption, alerts nobody again)."""
    statement = _SWITCH_GIVING_BACK if give_back_use else _SWITCH
    params = {"code_id": code.id, "began": began, "reason": reason}
    switched = database.execute(_SWITCH_NOW[statement], params).rowcount == 1
    if not switched:
        database.execute(statement, params)
    db.session.expire(code, ["approval", "spike_at", "spike_reason", "uses"])
    audit.insert(None, "code.spike", code, org_id=code.org_id, at=now, reason=reason, began=began)
    if switched:
        alerts.code_waits_for_approval(code, reason)
