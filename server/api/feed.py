"""The live feed: a WebSocket that pushes every changed cell of the views a client watches.

Protocol (JSON text frames)::

    -> {"op": "subscribe", "id": "v1", "cube": "PnL", "view": {...view spec...}}
    <- {"type": "snapshot", "id": "v1", "view": {...same body as POST .../view...}}
    <- {"type": "cells", "id": "v1", "commit": {...}, "cells": [{"row": 3, "col": 7, "value": 1.5}]}
    -> {"op": "unsubscribe", "id": "v1"}
    <- {"type": "error", "id": "v1", "error": {"code": ..., "message": ..., "details": ...}}
    <- {"type": "job", "job": {...as GET /api/jobs/{id}...}}   (the caller's own import jobs)

After commits to the model, each distinct view on a cube they touched is re-read from the engine
once, off the write path, and every subscriber of it gets the differences from what it last got
— written leaves, recomputed totals — as one ``cells`` message (``server.events``). A socket that
falls far behind gets a fresh ``snapshot`` instead of the messages it missed. A socket watches at
most ``PLANCUBE_MAX_SUBSCRIPTIONS`` views (checked here) of ``PLANCUBE_MAX_FEED_CELLS`` cells in
all (checked by the hub once a view is read): past either, an ``error`` of code ``feed_limit``.
Only the server's own pages and the allowed origins may open the socket: another page's
handshake is refused before it reaches this route (``server.origins``, ``server.hosts``). The
socket is signed in like any request (a bearer token or the session cookie; ``server.api.guards``,
viewer of the model at least) and every view it watches shows what that user may see. It is
signed in again every ``PLANCUBE_FEED_SIGNIN_RECHECK_S`` seconds (30): once its token is
revoked, its session ended or its account disabled, it gets an ``error`` and is closed (1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from functools import partial
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from server.api.guards import Viewer
from server.api.route import StrictJsonRoute
from server.context import Context
from server.errors import FeedLimit, PlancubeError, Unprocessable
from server.events import Hub, Outbox, Subscription, dumps, error_body
from server.jobs import board
from server.limits import SUBSCRIPTIONS_SETTING
from server.services import views
from server.workspace import Workspace

router = APIRouter(tags=["feed"], route_class=StrictJsonRoute)


RECHECK_SETTING = "PLANCUBE_FEED_SIGNIN_RECHECK_S"


def recheck_s() -> float:
    """Seconds between a socket's sign-in checks (the Authenticator's cache makes most free)."""
    return float(os.environ.get(RECHECK_SETTING, "30"))


def _error(wid: str | None, exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        exc = Unprocessable(f"invalid subscription: {exc.errors()[0]['msg']}")
    return dumps({"type": "error", "id": wid, "error": error_body(exc)})


def _read(ctx: Context, cube: str, spec: views.ViewSpec) -> dict[str, Any]:
    """A view answer whose ``commit`` is exactly the head its values show.

    A commit applied while the view was read would make the values newer than the head the
    answer names; the feed labels its messages with that head, so read again until none was.
    """
    rt = ctx.rt
    for _ in range(3):
        before = rt.engine.head
        body = views.query(ctx, cube, spec, holds=False)
        if rt.engine.head == before:
            break
    return body  # still racing writes: its commit is older than its values, never newer


def _subscribe(ctx: Context, outbox: Outbox, msg: dict[str, Any]) -> Subscription:
    spec = views.ViewSpec.model_validate(msg.get("view", {}))
    cube = str(msg.get("cube", ""))
    ctx.check_cube(cube)
    text = orjson.dumps(spec.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS).decode()
    # subscribers share a read only if they also share their rights: the same view shows
    # each user the elements they may see
    key = (cube, text, ctx.rights)
    return Subscription(
        outbox,
        str(msg.get("id", "")),
        key,
        read=partial(_read, ctx, cube, spec),
        live=spec.as_of is None and spec.snapshot is None,
    )


def _leave(hub: Hub, sub: Subscription | None) -> None:
    if sub is not None:
        sub.active = False
        hub.leave(sub)


@router.websocket("/api/models/{model}/feed")
async def feed(socket: WebSocket, ctx: Viewer, model: str) -> None:
    ws: Workspace = ctx.ws
    await socket.accept()
    try:
        ws.runtime(model)
    except PlancubeError as exc:
        await socket.send_text(_error(None, exc))
        await socket.close(code=4404)
        return
    hub = ws.feed.hub(model)
    outbox = Outbox(asyncio.get_running_loop(), ws.feed.limit, ws.limits.max_feed_cells)
    most = ws.limits.max_subscriptions
    jobs = board(ws)
    jobs.listen(ctx.caller.user_id, outbox)  # the caller's import jobs' progress (server.jobs)

    async def listen() -> None:
        while True:
            frame = await socket.receive()
            if frame["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(frame.get("code", 1000))
            wid = None
            try:
                if frame.get("text") is None:
                    raise Unprocessable("send JSON text frames")
                try:
                    msg = orjson.loads(frame["text"])
                except orjson.JSONDecodeError as exc:
                    raise Unprocessable(f"not JSON: {exc}") from None
                if not isinstance(msg, dict):
                    raise Unprocessable("a feed message is a JSON object")
                wid = str(msg.get("id", ""))
                if msg.get("op") == "subscribe":
                    if wid not in outbox.subscriptions and len(outbox.subscriptions) >= most:
                        raise FeedLimit(
                            f"this socket watches {len(outbox.subscriptions)} views, the most "
                            f"one socket may ({SUBSCRIPTIONS_SETTING}); unsubscribe one first "
                            "or subscribe under the id of one to replace it",
                            subscriptions=len(outbox.subscriptions),
                            limit=most,
                            setting=SUBSCRIPTIONS_SETTING,
                        )
                    sub = _subscribe(ctx, outbox, msg)
                    _leave(hub, outbox.subscriptions.get(wid))
                    outbox.subscriptions[wid] = sub
                    hub.join(sub)  # the hub answers with a snapshot (or an error)
                elif msg.get("op") == "unsubscribe":
                    _leave(hub, outbox.subscriptions.pop(wid, None))
                else:
                    raise Unprocessable(f"unknown op {msg.get('op')!r}; use subscribe/unsubscribe")
            except (PlancubeError, ValidationError) as exc:
                outbox.post(_error(wid, exc))

    async def send() -> None:
        with contextlib.suppress(WebSocketDisconnect, OSError):
            await outbox.drain(socket.send_text, hub.resync)
        tg.cancel_scope.cancel()  # the socket is gone: stop listening too

    async def still_signed_in() -> None:
        """Sign the socket in again now and then: a revoked token, an ended session or a
        disabled account ends the feed too, not only the next request."""
        auth = socket.app.state.authenticator
        while True:
            await anyio.sleep(recheck_s())
            try:
                await auth.caller(socket)
            except PlancubeError as exc:
                outbox.post(_error(None, exc))
                await anyio.sleep(0.2)  # let the error go out first
                with contextlib.suppress(Exception):
                    await socket.close(code=1008)
                tg.cancel_scope.cancel()
                return

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(send)
            tg.start_soon(still_signed_in)
            with contextlib.suppress(WebSocketDisconnect):
                await listen()
            tg.cancel_scope.cancel()
    finally:
        jobs.unlisten(ctx.caller.user_id, outbox)
        for sub in outbox.subscriptions.values():
            _leave(hub, sub)
        with contextlib.suppress(Exception):
            await socket.close()
