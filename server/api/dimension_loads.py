"""Route for dimension loads: a parent/child or levels CSV/XLSX file as the body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from server.api.guards import Modeler
from server.api.imports import Report
from server.api.route import StrictJsonRoute
from server.errors import InvalidValue
from server.imports.read import MEDIA_TYPES, Format, read
from server.services import dimension_loads as service

router = APIRouter(
    prefix="/api/models/{model}/dimensions", tags=["dimensions"], route_class=StrictJsonRoute
)

_FILE = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/{dimension}/load",
    summary="Load a dimension's elements from a parent/child or levels CSV or XLSX file",
    description="The file is the body: columns `element`, `parent`, `weight`, `alias` and the "
    "dimension's attributes (parent/child), or `L1`, `L2`, … (levels: a path per row). "
    "Incremental: new elements added, the file's elements re-parented, the rest kept; elements "
    "the file does not mention are listed as orphans (removed with `remove_orphans` where no "
    "stored cell uses them). `mode=replace` makes the dimension exactly the file. The whole "
    "file is validated first; every problem is reported by file row, column, value and reason "
    "and a file with problems changes nothing (422 `dimension_load_rejected`). `report=csv` "
    "answers the whole report as CSV. See docs/dimension-loads.md.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {**{m: _FILE for m in MEDIA_TYPES}, "application/octet-stream": _FILE},
        }
    },
)
async def load_dimension(
    request: Request,
    ctx: Modeler,
    model: str,
    dimension: str,
    format: Annotated[
        Format | None, Query(description="the file's format (default: from Content-Type)")
    ] = None,
    layout: service.Layout = service.Layout.auto,
    mode: service.Mode = service.Mode.incremental,
    multiple_parents: Annotated[
        bool, Query(description="an element on several rows gets several parents")
    ] = False,
    remove_orphans: Annotated[
        bool, Query(description="remove the elements the file does not mention")
    ] = False,
    dry_run: bool = False,
    delimiter: Annotated[str | None, Query(min_length=1, max_length=1)] = None,
    encoding: Annotated[str | None, Query(pattern="^(utf-8|cp1252)$")] = None,
    sheet: Annotated[str | None, Query(max_length=31)] = None,
    report: Report = Report.json,
) -> Any:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    fmt = format or MEDIA_TYPES.get(media)
    if fmt is None:
        raise InvalidValue("an application/octet-stream body needs `format` (csv, xlsx)")
    ctx.rt.dimension(dimension)
    raw = await request.body()
    options = {"delimiter": delimiter, "encoding": encoding, "sheet": sheet}

    def work() -> Any:
        table = read(raw, fmt, **options)
        kw: dict[str, Any] = {
            "layout": layout,
            "mode": mode,
            "multiple_parents": multiple_parents,
            "remove_orphans": remove_orphans,
        }
        try:
            out = service.run(ctx, dimension, table, dry_run=dry_run, **kw)
        except service.DimensionLoadRejected as exc:
            if report is Report.csv and exc.outcome is not None:
                return _csv(exc.outcome, 422)
            raise
        return _csv(out, 200) if report is Report.csv else out.json(dry_run)

    return await run_in_threadpool(work)


def _csv(outcome: service.Outcome, status: int) -> Response:
    return Response(
        outcome.problems.csv(),
        status_code=status,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="dimension-load-report.csv"'},
    )
