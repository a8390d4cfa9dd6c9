"""The route class of every router: request bodies parsed by orjson, strictly.

Python's ``json`` (what Starlette's ``Request.json`` uses) accepts ``NaN`` and ``Infinity``,
reads ``1e999`` as infinity, decodes a lone surrogate (``"\\ud800"``) into a string no store can
encode, and recurses once per nesting level until ``RecursionError``. orjson refuses all four
with a ``JSONDecodeError`` that names the problem and its position (nesting stops at 1,024
levels), which FastAPI turns into a validation error and ``server.errors`` into 400
``invalid_json``; a NUL character (``"\\u0000"``, which PostgreSQL text cannot hold) is refused
the same way. A test walks every route and fails on one that does not use this class.

A body is read only in a content type its operation declares: ``application/json`` for a
declared body, the types named in ``openapi_extra`` for a route that reads its body itself (the
model import also takes ``application/yaml``). Anything else, or a body with no type, is 415
``unsupported_media_type`` before the route runs. This is what keeps other sites' pages out: a
browser sends ``text/plain``, form types or no type to another site without asking it first, and
any other type only after a CORS preflight that the server refuses (``server.security``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from server.collector import collections_paused
from server.errors import UnsupportedMediaType
from server.wire import NUL_REFUSED, nul_at

B = TypeVar("B", bound=BaseModel)
_BIG = 2**20  # bytes: a body whose parse pauses the garbage collector


def strict_loads(body: bytes) -> Any:
    """JSON as this module reads it (see above); ``orjson.JSONDecodeError`` otherwise."""
    value = orjson.loads(body)
    at = nul_at(body)
    if at is not None:
        raise orjson.JSONDecodeError(NUL_REFUSED, body.decode(errors="replace"), at)
    return value


def parse_body(body: bytes, validate: Callable[[Any], B]) -> B:
    """A body a route reads itself, parsed and validated (``validate``: e.g. a model's
    ``model_validate``) as FastAPI would: bad JSON and an invalid body are the same
    ``RequestValidationError`` (400 ``invalid_json``, 422).

    Routes whose bodies can be large (a write batch of many cells) call this in a worker
    thread: FastAPI parses and validates declared bodies on the event loop, where a batch of
    half a million cells would stop every other request, health checks included, for seconds.
    In a thread, what still stops the others is what holds the GIL throughout: orjson's one
    call, and the garbage collector's full collections over the millions of objects a big body
    makes — so those are paused while a big body is parsed (``server.collector``).
    """
    if len(body) < _BIG:
        return _parse_body(body, validate)
    with collections_paused():  # never for every small body: overlapping writes would keep it off
        return _parse_body(body, validate)


def _parse_body(body: bytes, validate: Callable[[Any], B]) -> B:
    try:
        data = strict_loads(body)
    except orjson.JSONDecodeError as e:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", e.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": e.msg},
                }
            ]
        ) from None
    try:
        return validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in errors]
        ) from None


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


JSON = "application/json"


def accepted_media_types(route: APIRoute) -> list[str]:
    """The content types a route reads its body in; none when it takes no body."""
    declared = (route.openapi_extra or {}).get("requestBody", {}).get("content")
    if declared:
        return list(declared)
    return [JSON] if route.body_field is not None else []


def check_media_type(request: Request, accepted: list[str]) -> None:
    """Refuse (415) a body whose ``Content-Type`` is not one of ``accepted``."""
    headers = request.headers
    if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
        return  # no body: an optional one is absent, a required one is a 422
    received = headers.get("content-type", "")
    media = received.split(";", 1)[0].strip().lower()
    if media in accepted:
        return
    named = " or ".join(accepted)
    raise UnsupportedMediaType(
        f"the body must be {named}" + (f", not {media}" if media else " (Content-Type is not set)"),
        accepted=accepted,
        received=media or None,
    )


class StrictJsonRoute(APIRoute):
    def media_types(self) -> list[str] | None:
        """The body's content types when they can change while the server runs (a subclass:
        the import route's, which grow as plugins register readers); None: those declared."""
        return None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        declared = accepted_media_types(self)

        async def strict(request: Request) -> Response:
            accepted = self.media_types() or declared
            if accepted:
                check_media_type(request, accepted)
            return await handler(_StrictJsonRequest(request.scope, request.receive))

        return strict
