"""The audit log of operations that destroy data — who, what, when.

Deleting a model, importing over one (``replace``) and a forced revert can each wipe a plan's
work. Each is written twice: a JSON line on the ``plancube.audit`` logger (``plancube serve``
prints it on standard error)::

    audit {"time": "2026-05-04T09:12:03.120Z", "user": "admin", "action": "model.delete", ...}

and an entry in the ``audit_log`` table, which server admins read at ``GET /api/admin/audit``
(``store``). ``user`` is the signed-in user; each route declares its guard
(``server.api.guards``) and takes ``DestructiveDep`` (``server.api.deps``) to record it.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

log = logging.getLogger("plancube.audit")


def record(user: str, action: str, **what: Any) -> None:
    """Write one audit line: ``action`` (e.g. ``model.delete``) done by ``user``."""
    when = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    line = orjson.dumps({"time": when, "user": user, "action": action, **what}).decode()
    log.info("audit %s", line)


def to_stderr() -> None:
    """Print the audit lines on standard error (the server's log), once."""
    if not any(getattr(h, "plancube_audit", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.plancube_audit = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)


def store(ctx: Any, action: str, **what: Any) -> None:
    """Keep the entry in the ``audit_log`` table too, where admins read it (``GET
    /api/admin/audit``); a database that refuses it does not undo what was done."""
    from server.auth import accounts

    try:
        accounts.audit(
            ctx.ws.store, ctx.caller.user_id or None, action, str(what.get("model", "")), None, what
        )
    except Exception:  # the log line above is kept either way
        log.exception("audit entry not stored: %s", action)
