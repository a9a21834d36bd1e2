"""Mail never holds a request, nor a worker for long: a mail server that takes
the connection and then never answers is given up after MAIL_TIMEOUT, logged,
and the mail kept to be tried again. (Mail that arrives is read from a real SMTP
server in test_jobs.py and test_parents_letters.py.)"""

import logging
import socket
import threading
import time

from sqlalchemy import select

from codes import mail
from codes.extensions import db
from codes.jobs.worker import run_until_idle
from codes.models import Job
from conftest import build_app


def test_a_mail_server_that_never_answers_is_given_up_after_the_timeout(tmp_path, caplog):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # takes the connection, never says a word
    app = build_app(
        f"sqlite:///{tmp_path / 'mail.db'}",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=silent.getsockname()[1],
        MAIL_TIMEOUT=0.5,
    )
    with app.app_context():
        mail.queue("sam@school.org", "Confirm your email address", "Hello")
        db.session.commit()
        db.session.remove()
    # In a thread of its own, so that a send that never returns fails the test
    # instead of hanging it.
    worker = threading.Thread(target=run_until_idle, args=(app,), daemon=True)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.ERROR):
            worker.start()
            worker.join(10)
        waited = time.monotonic() - started
    finally:
        silent.close()
    assert not worker.is_alive()
    assert 0.4 < waited < 5
    assert "could not be sent" in caplog.text
    with app.app_context():
        job = db.session.scalar(select(Job))
        assert (job.status, job.attempts) == ("queued", 1)
        assert "timed out" in job.last_error
        db.session.remove()
