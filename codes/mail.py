"""Sending mail through Flask-Mail over SMTP, configured in the instance config
(MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS, MAIL_USE_SSL, MAIL_USERNAME, MAIL_PASSWORD,
MAIL_DEFAULT_SENDER, MAIL_TIMEOUT). Without MAIL_SERVER, messages are written to
the log."""
import smtplib
from dataclasses import dataclass

import flask_mail
from flask import current_app
from flask_mail import Message

# Seconds any one exchange with the mail server may take (MAIL_TIMEOUT).
DEFAULT_TIMEOUT = 10

# Used only when MAIL_DEFAULT_SENDER is not configured.
FALLBACK_SENDER = "Codes <no-reply@localhost>"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


class _TimedConnection(flask_mail.Connection):
    """Flask-Mail's connection, opened with a time limit: Flask-Mail opens
    smtplib's without one, so a mail server that accepts and never answers held
    the request until its worker was killed."""

    def configure_host(self):
        kind = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = kind(self.mail.server, self.mail.port,
                    timeout=current_app.config.get("MAIL_TIMEOUT", DEFAULT_TIMEOUT))
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


def configured():
    return bool(current_app.config.get("MAIL_SERVER"))


def send(to, subject, body, attachments=()):
    """Send one message; True once the SMTP server took it. Without a mail
    server it is written to the log instead, and a server that refuses it or
    cannot be reached is logged: nobody's request fails because mail did."""
    if not configured():
        files = "".join(f"\n[attached: {a.filename}, {len(a.data)} bytes]" for a in attachments)
        current_app.logger.warning("Mail to %s: %s\n%s%s", to, subject, body, files)
        return False
    sender = current_app.config.get("MAIL_DEFAULT_SENDER") or FALLBACK_SENDER
    message = Message(subject, recipients=[to], body=body, sender=sender)
    for attachment in attachments:
        message.attach(attachment.filename, attachment.content_type, attachment.data)
    try:
        with _TimedConnection(current_app.extensions["mail"]) as connection:
            message.send(connection)
    except (smtplib.SMTPException, OSError):  # a timeout is an OSError
        current_app.logger.exception("Mail to %s could not be sent: %s", to, subject)
        return False
    return True
