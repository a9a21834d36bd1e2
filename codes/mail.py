"""Sending mail. Without SMTP settings, messages are written to the log."""
from flask import current_app


def send(to, subject, body):
    current_app.logger.warning("Mail to %s: %s\n%s", to, subject, body)
