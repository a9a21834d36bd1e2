"""Mail never holds a request for long: a mail server that takes the connection and
then never answers is given up after MAIL_TIMEOUT, logged, and the request goes on.
(Mail that arrives is read from a real SMTP server in test_parents_letters.py.)"""
import logging
import socket
import threading
import time

from codes import mail
from conftest import build_app


def test_a_mail_server_that_never_answers_is_given_up_after_the_timeout(tmp_path, caplog):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # takes the connection, never says a word
    # Flask-Mail sends nothing under TESTING unless told to.
    app = build_app(f"sqlite:///{tmp_path / 'mail.db'}", MAIL_SUPPRESS_SEND=False,
                    MAIL_SERVER="127.0.0.1", MAIL_PORT=silent.getsockname()[1], MAIL_TIMEOUT=0.5)
    answers = []

    def send():
        with app.app_context():
            answers.append(mail.send("sam@school.org", "Confirm your email address", "Hello"))

    # In a thread of its own, so that a send that never returns fails the test
    # instead of hanging it.
    sender = threading.Thread(target=send, daemon=True)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.ERROR):
            sender.start()
            sender.join(10)
        waited = time.monotonic() - started
    finally:
        silent.close()
    assert answers == [False], "the send gave up and said so"
    assert 0.4 < waited < 5
    assert "could not be sent" in caplog.text
