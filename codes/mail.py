"""Sending mail through Flask-Mail over SMTP, configured in the instance config
(MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS, MAIL_USERNAME, MAIL_PASSWORD,
MAIL_DEFAULT_SENDER). Without MAIL_SERVER, messages are written to the log."""
import smtplib
from dataclasses import dataclass

from flask import current_app
from flask_mail import Message

from .extensions import mailer

# Used only when MAIL_DEFAULT_SENDER is not configured.
FALLBACK_SENDER = "Codes <no-reply@localhost>"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


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
        mailer.send(message)
    except (smtplib.SMTPException, OSError):
        current_app.logger.exception("Mail to %s could not be sent: %s", to, subject)
        return False
    return True
