"""Registration codes for teachers (issue 5): whoever redeems one becomes a leader of
its classrooms and an instructor of its courses, takes no seat, and is listed as
such on the pages staff read."""

import pytest
from sqlalchemy import select

from codes.extensions import db
from codes.models import ClassroomMember, Enrollment, Organization, OrgMember
from conftest import HX, soup


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", seat_limit=1)
    algebra = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A", courses=[algebra])
    make.code(org, "SUB-TEACH-2027", classrooms=[room], courses=[algebra], role="teacher")
    # The one seat is already taken: a teacher code must not need one.
    make.code(org, "OAK-9A-2027", classrooms=[room])
    from codes.redeem.operations import redeem

    redeem(make.user("Sam Student"), "OAK-9A-2027")
    db.session.commit()
    return org, room, algebra


def redeem_as_substitute(client, make):
    substitute = make.user("Sid Substitute")
    client.login(substitute)
    response = client.post("/redeem", data={"code": "sub teach 2027"}, headers=HX)
    return substitute, response


def test_the_substitute_is_told_what_they_now_teach_and_takes_no_seat(client, make, school):
    org, room, algebra = school
    substitute, response = redeem_as_substitute(client, make)
    assert soup(response).select_one(".flash-success").get_text().strip() == "You now teach Room 9A, Algebra."
    member = db.session.scalar(select(OrgMember).where(OrgMember.user_id == substitute.id))
    assert (member.is_student, member.took_seat, member.is_admin) == (False, False, False)
    assert db.session.get(Organization, org.id).seats_taken == 1
    assert db.session.scalar(select(ClassroomMember).where(ClassroomMember.user_id == substitute.id)) is None
    assert db.session.scalar(select(Enrollment).where(Enrollment.user_id == substitute.id)) is None


def test_the_substitute_is_listed_as_leader_and_instructor_not_as_a_student(client, make, school):
    org, room, algebra = school
    substitute, _ = redeem_as_substitute(client, make)
    admin = client.application.test_client()
    admin.login(org.admin)

    classroom = soup(admin.get(f"/classrooms/{room.id}"))
    leaders = classroom.find("h2", string="Leaders").find_next("p").get_text()
    assert "Sid Substitute" in leaders
    assert "Sid Substitute" not in classroom.find("table").get_text(), "not among the members"

    course = soup(admin.get(f"/courses/{algebra.id}"))
    assert "Sid Substitute" in course.find("h2", string="Instructors").find_next("ul").get_text()
    students = course.find("table")
    assert students is not None and "Sid Substitute" not in students.get_text()


def test_the_substitute_now_manages_the_classroom_and_the_course(client, make, school):
    org, room, algebra = school
    redeem_as_substitute(client, make)
    tree = soup(client.get(f"/orgs/{org.id}")).select_one("nav.tree").get_text()
    assert "Room 9A" in tree and "Algebra" in tree
    assert client.get(f"/classrooms/{room.id}").status_code == 200
    assert client.get(f"/courses/{algebra.id}/codes").status_code == 200
    # Leading is not administering.
    assert client.get(f"/classrooms/{room.id}/settings").status_code == 404


def test_the_codes_table_tags_teacher_codes(client, school):
    org, room, _ = school
    client.login(org.admin)
    for path in (f"/classrooms/{room.id}/codes", f"/orgs/{org.id}/bulk"):
        page = soup(client.get(path))
        tags = {
            row.select_one("code").get_text(): [t.get_text() for t in row.select(".tag")]
            for row in page.select("tr.code-row")
        }
        assert "teacher" in tags["SUB-TEACH-2027"], path
        assert "teacher" not in tags["OAK-9A-2027"], path
