"""The audit trail: who did what to which object, when, and from where."""

import json

from flask import has_request_context, request

from . import database
from .extensions import db
from .models import AuditEvent, utcnow


def client_address():
    # Behind a proxy, ProxyFix (configured in create_app) has already put the
    # client's address here.
    return (request.remote_addr or "") if has_request_context() else ""


def _values(actor, action, obj, org_id, at, detail):
    if org_id is None and obj is not None:
        org_id = getattr(obj, "org_id", None)
    return dict(
        org_id=org_id,
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=getattr(obj, "id", None),
        detail=json.dumps(detail, default=str, sort_keys=True) if detail else "",
        ip=client_address(),
        created_at=at or utcnow(),
    )


def record(actor, action, obj=None, org_id=None, at=None, **detail):
    """Add an audit event to the current transaction (never commits)."""
    event = AuditEvent(**_values(actor, action, obj, org_id, at, detail))
    db.session.add(event)
    return event


_INSERT = AuditEvent.__table__.insert()


def insert(actor, action, obj=None, org_id=None, at=None, **detail):
    """Write an audit event in the current transaction at once, as a plain
    INSERT rather than an object for the unit of work to flush: for the
    redemption attempts, where that flush was a noticeable part of the time
    SQLite's write lock is held. Returns nothing."""
    database.execute(_INSERT, _values(actor, action, obj, org_id, at, detail))
