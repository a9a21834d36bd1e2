"""The usual-rate guard (docs/APPROVAL.md, "The usual rate"): an hour of at least
10 redemptions and more than 10 times the code's usual hourly rate, measured
over the two weeks before the hour, switches the code to approval mode. Domain
functions on SQLite and PostgreSQL, each history built with explicit times;
the race is in tests/test_approval_concurrency.py."""

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from codes import messages
from codes.approval import operations as approval
from codes.extensions import db
from codes.models import PENDING, SPIKE_RATE, SPIKE_SURGE, AuditEvent, Code, JoinRequest, Redemption
from codes.redeem import leakguard
from codes.redeem.operations import redeem
from conftest import Factory, count

NOW = datetime(2027, 3, 1, 12, 0)
HOUR = timedelta(hours=1)


def guarded_code(make, text, **options):
    """A code with its usual-rate guard on, and the organization's admin."""
    org = make.org()
    room = make.classroom(org)
    return make.code(org, text, classrooms=[room], surge_guard=True, **options), org.admin


def history(make, code, times):
    """A redemption of the code by a new person at each of `times`, made while
    its guard is off (so the history itself trips nothing), then the guard on."""
    saved = db.session.get(Code, code.id)
    saved.surge_guard = False
    db.session.commit()
    for at in times:
        assert redeem(make.user(), code.text, at).outcome == "ok"
        db.session.commit()
    saved = db.session.get(Code, code.id)
    saved.surge_guard = True
    db.session.commit()


def arrive(make, code, n, at=NOW):
    """n new people redeem the code, one after another, at `at`: their outcomes."""
    outcomes = []
    for _ in range(n):
        outcomes.append(redeem(make.user(), code.text, at).outcome)
        db.session.commit()
    return outcomes


def reloaded(code):
    db.session.expire_all()
    return db.session.get(Code, code.id)


# 36 redemptions over the 24 hours before the hour: a usual 1.5 an hour, so an
# hour trips the guard at more than 15 (above the floor of 10).
BUSY = [NOW - HOUR - timedelta(hours=24)] + [NOW - HOUR - timedelta(hours=2)] * 35


def test_the_hour_past_ten_times_the_usual_rate_trips_it_and_one_below_does_not(any_db_app):
    make = Factory()
    code, _ = guarded_code(make, "BUSY-CODE-2027")
    history(make, code, BUSY)
    assert arrive(make, code, 15) == ["ok"] * 15, "15 is 10 times 1.5: not more"
    assert not reloaded(code).approval
    sixteenth = make.user()
    assert redeem(sixteenth, code.text, NOW).pending
    db.session.commit()
    switched = reloaded(code)
    assert switched.approval and switched.spike_reason == SPIKE_SURGE
    assert switched.spike_at == NOW, "the first redemption of the hour"
    assert (switched.spike_count, switched.spike_usual) == (16, 1.5)
    assert switched.uses == 36 + 15 and count(Redemption) == 36 + 15
    waiting = db.session.scalar(select(JoinRequest).where(JoinRequest.user_id == sixteenth.id))
    assert waiting.state == PENDING
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "code.spike"))
    detail = json.loads(event.detail)
    assert (detail["reason"], detail["redemptions_in_the_hour"], detail["usual_an_hour"]) == (
        SPIKE_SURGE,
        16,
        1.5,
    )
    warning = messages.spike_warning(switched, "1 March 2027, 12:00")
    assert "it had 16 redemptions within an hour, against a usual 1.5 an hour" in warning


def test_the_floor_holds_on_a_code_with_almost_no_history(any_db_app):
    """One redemption three days before: a usual 0.014 an hour, ten times which
    the second arrival would pass. The floor lets 9 in and stops the 10th."""
    make = Factory()
    code, _ = guarded_code(make, "QUIET-CODE-2027")
    history(make, code, [NOW - HOUR - timedelta(days=3)])
    assert arrive(make, code, 9) == ["ok"] * 9
    assert not reloaded(code).approval
    assert arrive(make, code, 1) == ["requested"]
    switched = reloaded(code)
    assert switched.approval and switched.spike_reason == SPIKE_SURGE
    assert switched.spike_count == leakguard.SURGE_AT_LEAST == 10
    assert messages.per_hour(switched.spike_usual) == "0.014"


