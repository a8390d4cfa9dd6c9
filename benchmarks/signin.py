"""How the benchmarks sign in: as real clients of a real server process do.

Every request to plancube signs in (``server.api.guards``). A benchmark's people are local
accounts with personal access tokens minted straight into the store before its server starts
— what ``plancube token create`` does, and the only way on a DuckDB file, which the server then
holds. Their roles and element security are then set over the admin API by the benchmark's
server admin, as an administrator would. Minting a token costs a SHA-256, so fifty planners
are made in well under a second.

    headers = mint(db, ["planner0", "planner1"])      # before the server starts
    admin = mint_admin(db)
    with httpx.Client(base_url=url, headers=admin) as c:
        grant(c, "demo", "planners", "planner", ["planner0", "planner1"])
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

ADMIN = "bench-admin"
Headers = dict[str, str]


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def mint(db: str, names: Sequence[str], *, server_admin: bool = False) -> dict[str, Headers]:
    """A fresh personal access token for each local user in ``names`` (made if missing), as
    request headers by name. On a DuckDB file, call it before a server holds the file."""
    from server.auth import accounts
    from server.storage import open_store

    store = open_store(db)
    try:
        out: dict[str, Headers] = {}
        for name in names:
            user = accounts.find_local_user(store, name)
            if user is None:
                user = accounts.add_user(store, name, server_admin=server_admin)
            raw, _ = accounts.create_token(store, user.id, f"benchmark {uuid.uuid4().hex[:8]}")
            out[name] = bearer(raw)
        return out
    finally:
        store.close()


def mint_admin(db: str) -> Headers:
    """The headers of the benchmark's server admin (``ADMIN``) on the store at ``db``."""
    return mint(db, [ADMIN], server_admin=True)[ADMIN]


def _ok(r: Any, *status: int) -> None:
    if r.status_code not in status:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")


def grant(
    admin: Any,
    model: str,
    group: str,
    role: str,
    members: Iterable[str],
    rules: dict[str, list[tuple[str, str]]] | None = None,
) -> None:
    """Over the admin API (``admin``: an httpx client signed in as a server admin): ``group``
    with ``role`` in ``model``, its ``members``, and for each dimension in ``rules`` the grants
    ``(element, NONE|READ|WRITE)`` of the group, added to the dimension's other rules."""
    _ok(admin.post("/api/admin/groups", json={"name": group}), 201, 409)
    _ok(admin.put(f"/api/models/{model}/security/roles/{group}", json={"role": role}), 204)
    for name in members:
        _ok(admin.put(f"/api/admin/groups/{group}/members/{name}"), 204)
    for dimension, grants in (rules or {}).items():
        path = f"/api/models/{model}/security/elements"
        r = admin.get(path, params={"dimension": dimension})
        _ok(r, 200)
        kept = [
            {k: rule[k] for k in ("element", "group", "access")}
            for rule in r.json()
            if rule["group"] != group
        ]
        mine = [{"element": e, "group": group, "access": a} for e, a in grants]
        _ok(admin.put(f"{path}/{dimension}", json=kept + mine), 200)
