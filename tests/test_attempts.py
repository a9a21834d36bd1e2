"""The attempt limits (codes.attempts, docs/SECURITY.md "Limits"): per account and
per address, never one shared key; a school behind one address is never stopped
by its own ordinary typos; a guesser with many accounts gets a few hundred
guesses an hour in all; attempts sent at the same instant pass the limit by
none; logging in and mail are limited the same way."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from codes import attempts
from codes.auth import operations as auth
from codes.extensions import db
from codes.models import AuditEvent, Redemption, User
from codes.redeem.operations import RedeemRefused, attempt_redeem
from conftest import PASSWORD, Factory, at_once, count, soup

NOW = datetime(2027, 3, 2, 8, 0)


def _try(policy, account, address, fails, now=NOW):
    """One attempt through the API: failed (a wrong code) or passed (a right one)."""
    reserved = attempts.begin(policy, account, address, now)
    if fails:
        reserved.failed()
    else:
        reserved.passed()


def test_a_school_of_a_thousand_behind_one_address_is_never_stopped(any_db_app):
    """Every student of a school reaches the app from one address, all in one
    morning; one in ten types a code wrong twice before the right one. With
    the default settings nobody is held back."""
    policy = attempts.codes_policy()
    school = "203.0.113.10"
    for student in range(1000):
        now = NOW + timedelta(seconds=3 * student)  # the whole school within an hour
        if student % 10 == 0:
            _try(policy, student, school, fails=True, now=now)
            _try(policy, student, school, fails=True, now=now)
        _try(policy, student, school, fails=False, now=now)
    db.session.commit()
    assert attempts.counts(policy, address=school) == {"address": 200}


def test_a_guesser_with_many_accounts_behind_one_address_gets_the_hostile_limit_in_all(any_db_app):
    """Each fresh account would be let through once; the address as a whole stops
    at its hostile limit (600 an hour by default), whoever tries."""
    policy = attempts.codes_policy()
    guesser = "198.51.100.66"
    allowed = 0
    for account in range(1000):
        for _ in range(10):
            try:
                _try(policy, f"guesser-{account}", guesser, fails=True)
                allowed += 1
            except attempts.Limited:
                break
    db.session.commit()
    assert allowed == policy.hostile == 600
    # An account that never failed is held back there now, and told why.
    with pytest.raises(attempts.Limited) as info:
        _try(policy, "innocent", guesser, fails=False)
    assert info.value.whose == attempts.HOSTILE
    assert "from many accounts" in info.value.message
    # Elsewhere it is not.
    _try(policy, "innocent", "192.0.2.1", fails=False)


def test_above_the_shared_threshold_only_accounts_that_failed_themselves_wait(app):
    app.config.update(ADDRESS_FAILURES_SHARED=5, ADDRESS_FAILURES_HOSTILE=50)
    policy = attempts.codes_policy()
    for account in range(5):
        _try(policy, account, "10.1.1.1", fails=True)
    # The address is at its shared threshold: an account with a failure of its own
    # (account 0) waits, and is told it is partly its own doing.
    with pytest.raises(attempts.Limited) as info:
        _try(policy, 0, "10.1.1.1", fails=False)
    assert info.value.whose == attempts.SHARED and "some of them from your account" in info.value.message
    # An account that never failed goes on, refused or not.
    _try(policy, "clean", "10.1.1.1", fails=False)
    _try(policy, "another", "10.1.1.1", fails=True)


def test_a_successful_attempt_and_a_refused_one_give_their_count_back(app):
    app.config.update(REDEEM_FAILURES_PER_ACCOUNT=2)
    policy = attempts.codes_policy()
    for _ in range(20):
        _try(policy, "busy", "10.2.2.2", fails=False)
    assert attempts.counts(policy, "busy", "10.2.2.2") == {"account": 0, "address": 0}
    _try(policy, "busy", "10.2.2.2", fails=True)
    _try(policy, "busy", "10.2.2.2", fails=True)
    for _ in range(3):
        with pytest.raises(attempts.Limited) as info:
            _try(policy, "busy", "10.2.2.2", fails=False)
        assert info.value.whose == attempts.ACCOUNT
    # Being told to wait is not one more failure.
    assert attempts.counts(policy, "busy", "10.2.2.2") == {"account": 2, "address": 2}
    # The window ends fifteen minutes after its first failure.
    _try(policy, "busy", "10.2.2.2", fails=False, now=NOW + timedelta(minutes=15))


def _burst(app, user_ids, text, ip_for):
    """Every user id tries `text` through the code box at the same instant, each
    in a request of its own (at_once: the counts written one at a time on SQLite,
    where the write lock queues them, side by side on PostgreSQL, where the
    counts' own UPDATEs decide); returns their outcomes."""

    def attempt(user):
        try:
            return attempt_redeem(user, text).outcome
        except RedeemRefused as refusal:
            db.session.commit()  # the attempt's audit event stays
            return refusal.outcome

    def request(i_user):
        return app.test_request_context(
            "/redeem", method="POST", environ_base={"REMOTE_ADDR": ip_for(i_user[0])}
        )

    return at_once(
        app,
        attempt,
        list(enumerate(user_ids)),
        prepare=lambda i_user: db.session.get(User, i_user[1]),
        context=request,
    )


@pytest.fixture
def burst_app(any_db_app):
    # Two connections a thread: the request's, and the one its count is taken on.
    any_db_app.config.update(
        REDEEM_FAILURES_PER_ACCOUNT=10, ADDRESS_FAILURES_SHARED=None, ADDRESS_FAILURES_HOSTILE=30
    )
    return any_db_app


def test_fifty_wrong_codes_at_once_from_one_account_pass_exactly_the_limit(burst_app):
    make = Factory()
    guesser = make.user("Gus").id
    outcomes = _burst(burst_app, [guesser] * 50, "NOPE-NOPE-NOPE", lambda i: f"10.3.0.{i}")
    assert outcomes.count("unknown") == 10
    assert outcomes.count("limited") == 40
    assert attempts.counts(attempts.codes_policy(), account=guesser) == {"account": 10}


def test_fifty_wrong_codes_at_once_from_many_accounts_pass_exactly_the_address_limit(burst_app):
    make = Factory()
    users = [make.user().id for _ in range(50)]
    outcomes = _burst(burst_app, users, "NOPE-NOPE-NOPE", lambda i: "10.4.0.1")
    assert outcomes.count("unknown") == 30
    assert outcomes.count("limited") == 20


def test_a_right_code_at_the_same_instant_is_not_counted_against_anyone(burst_app):
    make = Factory()
    org = make.org()
    make.code(org, "REAL-CODE-2027", classrooms=[make.classroom(org)])
    # Attempts under way count until they are answered (that is what makes a
    # burst exact), so these are fewer than the address's limit of 30.
    users = [make.user().id for _ in range(25)]
    outcomes = _burst(burst_app, users, "REAL-CODE-2027", lambda i: "10.5.0.1")
    assert outcomes == ["ok"] * 25
    assert count(Redemption) == 25
    assert attempts.counts(attempts.codes_policy(), address="10.5.0.1") == {"address": 0}


def test_the_code_box_says_whose_failures_hold_it_back(app, client, make):
    app.config.update(REDEEM_FAILURES_PER_ACCOUNT=2)
    org = make.org()
    make.code(org, "REAL-CODE-2027", classrooms=[make.classroom(org)])
    client.login(make.user("Gus"))
    for guess in ("NOPE-1111", "NOPE-2222"):
        client.post("/redeem", data={"code": guess})
    response = client.post("/redeem", data={"code": "REAL-CODE-2027"})
    message = soup(response).find(id="code-error").get_text(strip=True)
    assert message == "Too many codes that didn't work from your account. Wait 15 minutes, then try again."
    assert count(Redemption) == 0
    # Refused attempts at no code belong to no organization: none of them is in
    # any audit trail; the one at a real code is in its organization's.
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("redeem.%"))).all()
    assert [(e.action, e.org_id) for e in events] == [("redeem.limited", org.id)]


