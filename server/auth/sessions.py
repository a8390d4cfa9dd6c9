"""Browser sessions: a random cookie value, known to the database only by its SHA-256.

Signing in with a password (``server.auth.passwords``) is followed by ``create_session``: the
browser gets ``secrets.token_urlsafe(32)`` (256 bits) as its cookie and ``sessions.id`` holds the
value's SHA-256, so the table — a backup, a read replica, a leaked dump — holds nothing that
signs anyone in. (A fast hash is right here, unlike for passwords: the value is random, there
is nothing to guess.)

A session ends at the first of: ``expires_at`` (``PLANCUBE_SESSION_TTL_S``, 12 h), being idle
(no request for ``PLANCUBE_SESSION_IDLE_S``, 2 h), being revoked (sign-out, a new password, the
account disabled), or the account being disabled. ``resolve_session`` checks all of them with one
look-up by primary key, joined to the user's row; ``last_seen_at`` is written at most once a
minute, so a busy browser costs one write a minute, not one per request (and the idle time is
measured to within that minute).

A browser signed in through the identity provider (``server.api.oidc_login``) keeps the
provider's group ids and app roles of that sign-in with its session (``external``), so the
groups they map to hold for the session as they would for a bearer token.

CSRF: a page's form or ``fetch`` sends ``csrf_token(cookie)`` back in a header; it is an HMAC of a
fixed label keyed by the cookie's value, so nothing is stored, a page of another origin cannot
compute it (it cannot read the cookie), and it changes with every session.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, delete, update

from server.auth import policy
from server.auth.audit_log import audit
from server.auth.lookup import USER_COLUMNS, lookup
from server.errors import UserDisabled, UserNotFound
from server.storage import Store
from server.storage.metadata import LoginSession, User

_CSRF_LABEL = b"plancube csrf v1"


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_session(
    store: Store, user_id: str, *, ttl_s: float | None = None, external: Sequence[str] = ()
) -> tuple[str, LoginSession]:
    """A new session for the user: the cookie value (give it to the browser, keep it nowhere)
    and the stored row. ``external``: the identity provider's group ids and app roles the user
    signed in with (``session_external``)."""
    rules = policy.policy()
    at = policy.now()
    raw = secrets.token_urlsafe(32)
    row = LoginSession(
        id=digest(raw),
        user_id=user_id,
        created_at=policy.iso(at),
        expires_at=policy.later(rules.session_ttl_s if ttl_s is None else ttl_s, at),
        last_seen_at=policy.iso(at),
        external=json.dumps(sorted(set(external))) if external else None,
    )
    with policy.writing(store), store.transaction() as tx:
        user = tx.session.get(User, user_id)
        if user is None:
            raise UserNotFound(f"no user with id {user_id!r}", user_id=user_id)
        if user.disabled:
            raise UserDisabled(f"the account {user.name!r} is disabled", user=user.name)
        # the user's dead sessions go as a new one comes: the table stays the size of its use
        tx.session.exec(
            delete(LoginSession)
            .where(col(LoginSession.user_id) == user_id)
            .where(
                (col(LoginSession.expires_at) < policy.iso(at))
                | col(LoginSession.revoked_at).is_not(None)
            )
        )
        tx.session.add(row)
    return raw, row


_LOOKUP = sa.text(
    "SELECT s.revoked_at, s.expires_at, s.last_seen_at, s.created_at, "
    f"{USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = :key"
)


def resolve_session(store: Store, raw: str) -> User | None:
    """The user a cookie value signs in, or ``None`` (unknown, expired, idle, revoked,
    disabled)."""
    if not raw or len(raw) > 256:
        return None
    key = digest(raw)
    rules = policy.policy()
    at = policy.now()
    hit = lookup(store, _LOOKUP, key)
    if hit is None:
        return None
    row, user = hit
    if row["revoked_at"] is not None or user.disabled or row["expires_at"] <= policy.iso(at):
        return None
    seen = policy.parse(row["last_seen_at"] or row["created_at"])
    if (at - seen).total_seconds() >= rules.session_idle_s:
        return None
    if (at - seen).total_seconds() >= rules.touch_s:
        _touch(store, key, at)
    return user


def session_external(store: Store, raw: str) -> tuple[str, ...]:
    """The identity provider's group ids and app roles a session was signed in with: they map
    to groups (``server.directory``) for the session's life, as a token's claims do for its."""
    with store.transaction() as tx:
        row = tx.session.get(LoginSession, digest(raw))
        stored = row.external if row is not None else None
    return tuple(json.loads(stored)) if stored else ()


def _touch(store: Store, key: str, at: datetime) -> None:
    stale = policy.later(-policy.policy().touch_s, at)
    with policy.writing(store), store.transaction() as tx:
        tx.session.exec(
            update(LoginSession)
            .where(col(LoginSession.id) == key)
            .where(col(LoginSession.last_seen_at) < stale)  # another request may have done it
            .values(last_seen_at=policy.iso(at))
        )


def revoke_session(store: Store, raw: str, *, actor: str | None = None) -> None:
    """Sign one browser out; an unknown or already ended session is nothing to do."""
    if not raw:
        return
    with policy.writing(store), store.transaction() as tx:
        session = tx.session.get(LoginSession, digest(raw))
        if session is None or session.revoked_at is not None:
            return
        session.revoked_at = policy.iso(policy.now())
        tx.session.add(session)
        user = tx.session.get(User, session.user_id)
        audit(
            tx.session,
            actor or session.user_id,
            "session.revoke",
            user.name if user else session.user_id,
            after={"sessions": 1},
        )


def revoke_sessions(store: Store, user_id: str, *, actor: str | None = None) -> int:
    """Sign the user out everywhere; how many sessions were live."""
    with policy.writing(store), store.transaction() as tx:
        user = tx.session.get(User, user_id)
        if user is None:
            raise UserNotFound(f"no user with id {user_id!r}", user_id=user_id)
        n = revoke_all(tx.session, user_id)
        audit(tx.session, actor, "session.revoke", user.name, after={"sessions": n})
    return n


def revoke_all(session: Session, user_id: str) -> int:
    """Revoke the user's sessions in the caller's unit of work."""
    result = session.exec(
        update(LoginSession)
        .where(col(LoginSession.user_id) == user_id)
        .where(col(LoginSession.revoked_at).is_(None))
        .values(revoked_at=policy.iso(policy.now()))
    )
    return int(result.rowcount or 0)


def csrf_token(raw_session: str) -> str:
    return hmac.new(raw_session.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def check_csrf(raw_session: str, token: str) -> bool:
    """Whether ``token`` is the session's CSRF token (compared in constant time)."""
    if not raw_session or not token:
        return False
    return hmac.compare_digest(csrf_token(raw_session).encode(), token.encode())
