"""The API documentation pages: Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served locally.

FastAPI's own pages load Swagger UI and ReDoc from a CDN; plancube runs where there may be no
internet, so both come from the ``fastapi-offline`` package (MIT), which ships current builds of
swagger-ui-dist and ReDoc that render OpenAPI 3.1 — the version FastAPI writes. Nothing on these
pages loads from another host: ReDoc's Google Fonts are turned off, ReDoc's bundle is served with
the one remote URL it holds (its sidebar logo) blanked, and a content security policy keeps the
browser on this host for anything a later bundle might add.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

ASSETS = "/static/api-docs"
# this host only; inline scripts and styles (the pages' set-up, styled components), data: images
# and blob: workers (ReDoc's search) are the bundles' own
POLICY = "default-src 'self' 'unsafe-inline' data: blob:"
# ReDoc's "API docs by Redocly" footer loads this image; an empty src makes it hide the image
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_STATIC = files("fastapi_offline") / "static"


def mount(app: FastAPI, schemas: Sequence[type[BaseModel]] = ()) -> None:
    """The two pages and their assets; ``schemas``: models that routes name only by ``$ref``."""
    _add_schemas(app, schemas)

    # declared before the mount, so it answers in place of the bundled file
    @app.get(f"{ASSETS}/redoc.standalone.js", include_in_schema=False)
    def redoc_bundle() -> Response:
        return Response(_redoc_bundle(), media_type="text/javascript")

    app.mount(ASSETS, StaticFiles(directory=str(_STATIC)), "api-docs")
    favicon = f"{ASSETS}/favicon.png"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="plancube API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=favicon,
        )
        page.headers["content-security-policy"] = POLICY
        return page

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url="/openapi.json",
            title="plancube API",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )
        page.headers["content-security-policy"] = POLICY
        return page


@cache
def _redoc_bundle() -> str:
    return (_STATIC / "redoc.standalone.js").read_text(encoding="utf-8").replace(REDOC_LOGO, "")


def _add_schemas(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Put these models (and the models they use) into the spec's ``components.schemas``.

    A route that reads its body itself (the model import takes JSON or YAML) names its schema in
    ``openapi_extra`` by ``$ref``, which FastAPI does not resolve; without the component ReDoc
    refuses the whole page and Swagger UI the operation.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            known = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in schema.pop("$defs", {}).items():
                    known.setdefault(name, definition)
                known.setdefault(model.__name__, schema)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
