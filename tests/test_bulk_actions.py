"""Actions on many codes at once from the existing-codes table: deactivate, switch
off, switch on, change the expiry of the codes ticked or of all the filter shows.
Asked first with how many, done to all of them or none in one transaction, one
audit event a code changed, and only to codes the person may manage."""

from datetime import date

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from codes.access import OutOfScope, Scope
from codes.bulk import actions
from codes.bulk.operations import CodeFilter
from codes.errors import FieldErrors
from codes.extensions import db
from codes.manage import operations as manage
from codes.models import AuditEvent, Code, utcnow
from codes.orgs import operations as orgs
from codes.timeutil import to_utc
from conftest import HX, batch_of, count, error_beside, snapshot, soup


@pytest.fixture
def school(make):
    org = make.org(name="Oak School", timezone="Europe/Paris")
    algebra = make.course(org, "Algebra")
    room = make.classroom(org, "Room 9A")
    return org, room, algebra


@pytest.fixture
def admin(client, school):
    client.login(school[0].admin)
    return client


def url(org, rest=""):
    return f"/orgs/{org.id}/bulk{rest}"


def codes_of(batch):
    return db.session.scalars(select(Code).where(Code.batch_id == batch.id).order_by(Code.id)).all()


def events(action):
    return db.session.scalars(
        select(AuditEvent.object_id).where(AuditEvent.action == action).order_by(AuditEvent.object_id)
    ).all()


def fields_of(form):
    """What a form sends as it stands: its hidden fields and ticked boxes."""
    data = {}
    for tag in form.find_all("input"):
        if tag.get("type") in ("checkbox", "radio") and not tag.has_attr("checked"):
            continue
        if tag.get("name"):
            data.setdefault(tag["name"], []).append(tag.get("value", ""))
    return data


# --- the domain -----------------------------------------------------------------------------


def test_deactivating_many_codes_writes_one_event_each_and_leaves_the_deactivated(school):
    org, room, algebra = school
    codes = codes_of(batch_of(org, 4))
    manage.deactivate(org.admin, codes[0])
    db.session.commit()
    before = len(events("code.deactivate"))
    scope = Scope(org.admin, org)
    done = actions.apply(
        org.admin, actions.codes_named(scope, [c.id for c in codes]), actions.Change(actions.DEACTIVATE)
    )
    db.session.commit()
    assert (done.changed, done.already, done.left) == (3, 1, 0)
    assert all(c.deactivated_at is not None for c in codes)
    assert len(events("code.deactivate")) == before + 3
    assert events("code.deactivate")[-3:] == [c.id for c in codes[1:]]


def test_switching_off_and_on_counts_what_was_already_so_and_leaves_deactivated_codes(school):
    org, room, algebra = school
    codes = codes_of(batch_of(org, 5))
    manage.set_enabled(org.admin, codes[0], False)
    manage.deactivate(org.admin, codes[1])
    db.session.commit()
    scope = Scope(org.admin, org)
    ids = [c.id for c in codes]
    done = actions.apply(org.admin, actions.codes_named(scope, ids), actions.Change(actions.OFF))
    db.session.commit()
    assert (done.changed, done.already, done.left) == (3, 1, 1)
    assert [c.enabled for c in codes] == [False, True, False, False, False], "the deactivated one left alone"
    assert events("code.off")[-3:] == ids[2:]
    done = actions.apply(org.admin, actions.codes_named(scope, ids), actions.Change(actions.ON))
    db.session.commit()
    assert (done.changed, done.already, done.left) == (4, 0, 1)
    assert events("code.on") == [ids[0], *ids[2:]]


def test_changing_the_expiry_of_many_codes(school):
    org, room, algebra = school
    codes = codes_of(batch_of(org, 3))
    until = to_utc(org, date(2031, 6, 30), end_of_day=True)
    scope = Scope(org.admin, org)
    done = actions.apply(
        org.admin, actions.codes_named(scope, [c.id for c in codes]), actions.Change(actions.EXPIRY, until)
    )
    db.session.commit()
    assert done.changed == 3 and all(c.valid_until == until for c in codes)
    assert events("code.expiry") == [c.id for c in codes]
    done = actions.apply(
        org.admin, actions.codes_named(scope, [c.id for c in codes]), actions.Change(actions.EXPIRY, None)
    )
    db.session.commit()
    assert done.changed == 3 and all(c.valid_until is None for c in codes)


