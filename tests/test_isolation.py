"""Organizations stay apart (DESIGN.md "People and what they may touch"): an
organization never attaches an existing account by itself, sees nothing of a
person before they join, and sees of a member only what happened in it."""

import pytest
from sqlalchemy import select

from codes.extensions import db
from codes.invitations import operations as invitations
from codes.models import AuditEvent, ClassroomMember, Invitation, Organization, OrgMember, ParentLink
from codes.orgs import operations as orgs
from codes.parents import operations as parents
from codes.redeem.operations import RedeemRefused, attempt_redeem, redeem
from codes.users.roster import upload_roster
from conftest import count, link_in, soup, text_of


@pytest.fixture
def two(make):
    """Oak School, whose student Sam has a parent linked through Oak's code, and a
    freshly made Mallory Academy whose admin would like to know about Sam."""
    oak = make.org(name="Oak School", seat_limit=50)
    room = make.classroom(oak, "Room 9A")
    sam = make.user("Sam Secret-Name", "sam@student.example")
    redeem(sam, room.join_code.text)
    pat = make.user("Pat Parent", "pat@parent.example")
    parents.link_parent(pat, parents.make_parent_code(sam, sam).text)
    db.session.commit()
    mallory = make.org(name="Mallory Academy", admin=make.user("Mallory", "mallory@evil.example"))
    evil_room = make.classroom(mallory, "Bait")
    return dict(oak=oak, room=room, sam=sam, pat=pat, mallory=mallory, evil_room=evil_room)


def roster_file(*rows):
    return ("email,name,classroom\n" + "".join(f"{r}\n" for r in rows)).encode()


def test_a_roster_naming_another_organizations_student_attaches_nothing(two, outbox):
    mallory, sam = two["mallory"], two["sam"]
    result = upload_roster(
        mallory.admin, mallory, roster_file("SAM@student.example,Anything,Bait", "new@x.example,Newt,Bait")
    )
    db.session.commit()
    assert (result.created, result.invited, result.seats_taken) == (1, 1, 1)
    assert count(OrgMember, OrgMember.org_id == mallory.id, OrgMember.user_id == sam.id) == 0
    assert (
        count(
            ClassroomMember,
            ClassroomMember.user_id == sam.id,
            ClassroomMember.classroom_id == two["evil_room"].id,
        )
        == 0
    )
    assert db.session.get(Organization, mallory.id).seats_taken == 1, "the invitation takes no seat"
    assert sam.name == "Sam Secret-Name", "the file's name is not written on an account it does not own"
    [invitation] = db.session.scalars(select(Invitation).where(Invitation.org_id == mallory.id)).all()
    assert invitation.email == "SAM@student.example" and invitation.accepted_at is None


def test_the_people_page_shows_an_invited_email_and_never_the_accounts_name(app, client, two, outbox):
    mallory = two["mallory"]
    upload_roster(mallory.admin, mallory, roster_file("sam@student.example,Typed Name,Bait"))
    db.session.commit()
    client.login(mallory.admin)
    page = text_of(client.get(f"/orgs/{mallory.id}/users"))
    assert "sam@student.example" in page and "Invited, not joined yet" in page
    assert "Sam Secret-Name" not in page and "Oak School" not in page


def test_adding_a_person_by_email_invites_and_answers_the_same_whoever_it_is(client, two, outbox):
    mallory = two["mallory"]
    client.login(mallory.admin)
    answers = []
    for email in ("sam@student.example", "nobody@nowhere.example"):
        response = client.post(
            f"/orgs/{mallory.id}/people", data={"person-email": email}, follow_redirects=True
        )
        flash = soup(response).find(class_="flash").get_text(" ", strip=True)
        answers.append(flash.replace(email, "EMAIL"))
        assert "Sam Secret-Name" not in text_of(response)
    assert answers[0] == answers[1]
    assert answers[0].startswith("We sent an invitation to EMAIL")
    # Besides the welcome Sam got when he joined his own school in the setup.
    invited = [m for m in outbox if m.subject.endswith("invites you to join")]
    assert [m.to for m in invited] == ["sam@student.example", "nobody@nowhere.example"]
    assert invited[0].body.replace("sam@student.example", "") == invited[1].body.replace(
        "nobody@nowhere.example", ""
    ).replace(link_in(invited[1], "/invitations/"), link_in(invited[0], "/invitations/"))
    assert count(OrgMember, OrgMember.org_id == mallory.id) == 1


