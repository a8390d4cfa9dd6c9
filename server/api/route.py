"""The route class of every router: request bodies parsed by orjson, strictly.

Python's ``json`` (what Starlette's ``Request.json`` uses) accepts ``NaN`` and ``Infinity``,
reads ``1e999`` as infinity, decodes a lone surrogate (``"\\ud800"``) into a string no store can
encode, and recurses once per nesting level until ``RecursionError``. orjson refuses all four
with a ``JSONDecodeError`` that names the problem and its position (nesting stops at 1,024
levels), which FastAPI turns into a validation error and ``server.errors`` into 400
``invalid_json``; a NUL character (``"\\u0000"``, which PostgreSQL text cannot hold) is refused
the same way. A test walks every route and fails on one that does not use this class.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from server.wire import NUL_REFUSED, nul_at


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = orjson.loads(body)
            at = nul_at(body)
            if at is not None:
                raise orjson.JSONDecodeError(NUL_REFUSED, body.decode(errors="replace"), at)
        return self._json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJsonRequest(request.scope, request.receive))

        return strict
