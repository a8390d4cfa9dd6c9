"""The largest request body the server reads, refused in the one error shape.

A body is read whole before it is validated, so its size is bounded before it is read:
a ``Content-Length`` past the limit is answered 413 at once, and a body sent in chunks (no
length) is counted as it arrives and refused when it passes the limit, before the rest is read.
The limit is ``PLANCUBE_MAX_BODY_BYTES`` (``server.limits``).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import BodyTooLarge
from server.responses import Json


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._error()
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    def _error(self) -> BodyTooLarge:
        return BodyTooLarge(
            f"the request body is larger than the {self.max_bytes:,} bytes the server accepts "
            "(PLANCUBE_MAX_BODY_BYTES)",
            limit=self.max_bytes,
            setting="PLANCUBE_MAX_BODY_BYTES",
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        err = self._error()
        await Json(err.body(), status_code=err.status, headers={"connection": "close"})(
            scope, receive, send
        )
