"""A real SMTP server on loopback (aiosmtpd), for the tests of mail as delivered."""

import email
import threading
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from served_support import free_port


class Inbox:
    """An SMTP server's handler that keeps every message it is given. While
    `hold` is set, it takes a message's data and answers nothing until `hold` is
    cleared (a server that hangs, for a worker to be killed in the middle of a
    delivery), after the first `hold_after` messages; `held` is set once a
    message is being held."""

    def __init__(self):
        self.envelopes = []
        # With hold set, the messages before this many are taken still.
        self.hold_after = 0
        self.logins = []
        self.hold = threading.Event()
        self.held = threading.Event()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        if self.hold.is_set() and len(self.envelopes) >= self.hold_after:
            self.held.set()
            while self.hold.is_set():
                await asyncio.sleep(0.05)
            return "451 Try again later"
        with self.lock:
            self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    def messages(self):
        with self.lock:
            envelopes = list(self.envelopes)
        return [email.message_from_bytes(e.original_content, policy=policy.default) for e in envelopes]


class Server:
    """The server on a port of its own, which can be stopped and started again
    on that same port (a mail server down, then up)."""

    def __init__(self, inbox=None, port=None):
        self.inbox = inbox or Inbox()
        self.port = port or free_port()
        self.controller = None

    def start(self):
        self.controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self.inbox.authenticate,
            auth_require_tls=False,
        )
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
