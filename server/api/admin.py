"""Routes for administration: users, groups and the audit log (server admins), and each model's
roles and element security (that model's admins). See ``server.services.admin``."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, StrictStr

from server.api.auth import user_json
from server.api.guards import ModelAdmin, ServerAdmin
from server.api.route import StrictJsonRoute
from server.auth import accounts
from server.names import Reference
from server.services import admin as service
from server.services.admin import CubeGrant, ElementGrant, GroupCreate, RoleSet
from server.wire import Flag

router = APIRouter(tags=["administration"], route_class=StrictJsonRoute)
Name = Annotated[str, Path(max_length=200)]


class UserCreate(BaseModel):
    name: Reference
    password: Annotated[StrictStr, Field(max_length=1024)] | None = Field(
        default=None, description="none: the account signs in with a token only until one is set"
    )
    email: Annotated[StrictStr, Field(max_length=320)] | None = None
    display_name: Annotated[StrictStr, Field(max_length=200)] | None = None
    server_admin: Flag = False


class UserChange(BaseModel):
    password: Annotated[StrictStr, Field(max_length=1024)] | None = None
    disabled: Flag | None = None


def _forget(request: Request) -> None:
    request.app.state.authenticator.forget()


@router.get("/api/admin/users", summary="List users")
def list_users(ctx: ServerAdmin) -> list[dict[str, Any]]:
    return [
        {**user_json(u), "disabled": u.disabled, "created_at": u.created_at}
        for u in accounts.list_users(ctx.ws.store)
    ]


@router.post("/api/admin/users", status_code=201, summary="Add a local account")
def add_user(ctx: ServerAdmin, body: UserCreate) -> dict[str, Any]:
    user = accounts.add_user(
        ctx.ws.store,
        body.name,
        password=body.password,
        email=body.email,
        server_admin=body.server_admin,
        display_name=body.display_name,
        actor=ctx.caller.user_id,
    )
    return user_json(user)


@router.patch(
    "/api/admin/users/{name}",
    status_code=204,
    summary="Set a local account's password, or disable / enable it",
    description="Disabling ends the user's sessions and revokes their tokens; a new password "
    "ends their sessions.",
)
def change_user(ctx: ServerAdmin, request: Request, name: Name, body: UserChange) -> Response:
    if body.password is not None:
        accounts.set_password(ctx.ws.store, name, body.password, actor=ctx.caller.user_id)
    if body.disabled is not None:
        accounts.disable_user(ctx.ws.store, name, disabled=body.disabled, actor=ctx.caller.user_id)
    _forget(request)
    return Response(status_code=204)


@router.get("/api/admin/groups", summary="List groups with their members")
def list_groups(ctx: ServerAdmin) -> list[dict[str, Any]]:
    return service.list_groups(ctx)


@router.post("/api/admin/groups", status_code=201, summary="Add a group")
def create_group(ctx: ServerAdmin, body: GroupCreate) -> dict[str, Any]:
    return service.create_group(ctx, body)


@router.delete(
    "/api/admin/groups/{group}",
    status_code=204,
    summary="Delete a group, its memberships, roles and element rules",
)
def delete_group(ctx: ServerAdmin, group: Name) -> Response:
    service.delete_group(ctx, group)
    return Response(status_code=204)


@router.put("/api/admin/groups/{group}/members/{user}", status_code=204, summary="Add a member")
def add_member(ctx: ServerAdmin, group: Name, user: Name) -> Response:
    service.set_member(ctx, group, user, True)
    return Response(status_code=204)


@router.delete(
    "/api/admin/groups/{group}/members/{user}", status_code=204, summary="Remove a member"
)
def remove_member(ctx: ServerAdmin, group: Name, user: Name) -> Response:
    service.set_member(ctx, group, user, False)
    return Response(status_code=204)


@router.get(
    "/api/admin/audit",
    summary="The audit log, newest first",
    description="Sign-ins and failed sign-ins, tokens created and revoked, every change of "
    "users, groups, roles and element security (`before` → `after`, as JSON), and "
    "destructive operations; `actor` is the user's id (`actor_name` their name), null for "
    "the server itself.",
)
def audit_log(
    ctx: ServerAdmin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    entries = accounts.audit_entries(ctx.ws.store, limit=limit, action=action)
    names = {u.id: u.name for u in accounts.list_users(ctx.ws.store)}
    return [
        {
            "id": e.id,
            "time": e.occurred_at,
            "actor": e.actor,
            "actor_name": names.get(e.actor) if e.actor else None,
            "action": e.action,
            "target": e.target,
            "before": None if e.before is None else orjson.loads(e.before),
            "after": None if e.after is None else orjson.loads(e.after),
        }
        for e in entries
    ]


@router.get("/api/models/{model}/security/roles", summary="Each group's role in the model")
def list_roles(ctx: ModelAdmin, model: str) -> list[dict[str, Any]]:
    return service.list_roles(ctx)


@router.put(
    "/api/models/{model}/security/roles/{group}",
    status_code=204,
    summary="Give a group a role in the model",
    description="Roles: viewer (reads what element security allows), planner (also writes "
    "it), modeler (also structure and rules), admin (everything, security included).",
)
def set_role(ctx: ModelAdmin, model: str, group: Name, body: RoleSet) -> Response:
    service.set_role(ctx, group, body.role)
    return Response(status_code=204)


@router.delete(
    "/api/models/{model}/security/roles/{group}",
    status_code=204,
    summary="Take a group's role in the model away",
)
def remove_role(ctx: ModelAdmin, model: str, group: Name) -> Response:
    service.set_role(ctx, group, None)
    return Response(status_code=204)


@router.get("/api/models/{model}/security/elements", summary="Element security rules")
def list_element_rules(
    ctx: ModelAdmin,
    model: str,
    dimension: Annotated[str | None, Query(max_length=200)] = None,
) -> list[dict[str, Any]]:
    return service.list_element_rules(ctx, dimension)


@router.put(
    "/api/models/{model}/security/elements/{dimension}",
    summary="Replace a dimension's element security",
    description="Each grant gives a group NONE, READ or WRITE on an element and, unless they "
    "have a grant of their own, on the elements under it. A dimension with grants is "
    "secured: a group it does not name sees none of its elements. An empty list opens the "
    "dimension again. See docs/security.md.",
)
def replace_element_rules(
    ctx: ModelAdmin, model: str, dimension: Name, body: list[ElementGrant]
) -> list[dict[str, Any]]:
    return service.replace_element_rules(ctx, dimension, body)


@router.get("/api/models/{model}/security/cubes", summary="Cube security")
def list_cube_access(ctx: ModelAdmin, model: str) -> list[dict[str, Any]]:
    return service.list_cube_access(ctx)


@router.put(
    "/api/models/{model}/security/cubes/{cube}",
    summary="Replace a cube's security",
    description="Each grant gives a group NONE, READ or WRITE on the whole cube, which caps "
    "what element security gives inside it. A cube with grants is secured: a group it does "
    "not name cannot see the cube (404 `cube_not_found`). An empty list opens it again.",
)
def replace_cube_access(
    ctx: ModelAdmin, model: str, cube: Name, body: list[CubeGrant]
) -> list[dict[str, Any]]:
    return service.replace_cube_access(ctx, cube, body)