def test_an_invitation_is_accepted_by_its_email_alone_and_takes_the_seat_then(app, client, make, two, outbox):
    mallory, sam, new_room = two["mallory"], two["sam"], two["evil_room"]
    upload_roster(mallory.admin, mallory, roster_file("sam@student.example,Sam,Bait"))
    db.session.commit()
    seats_before = db.session.get(Organization, mallory.id).seats_taken
    [invitation] = invitations.open_for_org(mallory)
    path = f"/invitations/{invitations.token_for(invitation)}"
    # Someone else who got hold of the link cannot use it.
    stranger = make.user("Stan", "stan@x.example")
    client.login(stranger)
    assert "This invitation is for another email address" in text_of(client.get(path))
    assert client.post(path + "/accept").status_code == 404
    client.post("/logout")
    # Logged out, the link asks to log in first and comes back, as every page does
    # (an htmx request is told where to go rather than redirected).
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"] == f"/login?next={path}"
    response = client.get(path, headers={"HX-Request": "true"})
    assert response.status_code == 401 and response.headers["HX-Redirect"] == f"/login?next={path}"
    client.login(sam)
    assert client.post(path + "/accept").status_code == 303
    assert (
        count(ClassroomMember, ClassroomMember.user_id == sam.id, ClassroomMember.classroom_id == new_room.id)
        == 1
    )
    assert db.session.get(Organization, mallory.id).seats_taken == seats_before + 1
    assert "You joined Mallory Academy and Bait." in text_of(client.get("/profile"))


def test_accepting_through_the_mailed_link_verifies_the_email_and_on_the_profile_needs_it(
    app, client, make, two, outbox
):
    mallory = two["mallory"]
    unverified = make.user("Una", "una@x.example", verified=False)
    for _ in range(2):
        orgs.invite_person(mallory.admin, mallory, "una@x.example")
    db.session.commit()
    [invitation] = invitations.for_person(unverified)
    client.login(unverified)
    page = soup(client.get("/profile"))
    assert "Mallory Academy" in page.find(id="invitations").get_text()
    response = client.post(f"/profile/invitations/{invitation.id}/accept", follow_redirects=True)
    assert "Confirm your email address first" in text_of(response)
    assert count(OrgMember, OrgMember.org_id == mallory.id, OrgMember.user_id == unverified.id) == 0
    token = invitations.token_for(invitation)
    client.post(f"/invitations/{token}/accept")
    db.session.expire_all()
    assert unverified.email_verified
    assert count(OrgMember, OrgMember.org_id == mallory.id, OrgMember.user_id == unverified.id) == 1


