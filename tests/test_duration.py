"""Enrolment duration (docs/CODES.md, "Duration"): a code gives membership of
its classrooms for a number of days or until a date; the redemption writes the
end; the hourly job ends memberships once (however many run at once, on SQLite
and PostgreSQL) and tells the person and the classroom's staff once before."""

import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from codes import duration
from codes.access import Scope
from codes.bulk.operations import BatchInput, generate_batch
from codes.errors import FieldErrors
from codes.extensions import db
from codes.jobs import periodic
from codes.jobs.worker import run_until_idle
from codes.manage.operations import CodeInput, update_code
from codes.models import AuditEvent, ClassroomMember, Code, Enrollment, Job, OrgMember, utcnow
from codes.redeem.operations import LEFT, RedeemRefused, redeem
from codes.seats import operations as seats
from codes.timeutil import to_utc
from conftest import Factory, at_once, count, error_beside, soup, text_of

NOW = datetime(2027, 3, 1, 10, 0)


def end_of(org, day):
    return to_utc(org, day, end_of_day=True)


def ends_at(person, room):
    db.session.expire_all()
    return db.session.scalar(
        select(ClassroomMember.ends_at).where(
            ClassroomMember.user_id == person.id, ClassroomMember.classroom_id == room.id
        )
    )


def is_member(person, room):
    return (
        count(ClassroomMember, ClassroomMember.user_id == person.id, ClassroomMember.classroom_id == room.id)
        == 1
    )


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", timezone="Europe/Paris")
    leader = make.user("Leo Leader")
    algebra = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A", courses=[algebra], leaders=[leader])
    return org, room, leader


# --- the end a redemption writes --------------------------------------------------------------


def test_days_end_at_the_last_moment_of_the_day_that_many_days_on_in_the_organizations_zone(make, school):
    org, room, _ = school
    code = make.code(org, "OAK-THIRTY-2027", classrooms=[room], member_days=30)
    # 23:30 UTC on 1 March is already 2 March in Paris.
    assert duration.end_for(code, datetime(2027, 3, 1, 23, 30)) == end_of(org, date(2027, 4, 1))
    assert duration.end_for(code, NOW) == end_of(org, date(2027, 3, 31))
    person = make.user("Sam Student")
    redeem(person, "OAK-THIRTY-2027", now=NOW)
    db.session.commit()
    assert ends_at(person, room) == end_of(org, date(2027, 3, 31))


def test_a_date_ends_every_redemption_at_its_last_moment_and_no_duration_never_ends(make, school):
    org, room, _ = school
    until = end_of(org, date(2027, 6, 30))
    make.code(org, "OAK-JUNE-2027", classrooms=[room], member_until=until)
    other = make.classroom(org, "Room 9B")
    make.code(org, "OAK-FOREVER-2027", classrooms=[other])
    person = make.user("Sam Student")
    redeem(person, "OAK-JUNE-2027", now=NOW)
    redeem(person, "OAK-FOREVER-2027", now=NOW)
    db.session.commit()
    assert ends_at(person, room) == until
    assert is_member(person, other) and ends_at(person, other) is None


def test_a_later_redemption_extends_to_the_later_end_and_no_end_removes_it(make, school):
    org, room, _ = school
    rooms = [make.classroom(org, f"Room {n}") for n in ("B", "C", "D")]
    make.code(org, "OAK-TEN-2027", classrooms=[room], member_days=10)
    make.code(org, "OAK-LONGER-2027", classrooms=[room, rooms[0]], member_days=40)
    make.code(org, "OAK-SHORTER-2027", classrooms=[room, rooms[1]], member_days=2)
    make.code(org, "OAK-OPEN-2027", classrooms=[room, rooms[2]])
    person = make.user("Sam Student")
    redeem(person, "OAK-TEN-2027", now=NOW)
    db.session.commit()
    assert ends_at(person, room) == end_of(org, date(2027, 3, 11))
    redeem(person, "OAK-LONGER-2027", now=NOW)
    db.session.commit()
    assert ends_at(person, room) == end_of(org, date(2027, 4, 10))
    redeem(person, "OAK-SHORTER-2027", now=NOW)
    db.session.commit()
    assert ends_at(person, room) == end_of(org, date(2027, 4, 10)), "a shorter code never shortens"
    assert ends_at(person, rooms[1]) == end_of(org, date(2027, 3, 3))
    redeem(person, "OAK-OPEN-2027", now=NOW)
    db.session.commit()
    assert ends_at(person, room) is None
    assert duration.later_end(None, NOW) is None and duration.later_end(NOW, None) is None
    assert duration.later_end(NOW, NOW + timedelta(days=1)) == NOW + timedelta(days=1)


