"""Dates are typed and shown in the organization's time zone and stored as naive UTC."""
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo, available_timezones

END_OF_DAY = time(23, 59, 59, 999999)


def zone(org):
    return ZoneInfo(org.timezone)


def to_utc(org, day, at=None, end_of_day=False):
    """The UTC instant of a date (and optional time) in the organization's zone.
    A date without a time means its start, or with end_of_day its last moment."""
    if day is None:
        return None
    clock = at if at is not None else (END_OF_DAY if end_of_day else time(0, 0))
    local = datetime.combine(day, clock, tzinfo=zone(org))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def to_local(org, instant):
    if instant is None:
        return None
    return instant.replace(tzinfo=timezone.utc).astimezone(zone(org))


def is_end_of_day(local):
    return local.time().replace(microsecond=0) == time(23, 59, 59)


def format_local(org, instant, with_time=True):
    """How people read an instant: '2027-06-30' for a whole day, else with the time."""
    local = to_local(org, instant)
    if local is None:
        return ""
    if not with_time or is_end_of_day(local) or local.time() == time(0, 0):
        return local.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%d %H:%M")


def timezone_names():
    return sorted(available_timezones())
