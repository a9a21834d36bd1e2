"""PostgreSQL restarted under the app (issue 15): while the server is away, every
request is answered "try again" (503 with Retry-After), never a 500, wherever the
error meets it: loading the logged-in person, the view, the page of an error, the
after-request hooks (for the reload of a post-only URL, whose view asks nothing of
the database), the second connection the attempt counts are written on. Once the
server is back the pool's ping replaces the dead connections and requests succeed,
and uses, seats and redemptions are exact.

The server is a cluster of the test's own (cluster_support), stopped and started
for real: `pg_ctl restart -m fast`, and an immediate stop (as a crash) then a start."""

import threading
import time
from collections import Counter
from itertools import cycle

import psycopg
import pytest
from psycopg import errors as pg_errors
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, PendingRollbackError

from cluster_support import Cluster
from codes import create_app, database
from codes.extensions import db
from codes.models import ClassroomMember, Code, Organization, OrgMember, Redemption, User
from conftest import PASSWORD, Factory, build_app, count, snapshot
from served_support import Gunicorn, Visitor

STUDENTS, SEATS, FEW = 8, 6, 3
OPEN, FEW_USES, WRONG = "OPEN-DOOR-2027", "FEW-USES-2027", "NOT-A-CODE-27"
# What the 503 page says when the connection was lost during COMMIT itself, so
# PostgreSQL may have committed.
UNKNOWN = "could not tell whether"
# Limits far above what the visitors' loops reach: the test is about the database.
UNLIMITED = {
    "REDEEM_FAILURES_PER_ACCOUNT": 100_000,
    "ADDRESS_FAILURES_SHARED": 100_000,
    "ADDRESS_FAILURES_HOSTILE": 100_000,
}


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster()
    yield cluster
    cluster.destroy()


def seed(url):
    app = build_app(url)
    with app.app_context():
        make = Factory()
        org = make.org(seat_limit=SEATS)
        make.code(org, OPEN, classrooms=[make.classroom(org, "Room 1")])
        make.code(org, FEW_USES, classrooms=[make.classroom(org, "Room 2")], max_uses=FEW)
        emails = [make.user().email for _ in range(STUDENTS)]
        org_id = org.id
        db.session.remove()
        db.engine.dispose()
    return app, org_id, emails


def acceptable(answer):
    """An answer a person can act on: a page, a redirect, a form's refusal, or
    "try again" with when."""
    what, status, retry_after, page = answer
    return status < 400 or status in (404, 405, 422) or (status == 503 and retry_after is not None)


KINDS = {"GET /profile", "GET /nowhere", "GET /redeem", "POST /redeem"}


class Visits:
    """Each visitor, in a thread of its own, asks for its profile, a page with the
    wrong method, a page that is not there, and redeems the next of three codes (one that lets
    everyone in, one with few uses, one that does not exist), again and again
    until told to stop. Every answer is kept."""

    def __init__(self, visitors):
        self.visitors = visitors
        self.answers = []
        self.times = []  # (when asked, seconds to the answer, status)
        self.joined = set()  # (email, code) answered 303: redeemed
        self.unknown = Counter()  # (email, code) answered "could not tell whether it was saved"
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._visit, args=(visitor, email)) for visitor, email in visitors
        ]

    def _ask(self, visitor, what, call):
        began = time.monotonic()
        status, page = call()
        answer = (what, status, (visitor.headers or {}).get("Retry-After"), page[:2000])
        with self.lock:
            self.answers.append(answer)
            self.times.append((began, time.monotonic() - began, status))
        return answer

    def met_outage(self):
        """The kinds of request (method and path) answered 503 so far."""
        with self.lock:
            return {" ".join(what.split(" ")[:2]) for what, status, _, _ in self.answers if status == 503}

    def _visit(self, visitor, email):
        texts = cycle([OPEN, WRONG, FEW_USES])
        while not self.stop.is_set():
            self._ask(visitor, "GET /profile", lambda: visitor.get("/profile"))
            # The reload of a post-only URL (a 303 to the profile, codes.web.reloads_to):
            # its view asks nothing of the database, the after-request hook does.
            self._ask(visitor, "GET /redeem", lambda: visitor.get("/redeem"))
            self._ask(visitor, "GET /nowhere", lambda: visitor.get("/nowhere"))
            text = next(texts)
            _, status, _, page = self._ask(
                visitor, f"POST /redeem {text}", lambda text=text: visitor.redeem(text)
            )
            with self.lock:
                if status == 303:
                    self.joined.add((email, text))
                elif status == 503 and UNKNOWN in page:
                    self.unknown[(email, text)] += 1

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(120)

    def wrong(self):
        return [a for a in self.answers if not acceptable(a)]


