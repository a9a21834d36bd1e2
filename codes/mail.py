"""Mail: queued in the transaction of the change that sends it (codes.jobs), and
delivered by a worker over SMTP, configured by MAIL_SERVER, MAIL_PORT,
MAIL_USE_TLS, MAIL_USE_SSL, MAIL_USERNAME, MAIL_PASSWORD, MAIL_DEFAULT_SENDER and
MAIL_TIMEOUT (docs/JOBS.md). Without MAIL_SERVER, messages are written to the log.

Every message is multipart: the plain text it was written as, and the same words
as HTML (paragraphs, links made clickable, the organization's name on top)."""

import re
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template
from markupsafe import Markup, escape

from . import attempts, database, jobs
from .audit import client_address
from .models import Organization

# Seconds any one exchange with the mail server may take (MAIL_TIMEOUT).
DEFAULT_TIMEOUT = 10

# Used only when MAIL_DEFAULT_SENDER is not configured.
FALLBACK_SENDER = "Codes <no-reply@localhost>"

KIND = "mail"
LINK = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


# What draws an attachment when the mail is delivered, by name: the mail stores
# what the attachment is made from (a parent letter's names and codes), not the
# file, so the request that queues it draws nothing.
ATTACHMENTS: dict[str, Callable[[dict[str, Any]], Attachment]] = {}


def attachment(name: str):
    def register(draw: Callable[[dict[str, Any]], Attachment]):
        ATTACHMENTS[name] = draw
        return draw

    return register


class DeliveryFailed(Exception):
    """The mail server refused the message or could not be reached in time."""


def configured():
    return bool(current_app.config.get("MAIL_SERVER"))


def queue(
    to: str,
    subject: str,
    body: str,
    org: Organization | None = None,
    unsubscribe: str | None = None,
    attach: dict[str, Any] | None = None,
) -> int:
    """Queue one message in the session's transaction (never commits): it goes
    once the change that queues it commits, and never if that is rolled back.
    unsubscribe is the one-click address of a notification mail (RFC 8058);
    attach names an attachment drawer (ATTACHMENTS) and what it draws from.
    Returns the job's id (codes.jobs.enqueue: a row, not an object)."""
    from .extensions import db

    database.begin_writing(db.session)
    payload = {
        "to": to,
        "subject": subject,
        "body": body,
        "org_name": org.name if org is not None else "",
        "unsubscribe": unsubscribe,
        "attach": attach,
    }
    return jobs.enqueue(KIND, payload, org_id=org.id if org is not None else None)


def queue_limited(
    to: str, subject: str, body: str, per_address: bool = True, org: Organization | None = None
):
    """Queue a mail that someone's request asks for, to an address they typed (a
    sign-up, a confirmation or password link, an invitation): limited per
    recipient and per client address (codes.attempts.mail_policy), so nobody can
    make the app flood an inbox. Over a limit the mail is not queued, only
    logged; what the person is answered does not change, so the limit tells
    nobody whether an address has an account either. Mail staff send to the
    people they invite counts per recipient only (per_address=False): a roster of
    a thousand people comes from one address. True when queued."""
    address = client_address() if per_address else None
    try:
        attempts.begin(attempts.mail_policy(), to.strip().lower(), address).failed()
    except attempts.Limited:
        current_app.logger.warning("Mail to %s not sent: too many asked for (%s)", to, subject)
        return False
    queue(to, subject, body, org=org)
    return True


def _html(body: str) -> Markup:
    """The text's paragraphs as HTML, each line escaped and each link clickable."""
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", body.strip()):
        lines = []
        for line in paragraph.splitlines():
            parts, at = [], 0
            for found in LINK.finditer(line):
                url = found.group(0)
                parts += [escape(line[at : found.start()]), Markup('<a href="%s">%s</a>') % (url, url)]
                at = found.end()
            parts.append(escape(line[at:]))
            lines.append(Markup("").join(parts))
        paragraphs.append(Markup("<br>\n").join(lines))
    return Markup("").join(Markup("<p>%s</p>\n") % p for p in paragraphs)


