"""The people list's pages, read from a person rather than a number
(codes.listing.keyset_page): walking them forward and backward visits each
person once, in order, past the count's cap too; a leader's pages hold only
their scope; a cursor that is bad, forged or names someone outside the scope is
page one."""

import pytest
from sqlalchemy import select

from codes import listing
from codes.extensions import db
from codes.models import ClassroomMember, OrgMember, User
from codes.users.operations import PAGE_SIZE
from conftest import HX, Factory, soup

# Names that tie, each many times over, and emails that tell them apart: the
# same order under SQLite's binary collation and PostgreSQL's.
NAMES = ("Ada Tie", "Bea Tie", "Cal Tie")


def shown(page):
    """The ids of the people a page lists, in its order."""
    return [int(row["id"].removeprefix("person-")) for row in page.select("tr.person-row")]


def words(node):
    return " ".join(node.get_text(" ").split())


def by_name(ids):
    """The people with these ids, in the list's order: name, then email."""
    people = db.session.execute(select(User.id, User.name, User.email_key).where(User.id.in_(ids))).all()
    return [person_id for person_id, *_ in sorted(people, key=lambda p: (p.name, p.email_key))]


def add_people(make, org, count, room=None, prefix="m"):
    ids = []
    for n in range(count):
        user = make.user(NAMES[n % len(NAMES)], f"{prefix}{n:03d}@oak.example")
        db.session.add(OrgMember(org_id=org.id, user_id=user.id, is_student=True))
        if room is not None:
            db.session.add(ClassroomMember(classroom_id=room.id, user_id=user.id))
        ids.append(user.id)
    db.session.commit()
    return ids


def walk(client, url, rel):
    """Every page from `url`, following the pager's `rel` link, alternately by
    a plain link and by htmx: the ids of each page, and each page."""
    pages = []
    while url is not None:
        page = soup(client.get(url, headers=HX if len(pages) % 2 else None))
        pages.append(page)
        link = page.select_one(f".pager a[rel={rel}]")
        url = link["href"] if link is not None else None
        assert len(pages) < 50, "the pages never end"
    return pages


def link(page, text):
    found = page.find("a", string=lambda s: s is not None and text in s)
    return found["href"] if found is not None else None


@pytest.fixture
def small_cap(monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 60)


def test_every_person_once_in_order_forward_and_backward_past_the_cap(any_db_app, small_cap):
    make = Factory()
    org = make.org()
    add_people(make, org, 3 * PAGE_SIZE + 7)
    everyone = by_name(db.session.scalars(select(OrgMember.user_id).where(OrgMember.org_id == org.id)))
    assert len(everyone) > listing.COUNT_CAP
    client = any_db_app.test_client()
    client.login(org.admin)

    forward = walk(client, f"/orgs/{org.id}/users", "next")
    assert [i for page in forward for i in shown(page)] == everyone
    assert all(len(shown(page)) == PAGE_SIZE for page in forward[:-1])
    assert "1–25 of more than 60 people" in words(forward[0].find(id="people"))
    assert "26–50 of more than 60 people" in words(forward[1].find(id="people"))
    # The fourth page starts past the counted rows: said so, not numbered.
    rest = len(everyone) - 3 * PAGE_SIZE
    assert f"{rest} of more than 60 people, after the first 60" in words(forward[3].find(id="people"))
    assert link(forward[0], "First") is None and link(forward[-1], "Last") is None

    last = link(forward[0], "Last")
    backward = walk(client, last, "prev")
    assert [i for page in reversed(backward) for i in shown(page)] == everyone
    assert shown(backward[0]) == everyone[-PAGE_SIZE:]
    assert "The last 25 of more than 60 people" in words(backward[0].find(id="people"))
    # The first page reached backward holds the rest, numbered from 1.
    head = len(everyone) % PAGE_SIZE
    assert shown(backward[-1]) == everyone[:head]
    assert f"1–{head} of more than 60 people" in words(backward[-1].find(id="people"))
    assert link(backward[-1], "Previous") is None and link(backward[-1], "Next") is not None
    assert shown(soup(client.get(link(backward[1], "First")))) == everyone[:PAGE_SIZE]


