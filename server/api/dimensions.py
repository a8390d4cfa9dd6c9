"""Routes for dimensions and their elements."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from server.api.guards import Modeler, Viewer
from server.api.route import StrictJsonRoute
from server.errors import BadRequest
from server.modeldef import DimensionDef
from server.services import dimensions as service
from server.services.dimensions import ElementUpsert

router = APIRouter(
    prefix="/api/models/{model}/dimensions", tags=["dimensions"], route_class=StrictJsonRoute
)


@router.get("", summary="List dimensions")
def list_dimensions(ctx: Viewer, model: str) -> list[dict[str, Any]]:
    return service.get_all(ctx)


@router.post("", status_code=201, summary="Create a dimension with its elements")
def create_dimension(ctx: Modeler, model: str, body: DimensionDef) -> dict[str, Any]:
    return service.create(ctx, body)


@router.get("/{dimension}", summary="Get a dimension: elements, edges, attributes")
def get_dimension(ctx: Viewer, model: str, dimension: str) -> dict[str, Any]:
    return service.get(ctx, dimension)


@router.put("/{dimension}", summary="Replace a dimension's definition")
def replace_dimension(
    ctx: Modeler, model: str, dimension: str, body: DimensionDef
) -> dict[str, Any]:
    if body.name != dimension:
        raise BadRequest(
            f"the body names dimension {body.name!r} but the URL {dimension!r}",
            dimension=dimension,
        )
    return service.replace(ctx, body)


@router.delete("/{dimension}", status_code=204, summary="Delete a dimension no cube uses")
def delete_dimension(ctx: Modeler, model: str, dimension: str) -> Response:
    service.delete(ctx, dimension)
    return Response(status_code=204)


@router.post(
    "/{dimension}/elements",
    summary="Bulk upsert elements",
    description="Adds new elements at the end and updates existing ones: type, attributes "
    "(merged), children (replaced when given), and parents to add the element under. The "
    "whole batch is validated as one new dimension first; nothing is written if any of it fails.",
)
def upsert_elements(
    ctx: Modeler, model: str, dimension: str, body: list[ElementUpsert]
) -> dict[str, Any]:
    return service.upsert_elements(ctx, dimension, body)


@router.delete("/{dimension}/elements/{element:path}", summary="Delete an element")
def delete_element(ctx: Modeler, model: str, dimension: str, element: str) -> dict[str, Any]:
    return service.delete_element(ctx, dimension, element)
