"""Dates are typed and shown in the organization's time zone and stored as naive UTC."""

from datetime import date, datetime, time, timezone
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from wtforms import DateField

END_OF_DAY = time(23, 59, 59, 999999)
# The days a form takes. Python's datetime stops at the years 1 and 9999, and a
# day at either end, read in a zone up to 14 hours from UTC (or shown in one after
# the organization's zone changed), is an instant outside them: the conversion
# raised OverflowError and the page answered 500. A year inside on each side
# leaves every zone room.
FIRST_DAY, LAST_DAY = date(2, 1, 1), date(9998, 12, 31)
DAY_RANGE = "Enter a date between the years 2 and 9998."


class DayField(DateField):
    """WTForms' DateField for the days from FIRST_DAY to LAST_DAY, with DAY_RANGE
    beside it for any other."""

    def post_validate(self, form, validation_stopped):
        if validation_stopped or self.errors or self.data is None:
            return
        if not FIRST_DAY <= self.data <= LAST_DAY:
            self.errors.append(DAY_RANGE)


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


def format_local(org, instant, with_time=True, with_zone=False):
    """How people read an instant: '2027-06-30' for a whole day, else with the
    time; with_zone names the organization's time zone after it, for whoever may
    read it elsewhere (a student told when a code opens): '2026-12-20 08:00
    (Europe/Paris time)'."""
    local = to_local(org, instant)
    if local is None:
        return ""
    if not with_time or is_end_of_day(local) or local.time() == time(0, 0):
        text = local.strftime("%Y-%m-%d")
    else:
        text = local.strftime("%Y-%m-%d %H:%M")
    return f"{text} ({org.timezone} time)" if with_zone else text


@cache
def _zones() -> tuple[str, ...]:
    # available_timezones() walks the whole zoneinfo tree (some 600 files) at
    # every call, and every organization form and its check asked for it.
    return tuple(sorted(available_timezones()))


def timezone_names() -> list[str]:
    """Every time zone this machine knows, sorted."""
    return list(_zones())


def is_timezone(name: object) -> bool:
    return name in _zones()