def exact_counts(org_id):
    """Uses, seats and places, each counted two ways; and the (email, code) pairs
    redeemed."""
    db.session.expire_all()
    redeemed = db.session.execute(
        select(User.email, Code.text, Redemption.took_seat)
        .join(User, User.id == Redemption.user_id)
        .join(Code, Code.id == Redemption.code_id)
    ).all()
    for code in db.session.scalars(select(Code)):
        assert code.uses == sum(1 for r in redeemed if r.text == code.text), code.text
        assert code.max_uses is None or code.uses <= code.max_uses
    org = db.session.get(Organization, org_id)
    seats = count(OrgMember, OrgMember.org_id == org_id, OrgMember.took_seat)
    assert org.seats_taken == seats == sum(1 for r in redeemed if r.took_seat) <= SEATS
    # Each code puts its people in a classroom of its own.
    assert count(ClassroomMember) == len(redeemed)
    return {(r.email, r.text) for r in redeemed}, org.seats_taken


def test_requests_while_postgresql_restarts_get_try_again_never_a_500(cluster, tmp_path):
    cluster.sql("CREATE DATABASE restarts")
    url = cluster.url("restarts")
    app, org_id, emails = seed(url)
    server = Gunicorn(tmp_path, url, workers=2, **UNLIMITED)
    try:
        visitors = [(Visitor(server.url), email) for email in emails]
        for visitor, email in visitors:
            visitor.login(email, PASSWORD)
        with Visits(visitors) as visits:
            time.sleep(1)  # answered as usual first
            cluster.restart("fast")
            time.sleep(1.5)
            cluster.stop("immediate")  # as if the server crashed
            time.sleep(1)
            # Down until each kind of request has met the outage: on a loaded machine a
            # second holds few requests.
            deadline = time.monotonic() + 30
            while visits.met_outage() != KINDS and time.monotonic() < deadline:
                time.sleep(0.2)
            cluster.start()  # crash recovery first: "the database system is starting up"
            time.sleep(1.5)
        wrong = visits.wrong()
        assert not wrong, f"{len(wrong)} of {len(visits.answers)} answers: {wrong[:5]}"
        statuses = Counter(status for _, status, _, _ in visits.answers)
        # Each kind of request met the outage: the view, the 404 page, the
        # after-request hook (the reload's 303), the code box and its attempt counts.
        assert visits.met_outage() == KINDS, (visits.met_outage(), statuses)
        busy_pages = [page for _, status, _, page in visits.answers if status == 503]
        assert all("Codes could not reach its database" in page for page in busy_pages)

        # Back: the first request of each visitor succeeds, and everyone who wants
        # a seat tries once more for one.
        for visitor, email in visitors:
            status, page = visitor.get("/profile")
            assert status == 200, page[:500]
            status = visitor.redeem(OPEN)[0]
            assert status in (303, 422)
            if status == 303:
                # On a busy machine some visitors met the outage before they got to
                # this code: they join now.
                visits.joined.add((email, OPEN))
        assert Counter(visitor.get("/redeem")[0] for visitor, _ in visitors) == {303: STUDENTS}

        with app.app_context():
            redeemed, seats = exact_counts(org_id)
            db.session.remove()
            db.engine.dispose()
        assert seats == SEATS, "8 students wanted a seat; all 6 seats are taken, no more"
        # Everyone told "joined" is in; anyone else only where the connection was
        # lost during COMMIT and the page said it could not tell.
        assert visits.joined <= redeemed
        assert all(visits.unknown[pair] for pair in redeemed - visits.joined), redeemed - visits.joined
        slowest = max(took for _, took, status in visits.times if status == 503)
        print(
            f"answers: {dict(statuses)}; told 'could not tell': {sum(visits.unknown.values())}; "
            f"the slowest 503 took {slowest:.2f} s"
        )
    finally:
        server.stop()


def role_has_no_connections(cluster, role):
    """Wait until the server holds no connection of `role`."""
    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres", autocommit=True
    ) as admin:
        for _ in range(400):
            (held,) = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)
            ).fetchone()
            if not held:
                return
            time.sleep(0.025)
    raise AssertionError(f"the server still holds {held} connection(s) of {role} after 10 s")


