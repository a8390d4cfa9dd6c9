"""Pending sign-ins through the identity provider: msal's flow, kept by the server, used once.

Between ``/api/auth/oidc/start`` and the provider sending the browser back to the callback, the
server holds what proves the answer belongs to this sign-in: the OAuth ``state``, the OIDC
``nonce`` and the PKCE ``code_verifier`` (msal's auth-code-flow dict), and where to go after.
None of it is in the URL beyond what OAuth itself puts there (``state``, the challenge), and
none of it is in the cookie: the browser gets a random key (``secrets.token_urlsafe(32)``) in a
short-lived HttpOnly cookie, and the table knows the key only by its SHA-256, like sessions.

A flow lives ``TTL_S`` seconds and is taken once (``take`` deletes it in the same transaction
and only the deleting caller gets it), so a callback replayed — with the same cookie, the same
``state`` — finds nothing. Flows are rows in the database rather than a dict in the process, so
that a callback reaching another server process of the same database finishes the sign-in.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, delete

from server.auth import policy
from server.auth.sessions import digest
from server.storage import Store
from server.storage.metadata import SignInFlow

TTL_S = 600.0  # ten minutes to sign in at the provider (Entra's own sign-in page allows ~10)


@dataclass(frozen=True)
class Pending:
    flow: dict[str, Any]  # msal's: state, nonce, code_verifier, redirect_uri, scope, auth_uri…
    next: str


def begin(store: Store, flow: dict[str, Any], next_path: str) -> str:
    """Keep a new flow; the key to hand the browser (its cookie value)."""
    raw = secrets.token_urlsafe(32)
    at = policy.now()
    row = SignInFlow(
        id=digest(raw),
        flow=json.dumps(flow),
        next=next_path,
        created_at=policy.iso(at),
        expires_at=policy.later(TTL_S, at),
    )
    with policy.writing(store), store.transaction() as tx:
        # abandoned sign-ins go as new ones come: the table stays the size of its use
        tx.session.exec(delete(SignInFlow).where(col(SignInFlow.expires_at) < policy.iso(at)))
        tx.session.add(row)
    return raw


def take(store: Store, raw: str) -> Pending | None:
    """The flow a browser's key names, removed; ``None`` if unknown, expired or already
    taken (by this request's twin in another process, too: only one delete finds the row)."""
    if not raw or len(raw) > 256:
        return None
    key = digest(raw)
    with policy.writing(store), store.transaction() as tx:
        row = tx.session.get(SignInFlow, key)
        if row is None:
            return None
        flow, next_path, expires_at = row.flow, row.next, row.expires_at
        tx.session.expunge(row)
        gone = tx.session.exec(delete(SignInFlow).where(col(SignInFlow.id) == key))
        if not gone.rowcount:
            return None
    if expires_at <= policy.iso(policy.now()):
        return None
    return Pending(json.loads(flow), next_path)
