"""Which browser pages may change things or open the live feed: the server's own, and those
configured (``server.security``).

A browser names the page behind a request in ``Origin``: on every WebSocket handshake and every
``POST``, ``PUT``, ``PATCH`` and ``DELETE``, same-site or not. CORS stops a foreign page from
*reading* answers, but not from *sending* a form-like ``POST``, and it does not apply to
WebSockets at all: without this check any page a planner visits could open the feed and read
the whole P&L. So a request with an ``Origin`` passes when that origin is the server's own (its
host and port are the ``Host`` the request was sent to, which ``server.hosts`` has already
checked) or one of ``PLANCUBE_ALLOWED_ORIGINS`` and the public URL; any other is refused before
the route runs: 403 ``origin_not_allowed``, or a WebSocket handshake closed with 1008 (HTTP 403
to the browser). A request without ``Origin`` is not a page's (curl, scripts, the Python
client), and reads (``GET``) are left to CORS.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import OriginNotAllowed
from server.responses import Json
from server.security import ORIGINS_SETTING, origin_of, split_host

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def origin_allowed(origin: str, host: str, trusted: Sequence[str]) -> bool:
    """Whether a page of ``origin`` may act on the server reached as ``host``."""
    page = origin_of(origin)
    if page is None:  # "null": a sandboxed frame, a file:// page
        return False
    if any(origin_of(t) == page for t in trusted):
        return True
    name, port = split_host(host)
    # behind a proxy the Host has no port while the page's scheme names one: either matches
    return page[1] == name and (port is None or port == page[2])


class OriginCheck:
    def __init__(self, app: ASGIApp, trusted: Sequence[str]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if (kind == "http" and scope["method"] not in UNSAFE) or kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or origin_allowed(origin, headers.get("host", ""), self.trusted):
            await self.app(scope, receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
            return
        err = OriginNotAllowed(
            f"a page of {origin} may not change anything here; add the origin to "
            f"{ORIGINS_SETTING} if it is trusted",
            origin=origin,
            setting=ORIGINS_SETTING,
        )
        await Json(err.body(), status_code=err.status)(scope, receive, send)