def test_the_rules_of_a_duration_as_staff_type_it(make, school):
    org, room, _ = school
    future = NOW + timedelta(days=5)
    assert duration.problems(None, None, now=NOW) == {}
    assert duration.problems(1, None, now=NOW) == {} and duration.problems(3650, None, now=NOW) == {}
    assert duration.problems(0, None, now=NOW) == {"member_days": duration.DAYS_RANGE}
    assert duration.problems(3651, None, now=NOW) == {"member_days": duration.DAYS_RANGE}
    assert duration.problems(5, future, now=NOW) == {"member_until": duration.NOT_BOTH}
    assert duration.problems(None, NOW - timedelta(days=1), now=NOW) == {
        "member_until": "That date has already passed."
    }
    past = NOW - timedelta(days=1)
    assert duration.problems(None, past, kept=past, now=NOW) == {}, "a code keeps its own past date"
    assert "member_days" in duration.problems(5, None, role="teacher", now=NOW)
    with pytest.raises(FieldErrors) as refused:
        generate_batch(
            org.admin,
            Scope(org.admin, org),
            BatchInput(
                classroom_ids=[room.id], count=2, member_days=10, member_until=future + timedelta(999)
            ),
        )
    assert refused.value.errors == {"member_until": duration.NOT_BOTH}


def test_a_batch_gives_its_duration_to_every_code(make, school):
    org, room, _ = school
    batch = generate_batch(
        org.admin, Scope(org.admin, org), BatchInput(classroom_ids=[room.id], count=3, member_days=90)
    )
    db.session.commit()
    codes = db.session.scalars(select(Code).where(Code.batch_id == batch.id)).all()
    assert [c.member_days for c in codes] == [90, 90, 90]
    assert json.loads(batch.options)["member_days"] == 90


# --- the job that ends memberships --------------------------------------------------------------


def test_an_end_passed_removes_the_membership_once_and_keeps_enrollments_and_seat(client, make, school):
    org, room, _ = school
    make.code(org, "OAK-WEEK-2027", classrooms=[room], member_days=7)
    person, staying = make.user("Sam Student"), make.user("Stay Student")
    redeem(person, "OAK-WEEK-2027", now=NOW)
    redeem(staying, "OAK-WEEK-2027", now=NOW + timedelta(days=1))
    db.session.commit()
    taken = seats.summary(org).taken
    end = end_of(org, date(2027, 3, 8))
    assert duration.end_memberships(end - timedelta(microseconds=1)) == []
    assert duration.end_memberships(end) == [(room.id, person.id)]
    db.session.commit()
    assert duration.end_memberships(end) == [], "run again: nothing more"
    db.session.commit()
    assert not is_member(person, room) and is_member(staying, room)
    assert count(Enrollment, Enrollment.user_id == person.id) == 1, "the courses stay"
    assert count(OrgMember, OrgMember.user_id == person.id, OrgMember.org_id == org.id) == 1
    assert seats.summary(org).taken == taken == 2, "the seat stays taken"
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "classroom.membership_ended"))
    assert event.actor_id is None and event.org_id == org.id
    assert (event.object_type, event.object_id) == ("User", person.id)
    assert json.loads(event.detail)["classroom_id"] == room.id
    client.login(org.admin)
    assert "Membership ended, as the code gave" in text_of(client.get(f"/orgs/{org.id}/users/{person.id}"))
    # The same code does not put them back, as after any removal.
    with pytest.raises(RedeemRefused) as refused:
        redeem(person, "OAK-WEEK-2027", now=end)
    assert refused.value.outcome == LEFT