def test_an_expiry_before_a_code_opens_is_refused_for_all_of_them(school, make):
    org, room, algebra = school
    codes = codes_of(batch_of(org, 2))
    later = make.code(org, "OPENS-LATER-1", classrooms=[room], valid_from=to_utc(org, date(2031, 9, 1)))
    scope = Scope(org.admin, org)
    before = snapshot()
    with pytest.raises(FieldErrors) as refused:
        actions.apply(
            org.admin,
            actions.codes_named(scope, [c.id for c in codes] + [later.id]),
            actions.Change(actions.EXPIRY, to_utc(org, date(2031, 8, 31), end_of_day=True)),
        )
    assert refused.value.errors == {
        "new_expiry": "1 of these codes opens only after that day. Choose a later day, or untick it."
    }
    db.session.rollback()
    assert snapshot() == before


def test_codes_named_takes_only_live_codes_in_scope_and_at_most_500(school, make):
    org, room, algebra = school
    ivy = make.user("Ivy Instructor")
    biology = make.course(org, "Biology", instructors=[ivy])
    hers = make.code(org, "IVY-BIOLOGY-1", courses=[biology])
    not_hers = make.code(org, "ROOM-9A-ONLY", classrooms=[room])
    elsewhere = make.org(name="Elm School")
    theirs = make.code(elsewhere, "ELM-CODE-2027", classrooms=[make.classroom(elsewhere)])
    gone = make.code(org, "GONE-CODE-2027", courses=[biology])
    gone.deleted_at = utcnow()
    db.session.commit()
    scope = Scope(ivy, org)
    assert [c.id for c in actions.codes_named(scope, [hers.id, hers.id])] == [hers.id]
    for ids in ([hers.id, not_hers.id], [theirs.id], [hers.id, gone.id], [0], [2_000_000_000]):
        with pytest.raises(OutOfScope):
            actions.codes_named(scope, ids)
    with pytest.raises(FieldErrors) as none:
        actions.codes_named(scope, [])
    assert "Tick at least one code" in none.value.errors["code_ids"]
    with pytest.raises(FieldErrors) as many:
        actions.codes_named(Scope(org.admin, org), range(1, 502))
    assert many.value.errors == {"code_ids": "Choose at most 500 codes at a time."}


def test_all_the_filter_shows_is_at_most_500_codes(school):
    org, room, algebra = school
    big = batch_of(org, 500)
    scope = Scope(org.admin, org)
    assert sorted(actions.ids_the_filter_shows(scope, CodeFilter(batch_id=big.id))) == [
        c.id for c in codes_of(big)
    ]
    batch_of(org, 1)
    with pytest.raises(FieldErrors) as many:
        actions.ids_the_filter_shows(scope, CodeFilter())
    assert many.value.errors["act_on"].startswith("The filter shows more than 500 codes: narrow it")
    with pytest.raises(FieldErrors) as none:
        actions.ids_the_filter_shows(scope, CodeFilter(search="NOTHING-LIKE-IT"))
    assert none.value.errors == {"act_on": "The filter shows no codes."}


# --- with and without htmx ------------------------------------------------------------------


