"""The job queue (codes.jobs, docs/JOBS.md) with a real SMTP server on loopback
and real worker processes: a change rolled back sends nothing; a mail server
down, then up, receives the mail once; a worker killed (SIGKILL) in the middle
of a delivery loses nothing and the mail goes once; two workers on one queue
send each mail once, and a periodic job once, on SQLite and on PostgreSQL."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from smtp_support import Server
from sqlalchemy import select

from codes import jobs, mail
from codes.extensions import db
from codes.jobs import periodic
from codes.jobs.worker import run_until_idle
from codes.models import Job, Organization, PeriodicRun, Redemption, utcnow
from codes.notifications import operations as notifications
from codes.redeem.operations import redeem
from conftest import Factory, at_once, build_app, count, soup, text_of

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server():
    started = Server().start()
    yield started
    started.stop()


def mailing(url, server, **config):
    return build_app(url, MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_TIMEOUT=5, **config)


def queue_mails(app, n, org_id=None):
    with app.app_context():
        org = db.session.get(Organization, org_id) if org_id else None
        for i in range(n):
            mail.queue(f"person{i}@school.example", f"Mail {i}", f"Hello {i}", org=org)
        db.session.commit()
        db.session.remove()


def worker_process(url, server, *args, **env):
    """`flask jobs work` in a process of its own, configured by its environment
    alone, as a server runs it."""
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "JOB_"))},
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret",
        "PUBLIC_URL": "http://localhost",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(server.port),
        "MAIL_TIMEOUT": "5",
        "JOB_POLL_SECONDS": "1",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "work", *args],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished(process, timeout=60):
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"the worker did not stop:\n{output}")
    assert process.returncode == 0, output
    return output


def statuses(app):
    with app.app_context():
        found = Counter(db.session.scalars(select(Job.status).where(Job.kind == mail.KIND)))
        db.session.remove()
        return found


def test_a_change_rolled_back_sends_nothing_and_one_committed_sends_once(tmp_path, server):
    app = mailing(f"sqlite:///{tmp_path / 'q.db'}", server)
    with app.app_context():
        mail.queue("ann@school.example", "Rolled back", "Never")
        db.session.rollback()
        mail.queue("bob@school.example", "Committed", "Once")
        db.session.commit()
        db.session.remove()
    run_until_idle(app)
    run_until_idle(app)
    assert [m["Subject"] for m in server.inbox.messages()] == ["Committed"]
    assert statuses(app) == {"done": 1}


def test_a_roster_refused_queues_no_mail(tmp_path, server):
    app = mailing(f"sqlite:///{tmp_path / 'q.db'}", server)
    from conftest import post_roster

    with app.app_context():
        make = Factory()
        org = make.org()
        make.classroom(org, "Homeroom")
        client = app.test_client()
        client.login(org.admin)
        good = b"email,name,classroom\nnew@student.example,Nia New,Homeroom\n"
        bad = good + b"not-an-email,Bad Row,Homeroom\n"
        assert post_roster(client, org, bad).status_code == 422
        assert count(Job, Job.kind == mail.KIND) == 0
        assert post_roster(client, org, good).status_code == 303
        assert count(Job, Job.kind == mail.KIND) == 1
        db.session.remove()
    run_until_idle(app)
    (message,) = server.inbox.messages()
    assert (
        message["To"] == "new@student.example"
        and "/password/reset/" in message.get_body(("plain",)).get_content()
    )


def test_a_mail_server_down_then_up_receives_the_mail_once(tmp_path):
    server = Server()  # not started: connections refused
    app = mailing(f"sqlite:///{tmp_path / 'q.db'}", server, JOB_RETRY_SECONDS=1)
    queue_mails(app, 1)
    run_until_idle(app)
    with app.app_context():
        job = db.session.scalar(select(Job).where(Job.kind == mail.KIND))
        assert (job.status, job.attempts, job.lease_until) == ("queued", 1, None)
        assert "ConnectionRefusedError" in job.last_error
        assert utcnow() < job.run_after <= utcnow() + timedelta(seconds=1), "backoff before the next try"
        db.session.remove()
    server.start()
    try:
        run_until_idle(app)  # too soon: still waiting out the backoff
        assert server.inbox.messages() == []
        time.sleep(1.1)
        run_until_idle(app)
        run_until_idle(app)
        assert len(server.inbox.messages()) == 1
        assert statuses(app) == {"done": 1}
    finally:
        server.stop()


def test_backoff_doubles_up_to_an_hour(app):
    app.config["JOB_RETRY_SECONDS"] = 30
    waits = [jobs.backoff(n).total_seconds() for n in (1, 2, 3, 10, 30)]
    assert 15 <= waits[0] <= 30 and 30 <= waits[1] <= 60 and 60 <= waits[2] <= 120
    assert 1800 <= waits[3] <= 3600 and 1800 <= waits[4] <= 3600


@pytest.mark.parametrize("db_kind", ["sqlite", "postgresql"])
def test_a_worker_killed_in_the_middle_of_a_delivery_loses_nothing_and_it_goes_once(
    tmp_path, server, db_kind, request
):
    url = f"sqlite:///{tmp_path / 'q.db'}" if db_kind == "sqlite" else _postgres(request)
    app = mailing(url, server)
    queue_mails(app, 1)
    server.inbox.hold.set()  # the server takes the message and keeps the worker waiting
    first = worker_process(url, server, JOB_LEASE_SECONDS="3")
    try:
        assert server.inbox.held.wait(30), "the worker reached the mail server"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
        first.communicate()
        server.inbox.hold.clear()
    assert server.inbox.messages() == []
    with app.app_context():
        job = db.session.scalar(select(Job).where(Job.kind == mail.KIND))
        assert (job.status, job.attempts) == ("queued", 1) and job.lease_until is not None
        db.session.remove()
    # A new worker takes it once the dead one's lease is over.
    started = time.monotonic()
    second = worker_process(url, server, JOB_LEASE_SECONDS="3")
    try:
        deadline = time.monotonic() + 30
        while not server.inbox.messages() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # room for a second copy, if there were to be one
    finally:
        second.send_signal(signal.SIGTERM)
        finished(second)
    assert time.monotonic() - started >= 1, "taken only after the lease ran out"
    assert len(server.inbox.messages()) == 1
    assert statuses(app) == {"done": 1}


def test_a_worker_killed_half_way_through_a_batch_sends_again_only_what_that_batch_sent(tmp_path, server):
    """The server took two mails of a batch of three and holds the third when the
    worker dies: their done marks, committed once a batch, were never written, so
    those two go again after the lease (with the Message-IDs they had), and no
    other mail goes twice."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    app = mailing(url, server)
    queue_mails(app, 5)
    # A lease that covers three mails at their slowest (6 exchanges of MAIL_TIMEOUT),
    # so the batch is not cut short to one mail.
    settings = dict(JOB_LEASE_SECONDS="8", JOB_BATCH="3", MAIL_TIMEOUT="1")
    server.inbox.hold_after = 2
    server.inbox.hold.set()
    first = worker_process(url, server, **settings)
    try:
        reached = server.inbox.held.wait(60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
        output, _ = first.communicate()
        server.inbox.hold.clear()
    assert reached, f"the worker reached the third mail:\n{output}"
    assert len(server.inbox.messages()) == 2
    assert statuses(app) == {"queued": 5}, "no done mark before the batch's end"
    second = worker_process(url, server, "--until-idle", **settings)
    deadline = time.monotonic() + 60
    while statuses(app) != {"done": 5} and time.monotonic() < deadline:
        time.sleep(0.2)
        if second.poll() is not None and statuses(app) != {"done": 5}:
            # Idle while the dead worker's lease ran: start again.
            finished(second)
            second = worker_process(url, server, "--until-idle", **settings)
    finished(second)
    ids = Counter(m["Message-ID"] for m in server.inbox.messages())
    assert len(ids) == 5 and sorted(ids.values()) == [1, 1, 1, 2, 2], ids
    assert statuses(app) == {"done": 5}


def _postgres(request):
    from conftest import need_service, postgres_url

    need_service(os.environ.get("TEST_DATABASE_URL"), "TEST_DATABASE_URL is not set")
    return postgres_url()


@pytest.mark.parametrize("db_kind", ["sqlite", "postgresql"])
def test_two_workers_on_one_queue_send_each_mail_once(tmp_path, server, db_kind, request):
    url = f"sqlite:///{tmp_path / 'q.db'}" if db_kind == "sqlite" else _postgres(request)
    app = mailing(url, server)
    queue_mails(app, 80)
    workers = [worker_process(url, server, "--until-idle", JOB_BATCH="3") for _ in range(2)]
    for process in workers:
        finished(process)
    messages = server.inbox.messages()
    ids = Counter(m["Message-ID"] for m in messages)
    assert len(ids) == 80 and set(ids.values()) == {1}, "each mail once"
    assert sorted(m["To"] for m in messages) == sorted(f"person{i}@school.example" for i in range(80))
    assert statuses(app) == {"done": 80}


def org_with_a_join_yesterday():
    make = Factory()
    org = make.org(name="Oak School")
    room = make.classroom(org, "Room 9A")
    student = make.user("Sam Student", "sam@student.example")
    redeem(student, room.join_code.text)
    db.session.commit()
    db.session.execute(Redemption.__table__.update().values(created_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    return org


@pytest.mark.parametrize("db_kind", ["sqlite", "postgresql"])
def test_a_periodic_job_with_two_workers_runs_once(tmp_path, server, db_kind, request):
    url = f"sqlite:///{tmp_path / 'q.db'}" if db_kind == "sqlite" else _postgres(request)
    app = mailing(url, server)
    with app.app_context():
        admin_email = org_with_a_join_yesterday().admin.email
        db.session.remove()
    workers = [worker_process(url, server, "--until-idle") for _ in range(2)]
    for process in workers:
        finished(process)
    digests = [m for m in server.inbox.messages() if "joined on" in m["Subject"]]
    assert [m["To"] for m in digests] == [admin_email]
    with app.app_context():
        # One row per periodic job (the digest and the hourly end of memberships), each once.
        assert count(PeriodicRun) == len(periodic.SCHEDULE)
        assert count(PeriodicRun, PeriodicRun.name == notifications.DIGEST) == 1
        assert count(Job, Job.kind == notifications.DIGEST) == 1
        db.session.remove()


def test_racing_to_start_a_period_starts_it_once(any_db_app):
    """Twenty workers at the same moment (at_once, real threads) on each
    database: one inserts the period's row and enqueues the job."""
    started = at_once(any_db_app, lambda _: periodic.start("digest", "2027-01-10"), range(20))
    assert started.count(True) == 1
    assert count(PeriodicRun) == 1 and count(Job) == 1


def test_the_digest_mail_is_multipart_and_unsubscribes_in_one_click(tmp_path, server):
    app = mailing(f"sqlite:///{tmp_path / 'q.db'}", server)
    with app.app_context():
        org = org_with_a_join_yesterday()
        org_id, admin_id = org.id, org.admin.id
        db.session.remove()
    run_until_idle(app)
    # Sam's welcome went when he joined; the digest is the admin's.
    (message,) = [m for m in server.inbox.messages() if m["To"] != "sam@student.example"]
    assert message["Subject"] == f"Oak School: 1 person joined on {(utcnow() - timedelta(days=1)).date()}"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Sam Student: Room 9A" in text and "Sam Student: Room 9A" in html and "Oak School" in html
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].strip().strip("<>")
    assert link.startswith("http://localhost/unsubscribe/")
    assert f'href="{link}"' in html
    path = link.removeprefix("http://localhost")
    client = app.test_client()
    with app.app_context():
        assert "Stop the daily digest" in text_of(client.get(path)), "opening the link changes nothing"
        from codes.models import NotificationSetting

        assert count(NotificationSetting) == 0
        # RFC 8058: the mail client posts, with no page, cookie or CSRF token.
        response = client.post(path, data={"List-Unsubscribe": "One-Click"}, csrf=False)
        assert response.status_code == 200
        setting = db.session.get(NotificationSetting, (admin_id, org_id))
        assert setting is not None and setting.daily_digest is False
        forged = client.post("/unsubscribe/forged-token", csrf=False)
        assert forged.status_code == 303 and forged.headers["Location"] == "/"
        db.session.remove()


def test_mail_for_a_person_has_no_unsubscribe_and_says_the_same_in_html(tmp_path, server):
    app = mailing(f"sqlite:///{tmp_path / 'q.db'}", server)
    app.test_client().post(
        "/signup",
        data={"name": "Nora <b>New</b>", "email": "nora@example.org", "password": "a-long-password"},
    )
    run_until_idle(app)
    (message,) = server.inbox.messages()
    assert message["List-Unsubscribe"] is None
    html = message.get_body(("html",)).get_content()
    assert "Nora &lt;b&gt;New&lt;/b&gt;" in html, "what people typed is escaped"
    assert '<a href="http://localhost/signup/finish/' in html
    assert message["Message-ID"].endswith("@localhost>")


def test_a_mail_given_up_is_shown_to_the_admin_who_can_send_it_again(tmp_path, server):
    app = mailing(f"sqlite:///{tmp_path / 'q.db'}", server, JOB_GIVE_UP_MINUTES=0)
    with app.app_context():
        make = Factory()
        org, other = make.org(name="Oak School"), make.org(name="Elm School")
        server.stop()
        org_id = org.id
        db.session.commit()  # reading the id began a transaction, which holds SQLite's write lock
        queue_mails(app, 1, org_id=org_id)
        run_until_idle(app)
        job = db.session.scalar(select(Job).where(Job.kind == mail.KIND))
        assert job.status == "failed"
        client = app.test_client()
        client.login(org.admin)
        page = client.get(f"/orgs/{org.id}/deliveries")
        assert "person0@school.example" in text_of(page) and "Mail 0" in text_of(page)
        retry = soup(page).find("form", action=f"/orgs/{org.id}/deliveries/{job.id}/retry")
        assert retry is not None
        stranger = app.test_client()
        stranger.login(other.admin)
        assert stranger.get(f"/orgs/{org.id}/deliveries").status_code == 404
        assert stranger.post(f"/orgs/{other.id}/deliveries/{job.id}/retry").status_code == 404
        assert stranger.post(f"/orgs/{org.id}/deliveries/{job.id}/retry").status_code == 404
        db.session.expire_all()
        assert db.session.get(Job, job.id).status == "failed"
        server.start()
        response = client.post(f"/orgs/{org.id}/deliveries/{job.id}/retry", headers={"HX-Request": "true"})
        assert "queued again" in text_of(response)
        db.session.remove()
    run_until_idle(app)
    assert [m["To"] for m in server.inbox.messages()] == ["person0@school.example"]
    with app.app_context():
        assert "No mail has failed" in text_of(client.get(f"/orgs/{org_id}/deliveries"))
        db.session.remove()


def test_an_invitation_sent_again_goes_through_the_queue_with_a_fresh_link(tmp_path, server):
    app = mailing(f"sqlite:///{tmp_path / 'q.db'}", server)
    with app.app_context():
        org = Factory().org()
        client = app.test_client()
        client.login(org.admin)
        assert (
            client.post(f"/orgs/{org.id}/people", data={"person-email": "kim@school.example"}).status_code
            == 303
        )
        from codes.models import Invitation

        invitation = db.session.scalar(select(Invitation))
        assert count(Job, Job.kind == mail.KIND) == 1
        client.post(f"/orgs/{org.id}/invitations/{invitation.id}/resend")
        assert count(Job, Job.kind == mail.KIND) == 2
        db.session.remove()
    run_until_idle(app)
    first, second = server.inbox.messages()
    assert first["To"] == second["To"] == "kim@school.example"
    assert first["Message-ID"] != second["Message-ID"]
    assert "/invitations/" in second.get_body(("plain",)).get_content()
