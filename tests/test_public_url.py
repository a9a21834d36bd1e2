"""Links handed out (in mail, letters, share links and QR codes) name PUBLIC_URL,
whatever Host or X-Forwarded-Host the request that made them carried; a Host the
app does not answer for is refused."""

import re

import pytest
from test_links import decode

from codes.extensions import db
from codes.parents.operations import make_parent_code
from codes.redeem.operations import redeem
from conftest import PASSWORD, Factory, build_app, soup

PUBLIC = "https://codes.example.org"
FOREIGN = {"X-Forwarded-Host": "attacker.example"}
LINK = re.compile(r"https?://[^\s\"'<>]+")


@pytest.fixture
def proxied(tmp_path):
    """Behind one proxy (PROXY_HOPS=1), whose X-Forwarded-Host a client can write."""
    app = build_app(f"sqlite:///{tmp_path / 'proxied.db'}", PROXY_HOPS=1)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def aliased(tmp_path):
    """PUBLIC_URL on one name, and the test client's host (localhost) trusted too,
    as a second name an operator may add to TRUSTED_HOSTS."""
    app = build_app(
        f"sqlite:///{tmp_path / 'aliased.db'}", PROXY_HOPS=1, PUBLIC_URL=PUBLIC, TRUSTED_HOSTS=["localhost"]
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def only_links_to(base, text):
    links = LINK.findall(text)
    assert links, text
    assert all(link.startswith(base + "/") for link in links), links
    assert "attacker" not in text


@pytest.mark.parametrize("path", ["/login", "/orgs", "/no/such/page", "/login?x=%00"])
def test_a_foreign_host_is_refused_with_a_plain_page(client, path):
    response = client.get(path, headers={"Host": "attacker.example"})
    assert response.status_code == 400
    assert "Wrong address" in response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"]
    assert client.get("/login").status_code == 200


def test_a_foreign_host_cannot_post_either(client, make):
    user = make.user()
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD}, headers={"Host": "attacker.example:80"}
    )
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers


def test_the_hosts_in_trusted_hosts_are_answered(aliased):
    client = aliased.test_client()
    assert client.get("/login").status_code == 200
    assert client.get("/login", base_url=PUBLIC).status_code == 200
    assert client.get("/login", headers={"Host": "attacker.example"}).status_code == 400


def test_a_reset_mail_asked_with_a_foreign_forwarded_host_links_to_public_url(proxied, outbox):
    Factory().user(email="kim@school.org")
    client = proxied.test_client()
    response = client.post("/password/forgot", data={"email": "kim@school.org"}, headers=FOREIGN)
    assert response.status_code == 303
    assert len(outbox) == 1
    only_links_to("http://localhost", outbox[0].body)


def test_sign_up_and_verification_mails_asked_with_a_foreign_forwarded_host_link_to_public_url(
    proxied, outbox
):
    client = proxied.test_client()
    response = client.post(
        "/signup", data={"name": "Nia New", "email": "nia@school.org", "password": PASSWORD}, headers=FOREIGN
    )
    assert response.status_code == 303
    unconfirmed = Factory().user(email="una@school.org", verified=False)
    client.login(unconfirmed)
    assert client.post("/verify/resend", headers=FOREIGN).status_code == 303
    assert len(outbox) == 2
    for sent in outbox:
        only_links_to("http://localhost", sent.body)


def test_mail_links_name_public_url_not_the_host_asked(aliased, outbox):
    make = Factory()
    make.user(email="kim@school.org", verified=False)
    client = aliased.test_client()
    client.post("/password/forgot", data={"email": "kim@school.org"}, headers=FOREIGN)
    client.login(make.user(verified=False))
    client.post("/verify/resend", headers=FOREIGN)
    assert len(outbox) == 2
    for sent in outbox:
        only_links_to(PUBLIC, sent.body)


def test_share_links_and_qr_codes_name_public_url(aliased):
    make = Factory()
    org = make.org()
    room = make.classroom(org, "Room 9A")
    code = make.code(org, "OAK-9A-2027", classrooms=[room])
    client = aliased.test_client()
    client.login(org.admin)
    link = f"{PUBLIC}/join/OAK-9A-2027"
    assert decode(client.get(f"/codes/{code.id}/qr.svg", headers=FOREIGN).data) == [link]
    page = soup(client.get(f"/codes/{code.id}/edit", headers=FOREIGN))
    assert page.find("a", href=link) is not None
    assert page.find("img", src=f"/codes/{code.id}/qr.svg")["alt"] == f"QR code of {link}"
    poster = soup(client.get(f"/codes/{code.id}/print", headers=FOREIGN))
    assert poster.select_one(".poster-link").get_text(strip=True) == "codes.example.org/join/OAK-9A-2027"


def test_parent_links_name_public_url(aliased):
    make = Factory()
    org = make.org()
    code = make.code(org, "OAK-9A-2027", classrooms=[make.classroom(org)])
    student = make.user("Sam Student")
    redeem(student, code.text)
    parent_code = make_parent_code(student, student)
    db.session.commit()
    client = aliased.test_client()
    client.login(student)
    shown = soup(client.get("/profile", headers=FOREIGN)).select_one("#parent-codes .link-text")
    assert shown.get_text(strip=True) == f"{PUBLIC}/parents/link?code={parent_code.text}"


def test_every_mail_a_sign_up_a_roster_or_an_invitation_sends_names_public_url(aliased, outbox):
    """Every mail the app writes, asked for through a name other than PUBLIC_URL's:
    finishing a sign-up, an account with that email, a roster's new accounts and
    its invitations, an invitation from the organization page."""
    from io import BytesIO

    make = Factory()
    make.user(email="kim@school.org")
    org = make.org()
    make.classroom(org, "Room 9A")
    client = aliased.test_client()
    for email in ("new@school.org", "kim@school.org"):
        client.post("/signup", data={"name": "N", "email": email, "password": PASSWORD}, headers=FOREIGN)
    client.login(org.admin)
    roster = b"email,name,classroom\nfresh@school.org,Fresh,Room 9A\nkim@school.org,Kim,Room 9A\n"
    response = client.post(
        f"/orgs/{org.id}/users/roster",
        headers=FOREIGN,
        data={"roster": (BytesIO(roster), "roster.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    client.post(f"/orgs/{org.id}/people", data={"person-email": "ivy@school.org"}, headers=FOREIGN)
    assert len(outbox) == 5
    for sent in outbox:
        only_links_to(PUBLIC, sent.body)
