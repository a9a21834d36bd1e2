"""url_for_each (codes.urls) builds, for each id, the address url_for builds:
wherever the id stands in the path, beside other values, in the query string,
and under a script name; and the codes table's rows link where they did."""

import pytest
from flask import url_for

from codes.urls import url_for_each
from conftest import batch_of, soup

IDS = [0, 1, 7, 10, 987, 2**31 - 1]
ROUTES = [
    ("bulk.redemptions", "code_id", {"org_id": 12}),
    ("bulk.deactivate", "code_id", {"org_id": 1}),
    ("manage.edit", "code_id", {}),
    ("links.print_code", "code_id", {}),
    ("reports.code", "code_id", {}),
    ("bulk.codes", "org_id", {"q": "AB-12", "page": 3}),
    # Not a part of the path: the id goes in the query string.
    ("reports.code", "page", {"code_id": 5}),
]


@pytest.mark.parametrize("script_name", ["", "/codes"])
@pytest.mark.parametrize("endpoint, id_name, values", ROUTES)
def test_each_address_is_the_one_url_for_builds(app, endpoint, id_name, values, script_name):
    with app.test_request_context("/", environ_overrides={"SCRIPT_NAME": script_name}):
        each = url_for_each(endpoint, id_name, **values)
        assert [each(i) for i in IDS] == [url_for(endpoint, **values, **{id_name: i}) for i in IDS]


def test_the_codes_table_links_each_row_to_its_own_pages(client, make):
    org = make.org()
    make.classroom(org, "Room 1")
    batch = batch_of(org, 3)
    client.login(org.admin)
    page = soup(client.get(f"/orgs/{org.id}/bulk?batch={batch.id}"))
    rows = page.select("tbody.code")
    assert len(rows) == 3
    for row in rows:
        code_id = int(row["id"].removeprefix("code-"))
        links = {a.get_text(strip=True): a["href"].split("?")[0] for a in row.select("a")}
        assert links == {
            "Edit": f"/codes/{code_id}/edit",
            "Print": f"/codes/{code_id}/print",
            "Report": f"/codes/{code_id}/report",
            "Redemptions": f"/orgs/{org.id}/bulk/codes/{code_id}/redemptions",
        }
        assert row.select_one("form")["action"] == f"/orgs/{org.id}/bulk/codes/{code_id}/deactivate"
