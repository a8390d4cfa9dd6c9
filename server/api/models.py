"""Routes for models: list, create, delete, and the model file (import / export)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from server.api.deps import DestructiveDep
from server.api.guards import ModelAdmin, Modeler, ServerAdmin, SignedIn, Viewer
from server.api.route import StrictJsonRoute
from server.modeldef import ModelDef, dump_model, load_model
from server.names import PathName
from server.services import models as service
from server.wire import Description

router = APIRouter(prefix="/api/models", tags=["models"], route_class=StrictJsonRoute)
SCHEMAS = [ModelDef]  # bodies these routes read themselves, named in openapi_extra by $ref


class ModelCreate(BaseModel):
    name: PathName
    description: Description = ""


@router.get("", summary="List models")
def list_models(ctx: SignedIn) -> list[dict[str, Any]]:
    return service.get_all(ctx)


@router.post("", status_code=201, summary="Create an empty model")
def create_model(ctx: ServerAdmin, body: ModelCreate) -> dict[str, Any]:
    return service.create(ctx.ws, body.name, body.description)


@router.post(
    "/import",
    status_code=201,
    summary="Load a whole model file (YAML or JSON body)",
    description="The body is a model file (see docs/model-file.md), as JSON or, with "
    "`Content-Type: application/yaml`, as YAML. Everything is validated before anything is "
    "written; `data` rows become one commit with source `import`. A body that does not parse "
    "is 400 `invalid_json` or `invalid_yaml`, and so is YAML that nests past 254 levels or "
    "whose aliases would expand it by more than 1,000,000 nodes; one that is not a model is "
    "422 `invalid_model` (or `invalid_rule` for a bad formula), e.g. a description past "
    "10,000 characters or a text value past 32,767. Parsed and validated off the event loop.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ModelDef"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_model(
    request: Request,
    ctx: ServerAdmin,
    guard: DestructiveDep,
    replace: Annotated[bool, Query(description="replace a model of the same name")] = False,
) -> dict[str, Any]:
    raw_bytes = await request.body()
    yaml_format = "yaml" in request.headers.get("content-type", "")

    def parse_and_load() -> dict[str, Any]:
        # a 64 MB model file takes seconds to parse and validate: not on the event loop,
        # where /api/health and every other request would wait for it
        model = load_model(raw_bytes, yaml_format=yaml_format)
        ws = ctx.ws
        replaced = replace and (model.name in ws.model_names() or ws.is_unavailable(model.name))
        summary = service.load(ws, model, ctx.author, replace)
        if replaced:
            guard.done("model.replace", model=model.name, head=summary.get("head"))
        return summary

    return await run_in_threadpool(parse_and_load)


@router.get("/{model}", summary="Get a model")
def get_model(ctx: Viewer, model: str) -> dict[str, Any]:
    return service.get(ctx)


@router.delete("/{model}", status_code=204, summary="Delete a model and all its history")
def delete_model(ctx: ModelAdmin, guard: DestructiveDep, model: str) -> Response:
    service.delete(ctx.ws, model)
    guard.done("model.delete", model=model)
    return Response(status_code=204)


@router.get(
    "/{model}/export",
    summary="Export the model file",
    responses={200: {"content": {"application/yaml": {}, "application/json": {}}}},
)
def export_model(
    ctx: Modeler,
    model: str,
    format: Annotated[str, Query(pattern="^(yaml|json)$")] = "yaml",
    data: Annotated[bool, Query(description="include every stored leaf cell")] = False,
) -> Response:
    text = dump_model(service.export(ctx, with_data=data), format)
    media = "application/json" if format == "json" else "application/yaml"
    return Response(text, media_type=media)
