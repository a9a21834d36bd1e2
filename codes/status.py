"""A code's one status: the first of these that applies (DESIGN.md "Status")."""
from .models import utcnow

DEACTIVATED = "Deactivated"
EXPIRED = "Expired"
USED = "Used"
OFF = "Off"
SCHEDULED = "Scheduled"
ACTIVE = "Active"
ALL = (DEACTIVATED, EXPIRED, USED, OFF, SCHEDULED, ACTIVE)


def code_status(code, now=None):
    now = now or utcnow()
    if code.deactivated_at is not None:
        return DEACTIVATED
    if code.valid_until is not None and now > code.valid_until:
        return EXPIRED
    if code.max_uses is not None and code.uses >= code.max_uses:
        return USED
    if not code.enabled:
        return OFF
    if code.valid_from is not None and now < code.valid_from:
        return SCHEDULED
    return ACTIVE
