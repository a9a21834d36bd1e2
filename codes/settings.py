"""The settings a server reads from its environment: every one README.md and
docs/DEPLOY.md name, in one list, each with its type.

An explicit list rather than Flask's from_prefixed_env(): the documented names have
no prefix (DATABASE_URL, MAIL_SERVER, as other tools name them too), and
from_prefixed_env reads any variable with the prefix and keeps a value it cannot
parse as JSON as a string, so MAIL_PORT=abc would start a server that sends no
mail. Here a value that does not fit its type stops the app at start, naming it."""

import os
from dataclasses import dataclass
from urllib.parse import urlsplit


class SettingError(RuntimeError):
    """A setting the app cannot start with; the message names it."""


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type
    key: str = ""  # the config key, when it is not the variable's name

    @property
    def config_key(self):
        return self.key or self.name


SETTINGS = (
    Setting("DATABASE_URL", str, "SQLALCHEMY_DATABASE_URI"),
    Setting("SECRET_KEY", str),
    Setting("PUBLIC_URL", str),
    Setting("TRUSTED_HOSTS", list),
    Setting("HTTPS", bool),
    Setting("PROXY_HOPS", int),
    Setting("REDEEM_FAILURES_PER_ACCOUNT", int),
    Setting("REDEEM_FAILURE_WINDOW_MINUTES", int),
    Setting("BURST_FAILURES", int),
    Setting("BURST_WINDOW_MINUTES", int),
    Setting("ADDRESS_FAILURES_SHARED", int),
    Setting("ADDRESS_FAILURES_HOSTILE", int),
    Setting("ADDRESS_FAILURE_WINDOW_MINUTES", int),
    Setting("LOGIN_FAILURES_PER_ACCOUNT", int),
    Setting("LOGIN_FAILURE_WINDOW_MINUTES", int),
    Setting("MAIL_PER_RECIPIENT_PER_HOUR", int),
    Setting("MAIL_PER_ADDRESS_PER_HOUR", int),
    Setting("MAIL_SERVER", str),
    Setting("MAIL_PORT", int),
    Setting("MAIL_USE_TLS", bool),
    Setting("MAIL_USE_SSL", bool),
    Setting("MAIL_USERNAME", str),
    Setting("MAIL_PASSWORD", str),
    Setting("MAIL_DEFAULT_SENDER", str),
    Setting("MAIL_TIMEOUT", int),
    Setting("JOB_LEASE_SECONDS", int),
    Setting("JOB_RETRY_SECONDS", int),
    Setting("JOB_GIVE_UP_MINUTES", int),
    Setting("JOB_BATCH", int),
    Setting("JOB_POLL_SECONDS", int),
    Setting("EXPORT_INLINE_MAX", int),
    Setting("EXPORT_KEEP_HOURS", int),
    Setting("SQLITE_QUEUE_WAIT_SECONDS", int),
    Setting("REQUEST_DEADLINE_SECONDS", int),
)

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def parse(setting, text):
    if setting.kind is int:
        if not (text.isascii() and text.isdigit()):
            raise SettingError(f"{setting.name} must be a whole number, such as 10, not {text!r}.")
        return int(text)
    if setting.kind is bool:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise SettingError(f"{setting.name} must be 1 or 0 (yes or no), not {text!r}.")
    if setting.kind is list:
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def read_environment(config, environ=os.environ):
    """Put every setting the environment gives into config. An empty variable
    counts as not given, so the default stays (docs/DEPLOY.md)."""
    for setting in SETTINGS:
        text = environ.get(setting.name, "")
        if text.strip():
            # Text as given (a password may end in a space); numbers and switches trimmed.
            config[setting.config_key] = parse(setting, text if setting.kind is str else text.strip())


def apply_public_url(config):
    """Check PUBLIC_URL and trust only its host (and TRUSTED_HOSTS, if any more):
    another Host header is answered 400, so no page is built for an address
    that is not ours. Outside tests, there is no running without it."""
    url = (config.get("PUBLIC_URL") or "").strip()
    if not url:
        if config.get("TESTING"):
            return
        raise SettingError(
            "PUBLIC_URL is not set. Set it to the address people open the app at, such as "
            "https://codes.example.org: links in mail, letters and QR codes are built on it "
            "(docs/DEPLOY.md)."
        )
    parts = urlsplit(url)
    try:
        port_ok = parts.port != 0
    except ValueError:  # a port that is no number, or past 65535
        port_ok = False
    if (
        not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
    ):
        raise SettingError(
            f"PUBLIC_URL must be an http:// or https:// address such as https://codes.example.org, "
            f"not {url!r}."
        )
    config["PUBLIC_URL"] = url.rstrip("/")
    extra = config.get("TRUSTED_HOSTS") or []
    if isinstance(extra, str):
        extra = parse(Setting("TRUSTED_HOSTS", list), extra)
    config["TRUSTED_HOSTS"] = list(dict.fromkeys([parts.hostname, *extra]))