def test_the_second_connection_for_attempt_counts_refused_is_a_503(cluster):
    """The attempt counts are written on a connection of their own (run_apart);
    PostgreSQL refusing it (too many connections for the role, SQLSTATE 53300)
    is "try again" too, with nothing written."""
    cluster.sql("CREATE ROLE counted LOGIN")
    cluster.sql("CREATE DATABASE apart OWNER counted")
    app = build_app(cluster.url("apart", "counted"))
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production: 500 for a bug
    # The rows are compared as the superuser, whose connections the role's limit
    # does not count: a snapshot on the app's own role took the one connection
    # the request should have.
    watcher = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": cluster.url("apart"),
            "SECRET_KEY": "watcher",
            "PUBLIC_URL": "http://localhost",
        }
    )

    def rows():
        with watcher.app_context():
            seen = snapshot()
            db.session.remove()
            return seen

    with app.app_context():
        make = Factory()
        org = make.org(seat_limit=5)
        make.code(org, "RIGHT-CODE-27", classrooms=[make.classroom(org)])
        student = make.user()
        client = app.test_client()
        client.login(student)
        # From now on the app's role gets one connection: the request's own.
        cluster.sql("ALTER ROLE counted CONNECTION LIMIT 1")
        before = rows()
        for text in ("NOT-A-CODE-27", "RIGHT-CODE-27"):
            # The pool is emptied so that each request opens its own connection.
            # A connection closed ends its server process a moment later, and
            # until then it counts against the limit: wait for that, so that the
            # refused connection is the second one, the attempt counts'.
            db.session.remove()
            db.engine.dispose()
            role_has_no_connections(cluster, "counted")
            response = client.post("/redeem", data={"code": text})
            assert response.status_code == 503, response.text[:500]
            assert response.headers["Retry-After"]
            assert "Nothing was changed" in response.text
            assert rows() == before
        cluster.sql("ALTER ROLE counted CONNECTION LIMIT -1")
        assert client.post("/redeem", data={"code": "RIGHT-CODE-27"}).status_code == 303
        db.session.remove()
        db.engine.dispose()


def test_a_connection_lost_during_commit_says_it_cannot_tell_whether_it_was_saved(cluster):
    """Lost during COMMIT itself, the transaction may or may not have been
    committed: the page says so, and to look before trying again, never that
    nothing was changed."""
    cluster.sql("CREATE DATABASE committing")
    app = build_app(cluster.url("committing"))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with app.app_context():
        make = Factory()
        org = make.org(seat_limit=5)
        make.code(org, "SLOW-COMMIT-27", classrooms=[make.classroom(org)])
        client = app.test_client()
        client.login(make.user())
        # COMMIT takes two seconds: a deferred trigger on redemptions sleeps then.
        cluster.sql(
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$; "
            "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON redemptions "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()",
            database="committing",
        )
        ended = []

        def end_the_commit():
            with psycopg.connect(
                host="127.0.0.1", port=cluster.port, user="postgres", dbname="committing", autocommit=True
            ) as admin:
                for _ in range(500):
                    ended.extend(
                        admin.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = 'committing' AND state = 'active' AND query = 'COMMIT'"
                        ).fetchall()
                    )
                    if ended:
                        return
                    time.sleep(0.01)

        killer = threading.Thread(target=end_the_commit)
        killer.start()
        response = client.post("/redeem", data={"code": "SLOW-COMMIT-27"})
        killer.join(10)
        assert ended, "no COMMIT was seen to end"
        assert response.status_code == 503, response.text[:500]
        assert response.headers["Retry-After"]
        assert UNKNOWN in response.text and "Nothing was changed" not in response.text
        # Looking, as the page says: the pool's ping replaces the lost connection.
        assert client.get("/profile").status_code == 200
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize(
    "error",
    [
        # Admin and crash shutdown, cannot connect now, connection lost, closed, refused,
        # rejected, too many connections.
        *(
            pg_errors.lookup(sqlstate)("gone")
            for sqlstate in ["57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004", "53300"]
        ),
        psycopg.OperationalError(
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused'
        ),
        psycopg.OperationalError("connection failed: FATAL:  the database system is starting up"),
        psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
    ],
)
def test_postgresql_errors_that_mean_not_there_now_are_try_again(error):
    assert database.unavailable(OperationalError("SELECT 1", {}, error)) == database.DOWN


def test_sqlalchemy_s_word_for_a_lost_connection_is_try_again():
    lost = DBAPIError(
        "SELECT 1", {}, pg_errors.ProgrammingError("what psycopg said"), connection_invalidated=True
    )
    assert database.unavailable(lost) == database.DOWN
    assert database.unavailable(DisconnectionError("ping failed")) == database.DOWN
    assert database.unavailable(PendingRollbackError("Can't reconnect", code="8s2b")) == database.DOWN


@pytest.mark.parametrize(
    "error",
    [
        pg_errors.UniqueViolation("duplicate key"),
        pg_errors.UndefinedColumn("no such column"),
        pg_errors.NumericValueOutOfRange("integer out of range"),
    ],
)
def test_errors_of_the_app_s_own_are_no_try_again(error):
    assert database.unavailable(OperationalError("SELECT 1", {}, error)) is None
    assert database.unavailable(PendingRollbackError("rolled back during flush", code="7s2a")) is None
