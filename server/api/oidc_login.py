"""Web sign-in through the identity provider: the authorization-code flow with PKCE, run by
msal on the server, ending in the same session cookie as a local sign-in.

``GET /api/auth/oidc/start?next=/path`` asks msal for a new flow (``state``, ``nonce``, a PKCE
verifier and its S256 challenge), keeps it in the database (``server.auth.signin_flows``), gives
the browser the flow's random key in a cookie that lives ten minutes and is sent only to these
two routes, and redirects to the provider's authorize page. ``GET /api/auth/oidc/callback`` is
where the provider sends the browser back: the flow named by the cookie is taken (once: a
replayed answer finds nothing), the answer's ``state`` must be the flow's, and msal redeems the
code with the verifier (the provider checks the PKCE pair; msal checks the ID token's nonce).
The access token it gets is then validated by the server's own validator exactly like a bearer
token — for a provider whose access tokens are opaque (``PLANCUBE_OIDC_ACCEPT_ID_TOKENS``) the
ID token instead — its user is made or updated, and a session starts with the provider's group
ids and app roles (``server.api.auth.start_session``). The browser goes on to ``next``, which
is only ever a path of this server.

Why on the server and not MSAL.js in the page: the browser ends up with an HttpOnly session
cookie and no token at all — no access or refresh token in ``localStorage`` or in page memory
for an injected script to read and take elsewhere; the page's code stays free of a sign-in
library; and the server keeps nothing of the provider's tokens either (they are validated and
dropped: the session is the server's own). The cost is a confidential (or public) *web* client
registration with a redirect URI on the server, rather than a single-page-application one.

The provider answers by query (``response_mode=query``, a top-level GET), not ``form_post``,
which msal recommends (RFC 9700 §4.3.1: a code in a URL can leak through ``Referer`` and logs).
The code in our URL is worth nothing to whoever sees it: it is used at once and only once, it is
bound to a PKCE verifier that never leaves the server (and, for a confidential client, to the
secret), and the callback answers with a bare redirect, so no page with third-party content
ever has it in its URL. A ``form_post`` answer is a cross-site POST: the flow cookie would have
to be ``SameSite=None`` (so ``Secure``, so HTTPS even on a laptop) and the callback exempt from
the origin check that refuses other sites' changes (``server.origins``); that trade is worse.

msal: a ``ConfidentialClientApplication`` when ``PLANCUBE_WEB_CLIENT_SECRET`` is set — the
provider then redeems a code only for the holder of the secret, on top of PKCE — else a
``PublicClientApplication`` with PKCE alone (a public client registration). One is made per
request with a fresh token cache (nothing accumulates across users) and a shared HTTP cache, so
the provider's discovery document is fetched once a day, not per sign-in.
"""

from __future__ import annotations

import hmac
import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from server.api.auth import secure_cookies, start_session
from server.api.guards import Public
from server.api.route import StrictJsonRoute
from server.auth import accounts, msal_app, signin_flows
from server.auth.errors import (
    ProviderUnavailable,
    SignInNextInvalid,
    SignInProviderError,
    SignInStateInvalid,
    WebSignInUnavailable,
)
from server.auth.settings import CALLBACK_PATH, AuthSettings, WebClientSettings

log = logging.getLogger("plancube.auth")
router = APIRouter(prefix="/api/auth/oidc", tags=["sign-in"], route_class=StrictJsonRoute)

FLOW_COOKIE = "plancube_signin"
FLOW_COOKIE_PATH = "/api/auth/oidc"  # sent to start and callback only
_HTTP_CACHE: dict[str, Any] = {}  # msal's cache of discovery documents, shared by requests


@router.get(
    "/start",
    summary="Sign in through the identity provider (browser)",
    description="Redirects (302) to the provider's sign-in page; once signed in there, the "
    "provider sends the browser to `/api/auth/oidc/callback`, which sets the session cookie "
    "and redirects to `next` — a path of this server (`/`, `/grid?model=x`), never another "
    "site (400 `sign_in_next_invalid`). 404 `web_sign_in_unavailable` when the server has no "
    "web client registration (`PLANCUBE_WEB_CLIENT_ID`). Public.",
    response_class=RedirectResponse,
    status_code=302,
)
async def start(ctx: Public, request: Request, next: str = Query("/", max_length=2000)) -> Response:
    settings, web = _web(request)
    target = safe_next(next)
    async with _msal(request, settings, web) as app:
        with warnings.catch_warnings():
            # msal nudges towards form_post; the answer comes by query on purpose (see above)
            warnings.filterwarnings("ignore", "response_mode='form_post'", UserWarning)
            flow = app.initiate_auth_code_flow(
                _scopes(settings), redirect_uri=_redirect_uri(request, web), response_mode="query"
            )
    raw = await run_in_threadpool(signin_flows.begin, ctx.ws.store, flow, target)
    response = RedirectResponse(flow["auth_uri"], status_code=302)
    response.set_cookie(
        FLOW_COOKIE,
        raw,
        max_age=int(signin_flows.TTL_S),
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level GET: Lax sends it
        secure=secure_cookies(request),
        path=FLOW_COOKIE_PATH,
    )
    return response


