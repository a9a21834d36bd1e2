"""Addresses the app hands out."""

from typing import Any
from urllib.parse import urlsplit

from flask import current_app


def public_url(endpoint: str, **values: Any) -> str:
    """A full address to hand out (in mail, letters, share links, QR codes): built
    on PUBLIC_URL, never on the request's Host or X-Forwarded-Host, which whoever
    sends the request writes. Bound to PUBLIC_URL rather than joined to
    url_for's path, so a path in PUBLIC_URL counts once and no request is needed."""
    base = current_app.config.get("PUBLIC_URL")
    if not base:
        raise RuntimeError("PUBLIC_URL is not set: no link to hand out can be made")
    parts = urlsplit(base)
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    return adapter.build(endpoint, values, force_external=True)
