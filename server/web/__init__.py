"""The web grid: the built front-end (``server/web/dist``), served at ``/`` by the API server.

The sources beside this file (TypeScript, built by Vite) compile to ``dist/``, which is committed
so that running plancube never needs Node; ``check-build.sh`` proves in CI that ``dist/`` is what
the sources and the lock file build. ``mount`` serves ``index.html`` at ``/`` and the hashed
assets under ``/assets``; every other path (``/api``, ``/docs``, ``/openapi.json``) is untouched.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

DIST = Path(__file__).parent / "dist"


def mount(app: FastAPI) -> None:
    """Serve the grid at ``/`` and its assets at ``/assets``."""
    app.mount("/assets", StaticFiles(directory=DIST / "assets"), "web-assets")

    @app.get("/", include_in_schema=False)
    def grid() -> FileResponse:
        # The page names its assets by content hash, so only the page itself must never be stale.
        return FileResponse(DIST / "index.html", headers={"Cache-Control": "no-cache"})
