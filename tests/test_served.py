"""The limits as deployed: gunicorn with two workers behind a proxy (PROXY_HOPS=1),
counting failed attempts in the database (SQLite or PostgreSQL). Consecutive
attempts are answered by alternating workers, so a count kept in one worker's
memory would never reach the limit."""

import html
import re

from codes.extensions import db
from conftest import PASSWORD, Factory, build_app
from served_support import Gunicorn, Visitor, on_alternate_workers

WAIT = re.compile(
    r"(Too many codes that didn't work from your account|Far too many codes that didn't "
    r"work have come from your network in the last hour, from many accounts)\. "
    r"Wait \d+ minutes, then try again\."
)
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
    return emails


def refused_with_wait(answer):
    status, page = answer
    return status == 422 and WAIT.search(html.unescape(page)) is not None


def test_limits_hold_across_two_gunicorn_workers(tmp_path, any_db_url):
    settings = {
        "PROXY_HOPS": 1,
        "REDEEM_FAILURES_PER_ACCOUNT": PER_ACCOUNT,
        "ADDRESS_FAILURES_HOSTILE": PER_ADDRESS,
    }
    emails = seed(any_db_url)
    # Its own database: a SQLite file in tmp_path, or this worker's PostgreSQL one.
    server = Gunicorn(tmp_path, any_db_url, workers=2, **settings)
    try:
        guesser, other, late, outsider = (Visitor(server.url, "10.0.0.1") for _ in range(4))
        outsider.address = "10.0.0.2"
        for visitor, email in zip((guesser, other, late, outsider), emails, strict=True):
            visitor.login(email, PASSWORD)

        # One account: PER_ACCOUNT failures, then even the right code waits, on either worker.
        answers = on_alternate_workers(
            server,
            [
                *(lambda i=i: guesser.redeem(f"GUESS-{i}") for i in range(PER_ACCOUNT)),
                lambda: guesser.redeem("REAL-CODE-2027"),
                lambda: guesser.redeem("REAL-CODE-2027"),
            ],
        )
        assert all("recognize that code" in page for _, page in answers[:PER_ACCOUNT])
        assert all(refused_with_wait(a) for a in answers[PER_ACCOUNT:])

        # One address across accounts: the address's count reaches PER_ADDRESS...
        answers = on_alternate_workers(
            server,
            [
                *(lambda i=i: other.redeem(f"OTHER-{i}") for i in range(PER_ADDRESS - PER_ACCOUNT)),
                lambda: late.redeem("REAL-CODE-2027"),
                lambda: late.redeem("REAL-CODE-2027"),
            ],
        )
        assert all(refused_with_wait(a) for a in answers[-2:]), "an account with no failures waits there"
        # ...while another account on another address gets in.
        assert outsider.redeem("REAL-CODE-2027")[0] == 303
        assert "You joined Room 1." in re.sub(r"<[^>]+>", "", outsider.get("/profile")[1])
        assert len(server.workers_for("POST", "/redeem")) == 2
    finally:
        server.stop()
