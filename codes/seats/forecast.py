"""When an organization's license runs out, at the rate of the last 30 days."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import func, select

from ..extensions import db
from ..models import AuditEvent, Organization, Redemption, utcnow

WINDOW_DAYS = 30
# Staff are warned when, at that rate, the seats run out within this many days.
WARN_DAYS = 30
# How the audit trail writes a seat taken by a roster row or an invitation
# (codes.audit: JSON with sorted keys).
_TOOK_SEAT = '%"took_seat": true%'
_SEAT_ACTIONS = ("roster.add", "invitation.accept")


@dataclass(frozen=True)
class SeatForecast:
    limit: int
    taken: int
    # New seats taken in the WINDOW_DAYS before `now`.
    recent: int
    now: datetime

    @property
    def left(self) -> int:
        """Seats of the license not taken yet (reserved ones included: they are
        the license's too, and taken at the same rate)."""
        return max(self.limit - self.taken, 0)

    @property
    def per_day(self) -> float:
        return self.recent / WINDOW_DAYS

    @property
    def runs_out_at(self) -> datetime | None:
        """When the last seat goes at the recent rate: now if none is left, None
        if no seat was taken in the window (no end at that rate)."""
        if self.left == 0:
            return self.now
        if self.recent == 0:
            return None
        return self.now + timedelta(days=self.left * WINDOW_DAYS / self.recent)

    @property
    def days_left(self) -> int | None:
        """Whole days until runs_out_at (0 when it is today), or None."""
        if self.runs_out_at is None:
            return None
        return (self.runs_out_at - self.now).days

    @property
    def warn(self) -> bool:
        """The seats run out within WARN_DAYS at this rate: as many seats are left
        as the last WINDOW_DAYS took, or fewer."""
        return self.runs_out_at is not None and self.runs_out_at - self.now <= timedelta(days=WARN_DAYS)

    @property
    def next_window(self) -> int:
        """The seats the next WINDOW_DAYS would take at this rate, as many as are left at most."""
        return min(self.recent, self.left)


def new_seats_since(org: Organization, since: datetime, until: datetime) -> int:
    """Seats the organization's students took after `since`, until `until`: by a code (a
    redemption that took a seat), a roster row or an accepted invitation (their
    audit events say whether they took one)."""
    by_code = select(func.count(Redemption.id)).where(
        Redemption.org_id == org.id,
        Redemption.took_seat.is_(True),
        Redemption.created_at > since,
        Redemption.created_at <= until,
    )
    by_staff = select(func.count(AuditEvent.id)).where(
        AuditEvent.org_id == org.id,
        AuditEvent.action.in_(_SEAT_ACTIONS),
        AuditEvent.detail.like(_TOOK_SEAT),
        AuditEvent.created_at > since,
        AuditEvent.created_at <= until,
    )
    # A count is always one row: never None.
    return cast(int, db.session.scalar(by_code)) + cast(int, db.session.scalar(by_staff))


def seat_forecast(org: Organization, now: datetime | None = None) -> SeatForecast | None:
    """At the rate of the last WINDOW_DAYS, when the license's seats run out; None
    without a limit (nothing runs out)."""
    if org.seat_limit is None:
        return None
    now = now or utcnow()
    recent = new_seats_since(org, now - timedelta(days=WINDOW_DAYS), now)
    return SeatForecast(org.seat_limit, org.seats_taken, recent, now)
