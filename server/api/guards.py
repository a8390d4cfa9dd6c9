"""Guards: every route declares who may call it, as one FastAPI dependency.

A route takes its request context (``server.context.Context``) from one of these; resolving it
is the only place a request is signed in and its rights looked up:

==================  ==================================================================
``Public``          no sign-in (health, the sign-in routes themselves)
``SignedIn``        any signed-in user; no model
``ServerAdmin``     a server admin
``Viewer`` …        the caller's role in the route's ``{model}`` is at least viewer,
``Planner``         planner, modeler or admin (``server.directory``); a caller with no
``Modeler``         role in the model hears 404 ``model_not_found``, as if it did not
``ModelAdmin``      exist; one whose role is too low hears 403 ``forbidden``
==================  ==================================================================

Credentials, in this order (``Authenticator``): ``Authorization: Bearer`` with a personal access
token (``pcp_…``) or, when an identity provider is configured, its access token (validated in
``server.auth``); else the session cookie of a browser signed in with a local account or through
the identity provider. A request changing something with the cookie must carry the session's
CSRF token in ``X-Plancube-CSRF`` (``server.auth.accounts.csrf_token``): a cookie is sent by the
browser whatever page asks, a header only by the server's own pages.

The same dependencies serve WebSockets (the live feed): a refusal closes the handshake.
``tests/server/test_guards.py`` walks every route and fails on one without a guard.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, WebSocketException
from fastapi.security import APIKeyCookie, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.status import WS_1008_POLICY_VIOLATION

from server.auth import accounts
from server.auth.bearer import bearer_token, token_in_query
from server.context import Caller, Context
from server.directory import NeedsWork, Role, cached_only
from server.errors import (
    CsrfFailed,
    Forbidden,
    ModelNotFound,
    PlancubeError,
    SignInRequired,
    Unprocessable,
)
from server.storage import metadata as md

SESSION_COOKIE = "plancube_session"
CSRF_HEADER = "x-plancube-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PAT_PREFIX = "pcp_"


@dataclass(frozen=True, slots=True)
class _Known:
    at: float
    user: md.User
    external: tuple[str, ...] = ()


class Authenticator:
    """Credentials → the user they stand for, cached for ``ttl_s`` seconds by the credential's
    hash: a revoked token or session stops working here at once (``forget``), in another
    process within ``ttl_s``."""

    def __init__(self, ttl_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._known.clear()

    def _hit(self, key: str) -> _Known | None:
        hit = self._known.get(key)
        if hit is not None and self._clock() - hit.at < self.ttl_s:
            return hit
        return None

    def _keep(self, key: str, user: md.User, external: tuple[str, ...] = ()) -> _Known:
        known = _Known(self._clock(), user, external)
        with self._lock:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[key] = known
        return known

    async def caller(self, conn: HTTPConnection) -> Caller:
        ws = conn.app.state.workspace
        if "authorization" in conn.headers or token_in_query(conn) is not None:
            return await self._bearer(conn, ws)
        raw = conn.cookies.get(SESSION_COOKIE)
        if raw:
            key = "s:" + _digest(raw)
            known = self._hit(key)
            if known is None:
                user = await run_in_threadpool(accounts.resolve_session, ws.store, raw)
                if user is None:
                    raise SignInRequired("your session has ended: sign in again")
                external: tuple[str, ...] = ()
                if user.issuer != accounts.LOCAL:  # signed in through the identity provider
                    external = await run_in_threadpool(accounts.session_external, ws.store, raw)
                known = self._keep(key, user, external)
            if conn.scope["type"] == "http" and conn.scope.get("method") not in SAFE_METHODS:
                token = conn.headers.get(CSRF_HEADER, "")
                if not accounts.check_csrf(raw, token):
                    raise CsrfFailed(
                        "a change sent with a session cookie needs the session's CSRF token "
                        f"in the {CSRF_HEADER} header (GET /api/auth/me gives it)"
                    )
            return await _caller(ws, known, "session")
        raise SignInRequired(
            "sign in first: send 'Authorization: Bearer <token>' (a personal access token or "
            "an access token of the identity provider), or sign in on the server's page"
        )

    async def _bearer(self, conn: HTTPConnection, ws: Any) -> Caller:
        token = bearer_token(conn)  # refuses one in the URL, and a malformed header
        key = "t:" + _digest(token)
        known = self._hit(key)
        if known is not None:
            return await _caller(ws, known, "token" if token.startswith(PAT_PREFIX) else "bearer")
        if token.startswith(PAT_PREFIX):
            user = await run_in_threadpool(accounts.resolve_token, ws.store, token)
            if user is None:
                raise SignInRequired("the access token is unknown, expired or revoked")
            return await _caller(ws, self._keep(key, user), "token")
        validator = getattr(conn.app.state, "token_validator", None)
        if validator is None:
            raise SignInRequired(
                "this server takes no identity-provider tokens (PLANCUBE_AUTH); use a "
                "personal access token or sign in with a local account"
            )
        principal = await validator.validate(token)
        user = await run_in_threadpool(accounts.upsert_external_user, ws.store, principal)
        external = (*principal.groups, *principal.roles)
        return await _caller(ws, self._keep(key, user, external), "bearer")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _caller(ws: Any, known: _Known, via: Any) -> Caller:
    user = known.user
    if user.disabled:
        raise SignInRequired("this account is disabled")
    try:
        with cached_only():
            groups = ws.directory.groups_of(user.id, known.external)
    except NeedsWork:
        groups = await run_in_threadpool(ws.directory.groups_of, user.id, known.external)
    return Caller(user.id, _author(user), user.server_admin, groups, via)


def _author(user: md.User) -> str:
    """What commits record: a local account's name as typed when it was made; an external
    user's name as the identity provider gives it."""
    return user.name or user.subject


