"""Answer only to the host names the server is configured for (``server.security``).

DNS rebinding: a page on ``evil.example`` makes its name resolve to 127.0.0.1, and from then on
its scripts talk to the planning server on the planner's machine as if it were their own site —
same origin, no CORS in the way. The one thing such a request cannot hide is the name it was
sent to: ``Host: evil.example``. So a request whose ``Host`` is not an allowed name is refused
before anything else runs: 400 ``host_not_allowed`` in the one error shape, naming the setting
that would allow it; a WebSocket handshake is closed (HTTP 403). Starlette's
``TrustedHostMiddleware`` does the same but answers in plain text and splits IPv6 hosts wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import HostNotAllowed
from server.responses import Json
from server.security import HOSTS_SETTING, split_host


def host_allowed(host: str, names: Sequence[str]) -> bool:
    name, _ = split_host(host)
    for pattern in names:
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class HostCheck:
    def __init__(self, app: ASGIApp, names: Sequence[str]) -> None:
        self.app = app
        self.names = tuple(names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or "*" in self.names:
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if host_allowed(host, self.names):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "host not allowed"})
            return
        name = split_host(host)[0]
        err = HostNotAllowed(
            f"this server does not answer to the host name {name!r}; add it to {HOSTS_SETTING} "
            "(or set PLANCUBE_PUBLIC_URL) if it is one of the server's own names",
            host=name,
            setting=HOSTS_SETTING,
        )
        await Json(err.body(), status_code=err.status)(scope, receive, send)
