"""Route for cell imports: a CSV, XLSX or Parquet file as the body, its mapping in the query."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from server.api.guards import Planner
from server.api.route import StrictJsonRoute
from server.context import Context
from server.errors import InvalidValue
from server.imports.numbers import THOUSANDS, Locale
from server.imports.read import format_for, read, readers
from server.imports.spec import LoadSpec
from server.jobs import board
from server.responses import Json
from server.services import imports as service
from server.services import load_profiles

OCTET_STREAM = "application/octet-stream"
# the types a browser sends to another site without asking it first (CORS "simple" requests):
# never a reader's, whatever a plugin declares (docs/security.md, "Bodies are JSON")
CROSS_SITE = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


def media_types() -> list[str]:
    """The media types of every registered reader, then application/octet-stream."""
    found = {m.lower(): 0 for r in readers().values() for m in r.media_types}
    return [*(m for m in found if m not in CROSS_SITE), OCTET_STREAM]


class ReaderRoute(StrictJsonRoute):
    """The body may be in any media type a registered reader takes, looked up per request: a
    reader registered while the server runs is heard at once (OpenAPI lists those there were
    at start-up)."""

    def media_types(self) -> list[str]:
        return media_types()


router = APIRouter(prefix="/api/models/{model}/cubes", tags=["imports"], route_class=ReaderRoute)

_FILE = {"schema": {"type": "string", "format": "binary"}}


class Report(StrEnum):
    json = "json"
    csv = "csv"


class Decimal(StrEnum):
    dot = "dot"
    comma = "comma"


class Thousands(StrEnum):
    none = "none"
    comma = "comma"
    dot = "dot"
    space = "space"
    apostrophe = "apostrophe"


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidValue(f"{what} {item!r}: write DIMENSION=NAME", parameter=what, value=item)
        out[name.strip()] = value.strip()
    return out


@router.post(
    "/{cube}/import",
    summary="Import cells from a CSV, XLSX or Parquet file as one commit",
    description="The file is the body. Each cube dimension takes its elements from the file's "
    "column of the same name, a column named by `map=DIMENSION=COLUMN`, a constant "
    "(`const=DIMENSION=ELEMENT`), or — wide layout — the headers of the value columns "
    "(`across=DIMENSION`). The whole file is validated first; every problem is reported by "
    "file row, column, value and reason, and a file with problems writes nothing (422 "
    "`import_rejected`) unless `load_valid_rows`. `report=csv` answers the whole report as "
    "CSV instead of JSON. `background=true` runs it as a job instead: 202 at once with the "
    "job (`Location: /api/jobs/{id}`), its progress there and over the live feed, its "
    "report kept when it ends. `profile=NAME` loads by a saved load profile (GET "
    "/api/models/{model}/load-profiles): its mapping, read options and mode, with the "
    "parameters given beside it put over it — `map` and `const` per dimension, every other "
    "one whole. `format` is any registered reader's (csv, xlsx, parquet and the plugins'; "
    "docs/plugins.md). See docs/imports.md.",
    responses={
        202: {
            "description": "background=true: the import job, queued (follow its Location)",
            "headers": {"Location": {"schema": {"type": "string"}}},
        }
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                **{m: _FILE for m in media_types()},
            },
        }
    },
)
async def import_cells(
    request: Request,
    ctx: Planner,
    model: str,
    cube: str,
    format: Annotated[
        str | None,
        Query(
            max_length=64,
            description="the file's format: csv, xlsx, parquet or a plugin's (default: from "
            "Content-Type)",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        Query(max_length=255, description="a load profile of the model: its mapping and mode"),
    ] = None,
    map: Annotated[list[str], Query(description="DIMENSION=COLUMN, one per dimension")] = [],  # noqa: B006
    const: Annotated[list[str], Query(description="DIMENSION=ELEMENT for every row")] = [],  # noqa: B006
    value: Annotated[str | None, Query(description="long layout: the value column")] = None,
    across: Annotated[
        str | None, Query(description="wide layout: the dimension the value columns name")
    ] = None,
    columns: Annotated[
        list[str], Query(description="wide layout: the value columns (default: the rest)")
    ] = [],  # noqa: B006
    mode: service.Mode = service.Mode.upsert,
    dry_run: bool = False,
    load_valid_rows: bool = False,
    case_insensitive: bool = False,
    decimal: Decimal = Decimal.dot,
    thousands: Thousands = Thousands.none,
    delimiter: Annotated[str | None, Query(min_length=1, max_length=1)] = None,
    encoding: Annotated[str | None, Query(pattern="^(utf-8|cp1252)$")] = None,
    sheet: Annotated[str | None, Query(max_length=31)] = None,
    message: Annotated[str, Query(max_length=10_000)] = "",
    report: Report = Report.json,
    background: Annotated[
        bool, Query(description="run as a job: 202 with the job; see GET /api/jobs/{id}")
    ] = False,
    file_name: Annotated[str, Query(max_length=255, description="shown with the job")] = "",
) -> Any:
    fmt = format or format_for(request.headers.get("content-type", ""))
    if fmt is None:
        raise InvalidValue(
            "the body's Content-Type names no format: give `format` "
            f"({', '.join(sorted(readers()))})"
        )
    if fmt not in readers():
        read(b"", fmt)  # 422 naming the formats there are
    options: dict[str, str | None]
    if profile is not None:
        parsed = {
            "map": _pairs(map, "map"),
            "const": _pairs(const, "const"),
            "value": value or None,
            "across": across or None,
            "columns": columns or None,
            "case_insensitive": case_insensitive,
            "decimal": decimal.value,
            "thousands": thousands.value,
            "delimiter": delimiter,
            "encoding": encoding,
            "sheet": sheet,
            "mode": mode,
            "load_valid_rows": load_valid_rows,
        }
        given = {
            load_profiles.PARAMETERS[p]: v for p, v in parsed.items() if p in request.query_params
        }
        spec = await run_in_threadpool(_profiled, ctx, cube, profile, given)
        mapping, options = spec.mapping(), spec.read_options()
        mode, load_valid_rows = spec.mode, spec.load_valid_rows
    else:
        mapping = _mapping(map, const, value, across, columns, case_insensitive, decimal, thousands)
        options = {"delimiter": delimiter, "encoding": encoding, "sheet": sheet}
    raw = await request.body()
    if background:
        job = await run_in_threadpool(
            board(ctx.ws).start,
            ctx,
            cube,
            raw,
            fmt,
            options,
            mapping,
            file_name,
            mode=mode,
            dry_run=dry_run,
            load_valid_rows=load_valid_rows,
            message=message,
        )
        return Json(job, status_code=202, headers={"Location": job["links"]["self"]})

    def work() -> Any:
        table = read(raw, fmt, **options)
        return _answer(
            ctx,
            cube,
            table,
            mapping,
            report,
            mode=mode,
            dry_run=dry_run,
            load_valid_rows=load_valid_rows,
            message=message,
        )

    return await run_in_threadpool(work)


def _mapping(
    map: list[str],
    const: list[str],
    value: str | None,
    across: str | None,
    columns: list[str],
    case_insensitive: bool,
    decimal: Decimal,
    thousands: Thousands,
) -> service.Mapping:
    return service.Mapping(
        columns=_pairs(map, "map"),
        constants=_pairs(const, "const"),
        value=value or None,
        across=across or None,
        value_columns=columns or None,
        case_insensitive=case_insensitive,
        locale=Locale("," if decimal is Decimal.comma else ".", THOUSANDS[thousands.value]),
    )


def _profiled(ctx: Context, cube: str, name: str, given: dict[str, Any]) -> LoadSpec:
    """The profile's spec with the fields the request's parameters give put over it."""
    row = load_profiles.find(ctx, name)
    if row.cube != cube:
        raise InvalidValue(
            f"load profile {name!r} loads cube {row.cube!r}, not {cube!r}",
            parameter="profile",
            profile=name,
            cube=row.cube,
        )
    spec = load_profiles.merge(load_profiles.spec_of(row), given)
    load_profiles.check(ctx, cube, spec)
    return spec


def _answer(
    ctx: Context, cube: str, table: Any, mapping: service.Mapping, report: Report, **kw: Any
) -> Any:
    try:
        outcome = service.run(ctx, cube, table, mapping, **kw)
    except service.ImportRejected as exc:
        if report is Report.csv and exc.outcome is not None:
            return _csv(exc.outcome, 422)
        raise
    if report is Report.csv:
        return _csv(outcome, 200)
    return outcome.json(kw["dry_run"])


def _csv(outcome: service.Outcome, status: int) -> Response:
    return Response(
        outcome.problems.csv(),
        status_code=status,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="import-report.csv"'},
    )
