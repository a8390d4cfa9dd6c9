"""Web sign-in through the identity provider, over real HTTP: browser → server → test IdP → back.

The server runs behind uvicorn (``tests/auth/live.py``) and msal on it talks to the test IdP
over TLS, trusting the IdP's CA through ``PLANCUBE_AUTH_CA_FILE`` (as its key fetches do). The
"browser" is httpx following each redirect by hand, so every hop is checked; one test drives
Chromium through the same sign-in, from the grid's sign-in form to the grid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from server.app import create_app
from server.auth import AuthSettings
from server.auth.accounts import audit_entries
from server.storage import open_store
from tests.auth.conftest import entra_env
from tests.auth.idp import CLIENT_ID, CLIENT_SECRET, REALM_CLIENT_ID, TestIdp
from tests.auth.live import served
from tests.server.helpers import SMALL_MODEL
from tests.signin import bearer, token_for


class Serve:
    """``serve(db=None, **settings)``: a live server signing browsers in through the test IdP
    (Entra-shaped unless the settings say otherwise); its URL. ``apps[url]``: its app."""

    def __init__(self, idp: TestIdp, tmp_path: Path) -> None:
        self.idp, self.tmp_path = idp, tmp_path
        self.apps: dict[str, Any] = {}
        self._stack = ExitStack()

    def __call__(self, db: str | None = None, **settings: str) -> str:
        env = entra_env(self.idp, **{"PLANCUBE_WEB_CLIENT_ID": CLIENT_ID, **settings})
        env["PLANCUBE_AUTH_CA_FILE"] = str(self.idp.ca_file)
        env = {k: v for k, v in env.items() if v}  # "" takes a setting away
        db = db or str(self.tmp_path / f"web{len(self.apps)}.duckdb")
        app = create_app(db, auth=AuthSettings.from_env(env))
        url = self._stack.enter_context(served(app))
        self.apps[url] = app
        return url


@pytest.fixture
def serve(idp: TestIdp, tmp_path: Path) -> Iterator[Serve]:
    live = Serve(idp, tmp_path)
    with live._stack:
        yield live


def browser(idp: TestIdp, url: str) -> httpx.Client:
    return httpx.Client(base_url=url, verify=idp.ssl_context(), follow_redirects=False)


def to_provider(b: httpx.Client, next_path: str = "/") -> str:
    """The start: the provider's authorize URL the server sends the browser to."""
    r = b.get("/api/auth/oidc/start", params={"next": next_path})
    assert r.status_code == 302, r.text
    return r.headers["location"]


def at_provider(b: httpx.Client, authorize: str) -> str:
    """The provider signs the test user in: the callback URL it sends the browser back to."""
    r = b.get(authorize)
    assert r.status_code == 302, r.text
    return r.headers["location"]


def sign_in(b: httpx.Client, next_path: str = "/") -> httpx.Response:
    return b.get(at_provider(b, to_provider(b, next_path)))


def error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code, body
    return dict(body)


