"""The audit trail: who did what to which object, when, and from where."""
import json

from flask import has_request_context, request

from .extensions import db
from .models import AuditEvent, utcnow


def client_address():
    # Behind a proxy, ProxyFix (configured in create_app) has already put the
    # client's address here.
    return (request.remote_addr or "") if has_request_context() else ""


def record(actor, action, obj=None, org_id=None, at=None, **detail):
    """Add an audit event to the current transaction (never commits)."""
    if org_id is None and obj is not None:
        org_id = getattr(obj, "org_id", None)
    event = AuditEvent(
        org_id=org_id,
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=getattr(obj, "id", None),
        detail=json.dumps(detail, default=str, sort_keys=True) if detail else "",
        ip=client_address(),
        created_at=at or utcnow(),
    )
    db.session.add(event)
    return event
