"""Route for an import's preview: the file as the server reads it and a suggested mapping.

What the web's upload form asks before anything is imported (``server.imports.preview``): the
same body and read options as ``POST …/import``, answered with the sniffed delimiter and
encoding, an XLSX's sheets, the headers, the first rows as text, the row count and a suggested
``LoadSpec``. Nothing is written; it is guarded as the import is (a planner).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from server.api.guards import Planner
from server.api.route import StrictJsonRoute
from server.errors import InvalidValue
from server.imports.preview import MAX_ROWS, answer, read_preview
from server.imports.read import MEDIA_TYPES, Format

router = APIRouter(
    prefix="/api/models/{model}/cubes", tags=["imports"], route_class=StrictJsonRoute
)

_FILE = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/{cube}/import/preview",
    summary="Preview an import: how the file reads, its first rows, and a suggested mapping",
    description="The file is the body, as for `POST …/import` (CSV, XLSX or Parquet). The "
    "answer names the `format`; for a CSV the `delimiter` and `encoding` it was read in "
    "(sniffed unless given) and whether it had a byte-order mark (`bom`); for an XLSX the "
    "`sheet` read and all `sheets`; the `headers`, the first `rows` (at most 50, as text), "
    "the `row_count`, the cube's `dimensions`, and a `suggestion`: a LoadSpec (the mapping as "
    "one JSON document) matching dimensions to columns by header (case-insensitive) or by "
    "content, a wide layout `across` a dimension whose elements head several columns, the "
    "value column and the decimal and thousands separators the numbers are written with. "
    "`unmatched` lists the dimensions it found no column for: give each a constant. Nothing "
    "is written. A file that cannot be read is 400 `unreadable_file`. See docs/imports.md.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                **{media: _FILE for media in MEDIA_TYPES},
                "application/octet-stream": _FILE,
            },
        }
    },
)
async def preview_import(
    request: Request,
    ctx: Planner,
    model: str,
    cube: str,
    format: Annotated[
        Format | None, Query(description="the file's format (default: from Content-Type)")
    ] = None,
    delimiter: Annotated[
        str | None, Query(min_length=1, max_length=1, description="CSV (default: sniffed)")
    ] = None,
    encoding: Annotated[
        str | None, Query(pattern="^(utf-8|cp1252)$", description="CSV (default: sniffed)")
    ] = None,
    sheet: Annotated[
        str | None, Query(max_length=31, description="XLSX (default: the first)")
    ] = None,
    rows: Annotated[int, Query(ge=0, le=MAX_ROWS, description="rows to show")] = 20,
) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    fmt = format or MEDIA_TYPES.get(media)
    if fmt is None:
        raise InvalidValue("an application/octet-stream body needs `format` (csv, xlsx, parquet)")
    ctx.rt.cube(cube)  # an unknown cube is a 404 before the file is read
    raw = await request.body()

    def work() -> dict[str, Any]:
        p = read_preview(raw, fmt, delimiter=delimiter, encoding=encoding, sheet=sheet)
        return answer(ctx, cube, p, rows)

    return await run_in_threadpool(work)