def test_a_browser_signs_in_through_the_provider(
    idp: TestIdp, serve: Serve, store_url: str
) -> None:
    url = serve(store_url)
    with browser(idp, url) as b:
        config = b.get("/api/auth/config").json()
        assert config["provider"]["web_sign_in"] == "/api/auth/oidc/start"
        assert config["provider"]["client_id"] == CLIENT_ID
        r = b.get("/api/auth/oidc/start", params={"next": "/?model=small"})
        assert r.status_code == 302
        authorize = urlsplit(r.headers["location"])
        assert f"{authorize.scheme}://{authorize.netloc}" == idp.url
        query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
        # PKCE S256, state and nonce; the verifier and where to go next stay on the server
        assert query["code_challenge_method"] == "S256" and query["code_challenge"]
        assert query["state"] and query["nonce"] and query["client_id"] == CLIENT_ID
        assert query["redirect_uri"] == f"{url}/api/auth/oidc/callback"
        assert "code_verifier" not in authorize.query and "model" not in authorize.query
        flow_cookie = r.headers["set-cookie"]
        assert "plancube_signin=" in flow_cookie and "HttpOnly" in flow_cookie
        assert "Path=/api/auth/oidc" in flow_cookie and "SameSite=lax" in flow_cookie
        done = b.get(at_provider(b, r.headers["location"]))
        assert done.status_code == 303 and done.headers["location"] == "/?model=small"
        assert "plancube_session" in b.cookies and "plancube_signin" not in b.cookies
        me = b.get("/api/auth/me").json()
        assert me["user"]["name"] == idp.user.username and me["user"]["local"] is False
        assert me["user"]["display_name"] == idp.user.name
        assert me["via"] == "session" and me["csrf_token"]
        # the session is a session: a change needs its CSRF token
        assert b.post("/api/auth/logout").status_code == 403
        headers = {"X-Plancube-CSRF": me["csrf_token"]}
        assert b.post("/api/auth/logout", headers=headers).status_code == 204
        assert b.get("/api/auth/me").status_code == 401


def test_the_users_group_ids_give_its_groups_roles(
    idp: TestIdp, serve: Serve, tmp_path: Path
) -> None:
    db = str(tmp_path / "groups.duckdb")
    store = open_store(db)
    admin = bearer(token_for(store, "admin", server_admin=True))
    store.close()
    url = serve(db)
    with httpx.Client(base_url=url, headers=admin) as a:
        assert a.post("/api/models/import", json=SMALL_MODEL).status_code == 201
        r = a.post("/api/admin/groups", json={"name": "finance", "external_id": "g-finance"})
        assert r.status_code == 201, r.text
    with browser(idp, url) as b:
        assert sign_in(b).status_code == 303
        assert b.get("/api/auth/me").json()["models"] == []  # the group has no role yet
    with httpx.Client(base_url=url, headers=admin) as a:
        r = a.put("/api/models/small/security/roles/finance", json={"role": "planner"})
        assert r.status_code == 204, r.text
    with browser(idp, url) as b:
        assert sign_in(b).status_code == 303
        me = b.get("/api/auth/me").json()
        assert me["models"] == [{"model": "small", "role": "planner"}]
        assert b.get("/api/models/small/cubes").status_code == 200
    idp.user.groups = ["g-sales"]  # no longer in the group: the next sign-in has no role
    try:
        with browser(idp, url) as b:
            assert sign_in(b).status_code == 303
            assert b.get("/api/auth/me").json()["models"] == []
            assert b.get("/api/models/small/cubes").status_code == 404
    finally:
        idp.user.groups = ["g-finance"]


def test_a_confidential_client_sends_its_secret(idp: TestIdp, serve: Serve) -> None:
    with browser(idp, serve(PLANCUBE_WEB_CLIENT_SECRET=CLIENT_SECRET)) as b:
        assert sign_in(b).status_code == 303
        assert b.get("/api/auth/me").status_code == 200
    with browser(idp, serve(PLANCUBE_WEB_CLIENT_SECRET="not-the-secret")) as b:
        err = error(sign_in(b), 400, "sign_in_provider_error")
        assert err["details"]["error"] == "invalid_client"
        assert "plancube_session" not in b.cookies


def test_an_answer_with_another_state_is_refused(idp: TestIdp, serve: Serve) -> None:
    with browser(idp, serve()) as b:
        back = urlsplit(at_provider(b, to_provider(b)))
        query = {k: v[0] for k, v in parse_qs(back.query).items()}
        forged = urlencode({**query, "state": "not-the-state"})
        error(b.get(f"{back.path}?{forged}"), 400, "sign_in_state_invalid")
        # the flow is spent: the genuine answer, now, finds nothing either
        error(b.get(f"{back.path}?{back.query}"), 400, "sign_in_state_invalid")
        assert "plancube_session" not in b.cookies