def test_wrong_passwords_are_limited_per_email_known_or_not(app, client, make):
    app.config.update(LOGIN_FAILURES_PER_ACCOUNT=3)
    make.user("Kim", "kim@example.org")
    for email in ("kim@example.org", "nobody@example.org"):
        for _ in range(3):
            response = client.post("/login", data={"email": email, "password": "wrong-password"})
            assert "don't match an account" in soup(response).get_text()
        response = client.post("/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 422
        assert "Too many wrong passwords for this email address. Wait 15 minutes" in soup(response).get_text()
    # Another address, another email: not held back.
    other = make.user("Lee", "lee@example.org")
    assert (
        client.post(
            "/login",
            data={"email": other.email, "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
        ).status_code
        == 303
    )


def test_an_unknown_email_costs_a_password_check_like_a_known_one(app, make, monkeypatch):
    make.user("Kim", "kim@example.org")
    checked = []
    real = auth.check_password_hash
    monkeypatch.setattr(auth, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    monkeypatch.setattr(
        User,
        "check_password",
        lambda self, p: checked.append(self.password_hash) or real(self.password_hash, p),
    )
    for email in ("kim@example.org", "nobody@example.org"):
        with pytest.raises(auth.LoginRefused):
            auth.authenticate(email, "wrong-password")
    assert len(checked) == 2
    # With the same method, so the same cost.
    assert checked[0].split("$")[0] == checked[1].split("$")[0]


def test_mail_to_one_address_is_limited(app, client, make, outbox):
    make.user("Kim", "kim@example.org")
    for _ in range(8):
        response = client.post("/password/forgot", data={"email": "kim@example.org"})
        assert response.status_code == 303
    assert [m.to for m in outbox] == ["kim@example.org"] * 5
    # And from one client address, to many.
    app.config["MAIL_PER_ADDRESS_PER_HOUR"] = 7
    for i in range(10):
        client.post(
            "/password/forgot",
            data={"email": f"stranger{i}@example.org"},
            environ_base={"REMOTE_ADDR": "10.7.7.7"},
        )
    assert len(outbox) == 5 + 7


def test_a_code_for_a_target_out_of_scope_is_404_before_its_text_counts_as_a_guess(any_db_app):
    """A leader asking for a code (its text taken) for a classroom he does not
    lead: 404, as if the classroom did not exist, and no count is left behind,
    not even a row given back to 0. Before, the text was looked up first: on
    PostgreSQL, where counts are written apart at once, the refused request
    left a row in attempt_counts, and a taken text cost him a guess."""
    from codes.models import AttemptCount

    make = Factory()
    org = make.org()
    leader = make.user("Leo")
    mine, other = make.classroom(org, "Room 1", leaders=[leader]), make.classroom(org, "Room 2")
    make.code(org, "TAKEN-TEXT-2027", classrooms=[other])
    client = any_db_app.test_client()
    client.login(leader)

    def counts():
        db.session.rollback()
        return db.session.execute(
            select(AttemptCount.name, AttemptCount.count).order_by(AttemptCount.name)
        ).all()

    before = counts()
    for text in ("TAKEN-TEXT-2027", "FREE-TEXT-2027"):
        response = client.post(
            f"/classrooms/{mine.id}/codes",
            data={"text": text, "classroom_ids": [str(mine.id), str(other.id)]},
        )
        assert response.status_code == 404, text
    assert counts() == before


def test_asking_whether_a_custom_code_is_taken_counts_as_a_guess(app, client, make):
    from codes.access import Scope
    from codes.manage import operations as manage

    app.config.update(REDEEM_FAILURES_PER_ACCOUNT=3)
    other = make.org(name="Elm Academy", admin=make.user("Eve"))
    make.code(other, "ELM-SECRET-2027", classrooms=[make.classroom(other)])
    org = make.org(admin=make.user("Mallory"))
    room = make.classroom(org)
    scope = Scope(org.admin, org)
    for _ in range(3):
        with pytest.raises(manage.FieldErrors) as info:
            manage.create_code(
                org.admin, scope, manage.CodeInput(text="ELM-SECRET-2027", classroom_ids=[room.id])
            )
        assert info.value.errors["text"] == "That code is already taken. Choose another."
        assert "Elm" not in info.value.errors["text"]
        db.session.rollback()
    # The fourth ask is not answered: not even for a text nobody has.
    with pytest.raises(manage.FieldErrors) as info:
        manage.create_code(
            org.admin, scope, manage.CodeInput(text="MALLORY-FREE-2027", classroom_ids=[room.id])
        )
    assert "Wait 15 minutes" in info.value.errors["text"]
    db.session.rollback()
    # And the code box answers the same: one budget.
    with pytest.raises(RedeemRefused) as info:
        attempt_redeem(org.admin, "ELM-SECRET-2027")
    assert info.value.outcome == "limited"
