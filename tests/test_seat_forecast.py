"""The seat forecast (issue 14, "A seat forecast on the organization page"): at
the rate of the last 30 days, when the license runs out; figures from a known
history."""

from datetime import timedelta

import pytest

from codes.extensions import db
from codes.invitations import operations as invitations
from codes.models import utcnow
from codes.redeem.operations import redeem
from codes.seats.forecast import seat_forecast
from codes.users.roster import upload_roster
from conftest import Factory, soup


@pytest.fixture
def now():
    """A little after the test's own events (a roster and invitations, written at
    the time they happen), which a forecast made at this time counts."""
    return utcnow() + timedelta(minutes=10)


def students(make, n, prefix):
    return [make.user(f"{prefix} {i}", f"{prefix.lower()}{i}@oak.example") for i in range(n)]


@pytest.fixture
def history(make, now):
    """Oak School, 40 seats: 4 taken 40 days ago (outside the window), 12 over
    the last 29 days by a code, 3 by a roster and 1 by an invitation to a
    classroom today; besides, redemptions and an invitation that took no seat,
    and Elm School's seats, which are not Oak's."""
    org = make.org(name="Oak School", seat_limit=40)
    room, room2 = make.classroom(org, "Room 1"), make.classroom(org, "Room 2")
    code, code2 = (
        make.code(org, "OAK-ONE-2027", classrooms=[room]),
        make.code(org, "OAK-TWO-2027", classrooms=[room2]),
    )
    for person in students(make, 4, "Old"):
        redeem(person, code.text, now=now - timedelta(days=40))
    recent = students(make, 12, "New")
    for days_ago, person in zip(range(28, 4, -2), recent, strict=True):
        redeem(person, code.text, now=now - timedelta(days=days_ago, hours=1))
    for person in recent[:2]:
        redeem(person, code2.text, now=now - timedelta(days=1))  # already seated: no new seat
    upload_roster(
        org.admin,
        org,
        b"email,name,classroom\nr1@oak.example,R 1,Room 1\nr2@oak.example,R 2,Room 1\n"
        b"r3@oak.example,R 3,Room 2\n",
    )
    invited = make.user("Ivo Invited", "ivo@oak.example")
    invitations.accept(invited, invitations.invite(org.admin, org, invited.email, room), via_link=True)
    staff = make.user("Sue Staff", "sue@oak.example")
    invitations.accept(staff, invitations.invite(org.admin, org, staff.email), via_link=True)
    elm = make.org(name="Elm School", seat_limit=5)
    elm_code = make.code(elm, "ELM-ONE-2027", classrooms=[make.classroom(elm, "Elm Room")])
    for person in students(make, 3, "Elm"):
        redeem(person, elm_code.text, now=now - timedelta(days=2))
    db.session.commit()
    return org, code


def test_the_rate_of_the_last_30_days_says_when_the_seats_run_out(history, now):
    org, code = history
    forecast = seat_forecast(org, now)
    assert (forecast.limit, forecast.taken, forecast.recent, forecast.left) == (40, 20, 16, 20)
    # 20 seats left at 16 a month: 20 * 30 / 16 = 37.5 days.
    assert forecast.runs_out_at == now + timedelta(days=37, hours=12)
    assert forecast.days_left == 37
    assert not forecast.warn
    assert forecast.next_window == 16


def test_within_30_days_it_warns(make, history, now):
    org, code = history
    for person in students(make, 4, "Late"):
        redeem(person, code.text, now=now)
    db.session.commit()
    forecast = seat_forecast(org, now)
    # 16 left at 20 a month: 24 days.
    assert (forecast.recent, forecast.left, forecast.days_left) == (20, 16, 24)
    assert forecast.warn
    assert forecast.next_window == 16, "never more than what is left"


def test_exactly_as_many_left_as_the_month_took_warns_and_one_more_does_not(make, now):
    org = make.org(name="Oak School", seat_limit=11)
    code = make.code(org, "OAK-ONE-2027", classrooms=[make.classroom(org, "Room 1")])
    for person in students(make, 5, "S"):
        redeem(person, code.text, now=now - timedelta(days=3))
    db.session.commit()
    assert not seat_forecast(org, now).warn, "6 left at 5 a month: 36 days"
    redeem(make.user("One More", "more@oak.example"), code.text, now=now)
    db.session.commit()
    forecast = seat_forecast(org, now)
    assert (forecast.left, forecast.recent, forecast.days_left) == (5, 6, 25)
    assert forecast.warn


def test_a_quiet_month_has_no_end_and_a_full_license_ended(make, now):
    org = make.org(name="Oak School", seat_limit=3)
    code = make.code(org, "OAK-ONE-2027", classrooms=[make.classroom(org, "Room 1")])
    for person in students(make, 2, "S"):
        redeem(person, code.text, now=now - timedelta(days=31))
    db.session.commit()
    quiet = seat_forecast(org, now)
    assert (quiet.recent, quiet.runs_out_at, quiet.days_left, quiet.warn) == (0, None, None, False)
    redeem(make.user("Last", "last@oak.example"), code.text, now=now - timedelta(days=31))
    db.session.commit()
    full = seat_forecast(org, now)
    assert (full.left, full.runs_out_at, full.warn) == (0, now, True)


def test_no_limit_no_forecast(make, now):
    assert seat_forecast(make.org(name="Open School"), now) is None


def test_the_organization_page_draws_it_over_the_seats_bar(client, make, history):
    org, code = history
    for person in students(make, 4, "Late"):
        redeem(person, code.text)
    db.session.commit()
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}"))
    said = page.find(id="seat-forecast").get_text(" ", strip=True)
    assert said.startswith(
        "At the rate of the last 30 days (20 new seats), the 16 seats left run out in about 2"
    )
    assert "Raise the seat limit" in page.find(id="seat-forecast-warning").get_text()
    bar = page.select_one("svg.seat-bar rect.seat-forecast")
    assert (bar["x"], bar["width"]) == ("60.00", "40.00"), "from the 24 taken, the 16 left, of 40"
    leader = make.user("Leo Leader")
    make.classroom(org, "Room 3", leaders=[leader])
    client.login(leader)
    page = soup(client.get(f"/orgs/{org.id}"))
    assert "Ask an administrator" in page.find(id="seat-forecast-warning").get_text()


def test_a_calm_organization_gets_no_warning(client, history):
    org, code = history
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}"))
    assert page.find(id="seat-forecast-warning") is None
    assert "the 20 seats left run out in about 37 days" in page.find(id="seat-forecast").get_text(
        " ", strip=True
    )


def test_on_both_databases_roster_and_invitation_seats_count(any_db_app):
    make = Factory()
    org = make.org(name="Oak School", seat_limit=10)
    room = make.classroom(org, "Room 1")
    redeem(make.user("Ana", "ana@oak.example"), make.code(org, "OAK-ONE-2027", classrooms=[room]).text)
    upload_roster(org.admin, org, b"email,name,classroom\nr1@oak.example,R 1,Room 1\n")
    ivo = make.user("Ivo Invited", "ivo@oak.example")
    invitations.accept(ivo, invitations.invite(org.admin, org, ivo.email, room), via_link=True)
    db.session.commit()
    forecast = seat_forecast(org, utcnow() + timedelta(minutes=10))
    assert (forecast.recent, forecast.left) == (3, 7)