def test_runs_at_once_remove_each_ended_membership_exactly_once(any_db_app):
    make = Factory()
    org = make.org(name="Race School")
    rooms = [make.classroom(org, f"Room {i}") for i in range(3)]
    make.code(org, "RACE-DAY-2027", classrooms=rooms, member_days=1)
    make.code(org, "RACE-YEAR-2027", classrooms=[rooms[0]], member_days=365)
    people = [make.user(f"Student {i}") for i in range(6)]
    for person in people[:4]:
        redeem(person, "RACE-DAY-2027", now=NOW)
    for person in people[4:]:
        redeem(person, "RACE-YEAR-2027", now=NOW)
    db.session.commit()
    later = NOW + timedelta(days=3)
    removed = at_once(any_db_app, lambda _: duration.end_memberships(later), list(range(8)))
    flat = [pair for result in removed for pair in result]
    assert sorted(flat) == sorted((r.id, p.id) for p in people[:4] for r in rooms)
    assert len(flat) == len(set(flat)) == 12
    assert count(AuditEvent, AuditEvent.action == "classroom.membership_ended") == 12
    assert count(ClassroomMember) == 2


def test_the_reminder_goes_once_to_the_person_and_the_classrooms_staff(make, school, outbox):
    org, room, leader = school
    make.code(org, "OAK-WEEK-2027", classrooms=[room], member_days=7)
    person, unconfirmed = make.user("Sam Student"), make.user("Una Unconfirmed", verified=False)
    redeem(person, "OAK-WEEK-2027", now=NOW)
    redeem(unconfirmed, "OAK-WEEK-2027", now=NOW)
    db.session.commit()
    before = len(outbox)
    end = end_of(org, date(2027, 3, 8))
    assert duration.remind(end - timedelta(days=4)) == [], "more than three days before: not yet"
    assert sorted(duration.remind(end - timedelta(days=3))) == sorted(
        [(room.id, person.id), (room.id, unconfirmed.id)]
    )
    db.session.commit()
    assert duration.remind(end - timedelta(days=2)) == []
    db.session.commit()
    mails = outbox[before:]
    assert [(m.to, m.subject) for m in mails] == [
        (person.email, "Your place in Room 9A ends on 2027-03-08"),
        (leader.email, "2 places in Room 9A end soon"),
    ]
    assert "Sam Student: 2027-03-08" in mails[1].body and "Una Unconfirmed: 2027-03-08" in mails[1].body


def test_reminders_at_once_each_go_once(any_db_app, outbox):
    make = Factory()
    org = make.org(name="Race School")
    room = make.classroom(org, "Room R")
    make.code(org, "RACE-WEEK-2027", classrooms=[room], member_days=7)
    people = [make.user(f"Student {i}") for i in range(5)]
    for person in people:
        redeem(person, "RACE-WEEK-2027", now=NOW)
    db.session.commit()
    before = len(outbox)
    marked = at_once(any_db_app, lambda _: duration.remind(NOW + timedelta(days=5)), list(range(6)))
    assert sorted(p for result in marked for _, p in result) == sorted(p.id for p in people)
    mails = outbox[before:]
    assert sorted(m.to for m in mails if m.subject.startswith("Your place")) == sorted(
        p.email for p in people
    )
    assert [m.to for m in mails if m.subject.endswith("end soon")] == [org.admin.email], (
        "no leaders: the admins, once"
    )


def test_the_hourly_job_runs_once_an_hour_and_ends_and_reminds(app, make, school, outbox):
    org, room, _ = school
    make.code(org, "OAK-DAY-2027", classrooms=[room], member_days=1)
    person = make.user("Sam Student")
    moment = utcnow()
    redeem(person, "OAK-DAY-2027", now=moment - timedelta(days=5))
    db.session.commit()
    seen: set = set()
    assert duration.TASK in periodic.start_due(seen, moment)
    assert duration.TASK not in periodic.start_due(set(), moment), "another worker: already started"
    assert count(Job, Job.kind == duration.TASK) == 1
    db.session.commit()
    run_until_idle(app)
    assert not is_member(person, room)


# --- what people see and type ----------------------------------------------------------------------


