"""The application factory: one FastAPI app over one workspace (store + engines).

``create_app(db)`` opens the store, rebuilds every model's engine from it, and mounts the routers.
The API documentation is served from a bundled Swagger UI, never from a CDN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from server import __version__, web  # web: the grid (issue 4)
from server.api import commits, cubes, dimensions, feed, models, rules
from server.api.route import StrictJsonRoute
from server.errors import install_handlers
from server.responses import Json
from server.storage import open_store
from server.workspace import Workspace

DESCRIPTION = """\
plancube serves versioned planning cubes. Every cell write is a commit; any view can be read as of
a commit or snapshot; totals are computed by the in-memory engine and pushed live over
`/api/models/{model}/feed`.

Errors share one shape: `{"error": {"code": ..., "message": ..., "details": {...}}}`.
Numbers follow one policy (docs/api.md): a cell holds at most 1e15 in magnitude, and a result
past the float range is the error `#NUM!`, never null.
The acting user is named by the `X-Plancube-User` header until sign-in arrives.
"""


def create_app(db: str | Path, workspace: Workspace | None = None) -> FastAPI:
    ws = workspace or Workspace(open_store(db))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ws.start()
        yield
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
    install_handlers(app)
    for module in (models, dimensions, cubes, rules, commits, feed):
        app.include_router(module.router)
    app.mount("/static/swagger", StaticFiles(directory=Path(str(swagger_ui_path))), "swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="plancube API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

    web.mount(app)  # web grid (issue 4): the built front-end at "/", its assets at "/assets"

    @app.get("/api/health", tags=["server"], summary="Liveness and the store in use")
    def health() -> dict[str, object]:
        return {"status": "ok", "store": type(ws.store).__name__, "models": ws.model_names()}

    return app
