"""Every staff page is the one shell (templates/staff.html): the organization's
tree beside a pane, the tree marking where the page is."""

import pytest

from conftest import soup

# Each staff page, and the tree's entry it marks current (None: the
# organization's name, where no entry of the tree is the page's).
PAGES = [
    ("/orgs/{org}", "Oak School"),
    ("/orgs/{org}/users", "People"),
    ("/orgs/{org}/users/roster", "People"),
    ("/orgs/{org}/bulk", "Codes"),
    ("/orgs/{org}/reports", "Reports"),
    ("/orgs/{org}/reports/compare", "Reports"),
    ("/orgs/{org}/parents", "Parent links"),
    ("/orgs/{org}/audit", "Oak School"),
    ("/classrooms/{room}", "Room 9A"),
    ("/courses/{course}", "Algebra"),
]


@pytest.fixture
def admin(client, make):
    org = make.org(name="Oak School")
    course = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A", courses=[course])
    client.login(org.admin)
    client.ids = {"org": org.id, "room": room.id, "course": course.id}
    return client


@pytest.mark.parametrize(("path", "current"), PAGES)
def test_each_staff_page_is_the_tree_beside_a_pane(admin, path, current):
    response = admin.get(path.format(**admin.ids))
    assert response.status_code == 200
    page = soup(response)
    shell = page.select("main .with-tree")
    assert len(shell) == 1
    assert [child.name for child in shell[0].find_all(recursive=False)] == ["nav", "div"]
    pane = shell[0].select_one(":scope > div.pane")
    assert pane.find("h1") is not None
    marked = page.select("nav.tree .current")
    assert [a.get_text(strip=True) for a in marked] == [current]
