"""Security headers on every answer: no type sniffing, no referrer, a content security policy.

The grid (``server.web``) is built by Vite into files served from this host: one module
script, one stylesheet, no inline script, no ``eval``, its live feed over a WebSocket to this
host. So its policy allows scripts, styles, images and connections from ``'self'`` only (plus
``data:`` images: the page's empty favicon), and nothing else — an injected script or a
stylesheet from elsewhere does not run. One exception: RevoGrid's components (Stencil) add
their styles as ``<style>`` elements, so styles may be inline (``'unsafe-inline'`` for
``style-src`` only). An injected style cannot run code, and cannot send what it reads
anywhere but this host (``img-src``, ``font-src``); a nonce handed to Stencil would remove
even that (docs/security.md). Pages with a policy of their own (``/docs`` and
``/redoc``, ``server.docs_pages``) keep it, with ``frame-ancestors`` added.

Framing is refused (``frame-ancestors 'none'``, and ``X-Frame-Options: DENY`` for old browsers)
unless ``PLANCUBE_FRAME_ANCESTORS`` names who may frame the pages: the Excel add-in runs in a
frame of Office (docs/security.md lists its origins).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

GRID_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def policy_headers(frame_ancestors: Sequence[str]) -> dict[str, str]:
    """The headers every answer carries (the CSP is the grid's, where none is set)."""
    ancestors = " ".join(frame_ancestors) or "'none'"
    headers = {
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "content-security-policy": f"{GRID_POLICY}; frame-ancestors {ancestors}",
    }
    if ancestors == "'none'":
        headers["x-frame-options"] = "DENY"
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp, frame_ancestors: Sequence[str] = ()) -> None:
        self.app = app
        self.headers = policy_headers(frame_ancestors)
        self.ancestors = " ".join(frame_ancestors) or "'none'"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    own = headers.get(name)
                    if own is None:
                        headers[name] = value
                    elif name == "content-security-policy" and "frame-ancestors" not in own:
                        headers[name] = f"{own}; frame-ancestors {self.ancestors}"
            await send(message)

        await self.app(scope, receive, with_headers)
