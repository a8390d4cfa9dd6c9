"""Every route declares its guard, and the guards hold: sign-in, roles, CSRF.

``test_every_route_declares_a_guard`` walks the app's routes (HTTP and WebSocket) and fails on
one without a guard from ``server.api.guards`` among its dependencies: a new endpoint cannot be
added open by forgetting. The rest try each guard the way a client would, over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient

from server.api.guards import GUARDS, PUBLIC, Guard
from server.app import ROUTERS, create_app
from tests.server.helpers import VIEW, error, load_small
from tests.signin import as_user, bearer, signed_in, token_for

# routes anyone may call: nothing in them depends on who asks
PUBLIC_ROUTES = {
    "/api/health",
    "/api/auth/config",
    "/api/auth/login",
    "/api/auth/oidc/start",
    "/api/auth/oidc/callback",
}
# pages and files: the grid's page and the API docs (they hold no data; the API they call is
# guarded)
PAGES = {"/", "/docs", "/redoc", "/static/api-docs/redoc.standalone.js"}


def _guards(dep: Dependant) -> list[Guard]:
    found = [dep.call] if isinstance(dep.call, Guard) else []
    for sub in dep.dependencies:
        found += _guards(sub)
    return found  # type: ignore[return-value]


def test_every_route_declares_a_guard(tmp_path: Path) -> None:
    app = create_app(tmp_path / "g.duckdb")
    included = [r for m in ROUTERS for r in m.router.routes]
    routes = [r for r in [*app.routes, *included] if isinstance(r, APIRoute | APIWebSocketRoute)]
    assert len(routes) > 40
    missing, public = [], set()
    for route in routes:
        if route.path in PAGES:
            continue
        guards = _guards(route.dependant)
        if not guards:
            missing.append(route.path)
        elif any(g is PUBLIC for g in guards):
            public.add(route.path)
        assert all(g in GUARDS for g in guards)
    assert not missing, f"routes without a guard: {missing}"
    assert public == PUBLIC_ROUTES


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    with signed_in(create_app(tmp_path / "g.duckdb")) as c:
        load_small(c, [["Actual", "Rev", "Jan", "Amount", 10.0]])
        yield c


CELL = {"cells": [{"elements": ["Actual", "Rev", "Jan", "Amount"], "value": 5.0}]}


def test_without_credentials_every_data_route_is_401(small: TestClient) -> None:
    anonymous = TestClient(small.app)
    for method, path, body in [
        ("GET", "/api/models", None),
        ("GET", "/api/models/small", None),
        ("POST", "/api/models/small/cubes/PnL/view", VIEW),
        ("POST", "/api/models/small/cubes/PnL/cells", CELL),
        ("GET", "/api/models/small/commits", None),
        ("GET", "/api/admin/users", None),
    ]:
        r = anonymous.request(method, path, json=body)
        err = error(r, 401, "sign_in_required")
        assert "sign in" in err["message"]
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.get("/api/health").status_code == 200


def test_the_old_user_header_is_nobody(small: TestClient) -> None:
    anonymous = TestClient(small.app)
    r = anonymous.post(
        "/api/models/small/cubes/PnL/cells", json=CELL, headers={"X-Plancube-User": "admin"}
    )
    error(r, 401, "sign_in_required")


def test_a_bad_or_revoked_token_is_refused(small: TestClient) -> None:
    anonymous = TestClient(small.app)
    error(anonymous.get("/api/models", headers=bearer("pcp_nonsense")), 401, "sign_in_required")
    made = small.post("/api/auth/tokens", json={"name": "script"}).json()
    ok = anonymous.get("/api/models", headers=bearer(made["token"]))
    assert ok.status_code == 200
    assert small.delete(f"/api/auth/tokens/{made['id']}").status_code == 204
    error(anonymous.get("/api/models", headers=bearer(made["token"])), 401, "sign_in_required")


def test_roles_decide_what_a_user_may_do(small: TestClient) -> None:
    viewer = as_user(small, "vic", "small", "viewer")
    planner = as_user(small, "pat", "small", "planner")
    modeler = as_user(small, "mo", "small", "modeler")
    view = "/api/models/small/cubes/PnL/view"
    cells = "/api/models/small/cubes/PnL/cells"
    assert small.post(view, json=VIEW, headers=viewer).status_code == 200
    err = error(small.post(cells, json=CELL, headers=viewer), 403, "forbidden")
    assert "planner" in err["message"] and err["details"]["role"] == "viewer"
    # a viewer's view has no editable cell
    flags = small.post(view, json=VIEW, headers=viewer).json()["flags"]
    assert not any(f & 2 for row in flags for f in row)
    assert small.post(cells, json=CELL, headers=planner).status_code == 200
    # rules and structure: modelers and up
    error(small.get("/api/models/small/cubes/PnL/rules", headers=planner), 403, "forbidden")
    assert small.get("/api/models/small/cubes/PnL/rules", headers=modeler).status_code == 200
    dim = {"name": "Extra", "elements": ["A"]}
    error(small.post("/api/models/small/dimensions", json=dim, headers=planner), 403, "forbidden")
    assert small.post("/api/models/small/dimensions", json=dim, headers=modeler).status_code == 201
    # security and deleting the model: the model's admins
    error(small.get("/api/models/small/security/roles", headers=modeler), 403, "forbidden")
    error(small.delete("/api/models/small", headers=modeler), 403, "forbidden")
    error(small.get("/api/admin/users", headers=modeler), 403, "forbidden")


def test_a_model_without_a_role_is_not_there(small: TestClient) -> None:
    stranger = _no_role(small, "sam")
    error(small.get("/api/models/small", headers=stranger), 404, "model_not_found")
    assert small.get("/api/models", headers=stranger).json() == []
    me = small.get("/api/auth/me", headers=stranger).json()
    assert me["user"]["name"] == "sam" and me["models"] == []


def _no_role(client: Any, name: str) -> dict[str, str]:
    return bearer(token_for(client.app.state.workspace.store, name))


def test_a_forced_revert_is_for_the_models_admins(small: TestClient) -> None:
    planner = as_user(small, "pat", "small", "planner")
    r = small.post("/api/models/small/commits/1/revert", json={"force": True}, headers=planner)
    error(r, 403, "forbidden")
    assert small.post("/api/models/small/commits/1/revert", json={"force": True}).status_code == 200


def test_a_cookie_session_needs_its_csrf_token_for_changes(small: TestClient) -> None:
    assert small.post("/api/admin/users", json={"name": "cookie", "password": "a long password 1"})
    ensure_role = small.post("/api/admin/groups", json={"name": "cookies"})
    assert ensure_role.status_code == 201
    small.put("/api/models/small/security/roles/cookies", json={"role": "planner"})
    small.put("/api/admin/groups/cookies/members/cookie")
    browser = TestClient(small.app)
    r = browser.post(
        "/api/auth/login", json={"username": "cookie", "password": "a long password 1"}
    )
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    csrf = r.json()["csrf_token"]
    assert browser.get("/api/auth/me").json()["csrf_token"] == csrf
    assert browser.get("/api/models/small").status_code == 200  # reads: no token needed
    # every other method needs it, a view's POST too (a page of another site could send it)
    error(browser.post("/api/models/small/cubes/PnL/view", json=VIEW), 403, "csrf_failed")
    cells = "/api/models/small/cubes/PnL/cells"
    error(browser.post(cells, json=CELL), 403, "csrf_failed")
    error(browser.post(cells, json=CELL, headers={"X-Plancube-CSRF": "x" * 43}), 403, "csrf_failed")
    ok = browser.post(cells, json=CELL, headers={"X-Plancube-CSRF": csrf})
    assert ok.status_code == 200 and ok.json()["commit"]["author"] == "cookie"
    assert browser.post("/api/auth/logout", headers={"X-Plancube-CSRF": csrf}).status_code == 204
    error(browser.get("/api/auth/me"), 401, "sign_in_required")


def test_a_wrong_password_says_nothing_about_the_user(small: TestClient) -> None:
    small.post("/api/admin/users", json={"name": "real", "password": "a long password 1"})
    anonymous = TestClient(small.app)
    wrong = anonymous.post("/api/auth/login", json={"username": "real", "password": "nope"})
    ghost = anonymous.post("/api/auth/login", json={"username": "ghost", "password": "nope"})
    a, b = error(wrong, 401, "sign_in_failed"), error(ghost, 401, "sign_in_failed")
    assert a["message"] == b["message"]


def test_the_event_loop_never_waits_for_the_directory(small: TestClient) -> None:
    """Rights come from the directory's caches on the loop; a miss is answered in a worker
    thread, never by a query on the loop (``server.directory.cached_only``)."""
    import threading

    directory = small.app.state.workspace.directory  # type: ignore[attr-defined]
    asked: list[str] = []
    real = directory.store

    class Watched:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def transaction(self, *args: Any, **kwargs: Any) -> Any:
            asked.append(threading.current_thread().name)
            return real.transaction(*args, **kwargs)

    planner = as_user(small, "pat", "small", "planner")
    directory.changed()
    directory.store = Watched()
    try:
        assert small.get("/api/models/small", headers=planner).status_code == 200
    finally:
        directory.store = real
    assert asked, "the directory was not asked"
    assert all(name.startswith("AnyIO worker thread") for name in asked), asked


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/admin/users", {"name": "frank", "server_admin": "yes"}),
        ("POST", "/api/admin/users", {"name": "frank", "server_admin": 1}),
        ("POST", "/api/admin/users", {"name": "frank", "password": 1234567890123}),
        ("PATCH", "/api/admin/users/admin", {"disabled": "no"}),
        ("POST", "/api/auth/tokens", {"name": "t", "expires_days": "30"}),
        ("POST", "/api/auth/tokens", {"name": "t", "expires_days": 30.0}),
        ("POST", "/api/admin/groups", {"name": ""}),
        ("POST", "/api/admin/groups", {"name": "a/b"}),
        ("POST", "/api/auth/login", {"username": "admin", "password": 12345678901}),
    ],
)
def test_security_bodies_are_typed_strictly(
    small: TestClient, method: str, path: str, body: dict[str, Any]
) -> None:
    """A string is not a flag, nor a number: a loose reading made a server admin."""
    error(small.request(method, path, json=body), 422, "invalid")
    users = {u["name"]: u for u in small.get("/api/admin/users").json()}
    assert "frank" not in users and not users["admin"]["disabled"]


def test_security_of_a_model_or_dimension_that_is_not_there_is_404(small: TestClient) -> None:
    """Not an empty list: schemathesis found a made-up model answered 200 []."""
    for path in ("security/roles", "security/elements", "security/cubes"):
        error(small.get(f"/api/models/nope/{path}"), 404, "model_not_found")
    r = small.get("/api/models/small/security/elements", params={"dimension": "Nope"})
    error(r, 404, "dimension_not_found")
    assert small.get("/api/models/small/security/elements").json() == []