@router.get(
    CALLBACK_PATH.removeprefix("/api/auth/oidc"),
    summary="Where the identity provider sends the browser back",
    description="Finishes the sign-in `/api/auth/oidc/start` began in this browser: sets the "
    "`plancube_session` cookie and redirects (303) to `next`. Refused with 400 "
    "`sign_in_state_invalid` (no sign-in in progress in this browser, an expired or finished "
    "one, a `state` that is not its own), 400 `sign_in_provider_error` (the provider refused: "
    "`details.error`), 401 with a `token_…` code when the provider's token does not pass the "
    "server's checks. Public.",
    response_class=RedirectResponse,
    status_code=303,
)
async def callback(ctx: Public, request: Request) -> Response:
    settings, web = _web(request)
    answer = dict(request.query_params)
    pending = await run_in_threadpool(
        signin_flows.take, ctx.ws.store, request.cookies.get(FLOW_COOKIE, "")
    )
    if pending is None:
        raise SignInStateInvalid(
            "no sign-in is in progress in this browser (it expired, finished already, or began "
            "in another browser): start again at /api/auth/oidc/start"
        )
    if "error" in answer:
        raise _refused(answer)
    if not hmac.compare_digest(answer.get("state", ""), str(pending.flow.get("state", ""))):
        raise SignInStateInvalid("the answer's state is not the state of this browser's sign-in")
    try:
        async with _msal(request, settings, web) as app:
            result = await run_in_threadpool(
                app.acquire_token_by_auth_code_flow, pending.flow, answer
            )
    except ValueError as exc:  # msal's checks of the answer and the ID token (nonce, issuer)
        log.info("a sign-in answer refused by msal: %s", exc)
        raise SignInStateInvalid(
            "the identity provider's answer does not belong to this sign-in (its ID token's "
            "nonce, issuer or audience)"
        ) from None
    except requests.RequestException:
        raise ProviderUnavailable("the identity provider cannot be reached") from None
    if "error" in result:
        raise _refused(result)
    token = result.get("id_token") if _id_tokens(settings) else result.get("access_token")
    if not token:
        raise SignInProviderError("the identity provider sent no token", error="no_token")
    validator = request.app.state.token_validator
    principal = await validator.validate(token)  # the same checks as a bearer token's
    store = ctx.ws.store
    user = await run_in_threadpool(accounts.upsert_external_user, store, principal)
    response = RedirectResponse(pending.next, status_code=303)
    await start_session(response, request, user, external=(*principal.groups, *principal.roles))
    response.delete_cookie(FLOW_COOKIE, path=FLOW_COOKIE_PATH)
    client = request.client.host if request.client else ""
    await run_in_threadpool(
        accounts.audit,
        store,
        user.id,
        "signin.ok",
        user.name,
        after={"client": client, "via": "oidc"},
    )
    return response


def safe_next(next_path: str) -> str:
    """``next`` if it is a path of this server; else 400. ``//evil.example`` and ``/\\evil``
    are other sites to a browser, and so is anything with a scheme or a host."""
    parts = urlsplit(next_path)
    if (
        not next_path.startswith("/")
        or next_path.startswith("//")
        or "\\" in next_path
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in next_path)
    ):
        raise SignInNextInvalid(
            "next must be a path of this server, such as /?model=demo", next=next_path[:200]
        )
    return next_path


def _web(request: Request) -> tuple[AuthSettings, WebClientSettings]:
    settings: AuthSettings = request.app.state.auth
    if settings.web is None or getattr(request.app.state, "token_validator", None) is None:
        raise WebSignInUnavailable(
            "this server has no web sign-in through an identity provider (PLANCUBE_AUTH, "
            "PLANCUBE_WEB_CLIENT_ID): sign in with a local account at /api/auth/login"
        )
    return settings, settings.web


@asynccontextmanager
async def _msal(
    request: Request, settings: AuthSettings, web: WebClientSettings
) -> AsyncIterator[msal.ClientApplication]:
    """msal's application for one sign-in step; its HTTP session closed afterwards (a kept-alive
    connection to the provider per sign-in would pile up)."""
    http = msal_app.http_session(settings.ca_file, settings.http_timeout_s)
    try:
        yield await _application(settings, web, http)
    finally:
        http.close()


async def _application(
    settings: AuthSettings, web: WebClientSettings, http: requests.Session
) -> msal.ClientApplication:
    if settings.entra is not None:
        kind: msal_app.Kind = "entra"
        authority = f"{settings.entra.authority}/{settings.entra.tenant_id}"
    else:
        assert settings.oidc is not None
        kind, authority = "oidc", settings.oidc.issuer
    try:  # msal reads the provider's discovery document as it is made
        return await run_in_threadpool(
            msal_app.application,
            kind,
            authority,
            web.client_id,
            client_secret=web.client_secret,
            http_client=http,
            token_cache=msal.TokenCache(),
            http_cache=_HTTP_CACHE,
        )
    except (ValueError, requests.RequestException) as exc:
        log.warning("the identity provider's discovery failed: %s", exc)
        raise ProviderUnavailable("the identity provider cannot be reached") from None


def _scopes(settings: AuthSettings) -> list[str]:
    if settings.entra is not None:
        return [f"{settings.entra.app_id_uri}/{settings.entra.scope}"]
    assert settings.oidc is not None
    return [settings.oidc.scope] if settings.oidc.scope else []


def _id_tokens(settings: AuthSettings) -> bool:
    return settings.oidc is not None and settings.oidc.accept_id_tokens


def _redirect_uri(request: Request, web: WebClientSettings) -> str:
    if web.redirect_uri:
        return web.redirect_uri
    # the Host header is one of the server's names (server.hosts refuses others)
    base = request.app.state.security.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK_PATH


def _refused(answer: dict[str, Any]) -> SignInProviderError:
    error = str(answer.get("error", ""))[:100]
    description = str(answer.get("error_description", ""))[:300]
    return SignInProviderError(
        f"the identity provider refused the sign-in: {error}: {description}".rstrip(": "),
        error=error,
    )
