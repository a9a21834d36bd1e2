"""No URL a form posts to shows a bare 405 when it is reloaded or opened again.
A plain post that answers a page of its own (a refused code, a form with its
errors, a question asked first) leaves its URL in the address bar: opened
again it is a page of the app's own (405) that says so; the code box's /redeem
leads to the profile (codes.web.reloads_to)."""

import pytest
from test_every_route import rules, url_for_rule, world  # noqa: F401  (world is a fixture)
from werkzeug.exceptions import MethodNotAllowed

from codes.extensions import db
from conftest import soup, text_of


def test_every_url_that_only_takes_a_post_opened_is_a_page_of_the_apps(app, world):  # noqa: F811
    """Opened or reloaded, such a URL answers 405 with a page of the app's own that
    says what it is and that nothing changed, not a bare 405. (The code box's
    /redeem, where a refused code leaves the address bar, leads to the profile.)"""
    client = app.test_client()
    client.login(world["admin"])
    gets = {r.rule for r in rules(app, {"GET"})}
    only_posts = [r for r in rules(app, {"POST"}) if r.rule not in gets]
    assert only_posts, "the app has URLs that only take a post"
    urls = app.url_map.bind("localhost")
    for rule in only_posts:
        path = url_for_rule(rule, world["values"])
        if _a_page_too(urls, path):
            continue  # /verify/resend is also /verify/<token>, a page
        response = client.get(path)
        assert response.status_code == 405, path
        assert "POST" in response.headers["Allow"], path
        assert "This address is where a form is sent" in text_of(response), path
    assert client.get("/redeem").status_code == 303
    # Nothing a GET did logged the admin out or changed their session.
    assert client.get("/orgs").status_code == 200


def _a_page_too(urls, path):
    try:
        urls.match(path, method="GET")
    except MethodNotAllowed:
        return False
    return True


@pytest.fixture
def student(make, client):
    org = make.org()
    room = make.classroom(org, "Room 9A")
    user = make.user("Sam Student")
    db.session.commit()
    client.login(user)
    return room


def test_a_refused_code_then_opened_again_is_the_profile(client, student):
    refused = client.post("/redeem", data={"code": "NOT-A-CODE-9999"})
    assert refused.status_code == 422
    assert "We don't recognize that code." in soup(refused).select_one("#code-error").get_text()
    again = client.get("/redeem", follow_redirects=True)
    assert again.status_code == 200 and again.request.path == "/profile"
    assert "Enter a code" in text_of(again)
