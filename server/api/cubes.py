"""Routes for cubes, views of them, cell writes and cell history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from server.api.guards import Modeler, Planner, Viewer
from server.api.route import StrictJsonRoute, parse_body
from server.context import Context
from server.modeldef import CubeDef
from server.responses import Json
from server.services import cells, spreading, trace, views
from server.services import cubes as service

router = APIRouter(prefix="/api/models/{model}/cubes", tags=["cubes"], route_class=StrictJsonRoute)
SCHEMAS = [cells.WriteBatch]  # bodies these routes read themselves, named in openapi_extra by $ref


@router.get("", summary="List cubes")
def list_cubes(ctx: Viewer, model: str) -> list[dict[str, Any]]:
    return service.get_all(ctx)


@router.post("", status_code=201, summary="Create a cube over existing dimensions")
def create_cube(ctx: Modeler, model: str, body: CubeDef) -> dict[str, Any]:
    return service.create(ctx, body)


@router.get("/{cube}", summary="Get a cube")
def get_cube(ctx: Viewer, model: str, cube: str) -> dict[str, Any]:
    return service.get(ctx, cube)


@router.delete("/{cube}", status_code=204, summary="Delete a cube and its cells")
def delete_cube(ctx: Modeler, model: str, cube: str) -> Response:
    service.delete(ctx, cube)
    return Response(status_code=204)


@router.post(
    "/{cube}/view",
    summary="Query a view: rows x columns with page filters",
    description="Returns row and column headers (elements, tree depth, parent row, "
    "consolidated), the values matrix, and a flags matrix of bit masks described by "
    "`flag_bits` (consolidated, editable, text, and bits reserved for rule, seeded, commented "
    "and held cells). `as_of` or `snapshot` reads the cube as it was at that commit.",
)
def query_view(ctx: Viewer, model: str, cube: str, body: views.ViewSpec) -> Json:
    return Json(views.query(ctx, cube, body))


@router.post(
    "/{cube}/cells",
    summary="Write leaf cells as one commit",
    description="All or nothing: the batch is validated whole, then committed. With "
    "`base_commit`, cells changed after that commit make the write fail with 409 "
    "`write_conflict`, listing them with their current value, author and time — except "
    "changes made by the writer's own session (`X-Plancube-Session`).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/WriteBatch"}}
            },
        }
    },
)
async def write_cells(request: Request, ctx: Planner, model: str, cube: str) -> dict[str, Any]:
    # parsed, validated and committed in a worker thread: a big batch must not stop the loop
    raw = await request.body()
    return await run_in_threadpool(_write_cells, ctx, cube, raw)


def _write_cells(ctx: Context, cube: str, raw: bytes) -> dict[str, Any]:
    return cells.write(ctx, cube, parse_body(raw, cells.WriteBatch.model_validate))


@router.get("/{cube}/cells/history", summary="One cell's history, oldest first")
def cell_history(
    ctx: Viewer,
    model: str,
    cube: str,
    e: Annotated[list[str], Query(description="the cell's elements in cube dimension order")],
) -> list[dict[str, Any]]:
    return cells.history(ctx, cube, e)


@router.get(
    "/{cube}/trace",
    summary="Explain a cell: consolidation children, rule inputs, down to the inputs",
    description="A tree: a consolidated cell lists its children along its first consolidated "
    "dimension with their weights; a rule cell gives its rule, formula and the cells the "
    "formula reads; an input is a leaf. `depth` and `max_nodes` bound the tree (`truncated`).",
)
def trace_cell(
    ctx: Viewer,
    model: str,
    cube: str,
    e: Annotated[list[str], Query(description="the cell's elements in cube dimension order")],
    depth: Annotated[int, Query(ge=0, le=20)] = 3,
    max_nodes: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> dict[str, Any]:
    return trace.explain(ctx, cube, e, depth, max_nodes)


@router.post(
    "/{cube}/spread",
    summary="Spread a value into a (consolidated) cell as one commit",
    description="Methods: proportional (to current values), equal, repeat, percent (change by "
    "the value in percent), clear. The acting user's holds and rule cells stay fixed; their "
    "part is taken out of the target. With `base_commit`, leaves changed since by another "
    "session (`X-Plancube-Session`) make it a 409 `write_conflict` and nothing is written.",
)
def spread_cell(
    ctx: Planner, model: str, cube: str, body: spreading.SpreadRequest
) -> dict[str, Any]:
    return spreading.run(ctx, cube, body)


@router.get("/{cube}/holds", summary="The acting user's holds on a cube")
def list_holds(ctx: Planner, model: str, cube: str) -> list[dict[str, Any]]:
    return spreading.list_holds(ctx, cube)


@router.post("/{cube}/holds", status_code=204, summary="Hold a cell (for the acting user)")
def add_hold(ctx: Planner, model: str, cube: str, body: spreading.HoldRequest) -> Response:
    spreading.set_hold(ctx, cube, body.elements, held=True)
    return Response(status_code=204)


@router.delete("/{cube}/holds", status_code=204, summary="Release a hold")
def release_hold(
    ctx: Planner,
    model: str,
    cube: str,
    e: Annotated[list[str], Query(description="the held cell's elements in cube order")],
) -> Response:
    spreading.set_hold(ctx, cube, e, held=False)
    return Response(status_code=204)