@pytest.mark.parametrize(
    "times",
    [
        pytest.param([], id="never used before"),
        pytest.param([NOW - HOUR - timedelta(hours=23, minutes=59)], id="first used under a day before"),
    ],
)
def test_a_code_without_a_day_of_history_has_no_usual_rate_yet(any_db_app, times):
    make = Factory()
    code, _ = guarded_code(make, "NEW-CODE-2027")
    history(make, code, times)
    assert arrive(make, code, 20) == ["ok"] * 20
    assert not reloaded(code).approval


def test_off_it_lets_the_same_hour_through(any_db_app):
    make = Factory()
    code, _ = guarded_code(make, "UNWATCHED-2027")
    history(make, code, BUSY)
    db.session.get(Code, code.id).surge_guard = False
    db.session.commit()
    assert arrive(make, code, 20) == ["ok"] * 20
    assert not reloaded(code).approval and reloaded(code).spike_at is None


def test_only_the_two_weeks_before_the_hour_are_the_usual_rate(any_db_app):
    """Five redemptions a month ago are no part of the usual rate, though they
    make the code's history begin before the two weeks: measured over those two
    weeks, it is one redemption's (1 in 336 hours: 0.003 an hour; 0.018 with
    them, 0.021 over the two days since the one), and the floor decides."""
    make = Factory()
    code, _ = guarded_code(make, "OLD-BUSY-2027")
    history(make, code, [NOW - timedelta(days=30)] * 5 + [NOW - HOUR - timedelta(days=2)])
    assert arrive(make, code, 9, NOW - timedelta(minutes=30)) == ["ok"] * 9
    assert arrive(make, code, 1) == ["requested"]
    switched = reloaded(code)
    assert switched.spike_reason == SPIKE_SURGE and switched.spike_at == NOW - timedelta(minutes=30)
    assert messages.per_hour(switched.spike_usual) == "0.003"


def test_a_code_quiet_for_the_two_weeks_before_is_told_as_such(any_db_app):
    """Used twenty days ago and not since: a usual rate of none, which the
    warning says in words rather than as "a usual 0 an hour"."""
    make = Factory()
    code, _ = guarded_code(make, "LONG-QUIET-2027")
    history(make, code, [NOW - timedelta(days=20)])
    assert arrive(make, code, 10) == ["ok"] * 9 + ["requested"]
    switched = reloaded(code)
    assert switched.spike_usual == 0
    warning = messages.spike_warning(switched, "1 March 2027, 12:00")
    assert "it had 10 redemptions within an hour, against none in the two weeks before" in warning


def test_accepted_requests_are_not_part_of_the_usual_rate(any_db_app):
    """24 people staff accepted from requests two hours before would make, if
    counted, a usual 25 over the day before the hour (ten times which is more
    than the floor). They are staff's decisions, not arrivals: the usual rate
    is the one redemption's, and the floor decides."""
    make = Factory()
    code, admin = guarded_code(make, "ASKED-BEFORE-2027", approval=True)
    for _ in range(24):
        redeem(make.user(), code.text, NOW - 3 * HOUR)
        db.session.commit()
    approval.accept_all(admin, code, NOW - 2 * HOUR)
    db.session.get(Code, code.id).approval = False
    db.session.commit()
    history(make, code, [NOW - HOUR - timedelta(hours=24)])
    assert count(Redemption, Redemption.through_request.is_(True)) == 24
    assert arrive(make, code, 10) == ["ok"] * 9 + ["requested"]


def test_the_hourly_limit_is_said_first_when_both_trip(any_db_app):
    make = Factory()
    code, _ = guarded_code(make, "BOTH-GUARDS-2027", hourly_limit=9)
    history(make, code, [NOW - HOUR - timedelta(days=3)])
    assert arrive(make, code, 10) == ["ok"] * 9 + ["requested"]
    switched = reloaded(code)
    assert switched.spike_reason == SPIKE_RATE and switched.spike_count is None


def test_dismissing_the_warning_clears_what_the_guard_saw(any_db_app):
    make = Factory()
    code, admin = guarded_code(make, "SEEN-IT-2027")
    history(make, code, [NOW - HOUR - timedelta(days=3)])
    arrive(make, code, 10)
    switched = reloaded(code)
    assert switched.spike_count == 10
    approval.dismiss_spike(admin, switched)
    db.session.commit()
    cleared = reloaded(code)
    assert (cleared.spike_at, cleared.spike_reason, cleared.spike_count, cleared.spike_usual) == (None,) * 4