def message_for(payload: dict[str, Any], key: str) -> EmailMessage:
    """The message a queued mail becomes: text and HTML, its attachment drawn,
    its Message-ID the job's key, so a mail sent again is the same message."""
    sender = current_app.config.get("MAIL_DEFAULT_SENDER") or FALLBACK_SENDER
    host = urlsplit(current_app.config.get("PUBLIC_URL") or "http://localhost").hostname or "localhost"
    message = EmailMessage()
    message["Subject"] = payload["subject"]
    message["From"] = sender
    message["To"] = payload["to"]
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{key}@{host}>"
    if payload.get("unsubscribe"):
        message["List-Unsubscribe"] = f"<{payload['unsubscribe']}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    footer = f"\n--\nSent by Codes for {payload['org_name']}.\n" if payload.get("org_name") else ""
    if payload.get("unsubscribe"):
        footer += f"Stop these mails: {payload['unsubscribe']}\n"
    message.set_content(payload["body"] + footer)
    message.add_alternative(
        render_template(
            "mail/message.html",
            subject=payload["subject"],
            org_name=payload.get("org_name") or "",
            body=_html(payload["body"]),
            unsubscribe=payload.get("unsubscribe"),
        ),
        subtype="html",
    )
    if payload.get("attach"):
        drawn = ATTACHMENTS[payload["attach"]["kind"]](payload["attach"])
        maintype, subtype = drawn.content_type.split("/", 1)
        message.add_attachment(drawn.data, maintype=maintype, subtype=subtype, filename=drawn.filename)
    return message


class LogConnection:
    """Without MAIL_SERVER: each message is written to the log."""

    def send(self, message: EmailMessage) -> None:
        files = "".join(
            f"\n[attached: {part.get_filename()}, {len(part.get_content())} bytes]"
            for part in message.iter_attachments()
        )
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        current_app.logger.warning("Mail to %s: %s\n%s%s", message["To"], message["Subject"], text, files)

    def close(self) -> None:
        pass


class SMTPConnection:
    """One connection to the mail server, opened when the first message goes and
    kept for the rest of a worker's batch. Every exchange has MAIL_TIMEOUT: a
    server that accepts and never answers is given up, not waited for."""

    def __init__(self) -> None:
        self.host: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        config = current_app.config
        kind = smtplib.SMTP_SSL if config.get("MAIL_USE_SSL") else smtplib.SMTP
        host = kind(
            config["MAIL_SERVER"],
            config.get("MAIL_PORT") or (465 if config.get("MAIL_USE_SSL") else 25),
            timeout=config.get("MAIL_TIMEOUT", DEFAULT_TIMEOUT),
        )
        try:
            if config.get("MAIL_USE_TLS"):
                host.starttls()
            if config.get("MAIL_USERNAME") and config.get("MAIL_PASSWORD"):
                host.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        except BaseException:
            host.close()
            raise
        return host

    def send(self, message: EmailMessage) -> None:
        try:
            if self.host is None:
                self.host = self._open()
            self.host.send_message(message)
        except (smtplib.SMTPException, OSError) as error:  # a timeout is an OSError
            self.close()
            raise DeliveryFailed(f"{type(error).__name__}: {error}"[:400]) from error

    def close(self) -> None:
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()
            self.host = None


def open_connection() -> LogConnection | SMTPConnection:
    return SMTPConnection() if configured() else LogConnection()


def deliver(batch: Iterable[jobs.Claimed], done: Callable[[jobs.Claimed, str | None], bool]) -> None:
    """The worker's delivery of a batch of claimed mails over one connection;
    done(job, error) records each as it goes (None: the server took it), and
    says whether to go on (the lease still long enough)."""
    connection = open_connection()
    try:
        for job in batch:
            try:
                connection.send(message_for(job.payload, job.key))
            except DeliveryFailed as failure:
                current_app.logger.error("Mail to %s could not be sent: %s", job.payload["to"], failure)
                error: str | None = str(failure)
            else:
                error = None
            if not done(job, error):
                break
    finally:
        connection.close()


jobs.register(KIND, deliver)
