"""The proxy as deployed: nginx with deploy/nginx.conf.template in front of two gunicorn
servers (two workers each) sharing the PostgreSQL database. While visitors load pages
and redeem, a worker of the first server is killed (SIGKILL) in the middle of a request,
then, within nginx's fail_timeout, one of the second server: only what each had in
flight may fail, a GET it had is answered by the other server, a POST is never sent
twice, every count stays exact, and everything answers afterwards. With nginx's
defaults (max_fails=1 fail_timeout=10s) the two deaths took both servers out: most
answers were 502 "no live upstreams" until the end of the run."""

import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from sqlalchemy import select

from codes.extensions import db
from codes.models import Code, Organization, OrgMember, Redemption, User
from conftest import PASSWORD, Factory, build_app, count, need_service, postgres_url
from served_support import Gunicorn, Nginx, Visitor, nginx_path, render_nginx

CODE = "PROXY-ROOM-2027"
THREADS, STUDENTS_EACH = 4, 25
# What each request answers when all is well: a page, a join (303 to the profile),
# the health check.
EXPECTED = {("GET", "/profile"): 200, ("POST", "/redeem"): 303, ("GET", "/healthz"): 200}


class Answer(NamedTuple):
    email: str
    method: str
    path: str
    status: int


def seed(url):
    app = build_app(url)
    with app.app_context():
        make = Factory()
        org = make.org(seat_limit=THREADS * STUDENTS_EACH + 10)
        make.code(org, CODE, classrooms=[make.classroom(org)], max_uses=THREADS * STUDENTS_EACH)
        emails = [make.user().email for _ in range(THREADS * STUDENTS_EACH)]
        db.session.remove()
    return app, emails


def ask(visitor, method, path, answers):
    try:
        status = (visitor.redeem(CODE) if method == "POST" else visitor.get(path))[0]
    except OSError:  # no answer at all: the connection to nginx failed
        status = 0
    answers.append(Answer(visitor.email, method, path, status))
    return status


def failures(answers):
    return [a for a in answers if EXPECTED[a.method, a.path] != a.status]


def kill_busy_worker(server):
    victim = server.busy_worker()
    assert victim is not None, "no worker of the server was answering a request"
    os.kill(victim, signal.SIGKILL)
    return victim


def counts(app):
    with app.app_context():
        code = db.session.scalar(select(Code).where(Code.text == CODE))
        org = db.session.get(Organization, code.org_id)
        redeemed = set(
            db.session.scalars(
                select(User.email)
                .join(Redemption, Redemption.user_id == User.id)
                .where(Redemption.code_id == code.id)
            )
        )
        seated = count(OrgMember, OrgMember.org_id == org.id, OrgMember.is_student, OrgMember.took_seat)
        result = {"uses": code.uses, "redemptions": len(redeemed), "seats": org.seats_taken, "seated": seated}
        db.session.remove()
    return result, redeemed


def test_the_template_fills_every_placeholder():
    text = render_nginx(["10.0.0.1:8000", "10.0.0.2:8000"], "443 ssl", "codes.example.org")
    assert "server 10.0.0.1:8000 max_fails=0;" in text and "server 10.0.0.2:8000 max_fails=0;" in text
    directives = [line.split("#")[0].strip() for line in text.splitlines()]
    assert "proxy_next_upstream error timeout;" in directives
    assert not any("non_idempotent" in line for line in directives), "POSTs are never sent twice"
    assert "proxy_read_timeout 75s;" in directives


def test_workers_killed_under_load_cost_only_their_own_requests(tmp_path):
    need_service(nginx_path(), "nginx is not installed (apt-get install nginx)")
    url = postgres_url()
    app, emails = seed(url)
    # --timeout as docs/DEPLOY.md runs it: the proxy's timeouts nest above it.
    servers = [Gunicorn(tmp_path, url, workers=2, args=("--timeout", "60"), wait=False) for _ in range(2)]
    proxy = None
    try:
        for server in servers:
            server.wait_ready()
        proxy = Nginx(tmp_path, servers)
        visitors = [Visitor(proxy.url) for _ in emails]
        for visitor, email in zip(visitors, emails, strict=True):
            visitor.email = email
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(lambda v: v.login(v.email, PASSWORD), visitors))
        before = set(servers[0].workers())

        answers, redeemed_count = [], [0]
        start = threading.Barrier(THREADS + 1)

        def work(mine):
            start.wait()
            for visitor in mine:
                ask(visitor, "GET", "/profile", answers)
                ask(visitor, "POST", "/redeem", answers)
                redeemed_count[0] += 1
                ask(visitor, "GET", "/healthz", answers)

        threads = [threading.Thread(target=work, args=(visitors[n::THREADS],)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        start.wait()
        while redeemed_count[0] < len(visitors) // 4:
            time.sleep(0.01)
        victims = [kill_busy_worker(servers[0])]
        time.sleep(1)  # the answers of the first death are in
        failed_first = failures(answers)
        victims.append(kill_busy_worker(servers[1]))
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)

        # Only what each killed worker had in flight failed: one request each at
        # most, a POST (a GET would have gone on to the other server).
        failed = failures(answers)
        seen = Counter((a.method, a.path, a.status) for a in answers)
        assert len(failed_first) <= 1 and len(failed) <= 2, seen
        assert all((a.method, a.status) == ("POST", 502) for a in failed), failed
        assert "no live upstreams" not in proxy.errors.read_text()
        # nginx never passed a POST to a second server.
        log = proxy.log()
        assert [row for row in log if row[0] == "POST" and len(row[3]) > 1] == []
        assert all(row[2] == 200 for row in log if row[0] == "GET" and len(row[3]) > 1)

        # Every count exact: a use per redemption, a seat per student seated, each
        # join a visitor was told of is in the database, and one more at most,
        # only for the request that failed (its worker may have died after COMMIT).
        numbers, redeemed = counts(app)
        assert numbers["uses"] == numbers["redemptions"] == numbers["seats"] == numbers["seated"], numbers
        joined = {a.email for a in answers if a.method == "POST" and a.status == 303}
        assert joined <= redeemed
        assert redeemed - joined <= {a.email for a in failed}

        # Afterwards everything answers, the first server too, with a new worker.
        deadline = time.monotonic() + 30
        while len(servers[0].workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert victims[0] not in servers[0].workers() and len(servers[0].workers()) == 2
        new_workers = {str(pid) for pid in set(servers[0].workers()) - before}
        after = []
        for _ in range(100):
            after += [visitors[0].get("/profile")[0], Visitor(proxy.url).get("/healthz")[0]]
            answered_by = servers[0].workers_for("GET", "/login") | servers[0].workers_for("GET", "/profile")
            if len(after) >= 20 and new_workers & answered_by:
                break
        assert after == [200] * len(after)
        assert new_workers & answered_by, "the new worker answers"
    finally:
        if proxy:
            proxy.stop()
        for server in servers:
            server.stop()
        with app.app_context():
            db.drop_all()
            db.engine.dispose()
