"""Reports over a known history: redemptions on chosen days (in the organization's
time zone), new members against people who were already members, the chart's
bars and table, comparisons, and what each person's scope lets them count."""

from datetime import date, datetime

import pytest

from codes.access import Scope
from codes.extensions import db
from codes.manage.operations import delete_code
from codes.redeem.operations import redeem
from codes.reports import charts
from codes.reports import operations as reports
from codes.reports.operations import PERIODS
from codes.users.operations import remove_from_classroom
from conftest import Factory

DAYS_30, WEEKS_12, MONTHS_12, ALL_TIME = PERIODS
# Paris is UTC+1 in March 2027 (summer time starts on the 28th).
TODAY = date(2027, 3, 15)


def at(text):
    """A naive UTC instant from 'YYYY-MM-DD HH:MM'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


@pytest.fixture
def history(make):
    """Oak School (Europe/Paris): an email code and a social code for Room 1, a
    course code taught by Ivy, and a code of Room 2. Who redeemed what, when (UTC):

    - Ana:  EMAIL  03-01 09:00 (new), taken out of Room 1, then SOCIAL 03-14 23:30 =
            03-15 00:30 in Paris (already a member: a code for a place one is in already
            would count nothing)
    - Ben:  EMAIL  03-01 10:00 (new)
    - Cy:   SOCIAL 03-14 22:30 = 03-14 23:30 in Paris (new)
    - Dee:  EMAIL  2027-01-20 12:00 (new), ROOM2 03-10 08:00 (already)
    - Eve:  COURSE 03-10 08:00 (new)
    """
    org = make.org(name="Oak School", timezone="Europe/Paris")
    ivy = make.user("Ivy Instructor")
    leo = make.user("Leo Leader")
    algebra = make.course(org, "Algebra", instructors=[ivy])
    room1 = make.classroom(org, "Room 1", leaders=[leo])
    room2 = make.classroom(org, "Room 2")
    email = make.code(org, "EMAIL-SPRING-27", classrooms=[room1])
    social = make.code(org, "SOCIAL-SPRING-27", classrooms=[room1])
    course_code = make.code(org, "ALGEBRA-2027", courses=[algebra])
    room2_code = make.code(org, "ROOM-TWO-2027", classrooms=[room2])
    people = {name: make.user(name) for name in ("Ana", "Ben", "Cy", "Dee", "Eve")}
    for name, code, when in [
        ("Dee", email, "2027-01-20 12:00"),
        ("Ana", email, "2027-03-01 09:00"),
        ("Ben", email, "2027-03-01 10:00"),
        ("Dee", room2_code, "2027-03-10 08:00"),
        ("Eve", course_code, "2027-03-10 08:00"),
        ("Cy", social, "2027-03-14 22:30"),
        ("Ana", social, "2027-03-14 23:30"),
    ]:
        if (name, code) == ("Ana", social):
            remove_from_classroom(org.admin, Scope(org.admin, org), people["Ana"], room1)
        redeem(people[name], code.text, now=at(when))
        db.session.commit()
    return dict(
        org=org,
        ivy=ivy,
        leo=leo,
        room1=room1,
        room2=room2,
        algebra=algebra,
        email=email,
        social=social,
        course_code=course_code,
        room2_code=room2_code,
    )


def by_day(timeline_):
    return {b.start: (b.new, b.existing) for b in timeline_.buckets if b.total}


def test_organization_report_counts_days_in_the_organizations_time_zone(history):
    org = history["org"]
    report = reports.organization_report(Scope(org.admin, org), DAYS_30, TODAY)
    buckets = report.timeline.buckets
    assert len(buckets) == 30
    assert buckets[0].start == date(2027, 2, 14) and buckets[-1].start == TODAY
    assert by_day(report.timeline) == {
        date(2027, 3, 1): (2, 0),
        date(2027, 3, 10): (1, 1),
        date(2027, 3, 14): (1, 0),  # Cy at 23:30 in Paris
        date(2027, 3, 15): (0, 1),  # Ana at 00:30 in Paris, though still the 14th in UTC
    }
    assert (report.figures.redemptions, report.figures.new_members, report.figures.existing) == (6, 4, 2)
    assert report.figures.conversion == 67


def test_weeks_months_and_all_time(history):
    org = history["org"]
    scope = Scope(org.admin, org)
    weeks = reports.organization_report(scope, WEEKS_12, TODAY).timeline
    assert len(weeks.buckets) == 12 and weeks.buckets[-1].start == date(2027, 3, 15)  # a Monday
    assert by_day(weeks) == {
        date(2027, 1, 18): (1, 0),
        date(2027, 3, 1): (2, 0),
        date(2027, 3, 8): (2, 1),
        date(2027, 3, 15): (0, 1),
    }
    months = reports.organization_report(scope, MONTHS_12, TODAY).timeline
    assert [b.start for b in months.buckets][:2] == [date(2026, 4, 1), date(2026, 5, 1)]
    assert by_day(months) == {date(2027, 1, 1): (1, 0), date(2027, 3, 1): (4, 2)}
    everything = reports.organization_report(scope, ALL_TIME, TODAY).timeline
    assert [b.start for b in everything.buckets] == [date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)]
    assert everything.figures.redemptions == 7


def test_all_time_over_three_years_is_drawn_by_year(make):
    org = make.org(timezone="UTC")
    code = make.code(org, "OLD-CODE-2020", classrooms=[make.classroom(org)])
    redeem(make.user(), code.text, now=at("2021-06-01 10:00"))
    db.session.commit()
    line = reports.organization_report(Scope(org.admin, org), ALL_TIME, TODAY).timeline
    assert line.unit == "year"
    assert [(b.start.year, b.total) for b in line.buckets] == [
        (2021, 1),
        (2022, 0),
        (2023, 0),
        (2024, 0),
        (2025, 0),
        (2026, 0),
        (2027, 0),
    ]


def test_per_code_and_per_classroom_lines(history):
    org = history["org"]
    report = reports.organization_report(Scope(org.admin, org), DAYS_30, TODAY)
    codes = {line.code.text: (line.figures.redemptions, line.figures.new_members) for line in report.codes}
    assert codes == {
        "EMAIL-SPRING-27": (2, 2),
        "SOCIAL-SPRING-27": (2, 1),
        "ALGEBRA-2027": (1, 1),
        "ROOM-TWO-2027": (1, 0),
    }
    assert report.codes[0].code.text == "EMAIL-SPRING-27", "most redeemed first, then by text"
    rooms = {
        line.classroom.name: (line.figures.redemptions, line.figures.new_members, line.members)
        for line in report.classrooms
    }
    assert rooms == {"Room 1": (4, 3, 4), "Room 2": (1, 0, 1)}  # Dee joined Room 1 in January


def test_classroom_report(history):
    org, room1 = history["org"], history["room1"]
    report = reports.classroom_report(Scope(org.admin, org), room1, ALL_TIME, TODAY)
    assert (report.figures.redemptions, report.figures.new_members) == (5, 4)
    assert report.members == 4  # Ana, Ben, Cy, Dee
    assert report.seats_taken == 4


def test_code_report(history):
    org, social = history["org"], history["social"]
    report = reports.code_report(Scope(org.admin, org), social, DAYS_30, TODAY)
    assert by_day(report.timeline) == {date(2027, 3, 14): (1, 0), date(2027, 3, 15): (0, 1)}
    assert report.figures.conversion == 50
    assert report.seats_taken == 1


def test_comparison_of_two_codes_and_a_classroom(history):
    org = history["org"]
    scope = Scope(org.admin, org)
    comparison = reports.compare(
        scope, ALL_TIME, TODAY, codes=[history["email"], history["social"]], classrooms=[history["room2"]]
    )
    figures = {
        item.name: (
            item.figures.redemptions,
            item.figures.new_members,
            item.figures.conversion,
            item.seats_taken,
        )
        for item in comparison.items
    }
    assert figures == {
        "EMAIL-SPRING-27": (3, 3, 100, 3),
        "SOCIAL-SPRING-27": (2, 1, 50, 1),
        "Room 2": (1, 0, 0, 0),
    }
    # One set of buckets for all, from the earliest first redemption among them.
    assert [b.start for b in comparison.buckets] == [date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)]
    assert all(
        [b.start for b in item.timeline.buckets] == [b.start for b in comparison.buckets]
        for item in comparison.items
    )
    assert [b.total for b in comparison.items[1].timeline.buckets] == [0, 0, 2]


def test_a_leader_counts_only_the_codes_of_their_classrooms(history):
    org = history["org"]
    report = reports.organization_report(Scope(history["leo"], org), ALL_TIME, TODAY)
    assert {line.code.text for line in report.codes} == {"EMAIL-SPRING-27", "SOCIAL-SPRING-27"}
    assert [line.classroom.name for line in report.classrooms] == ["Room 1"]
    assert report.figures.redemptions == 5


def test_an_instructor_counts_only_the_codes_of_their_courses(history):
    org = history["org"]
    report = reports.organization_report(Scope(history["ivy"], org), ALL_TIME, TODAY)
    assert [line.code.text for line in report.codes] == ["ALGEBRA-2027"]
    assert report.classrooms == []
    assert (report.figures.redemptions, report.figures.new_members) == (1, 1)


def test_a_deleted_codes_redemptions_stay_in_the_reports(history):
    org = history["org"]
    delete_code(org.admin, history["email"])
    db.session.commit()
    report = reports.organization_report(Scope(org.admin, org), ALL_TIME, TODAY)
    assert report.figures.redemptions == 7
    assert any(line.code.text == "EMAIL-SPRING-27" and line.code.deleted_at for line in report.codes)
    leader = reports.classroom_report(Scope(history["leo"], org), history["room1"], ALL_TIME, TODAY)
    assert leader.figures.redemptions == 5


def test_bar_chart_heights_follow_the_figures(history):
    org = history["org"]
    report = reports.organization_report(Scope(org.admin, org), DAYS_30, TODAY)
    chart = charts.bar_chart(report.timeline.buckets)
    frame = chart.frame
    assert frame.top_value == 2 and [t.value for t in frame.ticks] == [0, 1, 2]
    bars = {bar.bucket.start: bar for bar in chart.bars}
    full = frame.baseline - frame.top
    two_new = bars[date(2027, 3, 1)]
    assert two_new.new_height == pytest.approx(full) and two_new.existing_height == 0
    mixed = bars[date(2027, 3, 10)]
    assert mixed.new_height == pytest.approx(full / 2)
    assert mixed.existing_height == pytest.approx(full / 2)
    assert mixed.existing_y + mixed.existing_height == pytest.approx(mixed.new_y)
    assert bars[date(2027, 3, 2)].new_height == 0 == bars[date(2027, 3, 2)].existing_height
    labelled = [bar.bucket.start for bar in chart.bars if bar.show_label]
    assert len(labelled) <= charts.MAX_AXIS_LABELS and labelled[-1] == TODAY


@pytest.mark.parametrize(
    "largest, top, step",
    [(0, 4, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (10, 10, 5), (37, 40, 10), (1234, 1500, 500)],
)
def test_value_axis_uses_round_numbers(largest, top, step):
    assert charts.nice_scale(largest) == (top, step)


def test_line_chart_places_each_series_on_the_same_axis(history):
    org = history["org"]
    comparison = reports.compare(
        Scope(org.admin, org), DAYS_30, TODAY, codes=[history["email"], history["social"]]
    )
    chart = charts.line_chart(
        comparison.buckets,
        [(item.name, [b.total for b in item.timeline.buckets]) for item in comparison.items],
    )
    email, social = chart.lines
    assert [p.value for p in email.points if p.value] == [2]
    assert email.points[15].y == chart.frame.top  # 2 on 03-01 reaches the top (2)
    assert social.points[-1].y == chart.frame.y(1)
    assert [p.x for p in email.points] == [p.x for p in social.points]
    assert (email.css_class, social.css_class) == ("series-0", "series-1")


def test_the_report_queries_on_sqlite_and_postgresql(any_db_app):
    """Grouping, FILTER counts and time windows as each database runs them."""
    make = Factory()
    org = make.org(name="Oak School", timezone="Europe/Paris")
    leo = make.user("Leo Leader")
    room = make.classroom(org, "Room 1", leaders=[leo])
    email = make.code(org, "EMAIL-SPRING-27", classrooms=[room])
    social = make.code(org, "SOCIAL-SPRING-27", classrooms=[room])
    ana, ben = make.user("Ana"), make.user("Ben")
    for user, code, when in [
        (ana, email, "2027-03-01 09:00"),
        (ben, email, "2027-03-14 23:30"),
        (ana, social, "2027-03-14 23:30"),
    ]:
        if (user, code) == (ana, social):
            remove_from_classroom(org.admin, Scope(org.admin, org), ana, room)
        redeem(user, code.text, now=at(when))
        db.session.commit()
    for scope in (Scope(org.admin, org), Scope(leo, org)):
        report = reports.organization_report(scope, DAYS_30, TODAY)
        assert by_day(report.timeline) == {date(2027, 3, 1): (1, 0), date(2027, 3, 15): (1, 1)}
        assert [
            (line.code.text, line.figures.redemptions, line.figures.new_members) for line in report.codes
        ] == [("EMAIL-SPRING-27", 2, 2), ("SOCIAL-SPRING-27", 1, 0)]
        assert [(line.figures.redemptions, line.members) for line in report.classrooms] == [(3, 2)]
    comparison = reports.compare(Scope(leo, org), ALL_TIME, TODAY, codes=[email, social])
    assert [item.seats_taken for item in comparison.items] == [2, 0]
