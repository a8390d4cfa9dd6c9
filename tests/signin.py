"""Signing tests in: every request to the server signs in, so test clients do too.

``signed_in(app)`` is a ``TestClient`` that, once started, acts as a server admin through a
personal access token minted the way ``plancube token create`` mints one. ``as_user(client,
"ann")`` gives the headers of a user with a role in a model (planner of ``small`` unless told),
made through the admin API, so one test can act as several people.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from server.auth import accounts
from server.storage import Store

ADMIN = "admin"


def token_for(store: Store, name: str, *, server_admin: bool = False) -> str:
    """A fresh personal access token of local user ``name`` (made if missing)."""
    user = accounts.find_local_user(store, name)
    if user is None:
        user = accounts.add_user(store, name, server_admin=server_admin)
    raw, _ = accounts.create_token(store, user.id, f"test token {uuid.uuid4().hex[:8]}")
    return raw


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class SignedInClient(TestClient):
    """A test client signed in as a server admin from the start."""

    def __enter__(self) -> SignedInClient:
        super().__enter__()
        store = self.app.state.workspace.store  # type: ignore[attr-defined]
        self.headers.update(bearer(token_for(store, ADMIN, server_admin=True)))
        self.tokens: dict[tuple[str, str, str], dict[str, str]] = {}
        return self


def signed_in(app: Any, **kwargs: Any) -> SignedInClient:
    return SignedInClient(app, **kwargs)


def ensure(r: Any, *ok: int) -> None:
    assert r.status_code in ok, r.text


def as_user(
    client: Any, name: str, model: str = "small", role: str = "planner", *groups: str
) -> dict[str, str]:
    """The headers of ``name``, a member of group ``{model}-{role}`` (which has ``role`` in
    ``model``) and of ``groups``. Made through the admin API; cached per client."""
    key = (name, model, role)
    cache = getattr(client, "tokens", None)
    if cache is not None and key in cache:
        return cache[key]
    ensure(client.post("/api/admin/users", json={"name": name}), 201, 409)
    group = f"{model}-{role}"
    ensure(client.post("/api/admin/groups", json={"name": group}), 201, 409)
    ensure(client.put(f"/api/models/{model}/security/roles/{group}", json={"role": role}), 204)
    for g in (group, *groups):
        ensure(client.post("/api/admin/groups", json={"name": g}), 201, 409)
        ensure(client.put(f"/api/admin/groups/{g}/members/{name}"), 204)
    store = client.app.state.workspace.store
    headers = bearer(token_for(store, name))
    if cache is not None:
        cache[key] = headers
    return headers


def admin_headers(db: str) -> dict[str, str]:
    """Headers of a server admin of the store at ``db``, minted straight into it (as
    ``plancube token create`` does). On a DuckDB file, call it before a server holds it."""
    from server.storage import open_store

    store = open_store(db)
    try:
        return bearer(token_for(store, ADMIN, server_admin=True))
    finally:
        store.close()
