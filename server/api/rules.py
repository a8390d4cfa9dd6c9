"""Routes for a cube's rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from server.api.guards import Modeler
from server.api.route import StrictJsonRoute
from server.errors import BadRequest
from server.modeldef import RuleSpec
from server.services import rules as service

router = APIRouter(
    prefix="/api/models/{model}/cubes/{cube}/rules", tags=["rules"], route_class=StrictJsonRoute
)


@router.get("", summary="List a cube's rules")
def list_rules(ctx: Modeler, model: str, cube: str) -> list[dict[str, Any]]:
    return service.get_all(ctx, cube)


@router.put(
    "",
    summary="Replace all of a cube's rules",
    description="Compiled and checked for loops as a whole before anything is stored: a bad "
    "formula is 422 `invalid_rule` with `details.position` (a character offset in the "
    "formula); rules that depend on each other in a loop are 422 `rule_cycle`.",
)
def replace_rules(
    ctx: Modeler, model: str, cube: str, body: list[RuleSpec]
) -> list[dict[str, Any]]:
    return service.replace_all(ctx, cube, body)


@router.post("", status_code=201, summary="Add a rule")
def create_rule(ctx: Modeler, model: str, cube: str, body: RuleSpec) -> dict[str, Any]:
    return service.create(ctx, cube, body)


@router.get("/{name}", summary="Get a rule")
def get_rule(ctx: Modeler, model: str, cube: str, name: str) -> dict[str, Any]:
    return service.get(ctx, cube, name)


@router.put("/{name}", summary="Change a rule")
def update_rule(ctx: Modeler, model: str, cube: str, name: str, body: RuleSpec) -> dict[str, Any]:
    if body.name != name:
        raise BadRequest(f"the body names rule {body.name!r} but the URL {name!r}", rule=name)
    return service.update(ctx, cube, name, body)


@router.delete("/{name}", status_code=204, summary="Delete a rule")
def delete_rule(ctx: Modeler, model: str, cube: str, name: str) -> Response:
    service.delete(ctx, cube, name)
    return Response(status_code=204)
