"""The limits as deployed: gunicorn with two workers behind a proxy (PROXY_HOPS=1),
counting failed attempts in the database (SQLite or PostgreSQL) or in Redis.
Consecutive attempts are answered by alternating workers, so a count kept in one
worker's memory would never reach the limit."""
import html

import pytest
from test_limits import fresh_redis, redis_url

from codes.extensions import db
from conftest import PASSWORD, Factory, build_app, postgres_url
from served_support import Gunicorn, Visitor, on_alternate_workers

WAIT = "Too many codes that didn't work. Wait 15 minutes, then try again."
PER_ACCOUNT, PER_ADDRESS = 4, 6


def seed(database_url):
    app = build_app(database_url)
    with app.app_context():
        make = Factory()
        org = make.org()
        make.code(org, "REAL-CODE-2027", classrooms=[make.classroom(org)])
        emails = [make.user().email for _ in range(4)]
        db.session.remove()
        db.engine.dispose()
    return app, emails


def refused_with_wait(answer):
    status, page = answer
    return status == 422 and WAIT in html.unescape(page)


@pytest.mark.parametrize("database, store", [
    ("sqlite", "database"), ("postgresql", "database"), ("sqlite", "redis")])
def test_limits_hold_across_two_gunicorn_workers(tmp_path, database, store):
    url = f"sqlite:///{tmp_path / 'served.db'}" if database == "sqlite" else postgres_url()
    settings = {"PROXY_HOPS": 1, "REDEEM_FAILURES_PER_ACCOUNT": PER_ACCOUNT,
                "REDEEM_FAILURES_PER_ADDRESS": PER_ADDRESS}
    if store == "redis":
        settings["RATELIMIT_STORAGE_URI"] = redis_url()
        fresh_redis(settings["RATELIMIT_STORAGE_URI"])
    app, emails = seed(url)
    server = Gunicorn(tmp_path, url, workers=2, **settings)
    try:
        guesser, other, late, outsider = (Visitor(server.url, "10.0.0.1") for _ in range(4))
        outsider.address = "10.0.0.2"
        for visitor, email in zip((guesser, other, late, outsider), emails, strict=True):
            visitor.login(email, PASSWORD)

        # One account: PER_ACCOUNT failures, then even the right code waits, on either worker.
        answers = on_alternate_workers(server, [
            *(lambda i=i: guesser.redeem(f"GUESS-{i}") for i in range(PER_ACCOUNT)),
            lambda: guesser.redeem("REAL-CODE-2027"),
            lambda: guesser.redeem("REAL-CODE-2027"),
        ])
        assert all("recognize that code" in page for _, page in answers[:PER_ACCOUNT])
        assert all(refused_with_wait(a) for a in answers[PER_ACCOUNT:])

        # One address across accounts: the address's count reaches PER_ADDRESS...
        answers = on_alternate_workers(server, [
            *(lambda i=i: other.redeem(f"OTHER-{i}") for i in range(PER_ADDRESS - PER_ACCOUNT)),
            lambda: late.redeem("REAL-CODE-2027"),
            lambda: late.redeem("REAL-CODE-2027"),
        ])
        assert all(refused_with_wait(a) for a in answers[-2:]), "an account with no failures waits there"
        # ...while another account on another address gets in.
        assert outsider.redeem("REAL-CODE-2027")[0] == 303
        assert "You joined Room 1." in outsider.get("/profile")[1]
        assert len(server.workers_for("POST", "/redeem")) == 2
    finally:
        server.stop()
        with app.app_context():
            if database == "postgresql":
                db.drop_all()
            db.engine.dispose()