MAX_SESSION = 200  # characters of X-Plancube-Session
_BEARER = HTTPBearer(
    auto_error=False,
    description="a personal access token (`pcp_…`) or the identity provider's access token",
)
_COOKIE = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="a browser's session (POST /api/auth/login); changes need X-Plancube-CSRF",
)


class Guard:
    """A dependency resolving the request's context and checking the caller may go on."""

    def __init__(self, role: Role | None, *, signed_in: bool = True, server_admin: bool = False):
        self.role = role
        self.signed_in = signed_in
        self.server_admin = server_admin

    def __repr__(self) -> str:
        need = "server admin" if self.server_admin else (self.role or "signed in")
        return f"Guard({need if self.signed_in else 'public'})"

    async def __call__(
        self,
        conn: HTTPConnection,
        _bearer: Annotated[Any, Depends(_BEARER)] = None,
        _cookie: Annotated[Any, Depends(_COOKIE)] = None,
        x_plancube_session: Annotated[
            str | None,
            Header(
                description="the client's session, chosen by the client (e.g. a random id per "
                "page load); with `base_commit`, commits of the same session and user are not "
                "conflicts. Without it, every later change of a target cell is a conflict.",
                max_length=MAX_SESSION,
            ),
        ] = None,
    ) -> Context:
        # the parameters document the credentials and the header in OpenAPI (the Authorize
        # button of /docs); the Authenticator reads them itself, the same for WebSockets
        try:
            return await self._resolve(conn)
        except PlancubeError as exc:
            if conn.scope["type"] == "websocket":
                raise WebSocketException(WS_1008_POLICY_VIOLATION, exc.message[:120]) from None
            raise

    async def _resolve(self, conn: HTTPConnection) -> Context:
        ws = conn.app.state.workspace
        session = _client_session(conn)
        auth: Authenticator = conn.app.state.authenticator
        caller = await auth.caller(conn)
        ctx = Context(ws, caller, conn.path_params.get("model"), session)
        # from the directory's caches on the event loop; what needs the database or a mask
        # computed, in a worker thread
        try:
            with cached_only():
                self._check(ctx, conn)
        except NeedsWork:
            await run_in_threadpool(self._check_in_thread, ctx, conn)
        return ctx

    def _check_in_thread(self, ctx: Context, conn: HTTPConnection) -> None:
        with cached_only(False):
            self._check(ctx, conn)

    def _check(self, ctx: Context, conn: HTTPConnection) -> None:
        caller, model = ctx.caller, ctx.model
        if self.server_admin and not caller.server_admin:
            raise _forbidden(caller, "this needs a server admin")
        if self.role is not None:
            assert model is not None, "a model guard on a route without {model}"
            if ctx.role is None:
                raise ModelNotFound(f"there is no model {model!r}", model=model)
            ctx.require(self.role, "this")
            cube = conn.path_params.get("cube")
            if cube is not None:
                ctx.check_cube(cube)


def _client_session(conn: HTTPConnection) -> str | None:
    """The client's own session id (``X-Plancube-Session``): a grid names one per page load, so
    that its later writes do not conflict with its own earlier commits."""
    value = (conn.headers.get("x-plancube-session") or "").strip()
    if len(value) > MAX_SESSION:
        raise Unprocessable(
            f"the X-Plancube-Session header is {len(value)} characters long; at most {MAX_SESSION}",
            header="X-Plancube-Session",
            limit=MAX_SESSION,
        )
    return value or None


def _forbidden(caller: Caller, message: str) -> PlancubeError:
    return Forbidden(f"{message}; {caller.name!r} is not one", user=caller.name)


class PublicGuard(Guard):
    """No sign-in: declares no credentials (OpenAPI shows the route open) and reads none."""

    async def __call__(self, conn: HTTPConnection) -> Context:  # type: ignore[override]
        return Context(conn.app.state.workspace, Caller("", "anonymous"))


PUBLIC = PublicGuard(None, signed_in=False)
SIGNED_IN = Guard(None)
SERVER_ADMIN = Guard(None, server_admin=True)
VIEWER = Guard(Role.viewer)
PLANNER = Guard(Role.planner)
MODELER = Guard(Role.modeler)
MODEL_ADMIN = Guard(Role.admin)
GUARDS = (PUBLIC, SIGNED_IN, SERVER_ADMIN, VIEWER, PLANNER, MODELER, MODEL_ADMIN)

Public = Annotated[Context, Depends(PUBLIC)]
SignedIn = Annotated[Context, Depends(SIGNED_IN)]
ServerAdmin = Annotated[Context, Depends(SERVER_ADMIN)]
Viewer = Annotated[Context, Depends(VIEWER)]
Planner = Annotated[Context, Depends(PLANNER)]
Modeler = Annotated[Context, Depends(MODELER)]
ModelAdmin = Annotated[Context, Depends(MODEL_ADMIN)]
