"""Signing in to a real server process, the way its clients do.

A test that launches ``plancube serve`` mints the tokens it needs into the store first
(``headers_of``; a DuckDB file is then held by the server), gives people their roles over the
admin API as an administrator would (``grant``), or signs in like a browser with a password
(``login``: the session cookie, and its CSRF token sent with every change).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.signin import ADMIN, bearer, token_for

CSRF_HEADER = "X-Plancube-CSRF"


def headers_of(db: str, *names: str) -> dict[str, dict[str, str]]:
    """A fresh personal access token per name (``admin``: a server admin; the others plain
    local users, made if missing), minted into the store at ``db`` as ``plancube token create``
    does. On a DuckDB file, before a server holds it."""
    from server.storage import open_store

    store = open_store(db)
    try:
        return {n: bearer(token_for(store, n, server_admin=n == ADMIN)) for n in names}
    finally:
        store.close()


def _ok(r: httpx.Response, *status: int) -> None:
    assert r.status_code in status, f"{r.request.method} {r.request.url.path}: {r.text}"


def grant(
    url: str, admin: dict[str, str], model: str, role: str, *names: str, **client: Any
) -> None:
    """Over the admin API: ``names`` join group ``{model}-{role}``, which has ``role`` in
    ``model``."""
    group = f"{model}-{role}"
    with httpx.Client(base_url=url, headers=admin, timeout=30, **client) as c:
        _ok(c.post("/api/admin/groups", json={"name": group}), 201, 409)
        _ok(c.put(f"/api/models/{model}/security/roles/{group}", json={"role": role}), 204)
        for name in names:
            _ok(c.put(f"/api/admin/groups/{group}/members/{name}"), 204)


@contextmanager
def login(url: str, name: str, password: str, **client: Any) -> Iterator[httpx.Client]:
    """A client signed in as a browser is: ``POST /api/auth/login`` with a password; the client
    keeps the session cookie and sends the session's CSRF token with every request."""
    with httpx.Client(base_url=url, **client) as c:
        r = c.post("/api/auth/login", json={"username": name, "password": password})
        assert r.status_code == 200, f"sign-in as {name!r} failed: {r.status_code} {r.text}"
        c.headers[CSRF_HEADER] = r.json()["csrf_token"]
        yield c