def test_an_invitation_of_another_person_is_404(client, make, two):
    mallory = two["mallory"]
    invitation = orgs.invite_person(mallory.admin, mallory, "sam@student.example")
    db.session.commit()
    client.login(two["pat"])
    assert client.post(f"/profile/invitations/{invitation.id}/accept").status_code == 404
    client.post("/logout")
    client.login(two["oak"].admin)
    assert (
        client.post(
            f"/orgs/{mallory.id}/invitations/{invitation.id}/cancel", data={"confirmed": "1"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/orgs/{two['oak'].id}/invitations/{invitation.id}/cancel", data={"confirmed": "1"}
        ).status_code
        == 404
    )


def test_another_organizations_person_or_course_inside_a_form_is_404(client, make, two):
    """Mallory's admin names Oak's student as a leader or instructor, or Oak's
    course for her classroom: answered as an id nothing has (404, nothing
    changed), where it said "Choose one of the organization's people." beside
    the field."""
    mallory, room, sam = two["mallory"], two["evil_room"], two["sam"]
    course = make.course(mallory, "Lures")
    oak_course = make.course(two["oak"], "Algebra")
    client.login(mallory.admin)
    for path, data in (
        (f"/classrooms/{room.id}/leaders", {"user_id": sam.id}),
        (f"/courses/{course.id}/instructors", {"user_id": sam.id}),
        (f"/classrooms/{room.id}/courses", {"course_ids": [course.id, oak_course.id]}),
    ):
        for headers in ({}, {"HX-Request": "true"}):
            assert client.post(path, data=data, headers=headers).status_code == 404, path
    db.session.expire_all()
    assert room.leaders == [] and course.instructors == [] and room.courses == []


def test_staff_roles_go_only_to_verified_addresses(app, make, two):
    oak, room = two["oak"], two["room"]
    una = make.user("Una", "una@x.example", verified=False)
    redeem(una, room.join_code.text)  # a student needs no confirmed address
    db.session.commit()
    algebra = make.course(oak, "Algebra")
    for give in (
        lambda: orgs.add_leader(oak.admin, room, una.id),
        lambda: orgs.add_instructor(oak.admin, algebra, una.id),
        lambda: orgs.set_admin(oak.admin, oak, una.id, True),
    ):
        with pytest.raises(orgs.FieldErrors) as info:
            give()
        assert "has not confirmed their email address" in info.value.errors["user_id"]
        db.session.rollback()
    teacher_code = make.code(oak, "OAK-TEACHERS-27", classrooms=[room], role="teacher")
    with pytest.raises(RedeemRefused) as info:
        redeem(una, teacher_code.text)
    assert info.value.outcome == "unverified"
    db.session.rollback()
    with pytest.raises(orgs.FieldErrors):
        orgs.create_organization(una, "Una's Own")
    db.session.rollback()
    una.email_verified = True
    orgs.add_leader(oak.admin, room, una.id)
    db.session.commit()


def test_a_parent_link_made_in_one_organization_is_not_seen_or_revoked_in_another(client, make, two):
    sam, oak = two["sam"], two["oak"]
    elm = make.org(name="Elm Academy", admin=make.user("Eve", "eve@elm.example"))
    redeem(sam, make.classroom(elm, "Chess").join_code.text)
    db.session.commit()
    [link] = db.session.scalars(select(ParentLink)).all()
    client.login(elm.admin)
    page = text_of(client.get(f"/orgs/{elm.id}/parents"))
    assert "Pat Parent" not in page
    assert client.post(f"/orgs/{elm.id}/parents/{link.id}/revoke", data={"confirmed": "1"}).status_code == 404
    db.session.expire_all()
    assert link.revoked_at is None
    client.post("/logout")
    client.login(oak.admin)
    assert "Pat Parent" in text_of(client.get(f"/orgs/{oak.id}/parents"))


def test_an_organization_reads_no_attempts_its_members_made_elsewhere(app, make, two):
    sam, oak, mallory = two["sam"], two["oak"], two["mallory"]
    code = make.code(mallory, "MALLORY-CODE-27", classrooms=[two["evil_room"]])
    with app.test_request_context("/redeem", method="POST"):
        for text in ("NO-SUCH-CODE-1", "NO-SUCH-CODE-2"):
            with pytest.raises(RedeemRefused):
                attempt_redeem(sam, text)
        db.session.commit()
    with app.test_request_context("/redeem", method="POST"):
        attempt_redeem(sam, code.text)
        db.session.commit()
    assert count(AuditEvent, AuditEvent.org_id == oak.id, AuditEvent.action.like("redeem.%")) == 0
    assert count(AuditEvent, AuditEvent.action == "redeem.unknown") == 0
    assert count(AuditEvent, AuditEvent.org_id == mallory.id, AuditEvent.action == "redeem.ok") == 1


def test_the_audit_log_page_of_an_organization_shows_only_its_own(app, client, make, two):
    sam, oak, mallory = two["sam"], two["oak"], two["mallory"]
    code = make.code(mallory, "MALLORY-CODE-27", classrooms=[two["evil_room"]])
    client.login(sam)
    client.post("/redeem", data={"code": "NO-SUCH-CODE-1"})
    client.post("/redeem", data={"code": code.text})
    client.post("/logout")
    client.login(oak.admin)
    response = client.get(f"/orgs/{oak.id}/audit")
    assert response.status_code == 200
    page = text_of(response)
    assert "Sam Secret-Name" in page, "Oak's own trail: Sam joined Room 9A with its code"
    assert "NO-SUCH-CODE" not in page.upper().replace(" ", "")
    assert "MALLORY" not in page.upper()
