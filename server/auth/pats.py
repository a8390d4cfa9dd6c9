"""Personal access tokens: a long random secret for scripts, shown once, kept as a hash.

A token is ``pcp_`` and ``secrets.token_urlsafe(32)`` (256 bits). The prefix lets a secret
scanner (or a person) recognise a leaked one and lets the server tell it from a JWT without
looking anything up. ``access_tokens.token_hash`` holds its SHA-256 in hex — enough for a
random value, where a slow hash is only needed for passwords — and nothing else about it is
stored or logged; the raw text is returned once by ``create_token`` and never again.

Every token expires: at most ``MAX_DAYS`` after it is made (a year and a day, so a yearly job
can carry one), 90 days unless asked. A name is unique among a user's live tokens, so a list
of tokens reads as a list of their uses ("nightly export", "Power BI"). Disabling the user
revokes them all. ``resolve_token`` is one look-up by the unique hash, joined to the user's row;
``last_used_at`` is written at most once a minute.
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from sqlmodel import Session, col, select, update

from server.auth import policy
from server.auth.audit_log import audit
from server.auth.lookup import USER_COLUMNS, lookup
from server.errors import (
    InvalidTokenExpiry,
    TokenNameTaken,
    TokenNotFound,
    Unprocessable,
    UserDisabled,
    UserNotFound,
)
from server.storage import Store
from server.storage.metadata import AccessToken, User

PREFIX = "pcp_"
MAX_DAYS = 366
MAX_NAME = 100


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(
    store: Store, user_id: str, name: str, *, expires_days: int = 90, actor: str | None = None
) -> tuple[str, AccessToken]:
    """A new token for the user: its text (show it once) and the stored row."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise Unprocessable(
            f"a token needs a name of 1 to {MAX_NAME} characters saying what it is for",
            name=name,
        )
    if isinstance(expires_days, bool) or not 1 <= expires_days <= MAX_DAYS:
        raise InvalidTokenExpiry(
            f"a token expires after 1 to {MAX_DAYS} days, not {expires_days}; make a new one "
            "when it runs out",
            max_days=MAX_DAYS,
        )
    at = policy.now()
    raw = PREFIX + secrets.token_urlsafe(32)
    row = AccessToken(
        user_id=user_id,
        name=name,
        token_hash=digest(raw),
        created_at=policy.iso(at),
        expires_at=policy.later(expires_days * 86400, at),
    )
    with policy.writing(store), store.transaction() as tx:
        user = _user_for_update(tx.session, user_id)
        if user.disabled:
            raise UserDisabled(f"the account {user.name!r} is disabled", user=user.name)
        taken = tx.session.exec(
            select(AccessToken.id)
            .where(AccessToken.user_id == user_id, AccessToken.name == name)
            .where(col(AccessToken.revoked_at).is_(None))
            .where(col(AccessToken.expires_at) > policy.iso(at))
        ).first()
        if taken is not None:
            raise TokenNameTaken(
                f"{user.name!r} already has a token named {name!r}: revoke it first, or "
                "choose another name",
                name=name,
            )
        tx.session.add(row)
        audit(
            tx.session,
            actor,
            "token.create",
            user.name,
            after={"token_id": row.id, "name": name, "expires_at": row.expires_at},
        )
    return raw, row


def _user_for_update(session: Session, user_id: str) -> User:
    """The user's row, locked until the transaction ends on PostgreSQL, so two requests cannot
    both make a token of one name (an embedded store is serialized by ``policy.writing``)."""
    query = select(User).where(User.id == user_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    user = session.exec(query).first()
    if user is None:
        raise UserNotFound(f"no user with id {user_id!r}", user_id=user_id)
    return user


_LOOKUP = sa.text(
    "SELECT t.id, t.revoked_at, t.expires_at, t.last_used_at, "
    f"{USER_COLUMNS} FROM access_tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.token_hash = :key"
)


def resolve_token(store: Store, raw: str) -> User | None:
    """The user a token signs in, or ``None`` (unknown, expired, revoked, user disabled)."""
    if not raw.startswith(PREFIX) or len(raw) > 256:
        return None
    key = digest(raw)
    at = policy.now()
    hit = lookup(store, _LOOKUP, key)
    if hit is None:
        return None
    row, user = hit
    now = policy.iso(at)
    if row["revoked_at"] is not None or user.disabled:
        return None
    if row["expires_at"] is None or row["expires_at"] <= now:  # every token here expires
        return None
    stale = policy.later(-policy.policy().touch_s, at)
    used = row["last_used_at"]
    if used is None or used < stale:
        with policy.writing(store), store.transaction() as tx:
            tx.session.exec(
                update(AccessToken)
                .where(col(AccessToken.id) == row["id"])
                .where(
                    col(AccessToken.last_used_at).is_(None)
                    | (col(AccessToken.last_used_at) < stale)
                )
                .values(last_used_at=now)
            )
    return user


def list_tokens(store: Store, user_id: str) -> list[AccessToken]:
    """The user's tokens, newest first, revoked and expired ones included (their row says)."""
    with store.transaction() as tx:
        rows = list(
            tx.session.exec(
                select(AccessToken)
                .where(AccessToken.user_id == user_id)
                .order_by(col(AccessToken.created_at).desc(), col(AccessToken.id))
            ).all()
        )
        tx.session.expunge_all()
    return rows


def revoke_token(store: Store, user_id: str, token_id: str, *, actor: str | None = None) -> None:
    """Revoke one of the user's tokens (again is nothing to do); another user's is not found."""
    with policy.writing(store), store.transaction() as tx:
        token = tx.session.get(AccessToken, token_id)
        if token is None or token.user_id != user_id:
            raise TokenNotFound(f"no token {token_id!r} of this user", token_id=token_id)
        if token.revoked_at is not None:
            return
        token.revoked_at = policy.iso(policy.now())
        tx.session.add(token)
        user = tx.session.get(User, user_id)
        audit(
            tx.session,
            actor or user_id,
            "token.revoke",
            user.name if user else user_id,
            after={"token_id": token_id, "name": token.name},
        )


def revoke_all(session: Session, user_id: str) -> int:
    """Revoke the user's live tokens in the caller's unit of work."""
    result = session.exec(
        update(AccessToken)
        .where(col(AccessToken.user_id) == user_id)
        .where(col(AccessToken.revoked_at).is_(None))
        .values(revoked_at=policy.iso(policy.now()))
    )
    return int(result.rowcount or 0)
