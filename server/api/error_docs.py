"""What every operation may answer besides success, declared in the OpenAPI document.

Errors share one shape (``server.errors``), so the document names one schema, ``Error``, and
says on each operation which statuses it can answer: 422 wherever a parameter or a body is read
(in the one error shape, not FastAPI's default validation schema, which plancube never sends);
400, 404 and 409 wherever a model is named in the path or a body names things (something
contradicts the model, does not exist, exists already, changed since the base commit, or the
model is stored but unavailable); 413 wherever there is a body (``server.body_limit``), and 415
where its content type is not one the operation reads (``server.api.route``); 401 and 403 on
every operation that needs sign-in (``server.api.guards``: not signed in; signed in but not
allowed, or a page of another origin, ``server.origins``); 429 for a sign-in; 503
with ``Retry-After`` everywhere, as every operation may need the database and it may be down;
507 wherever something is written (the database's disk is full).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, e.g. element_not_found, write_conflict")
    message: str = Field(description="for people: names the element, cell, row or position")
    details: dict[str, Any] = Field(description="structured: what was wrong, where")


class Error(BaseModel):
    """Every error plancube answers."""

    error: ErrorDetail


RETRY_AFTER = {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}


def _response(description: str, **extra: Any) -> dict[str, Any]:
    # by $ref (the schema is added to the document's components by ``docs_pages``): a route's
    # response models are fixed when it is created, and these are declared after
    schema = {"$ref": "#/components/schemas/Error"}
    content = {"application/json": {"schema": schema}}
    return {"description": description, "content": content, **extra}


def _reads_parameters(dependant: Dependant) -> bool:
    """Whether the route or one of its dependencies reads a path, query, header or cookie."""
    own = (dependant.path_params, dependant.query_params, dependant.header_params)
    return (
        any(own)
        or bool(dependant.cookie_params)
        or any(_reads_parameters(d) for d in dependant.dependencies)
    )


def _guard(dependant: Dependant) -> Any:
    from server.api.guards import Guard

    if isinstance(dependant.call, Guard):
        return dependant.call
    for d in dependant.dependencies:
        found = _guard(d)
        if found is not None:
            return found
    return None


def document(router: APIRouter) -> None:
    """Declare the error answers of a router's routes (before the document is first built)."""
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/"):
            continue
        body = route.body_field is not None or bool(
            {"POST", "PUT", "PATCH"} & (route.methods or set())
        )
        reads = body or _reads_parameters(route.dependant)
        declared: dict[int | str, dict[str, Any]] = {}
        if reads:
            declared[422] = _response(
                "a parameter or the body is not valid: the problem and where it is"
            )
        if "{" in route.path and "{model}" not in route.path and not body:
            declared[404] = _response("the user, group, token or thing named does not exist")
        if route.path.startswith("/api/auth/oidc/"):
            declared[404] = _response(
                "the server has no web sign-in through an identity provider "
                "(web_sign_in_unavailable)"
            )
            declared[400] = _response(
                "the sign-in's state, the provider's answer or `next` is not valid "
                "(sign_in_state_invalid, sign_in_provider_error, sign_in_next_invalid)"
            )
        if body or "{model}" in route.path:
            declared[400] = _response("the request contradicts itself or the model")
            declared[404] = _response(
                "the model, or a cube, dimension, element or commit named, does not exist"
            )
            declared[409] = _response(
                "a conflict: the cells changed since base_commit (write_conflict), the thing "
                "exists or is in use, or the model is stored but unavailable (model_unavailable)"
            )
        if body:
            declared[413] = _response("the body is larger than the server accepts")
            declared[415] = _response(
                "the body's Content-Type is not one the operation reads "
                "(unsupported_media_type; `details.accepted` names them)"
            )
        guard = _guard(route.dependant)
        if guard is not None and guard.signed_in:
            declared[401] = _response(
                "not signed in, or the token or session no longer holds (sign_in_required; "
                "token_* for a refused identity-provider token)",
                headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
            )
            declared[403] = _response(
                "signed in, but not allowed: the role is too low (forbidden), cells the user "
                "may only read (write_forbidden), a cookie session's change without its CSRF "
                "token (csrf_failed), or a page of another origin (origin_not_allowed)"
            )
        elif body:
            declared[403] = _response("a page of another origin (origin_not_allowed)")
        if route.path == "/api/auth/login":
            declared[401] = _response("the name or password is not right (sign_in_failed)")
            declared[429] = _response(
                "too many failed sign-ins: the account is locked (account_locked) or this "
                "client must wait (sign_in_rate_limited)",
                headers={"Retry-After": RETRY_AFTER},
            )
        declared[503] = _response(
            "the database is unavailable or did not answer in time (storage_unavailable); "
            "`details.written` says whether a write may have been stored: retry after "
            "Retry-After seconds",
            headers={"Retry-After": RETRY_AFTER},
        )
        if {"POST", "PUT", "PATCH", "DELETE"} & (route.methods or set()):
            declared[507] = _response(
                "the database has no room left on its disk (storage_full); nothing was written"
            )
        for status, response in declared.items():
            route.responses.setdefault(status, response)
