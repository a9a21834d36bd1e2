"""What a code's page shows of approval and the leak guard, for every page that
draws it (the code's edit page, and the answers of this area's actions)."""

from typing import Any

from .. import messages
from ..access import Scope
from ..models import Code
from ..timeutil import format_local
from . import operations


def guard_context(scope: Scope, code: Code, error: str | None = None) -> dict[str, Any]:
    """The queue of requests, the leak warning and who joined since the spike."""
    warning = None
    if code.spike_at is not None:
        warning = messages.spike_warning(code, format_local(scope.org, code.spike_at, with_zone=True))
    return {
        "queue": operations.queue(code),
        "spike_warning": warning,
        "joined": operations.joined_since_spike(scope, code),
        "guard_error": error,
    }
