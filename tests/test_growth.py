"""A large organization's pages: counted no further than listing.COUNT_CAP rows;
the codes table paged through those, the rest reached by search and filters;
the people list paged through everyone (tests/test_people_pages.py)."""

import random

import pytest
from sqlalchemy import select, update

from codes import listing
from codes.extensions import db
from codes.models import OrgMember, User
from conftest import HX, Factory, batch_of, race, soup


@pytest.fixture
def small_cap(monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 60)


def words(node):
    return " ".join(node.get_text(" ").split())


def test_the_codes_table_says_more_than_the_cap_and_pages_that_far(client, make, small_cap):
    org = make.org()
    make.classroom(org)
    batch_of(org, 120)
    client.login(org.admin)
    first = soup(client.get(f"/orgs/{org.id}/bulk"))
    meta = words(first.select_one(".table-meta"))
    assert "more than 60 codes" in meta and "page 1" in meta and " of " not in meta
    last = soup(client.get(f"/orgs/{org.id}/bulk?page=99", headers=HX))
    assert "Page 2" in words(last.select_one(".pager"))
    assert last.select_one(".pager a[rel=next]") is None
    assert "search for a code or choose a batch" in words(last)
    # A filter that selects fewer than the cap is counted exactly, as before.
    # (random codes hold no U).
    narrowed = soup(client.get(f"/orgs/{org.id}/bulk?q=UUUU", headers=HX))
    assert "0 codes match" in words(narrowed.select_one(".table-meta"))


def test_exactly_the_cap_is_counted_exactly(client, make, small_cap):
    org = make.org()
    make.classroom(org)  # and its join code
    batch_of(org, 59)
    client.login(org.admin)
    meta = words(soup(client.get(f"/orgs/{org.id}/bulk")).select_one(".table-meta"))
    assert "60 codes" in meta and "more than" not in meta


def test_people_past_the_cap_say_more_than(client, make, small_cap):
    org = make.org()
    for i in range(61):
        db.session.add(OrgMember(org_id=org.id, user_id=make.user(f"Zed {i:02d}").id))
    db.session.commit()
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/users"))
    assert "1–25 of more than 60 people" in words(page.find(id="people"))
    last = soup(client.get(f"/orgs/{org.id}/users?last=1"))
    assert "The last 25 of more than 60 people" in words(last.find(id="people"))
    assert last.select_one(".pager a[rel=next]") is None
    assert "of 3 people" not in words(soup(client.get(f"/orgs/{org.id}/users?q=zed+0")))


def test_the_audit_log_past_the_cap_says_more_than(client, make, small_cap):
    org = make.org()
    for _ in range(31):
        make.classroom(org, "Room")  # each a classroom.create and a join code event
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/audit"))
    assert "more than 60 events" in words(page.find(id="audit-count"))


def names_copied():
    """Each membership's copy of its person's name and email key, and the person's own."""
    db.session.expire_all()
    rows = db.session.execute(
        select(OrgMember.name, OrgMember.email_key, User.name, User.email_key).join(
            User, User.id == OrgMember.user_id
        )
    ).all()
    return [(copy_name, copy_key) for copy_name, copy_key, *_ in rows], [(n, k) for *_, n, k in rows]


def test_memberships_carry_their_peoples_names_through_a_random_history(any_db_app):
    """Joining by code at once (real threads), by staff, renamed, re-emailed, two
    organizations each: every membership's copy equals its person's row."""
    make = Factory()
    rng = random.Random(16)
    orgs = [make.org(name="Oak"), make.org(name="Elm")]
    codes = [
        make.code(org, f"GROWTH-{n}-2027", classrooms=[make.classroom(org)]) for n, org in enumerate(orgs)
    ]
    people = [make.user(f"Person {n:02d}") for n in range(30)]
    ids = [p.id for p in people]
    outcomes = race(any_db_app, [(i, rng.choice(codes).text) for i in ids])
    assert outcomes.count("ok") == len(ids)
    for person_id in rng.sample(ids, 10):
        make.join(rng.choice(orgs), db.session.get(User, person_id))
    for person_id in rng.sample(ids, 12):
        db.session.execute(
            update(User).where(User.id == person_id).values(name=f"Renamed {rng.random():.6f}")
        )
    for person_id in rng.sample(ids, 5):
        db.session.execute(
            update(User).where(User.id == person_id).values(email_key=f"moved-{person_id}@elm.example")
        )
    db.session.commit()
    copies, originals = names_copied()
    assert len(copies) >= len(ids) + len(orgs) and copies == originals