def test_pages_within_the_cap_are_numbered_both_ways(any_db_app):
    make = Factory()
    org = make.org()
    add_people(make, org, 2 * PAGE_SIZE + 3)
    everyone = by_name(db.session.scalars(select(OrgMember.user_id).where(OrgMember.org_id == org.id)))
    client = any_db_app.test_client()
    client.login(org.admin)
    last = soup(client.get(f"/orgs/{org.id}/users?last=1"))
    assert shown(last) == everyone[-PAGE_SIZE:]
    total = len(everyone)
    assert f"{total - PAGE_SIZE + 1}–{total} of {total} people" in words(last.find(id="people"))
    before = soup(client.get(link(last, "Previous"), headers=HX))
    assert shown(before) == everyone[-2 * PAGE_SIZE : -PAGE_SIZE]
    assert f"{total - 2 * PAGE_SIZE + 1}–{total - PAGE_SIZE} of {total} people" in words(before)


def test_a_leaders_pages_hold_only_their_scope_and_a_cursor_outside_it_is_page_one(any_db_app):
    make = Factory()
    org = make.org()
    leader = make.user("Leo Leader", "leo@oak.example")
    mine = make.classroom(org, "Room 1", leaders=[leader])
    theirs = make.classroom(org, "Room 2")
    led = add_people(make, org, 2 * PAGE_SIZE + 4, room=mine, prefix="a")
    # Names that tie with the leader's people and sort among them.
    others = add_people(make, org, PAGE_SIZE, room=theirs, prefix="b")
    elsewhere = make.org(name="Elm School")
    strangers = add_people(make, elsewhere, 5, prefix="c")
    client = any_db_app.test_client()
    client.login(leader)

    forward = walk(client, f"/orgs/{org.id}/users", "next")
    assert [i for page in forward for i in shown(page)] == by_name(led)
    backward = walk(client, link(forward[0], "Last"), "prev")
    assert [i for page in reversed(backward) for i in shown(page)] == by_name(led)

    first = shown(forward[0])
    for outsider in (others[PAGE_SIZE // 2], others[-1], strangers[0], org.admin.id):
        for name in ("after", "before"):
            page = soup(client.get(f"/orgs/{org.id}/users?{name}={outsider}"))
            assert shown(page) == first, (name, outsider)
            assert "1–25 of" in words(page.find(id="people"))


@pytest.mark.parametrize(
    "query",
    [
        "after=abc",
        "after=0",
        "after=-4",
        "after=99999999999999999999999",
        "before=2147483648",
        "before=1.5",
        "last=yes",
        "after=&before=",
        "page=99",
    ],
)
def test_a_bad_cursor_is_page_one(client, make, query):
    org = make.org()
    add_people(make, org, PAGE_SIZE + 2)
    client.login(org.admin)
    first = shown(soup(client.get(f"/orgs/{org.id}/users")))
    for headers in (None, HX):
        response = client.get(f"/orgs/{org.id}/users?{query}", headers=headers)
        assert response.status_code == 200
        assert shown(soup(response)) == first


def test_a_cursor_naming_someone_taken_out_meanwhile_is_page_one(client, make):
    org = make.org()
    ids = add_people(make, org, PAGE_SIZE + 2)
    client.login(org.admin)
    first = soup(client.get(f"/orgs/{org.id}/users"))
    following = link(first, "Next")
    gone = int(following.rpartition("after=")[2])
    db.session.execute(OrgMember.__table__.delete().where(OrgMember.user_id == gone))
    db.session.commit()
    assert shown(soup(client.get(following))) == shown(soup(client.get(f"/orgs/{org.id}/users")))
    assert gone in ids


def test_the_pager_keeps_the_search_and_the_classroom(client, make):
    org = make.org()
    room = make.classroom(org, "Room 1")
    add_people(make, org, PAGE_SIZE + 4, room=room)
    add_people(make, org, 10, prefix="z")
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/users?q=tie&classroom={room.id}"))
    following = page.select_one(".pager a[rel=next]")
    assert following["href"].startswith(f"/orgs/{org.id}/users?q=tie&classroom={room.id}&after=")
    assert following["data-hx-get"] == following["href"] and following["data-hx-target"] == "#people"
    assert following["data-hx-push-url"] == "true"
    assert link(page, "Last") == f"/orgs/{org.id}/users?q=tie&classroom={room.id}&last=1"
    second = soup(client.get(following["href"], headers=HX))
    assert len(shown(second)) == 4
    assert link(second, "First") == f"/orgs/{org.id}/users?q=tie&classroom={room.id}"