def test_plain_posts_ask_first_with_how_many_then_switch_off_all_of_them(admin, school):
    org, room, algebra = school
    batch = batch_of(org, 4)
    codes = codes_of(batch)
    page = soup(admin.get(url(org, f"?batch={batch.id}")))
    form = page.find("form", id="bulk-actions")
    assert form["action"] == url(org, "/actions") and form["method"] == "post"
    boxes = page.select("#codes-table input.pick")
    assert [b["value"] for b in boxes] == [str(c.id) for c in codes]
    assert all(b["form"] == "bulk-actions" and b["aria-label"].startswith("Select ") for b in boxes)
    before = snapshot()
    sent = {
        **fields_of(form),
        "code_ids": [str(c.id) for c in codes[:3]],
        "bulk_action": "off",
        "new_expiry": "",
    }
    asked = admin.post(form["action"], data=sent)
    assert asked.status_code == 200
    question = soup(asked)
    assert question.find("h1").get_text(strip=True) == "Switch off 3 codes?"
    assert "They stop working until they are switched on again." in question.get_text()
    assert snapshot() == before, "asking changes nothing"
    yes = question.select_one("#confirm form")
    again = fields_of(yes)
    assert again["code_ids"] == [str(c.id) for c in codes[:3]] and again["confirmed"] == ["1"]
    assert again["next"] == [url(org, f"?batch={batch.id}")]
    done = admin.post(yes["action"], data=again)
    assert done.status_code == 303 and done.headers["Location"] == url(org, f"?batch={batch.id}")
    db.session.expire_all()
    assert [db.session.get(Code, c.id).enabled for c in codes] == [False, False, False, True]
    assert events("code.off") == [c.id for c in codes[:3]]
    back = soup(admin.get(done.headers["Location"]))
    assert back.select_one(".flash").get_text(strip=True) == (
        "3 codes switched off: they stop working until switched on again."
    )
    assert [r.get_text(strip=True) for r in back.select("#codes-table .status")] == ["Active"], (
        "the live filter shows only the one still on"
    )


def test_with_htmx_the_question_and_the_result_come_in_the_table(admin, school):
    org, room, algebra = school
    batch = batch_of(org, 3)
    codes = codes_of(batch)
    page = soup(admin.get(url(org)))
    form = page.find("form", id="bulk-actions")
    assert form["data-hx-post"] == form["action"] and form["data-hx-target"] == "#codes-table"
    sent = {**fields_of(form), "code_ids": [str(c.id) for c in codes[:2]], "bulk_action": "deactivate"}
    asked = admin.post(form["data-hx-post"], data=sent, headers=HX)
    assert asked.status_code == 200 and asked.headers["Vary"].startswith("HX-Request")
    part = soup(asked)
    assert part.find("html") is None and part.find("div", id="codes-table") is not None
    panel = part.find(id="bulk-panel")
    assert panel.find(attrs={"data-announce": True}).get_text(strip=True) == (
        "Deactivate 2 codes for good? They stop working at once and cannot be turned back on."
    )
    assert panel.find("button").get_text(strip=True) == "Deactivate 2 codes"
    assert panel.find("a", string="Keep them as they are")["data-hx-get"] == url(org)
    ticked = [b["value"] for b in part.select("input.pick[checked]")]
    assert ticked == [str(c.id) for c in codes[:2]], "the ticks stay while asked"
    assert count(AuditEvent, AuditEvent.action == "code.deactivate") == 0
    yes = panel.find("form")
    done = admin.post(yes["data-hx-post"], data=fields_of(yes), headers=HX)
    assert done.status_code == 200
    result = soup(done)
    said = result.select_one("#bulk-panel .flash")
    assert said.get_text(strip=True) == "2 codes deactivated. They no longer work."
    assert result.select("#flashes") == [], "said beside the table, not again at the top"
    assert not result.select("#codes-table .status[data-announce]"), "the rows are not read out"
    listed = [c.get_text(strip=True) for c in result.select("#codes-table tr.code-row code")]
    assert codes[0].text not in listed and codes[2].text in listed
    db.session.expire_all()
    assert [db.session.get(Code, c.id).deactivated_at is not None for c in codes] == [True, True, False]
    assert events("code.deactivate") == [c.id for c in codes[:2]]