def test_a_replayed_answer_is_refused(idp: TestIdp, serve: Serve) -> None:
    url = serve()
    with browser(idp, url) as b:
        back = at_provider(b, to_provider(b))
        cookie = b.cookies["plancube_signin"]
        assert b.get(back).status_code == 303
    with browser(idp, url) as again:  # the same cookie and the same answer, once more
        again.cookies.set("plancube_signin", cookie, path="/api/auth/oidc")
        err = error(again.get(back), 400, "sign_in_state_invalid")
        assert "start again" in err["message"]


def test_an_answer_for_another_browser_is_refused(idp: TestIdp, serve: Serve) -> None:
    """Login CSRF: an attacker's own answer (code and state) pushed into a victim's browser."""
    url = serve()
    with browser(idp, url) as attacker:
        back = at_provider(attacker, to_provider(attacker))
    with browser(idp, url) as victim:
        error(victim.get(back), 400, "sign_in_state_invalid")  # no sign-in began there
        to_provider(victim)  # one that did begin, with a state of its own
        error(victim.get(back), 400, "sign_in_state_invalid")
        assert "plancube_session" not in victim.cookies


def test_a_code_for_another_pkce_verifier_is_refused(idp: TestIdp, serve: Serve) -> None:
    """A code obtained in one flow, delivered with another flow's state: the provider redeems
    it only with the verifier of the flow it was issued for."""
    url = serve()
    with browser(idp, url) as a:
        code = parse_qs(urlsplit(at_provider(a, to_provider(a))).query)["code"][0]
    with browser(idp, url) as b:
        state = parse_qs(urlsplit(to_provider(b)).query)["state"][0]
        r = b.get("/api/auth/oidc/callback", params={"code": code, "state": state})
        err = error(r, 400, "sign_in_provider_error")
        assert err["details"]["error"] == "invalid_grant" and "PKCE" in err["message"]
        assert "plancube_session" not in b.cookies


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/ok\r\nSet-Cookie: x=1",
    ],
)
def test_sign_in_never_sends_the_browser_elsewhere(
    idp: TestIdp, serve: Serve, next_path: str
) -> None:
    with browser(idp, serve()) as b:
        r = b.get("/api/auth/oidc/start", params={"next": next_path})
        error(r, 400, "sign_in_next_invalid")
        assert "location" not in r.headers and "plancube_signin" not in b.cookies


def test_the_providers_refusal_is_passed_on(idp: TestIdp, serve: Serve) -> None:
    with browser(idp, serve()) as b:
        state = parse_qs(urlsplit(to_provider(b)).query)["state"][0]
        answer = {"error": "access_denied", "error_description": "the user said no", "state": state}
        err = error(b.get("/api/auth/oidc/callback", params=answer), 400, "sign_in_provider_error")
        assert err["details"]["error"] == "access_denied" and "said no" in err["message"]


def test_the_token_passes_the_servers_checks_or_no_session(idp: TestIdp, serve: Serve) -> None:
    """The token msal got is validated like a bearer token: here the server asks for a scope
    of an App ID URI the provider does not know, and the token it gets grants no scope."""
    with browser(idp, serve(PLANCUBE_ENTRA_APP_ID_URI="api://plancube-elsewhere")) as b:
        error(sign_in(b), 401, "token_missing_scope")
        assert "plancube_session" not in b.cookies


def test_without_a_web_client_there_is_no_web_sign_in(idp: TestIdp, serve: Serve) -> None:
    with browser(idp, serve(PLANCUBE_WEB_CLIENT_ID="")) as b:
        assert b.get("/api/auth/config").json()["provider"]["web_sign_in"] is None
        error(b.get("/api/auth/oidc/start"), 404, "web_sign_in_unavailable")
        error(b.get("/api/auth/oidc/callback"), 404, "web_sign_in_unavailable")


