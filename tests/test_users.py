"""The users tab: who each role sees, searching and paging in place, moving and
removing a student (with and without htmx), each change audited."""

import pytest
from sqlalchemy import select

from codes.access import OutOfScope, Scope
from codes.errors import DomainError
from codes.extensions import db
from codes.models import AuditEvent, ClassroomMember, Enrollment, Organization, OrgMember
from codes.redeem.operations import redeem
from codes.users import operations as users
from codes.users.operations import PAGE_SIZE
from conftest import HX, count, said_by_htmx, soup, text_of


@pytest.fixture
def school(make):
    """Oak School: Room 1 (led by Leo, course Algebra taught by Ivy) and Room 2
    (course Biology), and a student in each; Elm School next door."""
    org = make.org(name="Oak School", timezone="Europe/Paris", seat_limit=10)
    ivy, leo = make.user("Ivy Instructor"), make.user("Leo Leader")
    algebra = make.course(org, "Algebra", instructors=[ivy])
    biology = make.course(org, "Biology")
    room1 = make.classroom(org, "Room 1", courses=[algebra], leaders=[leo])
    room2 = make.classroom(org, "Room 2", courses=[biology])
    room1_code = make.code(org, "ROOM-ONE-2027", classrooms=[room1])
    room2_code = make.code(org, "ROOM-TWO-2027", classrooms=[room2])
    ana, bo = make.user("Ana Lima", "ana@oak.example"), make.user("Bo Chen", "bo@oak.example")
    redeem(ana, room1_code.text)
    redeem(bo, room2_code.text)
    db.session.commit()
    other = make.org(name="Elm School")
    stranger_room = make.classroom(other, "Elm Room")
    return dict(
        org=org,
        ivy=ivy,
        leo=leo,
        algebra=algebra,
        biology=biology,
        room1=room1,
        room2=room2,
        ana=ana,
        bo=bo,
        other=other,
        stranger_room=stranger_room,
        room1_code=room1_code,
    )


def names(page):
    return [row.select_one(".person-name").get_text(strip=True) for row in page.select("tr.person-row")]


def member_of(user, classroom):
    return (
        db.session.scalar(
            select(ClassroomMember.user_id).where(
                ClassroomMember.classroom_id == classroom.id, ClassroomMember.user_id == user.id
            )
        )
        is not None
    )


def enrolled(user, course):
    return (
        db.session.scalar(
            select(Enrollment.user_id).where(Enrollment.course_id == course.id, Enrollment.user_id == user.id)
        )
        is not None
    )