def test_the_code_form_takes_days_or_a_date_and_says_what_is_wrong_beside_the_field(client, make, school):
    org, room, leader = school
    code = make.code(org, "OAK-FORM-2027", classrooms=[room])
    client.login(leader)
    base = {"text": code.text, "classroom_ids": [room.id], "role": "student"}
    for days, message in (
        ("abc", "Enter a whole number."),
        ("0", duration.DAYS_RANGE),
        ("3651", duration.DAYS_RANGE),
        ("99999999999999999999", duration.DAYS_RANGE),
    ):
        answer = client.post(f"/codes/{code.id}/edit", data=base | {"member_days": days})
        assert answer.status_code == 422
        assert error_beside(soup(answer), "member_days") == message
    answer = client.post(
        f"/codes/{code.id}/edit", data=base | {"member_days": "5", "member_until": "2099-01-01"}
    )
    assert answer.status_code == 422
    assert error_beside(soup(answer), "member_until") == duration.NOT_BOTH
    answer = client.post(f"/codes/{code.id}/edit", data=base | {"member_until": "not a date"})
    assert answer.status_code == 422 and error_beside(soup(answer), "member_until")
    assert client.post(f"/codes/{code.id}/edit", data=base | {"member_days": "30"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Code, code.id).member_days == 30
    page = soup(client.get(f"/codes/{code.id}/edit"))
    assert page.find(id="member_days")["value"] == "30"
    assert (
        client.post(f"/codes/{code.id}/edit", data=base | {"member_until": "2099-06-30"}).status_code == 303
    )
    db.session.expire_all()
    saved = db.session.get(Code, code.id)
    assert saved.member_days is None and saved.member_until == end_of(org, date(2099, 6, 30))


def test_the_bulk_form_says_what_is_wrong_beside_the_field(client, school):
    org, room, _ = school
    client.login(org.admin)
    data = {"classroom_ids": [room.id], "count": "3", "uses": "single", "role": "student"}
    answer = client.post(f"/orgs/{org.id}/bulk", data=data | {"member_days": "4000"})
    assert answer.status_code == 422
    assert error_beside(soup(answer), "member_days") == duration.DAYS_RANGE
    answer = client.post(
        f"/orgs/{org.id}/bulk", data=data | {"member_days": "3", "member_until": "2099-01-01"}
    )
    assert answer.status_code == 422
    assert error_beside(soup(answer), "member_until") == duration.NOT_BOTH
    assert client.post(f"/orgs/{org.id}/bulk", data=data | {"member_days": "180"}).status_code == 303
    assert count(Code, Code.member_days == 180) == 3


def test_the_profile_and_the_members_list_say_until_when(client, make, school):
    org, room, leader = school
    make.code(org, "OAK-JUNE-2027", classrooms=[room], member_until=end_of(org, date(2099, 6, 30)))
    person = make.user("Sam Student")
    redeem(person, "OAK-JUNE-2027")
    db.session.commit()
    client.login(person)
    mine = soup(client.get("/profile")).find(id=f"classroom-{room.id}")
    assert "until 2099-06-30" in mine.get_text(" ", strip=True)
    client.login(leader)
    listing = text_of(client.get(f"/orgs/{org.id}/users?classroom={room.id}"))
    assert "Room 9A until 2099-06-30" in listing
    members = soup(client.get(f"/classrooms/{room.id}"))
    assert members.find(id=f"member-{person.id}").get_text(" ", strip=True).endswith("until 2099-06-30")


def test_editing_a_code_keeps_its_past_date(make, school):
    org, room, _ = school
    code = make.code(org, "OAK-PAST-2027", classrooms=[room], member_until=end_of(org, date(2099, 1, 1)))
    code.member_until = NOW - timedelta(days=3)
    db.session.commit()
    update_code(
        org.admin,
        Scope(org.admin, org),
        code,
        CodeInput(text=code.text, classroom_ids=[room.id], member_until=code.member_until, max_uses=5),
    )
    db.session.commit()
    assert db.session.get(Code, code.id).max_uses == 5


def test_the_codes_redemptions_page_says_how_long_membership_lasts(client, make, school):
    org, room, _ = school
    days = make.code(org, "OAK-NINETY-2027", classrooms=[room], member_days=90)
    until = make.code(org, "OAK-JULY-2099", classrooms=[room], member_until=end_of(org, date(2099, 7, 1)))
    plain = make.code(org, "OAK-PLAIN-2099", classrooms=[room])
    client.login(org.admin)

    def lasts(code):
        node = soup(client.get(f"/orgs/{org.id}/bulk/codes/{code.id}/redemptions")).find(
            id="membership-lasts"
        )
        return node.get_text(strip=True) if node else None

    assert lasts(days) == "membership for 90 days"
    assert lasts(until) == "membership until 2099-07-01"
    assert lasts(plain) is None
