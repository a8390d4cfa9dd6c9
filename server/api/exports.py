"""Routes for exports: a view, or a cube area, written as a CSV, XLSX or Parquet file
(docs/exports.md).

CSV is streamed as it is written. XLSX and Parquet are written to a temporary file first (a
zip and a footer-indexed file cannot be sent before they are complete; in ``$TMPDIR``), then
streamed from it in chunks and deleted once sent — or once the client went away: the deletion
sits in a ``finally`` around the response, not in a background task, which a send that fails
on a closed connection would skip. Everything that can be wrong
with a request (an unknown element, an area past the limit) is found before the answer starts,
so an error is always a JSON answer, never a truncated file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from server.api.guards import Viewer
from server.api.route import StrictJsonRoute
from server.exports import area, long
from server.exports.grid import Grid
from server.exports.write import (
    MEDIA_TYPES,
    Format,
    content_disposition,
    csv_chunks,
    parquet_file,
    xlsx_file,
)
from server.services import views

router = APIRouter(
    prefix="/api/models/{model}/cubes", tags=["exports"], route_class=StrictJsonRoute
)
COMMIT_HEADER = "X-Plancube-Commit"  # the commit whose cells the file holds


class _TemporaryFile(FileResponse):
    """A file sent in chunks, then deleted, however the sending ended."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # not by the server's ``pathsend``: it may read the file after the send returns
        extensions = {
            k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"
        }
        try:
            await super().__call__({**scope, "extensions": extensions}, receive, send)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _file(write: Callable[[Path], None], fmt: Format, headers: dict[str, str]) -> Response:
    fd, name = tempfile.mkstemp(prefix="plancube-export-", suffix=f".{fmt.value}")
    os.close(fd)
    try:
        write(Path(name))
    except BaseException:
        os.unlink(name)
        raise
    return _TemporaryFile(name, media_type=MEDIA_TYPES[fmt], headers=headers)


@router.post(
    "/{cube}/export",
    summary="Export a view as a CSV, XLSX or Parquet file",
    description="The body is a view, as for `/view`; the file holds exactly what that view "
    "shows the caller (element security included). CSV and XLSX: one column per row "
    "dimension, then one per column member (its elements joined by ` / `); text starting "
    "with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` so no "
    "spreadsheet runs it. XLSX is formatted (bold frozen headers, row headers indented by "
    "depth). Parquet is long: a column per row and column dimension, then `num` and `txt`.",
    responses={200: {"content": {m: {} for m in MEDIA_TYPES.values()}}},
)
def export_view(
    ctx: Viewer, model: str, cube: str, body: views.ViewSpec, format: Format = Format.csv
) -> Response:
    answer = views.query(ctx, cube, body, holds=False)
    grid = Grid.of(answer)
    headers = {
        "Content-Disposition": content_disposition(cube, format),
        COMMIT_HEADER: str(answer["commit"]),
    }
    if format is Format.csv:
        return StreamingResponse(csv_chunks(grid), media_type=MEDIA_TYPES[format], headers=headers)
    write = xlsx_file if format is Format.xlsx else parquet_file
    return _file(lambda path: write(grid, path), format, headers)


@router.post(
    "/{cube}/area/export",
    summary="Export a cube area, one record per cell, as a CSV, XLSX or Parquet file",
    description="The body names, per dimension, its elements (names, aliases or the view's "
    "expressions); a dimension not named gives every element the caller may see. By "
    "default the stored leaf cells (a consolidated element stands for its leaves; rule "
    "cells left out); `computed: true` gives consolidated and rule cells as computed. "
    "Zero and empty cells are left out unless `suppress_zeros` is false. One record per "
    "cell: a column per cube dimension, then `value` (CSV, XLSX) or `num` and `txt` "
    "(Parquet). Element security holds; text is neutralised in CSV and XLSX as for a view "
    "export. At most PLANCUBE_MAX_EXPORT_CELLS cells (422 `export_too_large`). The "
    f"`{COMMIT_HEADER}` header names the commit the cells are of.",
    responses={
        200: {"content": {m: {} for m in MEDIA_TYPES.values()}},
        422: {
            "description": "a parameter or the body is not valid, or the area holds more "
            "cells than PLANCUBE_MAX_EXPORT_CELLS (export_too_large: `details` has `cells`, "
            "`limit`, `setting`)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    },
)
def export_area(
    ctx: Viewer, model: str, cube: str, body: area.AreaSpec, format: Format = Format.csv
) -> Response:
    cells = area.read(ctx, cube, body)
    headers = {
        "Content-Disposition": content_disposition(cube, format),
        COMMIT_HEADER: str(cells.commit),
    }
    if format is Format.csv:
        return StreamingResponse(
            long.csv_chunks(cells), media_type=MEDIA_TYPES[format], headers=headers
        )
    write = long.xlsx_file if format is Format.xlsx else long.parquet_file
    return _file(lambda path: write(cells, path), format, headers)