def events(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


# --- who sees whom --------------------------------------------------------------------------


def test_admin_sees_everyone_with_roles_classrooms_and_how_they_joined(client, school):
    org = school["org"]
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/users"))
    assert names(page) == ["Admin", "Ana Lima", "Bo Chen", "Ivy Instructor", "Leo Leader"]
    ana = page.find(id=f"person-{school['ana'].id}")
    text = " ".join(ana.get_text(" ").split())
    assert "Student" in text and "Room 1" in text and "Algebra" in text
    assert "ROOM-ONE-2027" in ana.select_one(".joined").get_text()
    assert "new member" in ana.select_one(".joined").get_text()
    leo = page.find(id=f"person-{school['leo'].id}")
    assert "Leader of Room 1" in leo.select_one(".roles").get_text()
    assert "Added by staff" in leo.select_one(".joined").get_text()
    assert "Admin" in page.find(id=f"person-{org.admin.id}").select_one(".roles").get_text()


def test_leader_sees_only_the_members_of_their_classrooms(client, school):
    client.login(school["leo"])
    page = soup(client.get(f"/orgs/{school['org'].id}/users"))
    assert names(page) == ["Ana Lima"]
    assert [o.get_text() for o in page.select("#classroom-filter option")] == ["All classrooms", "Room 1"]


def test_instructor_sees_only_the_students_of_their_courses_and_moves_nobody(client, school):
    client.login(school["ivy"])
    page = soup(client.get(f"/orgs/{school['org'].id}/users"))
    assert names(page) == ["Ana Lima"]
    row = page.find(id=f"person-{school['ana'].id}")
    assert row.select(".chip") == [], "an instructor manages no classroom"
    assert "Algebra" in row.get_text()
    assert page.select("form.move-form") == []


def test_a_leader_sees_only_what_lies_in_their_scope_of_a_member(client, make, school):
    """Ana, also in Room 2 by a Room 2 code: her leader sees Room 1 only, and only
    the codes he manages."""
    redeem(school["ana"], "ROOM-TWO-2027")
    db.session.commit()
    client.login(school["leo"])
    row = soup(client.get(f"/orgs/{school['org'].id}/users")).find(id=f"person-{school['ana'].id}")
    assert [c.contents[0].strip() for c in row.select(".chip")] == ["Room 1"]
    assert "ROOM-TWO-2027" not in row.get_text() and "Biology" not in row.get_text()


@pytest.mark.parametrize("role", ["student", "stranger_admin"])
def test_people_outside_staff_get_404(client, school, role):
    user = school["ana"] if role == "student" else school["other"].admin
    client.login(user)
    assert client.get(f"/orgs/{school['org'].id}/users").status_code == 404


def test_a_classroom_filter_outside_the_scope_is_404(client, school):
    client.login(school["leo"])
    assert client.get(f"/orgs/{school['org'].id}/users?classroom={school['room2'].id}").status_code == 404
    client.login(school["org"].admin)
    assert (
        client.get(f"/orgs/{school['org'].id}/users?classroom={school['stranger_room'].id}").status_code
        == 404
    )


# --- search and pages -----------------------------------------------------------------------


def test_search_by_name_or_email_in_place_and_as_a_full_page(client, school):
    org = school["org"]
    client.login(org.admin)
    fragment = client.get(f"/orgs/{org.id}/users?q=LIMA", headers=HX)
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
    page = soup(fragment)
    assert page.find("html") is None and page.find("section", id="people") is not None
    assert names(page) == ["Ana Lima"]
    assert names(soup(client.get(f"/orgs/{org.id}/users?q=bo@oak"))) == ["Bo Chen"]
    full = soup(client.get(f"/orgs/{org.id}/users?q=lima"))
    assert full.find("html") is not None and full.find("input", id="q")["value"] == "lima"
    assert names(soup(client.get(f"/orgs/{org.id}/users?q=%25"))) == [], "% is a letter, not a wildcard"


def test_filter_by_classroom_links_to_its_settings_for_admins(client, school):
    org, room2 = school["org"], school["room2"]
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/users?classroom={room2.id}"))
    assert names(page) == ["Bo Chen"]
    link = page.find("a", string=lambda s: s and "Rename or delete Room 2" in s)
    assert link["href"] == f"/classrooms/{room2.id}/settings"


def test_pages_of_people(client, make, school):
    org = school["org"]
    for i in range(PAGE_SIZE + 3):
        user = make.user(f"Zed {i:02d}")
        db.session.add(OrgMember(org_id=org.id, user_id=user.id))
    db.session.commit()
    client.login(org.admin)
    first = soup(client.get(f"/orgs/{org.id}/users?q=zed"))
    assert len(names(first)) == PAGE_SIZE
    assert "1–25 of 28 people" in " ".join(first.find(id="people").get_text(" ").split())
    following = first.select_one(".pager a[rel=next]")
    last_shown = first.select("tr.person-row")[-1]["id"].removeprefix("person-")
    assert following["href"] == f"/orgs/{org.id}/users?q=zed&after={last_shown}"
    assert following["data-hx-push-url"] == "true" and following["data-hx-target"] == "#people"
    second = soup(client.get(following["href"], headers=HX))
    assert names(second) == ["Zed 25", "Zed 26", "Zed 27"]
    assert second.select_one(".pager a[rel=prev]") is not None
    last = names(soup(client.get(f"/orgs/{org.id}/users?q=zed&last=1")))
    assert last == [f"Zed {i:02d}" for i in range(3, PAGE_SIZE + 3)]


# --- moving and removing: the domain --------------------------------------------------------


def test_move_enrolls_in_the_new_classrooms_courses_and_keeps_seat_and_enrollments(school):
    org, ana = school["org"], school["ana"]
    seats = org.seats_taken
    users.move_student(org.admin, Scope(org.admin, org), ana, school["room1"], school["room2"])
    db.session.commit()
    assert not member_of(ana, school["room1"]) and member_of(ana, school["room2"])
    assert enrolled(ana, school["biology"]) and enrolled(ana, school["algebra"])
    assert db.session.get(Organization, org.id).seats_taken == seats
    [event] = events("classroom.move")
    assert event.object_id == ana.id and event.actor_id == org.admin.id and event.org_id == org.id


def test_move_needs_both_classrooms_in_scope(school):
    org, leo = school["org"], school["leo"]
    with pytest.raises(OutOfScope):
        users.move_student(leo, Scope(leo, org), school["ana"], school["room1"], school["room2"])


def test_move_refuses_the_same_classroom_and_someone_not_in_the_source(school):
    org = school["org"]
    scope = Scope(org.admin, org)
    with pytest.raises(DomainError, match="already in Room 1"):
        users.move_student(org.admin, scope, school["ana"], school["room1"], school["room1"])
    with pytest.raises(DomainError, match="Bo Chen is not in Room 1"):
        users.move_student(org.admin, scope, school["bo"], school["room1"], school["room2"])


def test_remove_keeps_other_classrooms_enrollments_and_membership(school):
    org, ana = school["org"], school["ana"]
    redeem(ana, "ROOM-TWO-2027")
    db.session.commit()
    seats = db.session.get(Organization, org.id).seats_taken
    users.remove_from_classroom(org.admin, Scope(org.admin, org), ana, school["room1"])
    db.session.commit()
    assert not member_of(ana, school["room1"]) and member_of(ana, school["room2"])
    assert enrolled(ana, school["algebra"]) and enrolled(ana, school["biology"])
    assert (
        db.session.scalar(
            select(OrgMember.is_student).where(OrgMember.org_id == org.id, OrgMember.user_id == ana.id)
        )
        is True
    )
    assert db.session.get(Organization, org.id).seats_taken == seats
    assert [e.object_id for e in events("classroom.remove_member")] == [ana.id]


# --- moving and removing: the routes --------------------------------------------------------


def test_move_with_htmx_swaps_the_row(client, school):
    org, ana = school["org"], school["ana"]
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/users?q=ana"))
    form = page.find(id=f"person-{ana.id}").select_one("form.move-form")
    assert form["data-hx-target"] == "closest tr"
    assert form["action"] == f"/orgs/{org.id}/users/{ana.id}/move?q=ana"
    response = client.post(
        form["action"],
        headers=HX,
        data={"from_classroom_id": school["room1"].id, "to_classroom_id": school["room2"].id},
    )
    assert response.status_code == 200
    row = soup(response)
    assert row.find("html") is None
    assert [c.contents[0].strip() for c in row.select(".chip")] == ["Room 2"]
    assert member_of(ana, school["room2"])


def test_move_plain_post_redirects_back_to_the_list_with_a_message(client, school):
    org, ana = school["org"], school["ana"]
    client.login(org.admin)
    response = client.post(
        f"/orgs/{org.id}/users/{ana.id}/move?q=ana&page=1",
        data={"from_classroom_id": school["room1"].id, "to_classroom_id": school["room2"].id},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/orgs/{org.id}/users?q=ana"
    assert "Ana Lima moved from Room 1 to Room 2." in text_of(client.get(response.headers["Location"]))


def test_move_refused_shows_why_and_changes_nothing(client, school):
    org, bo = school["org"], school["bo"]
    client.login(org.admin)
    data = {"from_classroom_id": school["room1"].id, "to_classroom_id": school["room2"].id}
    plain = client.post(f"/orgs/{org.id}/users/{bo.id}/move", data=data)
    assert plain.status_code == 422
    assert soup(plain).select_one(".flash-error").get_text(strip=True) == "Bo Chen is not in Room 1."
    in_place = client.post(f"/orgs/{org.id}/users/{bo.id}/move", data=data, headers=HX)
    assert in_place.status_code == 200
    assert soup(in_place).select_one("tr .error").get_text(strip=True) == "Bo Chen is not in Room 1."
    assert member_of(bo, school["room2"]) and events("classroom.move") == []


def test_move_into_a_classroom_outside_the_scope_is_404(client, school):
    org, leo = school["org"], school["leo"]
    client.login(leo)
    response = client.post(
        f"/orgs/{org.id}/users/{school['ana'].id}/move",
        data={"from_classroom_id": school["room1"].id, "to_classroom_id": school["room2"].id},
    )
    assert response.status_code == 404
    assert member_of(school["ana"], school["room1"])


def test_staff_cannot_touch_people_outside_their_scope(client, school):
    org = school["org"]
    client.login(school["leo"])
    response = client.post(
        f"/orgs/{org.id}/users/{school['bo'].id}/remove",
        data={"confirmed": "1", "classroom_id": school["room2"].id},
    )
    assert response.status_code == 404
    client.login(school["other"].admin)
    response = client.post(
        f"/orgs/{org.id}/users/{school['ana'].id}/remove",
        data={"confirmed": "1", "classroom_id": school["room1"].id},
    )
    assert response.status_code == 404
    assert member_of(school["bo"], school["room2"]) and member_of(school["ana"], school["room1"])


def test_remove_plain_and_with_htmx(client, school):
    org, ana, bo = school["org"], school["ana"], school["bo"]
    client.login(org.admin)
    response = client.post(
        f"/orgs/{org.id}/users/{ana.id}/remove", data={"confirmed": "1", "classroom_id": school["room1"].id}
    )
    assert response.status_code == 303 and response.headers["Location"] == f"/orgs/{org.id}/users"
    assert not member_of(ana, school["room1"])
    response = client.post(
        f"/orgs/{org.id}/users/{bo.id}/remove",
        headers=HX,
        data={"confirmed": "1", "classroom_id": school["room2"].id},
    )
    row = soup(response).find("tr", id=f"person-{bo.id}")
    assert response.status_code == 200 and row.select(".chip") == []
    assert "Student" in row.select_one(".roles").get_text(), "still a member of the organization"


def test_a_leader_removing_their_last_student_sees_the_row_leave(client, school):
    client.login(school["leo"])
    response = client.post(
        f"/orgs/{school['org'].id}/users/{school['ana'].id}/remove",
        headers=HX,
        data={"confirmed": "1", "classroom_id": school["room1"].id},
    )
    # No row comes back, only what was done, for the page's messages.
    assert response.status_code == 200 and soup(response).find("tr") is None
    assert "removed from Room" in said_by_htmx(response)
    assert not member_of(school["ana"], school["room1"])


def test_a_move_without_a_csrf_token_changes_nothing(client, school):
    org, ana = school["org"], school["ana"]
    client.login(org.admin)
    response = client.post(
        f"/orgs/{org.id}/users/{ana.id}/move",
        csrf=False,
        data={"from_classroom_id": school["room1"].id, "to_classroom_id": school["room2"].id},
    )
    assert response.status_code == 400
    assert member_of(ana, school["room1"])
    assert count(AuditEvent, AuditEvent.action == "classroom.move") == 0


def move_picker(page, person):
    row = page.find("tr", id=f"person-{person.id}")
    form = row.find("form", class_="move-form")
    if form is None:
        return None
    select_to = form.find("select", attrs={"name": "to_classroom_id"})
    options = select_to.find_all("option")
    return form, options


def test_the_move_picker_lists_only_other_classrooms_and_chooses_none(client, school, make):
    org, ana = school["org"], school["ana"]
    make.classroom(org, "Room 3")
    client.login(org.admin)
    form, options = move_picker(soup(client.get(f"/orgs/{org.id}/users")), ana)
    assert [o.get_text() for o in options[1:]] == ["Room 2", "Room 3"], "not Room 1, where Ana is"
    assert options[0]["value"] == "" and options[0].has_attr("selected")
    assert [o for o in options[1:] if o.has_attr("selected")] == []
    assert form.find("select", attrs={"name": "to_classroom_id"}).has_attr("required")


def test_a_move_without_a_classroom_chosen_is_refused_in_words(client, school):
    org, ana = school["org"], school["ana"]
    client.login(org.admin)
    response = client.post(
        f"/orgs/{org.id}/users/{ana.id}/move",
        headers=HX,
        data={"from_classroom_id": school["room1"].id, "to_classroom_id": ""},
    )
    assert "Choose the classroom they move to." in text_of(response)
    assert member_of(ana, school["room1"])


def test_a_student_in_no_classroom_is_placed_from_people(client, school):
    org, ana, room1, room2 = school["org"], school["ana"], school["room1"], school["room2"]
    client.login(org.admin)
    client.post(f"/orgs/{org.id}/users/{ana.id}/remove", data={"classroom_id": room1.id, "confirmed": "1"})
    assert not member_of(ana, room1)
    form, options = move_picker(soup(client.get(f"/orgs/{org.id}/users")), ana)
    assert form.find("button").get_text(strip=True) == "Place"
    assert form.find("input", attrs={"name": "from_classroom_id"}) is None
    response = client.post(form["action"], data={"to_classroom_id": room2.id}, follow_redirects=True)
    assert "Ana Lima placed in Room 2." in text_of(response)
    assert member_of(ana, room2)
    db.session.expire_all()
    assert db.session.get(Enrollment, (school["biology"].id, ana.id)) is not None


def test_staff_in_no_classroom_are_not_offered_a_place(client, school):
    org = school["org"]
    client.login(org.admin)
    assert move_picker(soup(client.get(f"/orgs/{org.id}/users")), school["ivy"]) is None
    response = client.post(
        f"/orgs/{org.id}/users/{school['ivy'].id}/move",
        headers=HX,
        data={"to_classroom_id": school["room2"].id},
    )
    assert "is not a student of Oak School" in text_of(response)
    assert not member_of(school["ivy"], school["room2"])


@pytest.mark.parametrize("blank", ["", " ", "\r\n"])
def test_move_or_remove_naming_no_classroom_is_refused_beside_the_field(client, school, blank):
    """Only white space (or no id at all) for the classroom: a message, never a 500
    (WTForms' InputRequired let white space through, and the id was None). An id
    that names nothing, 0 or past the range, is not found (test_big_numbers)."""
    org, ana = school["org"], school["ana"]
    client.login(org.admin)
    moved = client.post(
        f"/orgs/{org.id}/users/{ana.id}/move",
        data={"from_classroom_id": school["room1"].id, "to_classroom_id": blank},
    )
    assert moved.status_code == 422
    assert "Choose the classroom they move to." in text_of(moved)
    removed = client.post(
        f"/orgs/{org.id}/users/{ana.id}/remove", data={"classroom_id": blank, "confirmed": "1"}
    )
    assert removed.status_code == 422
    assert "Choose the classroom they leave." in text_of(removed)
    assert member_of(ana, school["room1"])