def test_a_keycloak_realm_signs_browsers_in(idp: TestIdp, serve: Serve, tmp_path: Path) -> None:
    """The generic OIDC provider: msal pointed at the issuer with ``oidc_authority``."""
    url = serve(
        PLANCUBE_AUTH="oidc",
        PLANCUBE_OIDC_ISSUER=idp.oidc_issuer(),
        PLANCUBE_OIDC_AUDIENCE="plancube",
        PLANCUBE_WEB_CLIENT_ID=REALM_CLIENT_ID,
    )
    with browser(idp, url) as b:
        config = b.get("/api/auth/config").json()["provider"]
        assert config["kind"] == "oidc" and config["client_id"] == REALM_CLIENT_ID
        authorize = to_provider(b, "/")
        assert authorize.startswith(f"{idp.oidc_issuer()}/protocol/openid-connect/auth?")
        assert b.get(at_provider(b, authorize)).status_code == 303
        me = b.get("/api/auth/me").json()
        assert me["user"]["name"] == "pat" and me["user"]["email"] == "pat@example.org"


def test_a_sign_in_is_audited(idp: TestIdp, serve: Serve) -> None:
    url = serve()
    with browser(idp, url) as b:
        assert sign_in(b).status_code == 303
    store = serve.apps[url].state.workspace.store
    (entry,) = [e for e in audit_entries(store) if e.action == "signin.ok"]
    assert entry.target == idp.user.username and '"via":"oidc"' in (entry.after or "")


def test_chromium_signs_in_from_the_form_and_lands_on_the_grid(
    idp: TestIdp, serve: Serve, tmp_path: Path
) -> None:
    """The grid's form offers the provider; its link goes through the test IdP and back to
    the view the page was at, signed in as the IdP's user, whose group claim names a group
    (by its external id) with a role in the model: the grid shows the model."""
    from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    from playwright.sync_api import expect, sync_playwright

    db = str(tmp_path / "grid.duckdb")
    store = open_store(db)
    admin = bearer(token_for(store, "admin", server_admin=True))
    store.close()
    url = serve(db)
    with httpx.Client(base_url=url, headers=admin) as a:
        assert a.post("/api/models/import", json=SMALL_MODEL).status_code == 201
        r = a.post("/api/admin/groups", json={"name": "finance", "external_id": "g-finance"})
        assert r.status_code == 201, r.text
        r = a.put("/api/models/small/security/roles/finance", json={"role": "planner"})
        assert r.status_code == 204, r.text
    view = "/?model=small&cube=PnL&rows=Account:descendants(Net)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # the IdP's certificate is the test CA's; the browser is not what checks TLS here
            context = chromium.new_context(ignore_https_errors=True)
            page = context.new_page()
            page.goto(f"{url}{view}")
            form = page.locator("#signin")
            expect(form).to_be_visible()
            expect(form.locator("input[name=username]")).to_be_visible()  # local accounts too
            link = form.get_by_role("link", name="Sign in with Microsoft")
            expect(link).to_have_attribute("href", re.compile(r"^/api/auth/oidc/start\?next="))
            href = urlsplit(link.get_attribute("href") or "")
            assert parse_qs(href.query) == {"next": [view]}  # back to this view
            link.click()
            page.wait_for_url(f"{url}{view}")
            expect(form).to_be_hidden()
            expect(page.locator("#who")).to_have_text(idp.user.name)
            expect(page.locator("select[name=model]")).to_have_value("small")
            expect(page.locator('[data-row="0"]')).to_contain_text("Net")
            expect(page.locator("[data-cell].cell-input").first).to_be_visible()  # a planner
            me = page.evaluate("fetch('/api/auth/me').then(r => r.json())")
            assert me["user"]["name"] == idp.user.username and me["via"] == "session"
            assert me["models"] == [{"model": "small", "role": "planner"}]
            cookies = {c["name"]: c for c in context.cookies()}
            assert cookies["plancube_session"]["httpOnly"]
            assert page.evaluate("document.cookie") == ""  # no script sees the session
        finally:
            chromium.close()
