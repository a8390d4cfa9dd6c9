"""Route for exports: a view written as a CSV, XLSX or Parquet file (docs/exports.md)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from server.api.guards import Viewer
from server.api.route import StrictJsonRoute
from server.exports.grid import Grid
from server.exports.write import (
    MEDIA_TYPES,
    Format,
    content_disposition,
    csv_chunks,
    parquet_bytes,
    xlsx_bytes,
)
from server.services import views

router = APIRouter(
    prefix="/api/models/{model}/cubes", tags=["exports"], route_class=StrictJsonRoute
)


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
    grid = Grid.of(views.query(ctx, cube, body, holds=False))
    headers = {"Content-Disposition": content_disposition(cube, format)}
    media = MEDIA_TYPES[format]
    if format is Format.csv:
        return StreamingResponse(csv_chunks(grid), media_type=media, headers=headers)
    data = xlsx_bytes(grid) if format is Format.xlsx else parquet_bytes(grid)
    return Response(data, media_type=media, headers=headers)
