"""Routes for signing in: local accounts, the session cookie, personal access tokens.

``POST /api/auth/login`` checks a local account's password (argon2; failed attempts lock the
account for a while and are rate-limited per client, ``server.auth.accounts``) and answers with
a session cookie — ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (other sites' pages do
not send it with their requests), ``Secure`` when the server is reached over HTTPS — and the
session's CSRF token, which the page sends with every change. Sessions expire (absolute and
idle limits) and end at ``POST /api/auth/logout``.

Personal access tokens are for scripts, the CLI and the Excel add-in on a server with local
accounts: created here (shown once, kept as a hash), listed, revoked. Every sign-in, failed
sign-in, token creation and revocation is audited.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from server.api.guards import CSRF_HEADER, SESSION_COOKIE, Public, SignedIn
from server.api.route import StrictJsonRoute
from server.auth import accounts
from server.context import Context
from server.storage import metadata as md
from server.wire import Text

OIDC_START = "/api/auth/oidc/start"  # server.api.oidc_login

router = APIRouter(prefix="/api/auth", tags=["sign-in"], route_class=StrictJsonRoute)


class Login(BaseModel):
    username: StrictStr = Field(min_length=1, max_length=200)
    password: StrictStr = Field(min_length=1, max_length=1024)


class TokenCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=200, description="what the token is for")
    expires_days: StrictInt = Field(default=90, ge=1, le=366, description="days until it expires")


def user_json(user: md.User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "display_name": getattr(user, "display_name", None) or user.name,
        "email": user.email,
        "server_admin": user.server_admin,
        "local": user.issuer == accounts.LOCAL,
    }


def token_json(t: md.AccessToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
    }


@router.get(
    "/config",
    summary="How this server signs users in",
    description="`mode` (local, entra or oidc); for an identity provider, what a client "
    "needs to get a token from it (`authority`, `client_id`, the API's `scopes`) and "
    "`web_sign_in`: the path a page sends the browser to for signing in through the provider "
    "(add `?next=/path`), or null when the server has no web client registration. Public.",
)
def config(ctx: Public, request: Request) -> dict[str, Any]:
    settings = request.app.state.auth
    out: dict[str, Any] = {"mode": settings.mode, "local_accounts": True}
    web = settings.web
    if settings.entra is not None:
        e = settings.entra
        out["provider"] = {
            "kind": "entra",
            "authority": f"{e.authority}/{e.tenant_id}",
            # the client registration's id; without one, the API's (a registration that is
            # its own client)
            "client_id": web.client_id if web else e.client_id,
            "scopes": [f"{e.app_id_uri}/{e.scope}"],
        }
    elif settings.oidc is not None:
        o = settings.oidc
        out["provider"] = {
            "kind": "oidc",
            "issuer": o.issuer,
            "authority": o.issuer,
            "client_id": web.client_id if web else None,
            "scopes": [o.scope] if o.scope else [],
        }
    if "provider" in out:
        # where the page sends the browser to sign in through the provider; None: not set up
        out["provider"]["web_sign_in"] = OIDC_START if web else None
    return out


@router.post(
    "/login",
    summary="Sign in with a local account",
    description="Answers with the `plancube_session` cookie and the session's `csrf_token`: "
    "send it in `X-Plancube-CSRF` with every change made with the cookie. A wrong name or "
    "password is 401 `sign_in_failed` (the same either way); too many failures lock the "
    "account (429 `account_locked`) or slow the client down (429 `sign_in_rate_limited`), "
    "both with `Retry-After`.",
)
async def login(ctx: Public, request: Request, response: Response, body: Login) -> dict[str, Any]:
    store = ctx.ws.store
    client = request.client.host if request.client else ""
    user = await run_in_threadpool(
        accounts.verify_password, store, body.username, body.password, client=client
    )
    raw, session = await start_session(response, request, user)
    return {
        "user": user_json(user),
        "csrf_token": accounts.csrf_token(raw),
        "csrf_header": CSRF_HEADER,
        "expires_at": session.expires_at,
    }


async def start_session(
    response: Response, request: Request, user: md.User, external: Sequence[str] = ()
) -> tuple[str, md.LoginSession]:
    """A new session for ``user``, its cookie set on ``response``: the end of every browser
    sign-in, with a password here or through the identity provider (``server.api.oidc_login``,
    which passes the provider's group ids and app roles as ``external``)."""
    raw, session = await run_in_threadpool(
        functools.partial(
            accounts.create_session, request.app.state.workspace.store, user.id, external=external
        )
    )
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=int(accounts.AccountPolicy.from_env().session_ttl_s),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )
    return raw, session


def secure_cookies(request: Request) -> bool:
    """Whether cookies get ``Secure``: when the server is reached, or published, over HTTPS."""
    return request.url.scheme == "https" or bool(
        (request.app.state.security.public_url or "").startswith("https://")
    )


@router.post("/logout", status_code=204, summary="End this browser's session")
async def logout(ctx: SignedIn, request: Request) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        await run_in_threadpool(accounts.revoke_session, ctx.ws.store, raw)
        request.app.state.authenticator.forget()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get(
    "/me",
    summary="Who is signed in, their models and roles",
    description="With a session cookie, also the session's `csrf_token`.",
)
def me(ctx: SignedIn, request: Request) -> dict[str, Any]:
    user = accounts.get_user(ctx.ws.store, ctx.caller.user_id)
    assert user is not None  # it signed this request in
    models = []
    for m in ctx.ws.model_names():
        role = ctx.for_model(m).role
        if role is not None:
            models.append({"model": m, "role": role.value})
    out: dict[str, Any] = {"user": user_json(user), "via": ctx.caller.via, "models": models}
    raw = request.cookies.get(SESSION_COOKIE)
    if raw and ctx.caller.via == "session":
        out["csrf_token"] = accounts.csrf_token(raw)
    return out


@router.get("/tokens", summary="Your personal access tokens")
def list_tokens(ctx: SignedIn) -> list[dict[str, Any]]:
    return [token_json(t) for t in accounts.list_tokens(ctx.ws.store, ctx.caller.user_id)]


@router.post(
    "/tokens",
    status_code=201,
    summary="Create a personal access token",
    description="The answer's `token` is shown this once: only its hash is kept. Send it as "
    "`Authorization: Bearer <token>`.",
)
def create_token(ctx: SignedIn, body: TokenCreate) -> dict[str, Any]:
    raw, token = accounts.create_token(
        ctx.ws.store,
        _me(ctx),
        body.name,
        expires_days=body.expires_days,
        actor=ctx.caller.user_id,
    )
    return {**token_json(token), "token": raw}


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a personal access token")
def revoke_token(
    ctx: SignedIn, request: Request, token_id: Annotated[str, Path(max_length=64)]
) -> Response:
    accounts.revoke_token(ctx.ws.store, _me(ctx), token_id, actor=ctx.caller.user_id)
    request.app.state.authenticator.forget()
    return Response(status_code=204)


def _me(ctx: Context) -> str:
    return ctx.caller.user_id
