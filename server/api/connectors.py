"""Routes for connectors: configure a model's pulls, run one now, read its run history.

Configuring, running and reading a connector is a Modeler's (``server.api.guards``); secrets
are write-only (answers show ``{"set": true}``). See docs/connectors.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from server.api.error_docs import _response
from server.api.guards import Modeler, SignedIn
from server.api.route import StrictJsonRoute
from server.names import PathName
from server.responses import Json
from server.services import connector_runs as runs
from server.services import connectors as service

router = APIRouter(tags=["connectors"], route_class=StrictJsonRoute)
BASE = "/api/models/{model}/connectors"

_RUNNING = _response("the connector is running (connector_running)")
_KEY = _response(
    "a stored secret needs PLANCUBE_SECRET_KEY, which the server lacks (secret_key_missing); "
    "or the connector exists (connector_exists)"
)


@router.get(
    "/api/connector-types",
    summary="The connector types: each one's name, description and config schema",
)
def list_types(_: SignedIn) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "description": t.description, "config": t.config.model_json_schema()}
        for t in service.connector_types().values()
    ]


@router.get(BASE, summary="The model's connectors")
async def list_connectors(ctx: Modeler, model: str) -> list[dict[str, Any]]:
    return await run_in_threadpool(service.get_all, ctx)


@router.post(
    BASE,
    status_code=201,
    summary="Configure a connector: a source, its secrets, the cube and mapping, a schedule",
    description="`type` is `rest` or `sql` (or a plugin's: `GET /api/connector-types`); "
    "`config` is that type's; `secrets` maps a name the config refers to onto "
    '`"env:NAME"` (read from the server\'s environment at run time) or `{"value": "…"}` '
    "(stored encrypted with PLANCUBE_SECRET_KEY); `load` is the LoadSpec the rows import "
    "through; `schedule` a cron expression in UTC. See docs/connectors.md.",
    responses={409: _KEY},
)
async def create_connector(
    ctx: Modeler, model: str, body: service.ConnectorCreate
) -> dict[str, Any]:
    return await run_in_threadpool(service.create, ctx, body)


@router.get(BASE + "/{name}", summary='A connector (its secrets as {"set": true})')
async def get_connector(ctx: Modeler, model: str, name: PathName) -> dict[str, Any]:
    return await run_in_threadpool(service.get, ctx, name)


@router.put(
    BASE + "/{name}",
    summary="Change a connector: all of it but its secrets, which merge (null removes one)",
    description="The watermark is kept. A changed schedule fires first at its next time "
    "after the scheduler sees it.",
    responses={409: _KEY},
)
async def update_connector(
    ctx: Modeler, model: str, name: PathName, body: service.ConnectorBody
) -> dict[str, Any]:
    return await run_in_threadpool(service.update, ctx, name, body)


@router.delete(
    BASE + "/{name}",
    status_code=204,
    summary="Delete a connector and its run history (not what it loaded)",
    responses={409: _RUNNING},
)
async def delete_connector(ctx: Modeler, model: str, name: PathName) -> Response:
    await run_in_threadpool(service.delete, ctx, name)
    return Response(status_code=204)


@router.post(
    BASE + "/{name}/run",
    status_code=202,
    summary="Run a connector now: 202 with the run, its state at its Location",
    description="The pull and the import run in the background as the caller: the source "
    "is read whole, then validated and committed as one import (source `import`). A failed "
    "pull or a rejected import writes nothing and keeps the watermark. 409 "
    "`connector_running` while a run of it goes on.",
    responses={
        202: {
            "description": "the run, started (follow its Location)",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        409: _RUNNING,
    },
)
async def run_connector(
    ctx: Modeler,
    model: str,
    name: PathName,
    dry_run: Annotated[
        bool, Query(description="pull and validate only: no cells, the watermark kept")
    ] = False,
) -> Any:
    run = await run_in_threadpool(runs.start, ctx, name, "api", dry_run)
    return Json(run, status_code=202, headers={"Location": run["links"]["self"]})


@router.get(
    BASE + "/{name}/runs",
    summary="A connector's runs, newest first",
    description="Each with its status (running, succeeded, failed), rows read, cells "
    "written, its commit, the watermark before and after, and the error (secrets redacted).",
)
async def list_runs(
    ctx: Modeler,
    model: str,
    name: PathName,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    return await run_in_threadpool(runs.history, ctx, name, limit)


@router.get(BASE + "/{name}/runs/{run}", summary="One run of a connector")
async def get_run(ctx: Modeler, model: str, name: PathName, run: str) -> dict[str, Any]:
    return await run_in_threadpool(runs.get, ctx, name, run)
