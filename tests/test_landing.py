"""Each person lands where their work is (access.landing), at login and at the
site's root, and the navigation shows the organizations only to staff."""

from codes.extensions import db
from codes.redeem.operations import redeem
from conftest import error_beside, soup


def lands(app, user):
    client = app.test_client()
    at_login = client.login(user).headers["Location"]
    at_root = client.get("/").headers["Location"]
    assert at_login == at_root
    return at_login


def nav_links(app, user):
    client = app.test_client()
    client.login(user)
    page = soup(client.get("/profile"))
    return [a.get_text(strip=True) for a in page.select("header nav a")]


def test_the_admin_of_one_organization_lands_on_it(app, make):
    org = make.org()
    assert lands(app, org.admin) == f"/orgs/{org.id}"


def test_the_admin_of_two_organizations_lands_on_their_list(app, make):
    org = make.org()
    make.org(admin=org.admin, name="Elm School")
    assert lands(app, org.admin) == "/orgs"


def test_a_leader_lands_on_their_classroom_and_a_teacher_on_their_course(app, make):
    org = make.org()
    leo, tia = make.user("Leo Leader"), make.user("Tia Teacher")
    room = make.classroom(org, "Room 9A", leaders=[leo])
    algebra = make.course(org, "Algebra", instructors=[tia])
    assert lands(app, leo) == f"/classrooms/{room.id}"
    assert lands(app, tia) == f"/courses/{algebra.id}"


def test_a_leader_of_two_classrooms_lands_on_the_list_of_theirs(app, make):
    org = make.org()
    leo = make.user("Leo Leader")
    make.classroom(org, "Room 9A", leaders=[leo])
    make.classroom(org, "Room 9B", leaders=[leo])
    assert lands(app, leo) == "/orgs"


def test_a_student_lands_on_their_profile_and_their_navigation_has_no_organizations(app, make):
    org = make.org()
    room = make.classroom(org, "Room 9A")
    sam = make.user("Sam Student")
    redeem(sam, room.join_code.text)

    db.session.commit()
    assert lands(app, sam) == "/profile"
    assert "Organizations" not in nav_links(app, sam)
    client = app.test_client()
    client.login(sam)
    make_one = soup(client.get("/profile")).find(id="make-organization")
    assert make_one.find("a")["href"] == "/orgs", "anyone may still make an organization"


def test_staff_see_the_organizations_in_their_navigation(app, make):
    org = make.org()
    assert "Organizations" in nav_links(app, org.admin)
    client = app.test_client()
    client.login(org.admin)
    assert soup(client.get("/profile")).find(id="make-organization") is None


def test_the_navigation_of_staff_pages_shows_the_organizations_to_staff_alone(app, make):
    """On a page of an organization (which knows the person's scope there) as
    on a page of none: to its admin, a leader and a teacher; never to someone
    who is only a student, here or anywhere."""
    org = make.org()
    leo, tia, sam = make.user("Leo Leader"), make.user("Tia Teacher"), make.user("Sam Student")
    room = make.classroom(org, "Room 9A", leaders=[leo])
    algebra = make.course(org, "Algebra", instructors=[tia])
    redeem(sam, room.join_code.text)
    db.session.commit()
    for person, pages in (
        (org.admin, [f"/orgs/{org.id}", f"/orgs/{org.id}/users", f"/orgs/{org.id}/bulk", "/profile"]),
        (leo, [f"/classrooms/{room.id}", "/profile"]),
        (tia, [f"/courses/{algebra.id}", "/profile"]),
    ):
        client = app.test_client()
        client.login(person)
        for page in pages:
            response = client.get(page)
            assert response.status_code == 200, (person.name, page)
            links = [a.get_text(strip=True) for a in soup(response).select("header nav a")]
            assert "Organizations" in links, (person.name, page)
    client = app.test_client()
    client.login(sam)
    for page in ("/profile", "/parents"):
        links = [a.get_text(strip=True) for a in soup(client.get(page)).select("header nav a")]
        assert "Organizations" not in links, page


def test_a_teacher_in_two_places_finds_their_classrooms_and_courses_not_a_form(app, make):
    """Staff who land on /orgs (in several places) see where their work is: each
    organization with the classrooms they lead and the courses they teach, as
    links; making an organization stays there, folded away below."""
    school = make.org(name="Maple School")
    other = make.org(name="Elm School")
    tia = make.user("Tia Teacher")
    room = make.classroom(school, "Room 9A", leaders=[tia])
    make.classroom(school, "Room 9B")
    algebra = make.course(other, "Algebra", instructors=[tia])
    make.course(other, "Biology")
    assert lands(app, tia) == "/orgs"

    client = app.test_client()
    client.login(tia)
    page = soup(client.get("/orgs"))
    places = page.find(id="workplaces")
    assert places is not None
    orgs = places.select("[data-org]")
    assert [o.find("h2").get_text(strip=True) for o in orgs] == ["Elm School", "Maple School"]
    links = {a.get_text(strip=True): a["href"] for a in places.find_all("a")}
    assert links == {
        "Elm School": f"/orgs/{other.id}",
        "Algebra": f"/courses/{algebra.id}",
        "Maple School": f"/orgs/{school.id}",
        "Room 9A": f"/classrooms/{room.id}",
    }, "only what they lead or teach, nothing else of either organization"
    create = page.find("form", action="/orgs")
    assert create is not None, "making an organization is still possible"
    folded = create.find_parent("details")
    assert folded is not None and not folded.has_attr("open"), "but secondary: folded away"
    assert folded.find("summary").get_text(strip=True) == "Create an organization"
    assert places.sourceline < folded.sourceline


def test_a_refused_new_organization_is_shown_open_with_its_message(app, make):
    school = make.org(name="Maple School")
    tia = make.user("Tia Teacher")
    make.classroom(school, "Room 9A", leaders=[tia])
    make.classroom(school, "Room 9B", leaders=[tia])
    client = client_as_login(app, tia)
    response = client.post("/orgs", data={"name": "", "timezone": "UTC"})
    assert response.status_code == 422
    page = soup(response)
    folded = page.find("form", action="/orgs").find_parent("details")
    assert folded.has_attr("open"), "the refused form is not hidden"
    assert error_beside(page, "name")
    assert page.find(id="workplaces") is not None


def test_staff_of_nothing_yet_see_the_form_itself(app, make):
    nobody = make.user("Nora New")
    client = client_as_login(app, nobody)
    page = soup(client.get("/orgs"))
    assert page.find(id="workplaces") is None
    create = page.find("form", action="/orgs")
    assert create is not None and create.find_parent("details") is None


def client_as_login(app, user):
    client = app.test_client()
    client.login(user)
    return client