def test_all_the_filter_shows_is_asked_and_done_for_exactly_those_codes(admin, school):
    org, room, algebra = school
    batch = batch_of(org, 5, prefix="SPRING")
    other = batch_of(org, 2)
    form = soup(admin.get(url(org, f"?batch={batch.id}"))).find("form", id="bulk-actions")
    sent = {**fields_of(form), "act_on": "all", "bulk_action": "expiry", "new_expiry": "2031-06-30"}
    assert "code_ids" not in sent
    asked = soup(admin.post(form["action"], data=sent, headers=HX))
    question = asked.select_one("#bulk-panel [data-announce]").get_text(strip=True)
    assert question == "Make 5 codes expire at the end of 2031-06-30?"
    yes = fields_of(asked.select_one("#bulk-panel form"))
    assert sorted(yes["code_ids"]) == sorted(str(c.id) for c in codes_of(batch))
    assert yes["act_on"] == ["ticked"] and yes["batch"] == [str(batch.id)]
    done = soup(admin.post(url(org, "/actions"), data=yes, headers=HX))
    assert done.select_one("#bulk-panel .flash").get_text(strip=True) == (
        "5 codes now expire at the end of 2031-06-30."
    )
    db.session.expire_all()
    until = to_utc(org, date(2031, 6, 30), end_of_day=True)
    assert all(c.valid_until == until for c in codes_of(batch))
    assert all(c.valid_until != until for c in codes_of(other))


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(
    "changes, message",
    [
        ({}, "Tick at least one code, or choose all the codes the filter shows."),
        ({"code_ids": [str(n) for n in range(1, 502)]}, "Choose at most 500 codes at a time."),
        ({"act_on": "everything"}, "Choose the codes ticked, or all the codes the filter shows."),
        ({"act_on": "all", "q": "NOTHING-LIKE-IT"}, "The filter shows no codes."),
    ],
)
def test_a_choice_of_no_codes_or_too_many_is_refused_beside_it(admin, school, changes, message, htmx):
    org, room, algebra = school
    batch_of(org, 2)
    form = soup(admin.get(url(org))).find("form", id="bulk-actions")
    before = snapshot()
    response = admin.post(form["action"], data={**fields_of(form), **changes}, headers=HX if htmx else {})
    assert response.status_code == (200 if htmx else 422)
    page = soup(response)
    assert error_beside(page, "act_on") == message
    assert page.select_one("#bulk-actions input[aria-invalid=true]")["aria-describedby"] == "act_on-error"
    assert (page.find("html") is None) is htmx
    assert snapshot() == before


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"bulk_action": "explode"}, "bulk_action", "Choose what to do with the codes."),
        ({"bulk_action": "expiry", "new_expiry": "31/06/2031"}, "new_expiry", "Not a valid date value."),
        ({"bulk_action": "expiry", "new_expiry": "0001-01-01"}, "new_expiry", None),
    ],
)
def test_a_bad_action_or_date_is_refused_beside_its_field(admin, school, changes, field, message):
    org, room, algebra = school
    codes = codes_of(batch_of(org, 2))
    form = soup(admin.get(url(org))).find("form", id="bulk-actions")
    before = snapshot()
    sent = {**fields_of(form), "code_ids": [str(codes[0].id)], **changes}
    response = admin.post(form["action"], data=sent)
    assert response.status_code == 422
    said = error_beside(soup(response), field)
    assert said is not None and (message is None or said == message)
    assert snapshot() == before


def test_a_failure_half_way_leaves_every_code_as_it_was(app, admin, school, monkeypatch):
    org, room, algebra = school
    codes = codes_of(batch_of(org, 5))
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production: a 500 page
    reached = []
    switch = actions.set_enabled

    def third_fails(actor, code, enabled):
        reached.append(code.id)
        if len(reached) == 3:
            raise RuntimeError("the disk went away")
        return switch(actor, code, enabled)

    monkeypatch.setattr(actions, "set_enabled", third_fails)
    before = snapshot()
    sent = {
        "code_ids": [str(c.id) for c in codes],
        "bulk_action": "off",
        "act_on": "ticked",
        "confirmed": "1",
    }
    response = admin.post(url(org, "/actions"), data=sent)
    assert response.status_code == 500
    assert len(reached) == 3, "two codes were switched off before the error"
    assert snapshot() == before, "none switched off, no audit event"
    monkeypatch.undo()
    assert admin.post(url(org, "/actions"), data=sent).status_code == 303
    db.session.expire_all()
    assert not any(db.session.get(Code, c.id).enabled for c in codes)


# --- scope ----------------------------------------------------------------------------------


