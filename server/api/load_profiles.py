"""Routes for a model's load profiles: saved import mappings (``server.services.load_profiles``).

Reading them takes the planner role — the role an import needs, and profiles are what an
importer picks from; making, changing or deleting one takes the modeler role, as a profile is
shared by everyone who imports into the model (a changed mapping changes their next load).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from server.api.guards import Modeler, Planner
from server.api.route import StrictJsonRoute
from server.imports.spec import LoadSpec
from server.names import PathName, Reference
from server.services import load_profiles as service

router = APIRouter(
    prefix="/api/models/{model}/load-profiles",
    tags=["load profiles"],
    route_class=StrictJsonRoute,
)


class ProfileChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cube: Reference = Field(description="the cube the profile loads")
    description: str = Field("", max_length=10_000)
    spec: LoadSpec = Field(
        description="the mapping, read options and mode, as the import's query parameters "
        "spell them (docs/imports.md)",
    )


class NewProfile(ProfileChange):
    name: PathName


@router.get("", summary="List the model's load profiles")
def list_profiles(ctx: Planner, model: str) -> list[dict[str, Any]]:
    return service.get_all(ctx)


@router.post(
    "",
    status_code=201,
    summary="Save an import mapping as a load profile",
    description="Checked against the model: an unknown cube, or a dimension in `columns`, "
    "`constants` or `across` that the cube does not have, is 422 `invalid_value` naming it. "
    "A name the model has a profile under already is 409 `load_profile_exists`.",
)
def create_profile(ctx: Modeler, model: str, body: NewProfile) -> dict[str, Any]:
    return service.create(ctx, body.name, body.cube, body.spec, body.description)


@router.get("/{name}", summary="Get a load profile")
def get_profile(ctx: Planner, model: str, name: str) -> dict[str, Any]:
    return service.get(ctx, name)


@router.put(
    "/{name}",
    summary="Change a load profile",
    description="Replaces the profile's cube, description and spec; checked as on creation. "
    "404 `load_profile_not_found` when there is none by that name.",
)
def update_profile(ctx: Modeler, model: str, name: str, body: ProfileChange) -> dict[str, Any]:
    return service.update(ctx, name, body.cube, body.spec, body.description)


@router.delete("/{name}", status_code=204, summary="Delete a load profile")
def delete_profile(ctx: Modeler, model: str, name: str) -> Response:
    service.delete(ctx, name)
    return Response(status_code=204)
