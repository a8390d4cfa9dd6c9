"""The application factory: one FastAPI app over one workspace (store + engines).

``create_app(db)`` opens the store, rebuilds every model's engine from it, and mounts the routers.
The API documentation (Swagger UI at ``/docs``, ReDoc at ``/redoc``) is served locally, never from a
CDN (see ``server.docs_pages``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Response
from starlette.middleware.cors import CORSMiddleware

from server import __version__, docs_pages, web  # web: the grid (issue 4)
from server.api import (
    admin,
    commits,
    connectors,
    cubes,
    dimension_loads,
    dimensions,
    error_docs,
    exports,
    feed,
    import_preview,
    imports,
    jobs,
    load_profiles,
    models,
    oidc_login,
    rules,
)
from server.api import auth as auth_api
from server.api.guards import Authenticator, Public
from server.api.route import StrictJsonRoute
from server.auth import AuthSettings, TokenValidator, token_validator, use_token_validator
from server.body_limit import BodyLimit
from server.errors import StorageUnavailable, install_handlers
from server.events import GiveWay
from server.headers import SecurityHeaders
from server.hosts import HostCheck
from server.origins import OriginCheck
from server.responses import Json
from server.scheduler import Scheduler
from server.scheduler import enabled as scheduler_enabled
from server.security import Security
from server.storage import open_store
from server.workspace import Workspace

ROUTERS = (
    auth_api,
    oidc_login,
    admin,
    models,
    dimensions,
    dimension_loads,
    cubes,
    import_preview,
    imports,
    load_profiles,
    jobs,
    connectors,
    exports,
    rules,
    commits,
    feed,
)

DESCRIPTION = """\
plancube serves versioned planning cubes. Every cell write is a commit; any view can be read as of
a commit or snapshot; totals are computed by the in-memory engine and pushed live over
`/api/models/{model}/feed`.

Errors share one shape: `{"error": {"code": ..., "message": ..., "details": {...}}}`.
Numbers follow one policy (docs/api.md): a cell holds at most 1e15 in magnitude, and a result
past the float range is the error `#NUM!`, never null.
Every request signs in (docs/security.md): `Authorization: Bearer` with a personal access
token or an access token of the configured identity provider (Entra ID or any OpenID Connect
provider), or the session cookie of `POST /api/auth/login`, whose changes carry the session's
CSRF token in `X-Plancube-CSRF`. What a user may see and change follows their role in the model
and element security.
Requests are refused whose `Host` is not one of the server's names (400 `host_not_allowed`),
and changes or the feed asked for by a browser page of another origin (403
`origin_not_allowed`); see docs/security.md.
"""


def create_app(
    db: str | Path,
    workspace: Workspace | None = None,
    security: Security | None = None,
    auth: AuthSettings | None = None,
    validator: TokenValidator | None = None,
    scheduler: bool | None = None,
) -> FastAPI:
    """``security``: how the server faces browsers (``server.security``); ``auth``: how it signs
    requests in (``server.auth.settings``) — both by default as the environment says.
    ``validator``: the identity provider's token validator, made from ``auth`` unless given.
    ``scheduler``: run connectors on their schedules (``server.scheduler``; by default as
    ``PLANCUBE_SCHEDULER`` says: off unless set)."""
    ws = workspace or Workspace(open_store(db))
    security = security or Security.from_env()
    auth = auth or AuthSettings.from_env()
    validator = validator or token_validator(auth)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ws.start()
        on = scheduler_enabled() if scheduler is None else scheduler
        runs = Scheduler.from_env(ws) if on else None
        if runs is not None:
            runs.start()
        yield
        if runs is not None:
            runs.stop()
        ws.close()

    app = FastAPI(
        title="plancube",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=Json,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.router.route_class = StrictJsonRoute
    app.state.workspace = ws
    app.state.auth = auth
    app.state.authenticator = Authenticator()
    if validator is not None:
        use_token_validator(app, validator)
    app.add_middleware(BodyLimit, max_bytes=ws.limits.max_body_bytes)
    app.add_middleware(GiveWay, feed=ws.feed)  # the live feed holds back for requests
    # outermost last: every answer has the headers; a wrong Host goes no further; CORS answers
    # preflights before a foreign page's change is refused
    app.add_middleware(OriginCheck, trusted=security.trusted_origins())
    if security.allowed_origins:  # else closed: a preflight is a 405 like any OPTIONS
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(security.allowed_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "content-type",
                "authorization",
                "x-plancube-session",
                "x-plancube-csrf",
            ],
            expose_headers=["retry-after"],
            max_age=600,
        )
    app.add_middleware(HostCheck, names=security.host_names())
    app.add_middleware(SecurityHeaders, frame_ancestors=security.frame_ancestors)
    app.state.security = security
    install_handlers(app)
    for module in ROUTERS:
        error_docs.document(module.router)
        app.include_router(module.router)
    docs_pages.mount(app, schemas=[*models.SCHEMAS, *cubes.SCHEMAS, error_docs.Error])
    web.mount(app)  # web grid (issue 4): the built front-end at "/", its assets at "/assets"

    @app.get(
        "/api/health",
        tags=["server"],
        summary="Liveness, the store and whether it answers, and models that failed to load",
        description="`status` is `ok`; `degraded` while a stored model could not be loaded "
        "at start-up (`unavailable` lists each with the reason: the others are served, the "
        "broken one answers 409 `model_unavailable` until it is deleted or imported again "
        "with `replace`); or `storage_unavailable`, answered with 503 and `Retry-After`, "
        "while the database does not answer (`storage` says why). Every call asks the "
        "database.",
        responses={
            503: {
                "description": "the database does not answer: the same body, with "
                "`status` `storage_unavailable` and the reason in `storage.message`",
                "headers": {"Retry-After": error_docs.RETRY_AFTER},
            }
        },
    )
    def health(_: Public, response: Response) -> dict[str, object]:
        unavailable = ws.unavailable()
        status = "degraded" if unavailable else "ok"
        storage: dict[str, object] = {"status": "ok"}
        try:
            ws.store.ping()
        except StorageUnavailable as exc:
            status = "storage_unavailable"
            storage = {"status": "unavailable", "message": exc.message}
            response.status_code = exc.status
            response.headers.update(exc.headers())
        return {
            "status": status,
            "store": type(ws.store).__name__,
            "storage": storage,
            "models": ws.model_names(),
            "unavailable": unavailable,
        }

    return app