@pytest.fixture
def staff(app, school, make):
    org, room, algebra = school
    leo, ivy = make.user("Leo Leader"), make.user("Ivy Instructor")
    make.join(org, leo)
    make.join(org, ivy)
    orgs.add_leader(org.admin, room, leo.id)
    orgs.add_instructor(org.admin, algebra, ivy.id)
    db.session.commit()
    room_codes = codes_of(batch_of(org, 2, classroom_ids=[room.id]))
    course_codes = codes_of(batch_of(org, 2, classroom_ids=[], course_ids=[algebra.id]))
    mixed = codes_of(batch_of(org, 1, classroom_ids=[room.id], course_ids=[algebra.id]))
    elsewhere = make.org(name="Elm School")
    theirs = make.code(elsewhere, "ELM-CODE-2027", classrooms=[make.classroom(elsewhere)])
    return {
        "people": {"admin": org.admin, "leader": leo, "instructor": ivy},
        "own": {"admin": room_codes + course_codes + mixed, "leader": room_codes, "instructor": course_codes},
        "others": {
            "admin": [theirs],
            "leader": course_codes + mixed + [theirs],
            "instructor": room_codes + mixed + [theirs],
        },
    }


@pytest.mark.parametrize("role", ["admin", "leader", "instructor"])
@pytest.mark.parametrize("htmx", [False, True])
def test_each_role_acts_on_its_own_codes_and_any_other_id_is_not_found(app, school, staff, role, htmx):
    org = school[0]
    client = app.test_client()
    client.login(staff["people"][role])
    headers = HX if htmx else {}
    own = staff["own"][role]
    for other in staff["others"][role]:
        before = snapshot()
        sent = {
            "code_ids": [str(own[0].id), str(other.id)],
            "bulk_action": "deactivate",
            "act_on": "ticked",
            "confirmed": "1",
        }
        assert client.post(url(org, "/actions"), data=sent, headers=headers).status_code == 404, other.text
        assert snapshot() == before, "nothing changed"
    sent = {"code_ids": [str(c.id) for c in own], "bulk_action": "off", "act_on": "ticked", "confirmed": "1"}
    response = client.post(url(org, "/actions"), data=sent, headers=headers)
    assert response.status_code == (200 if htmx else 303)
    db.session.expire_all()
    assert not any(db.session.get(Code, c.id).enabled for c in own)
    untouched = [c for c in staff["others"][role]]
    assert all(db.session.get(Code, c.id).enabled for c in untouched)


def test_all_the_filter_shows_is_only_what_a_teacher_may_manage(app, school, staff):
    org = school[0]
    client = app.test_client()
    client.login(staff["people"]["leader"])
    sent = {"act_on": "all", "bulk_action": "off"}
    asked = soup(client.post(url(org, "/actions"), data=sent, headers=HX))
    ids = fields_of(asked.select_one("#bulk-panel form"))["code_ids"]
    room = school[1]
    assert sorted(ids) == sorted([str(c.id) for c in staff["own"]["leader"]] + [str(room.join_code.id)])


def test_a_target_filter_outside_scope_in_the_form_is_not_found(app, school, staff):
    org, room, algebra = school
    client = app.test_client()
    client.login(staff["people"]["leader"])
    before = snapshot()
    sent = {"act_on": "all", "bulk_action": "off", "course": str(algebra.id), "confirmed": "1"}
    assert client.post(url(org, "/actions"), data=sent).status_code == 404
    assert snapshot() == before


def test_without_the_csrf_token_nothing_is_done(app, school):
    org = school[0]
    codes = codes_of(batch_of(org, 2))
    client = app.test_client()
    client.login(org.admin)
    before = snapshot()
    sent = {"code_ids": [str(c.id) for c in codes], "bulk_action": "off", "confirmed": "1"}
    assert client.post(url(org, "/actions"), data=sent, csrf=False).status_code == 400
    assert snapshot() == before


def test_removing_the_expiry_asks_so_in_words(admin, school):
    org = school[0]
    codes = codes_of(batch_of(org, 2))
    sent = {"code_ids": [str(c.id) for c in codes], "bulk_action": "expiry", "new_expiry": ""}
    page = BeautifulSoup(admin.post(url(org, "/actions"), data=sent).get_data(as_text=True), "html.parser")
    assert page.find("h1").get_text(strip=True) == "Remove the expiry of 2 codes?"
    assert "They work until they are used up, switched off or deactivated." in page.get_text()
