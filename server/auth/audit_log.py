"""The security audit log: one row in ``audit_log`` for each change to who may do what.

Account changes, sign-ins (good and bad), sessions and tokens are recorded as rows in the
database, in the same transaction as the change itself, so a change without its row (or a row
without its change) cannot happen. (``server.audit`` is the other log: JSON lines on the server's
standard error for destructive model operations, from before there was a table to write to.)

A row names the ``actor`` (a user id; ``None`` when it is the server itself or the command line),
the ``action`` (``user.add``, ``signin.failed`` …, see ``ACTIONS``), the ``target`` (a user name,
or the name typed at a failed sign-in) and what changed as JSON ``before`` / ``after``. Secrets
never go in: not a password, not a hash, not a token or its hash — the callers pass only the
facts (a name, a flag, an expiry).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlmodel import Session, col, select

from server.auth import policy
from server.storage import Store
from server.storage.metadata import AuditEntry, new_id

ACTIONS = frozenset(
    {
        "user.add",
        "user.password",
        "user.disable",
        "user.enable",
        "signin.ok",
        "signin.failed",
        "signin.locked",
        "session.revoke",
        "token.create",
        "token.revoke",
    }
)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def audit(
    session_or_store: Session | Store,
    actor: str | None,
    action: str,
    target: str = "",
    before: Any = None,
    after: Any = None,
) -> None:
    """Record one entry: in the caller's unit of work when given its ``tx.session``, else in a
    transaction of its own."""
    entry = AuditEntry(
        id=new_id(),
        occurred_at=policy.iso(policy.now()),
        actor=actor,
        action=action,
        target=target,
        before=_json(before),
        after=_json(after),
    )
    if isinstance(session_or_store, Session):
        session_or_store.add(entry)
        return
    with session_or_store.transaction() as tx:
        tx.session.add(entry)


def audit_entries(
    store: Store,
    *,
    limit: int = 100,
    before: str | None = None,
    action: str | None = None,
    actor: str | None = None,
) -> list[AuditEntry]:
    """The newest entries first; ``before`` (an ``occurred_at``) pages back from there."""
    query = select(AuditEntry)
    if before is not None:
        query = query.where(col(AuditEntry.occurred_at) < before)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    query = query.order_by(col(AuditEntry.occurred_at).desc(), col(AuditEntry.id).desc())
    with store.transaction() as tx:
        rows = list(tx.session.exec(query.limit(max(1, min(limit, 1000)))).all())
        tx.session.expunge_all()
    return rows
