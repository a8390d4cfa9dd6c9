"""The people of the browser tests, on the demo server: who signs in, and the API as an admin.

``plancube demo`` makes ``admin``, ``ann``, ``raj`` and ``vera`` (``server.demo_users``), all with
the demo password. The grid tests need planners who may write in every department (each test
plans in a department of its own) and two of them for conflicts: ``planner(url, name)`` makes
one through the admin API, in group ``e2e-planners`` (planner in ``demo``, WRITE on ``Total
Company``, added to the demo's element security on Department). ``api(url)`` is an httpx client
signed in as ``admin`` with a personal access token: what a test asks of the server — the
expected numbers, setup writes — it asks with that.
"""

from __future__ import annotations

import functools

import httpx

from server.demo_users import DEMO_PASSWORD

ADMIN = "admin"
PASSWORD = "e2e-password-long-enough"
PLANNERS = "e2e-planners"


@functools.cache
def api(url: str) -> httpx.Client:
    """A client signed in as the demo's server admin (a token, as scripts sign in)."""
    login = httpx.post(f"{url}/api/auth/login", json={"username": ADMIN, "password": DEMO_PASSWORD})
    login.raise_for_status()
    token = httpx.post(
        f"{url}/api/auth/tokens",
        json={"name": "browser tests"},
        cookies=login.cookies,
        headers={"X-Plancube-CSRF": login.json()["csrf_token"]},
    )
    token.raise_for_status()
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token.json()['token']}"}, timeout=30
    )


def ensure(r: httpx.Response, *ok: int) -> None:
    assert r.status_code in ok, r.text


def add_user(url: str, name: str, password: str = PASSWORD) -> None:
    ensure(api(url).post("/api/admin/users", json={"name": name, "password": password}), 201, 409)


@functools.cache
def _planners_group(url: str) -> None:
    client = api(url)
    ensure(client.post("/api/admin/groups", json={"name": PLANNERS}), 201, 409)
    ensure(client.put(f"/api/models/demo/security/roles/{PLANNERS}", json={"role": "planner"}), 204)
    rules = client.get("/api/models/demo/security/elements", params={"dimension": "Department"})
    ensure(rules, 200)
    grants = [
        {k: r[k] for k in ("element", "group", "access")}
        for r in rules.json()
        if r["group"] != PLANNERS
    ]
    grants.append({"element": "Total Company", "group": PLANNERS, "access": "WRITE"})
    ensure(client.put("/api/models/demo/security/elements/Department", json=grants), 200)


@functools.cache
def planner(url: str, name: str) -> str:
    """A planner of every department, made once per server; returns the password."""
    _planners_group(url)
    add_user(url, name)
    ensure(api(url).put(f"/api/admin/groups/{PLANNERS}/members/{name}"), 204)
    return PASSWORD


PASSWORDS = {"nina": "nina-password-long"}  # made by test_admin_page through the admin page


def password_of(url: str, name: str) -> str:
    """The demo's people have the demo password; anyone else is made here as a planner."""
    if name in {"admin", "ann", "raj", "vera"}:
        return DEMO_PASSWORD
    return PASSWORDS.get(name) or planner(url, name)
