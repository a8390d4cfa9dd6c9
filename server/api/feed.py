"""The live feed: a WebSocket that pushes every changed cell of the views a client watches.

Protocol (JSON text frames)::

    -> {"op": "subscribe", "id": "v1", "cube": "PnL", "view": {...view spec...}}
    <- {"type": "snapshot", "id": "v1", "view": {...same body as POST .../view...}}
    <- {"type": "cells", "id": "v1", "commit": {...}, "cells": [{"row": 3, "col": 7, "value": 1.5}]}
    -> {"op": "unsubscribe", "id": "v1"}
    <- {"type": "error", "id": "v1", "error": {"code": ..., "message": ..., "details": ...}}

After each commit to the model, every subscription on a cube the commit touched is re-read from
the engine and compared with what the client last got; the differences — written leaves,
recomputed totals — are sent as one ``cells`` message.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from calc_engine import EngineError
from server.api.route import StrictJsonRoute
from server.errors import PlancubeError, Unprocessable, from_engine
from server.services import views
from server.workspace import Workspace

router = APIRouter(tags=["feed"], route_class=StrictJsonRoute)


@dataclass
class _Watch:
    cube: str
    spec: views.ViewSpec
    values: np.ndarray


def _send(ws: WebSocket, message: dict[str, Any]) -> Any:
    return ws.send_text(orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY).decode())


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, EngineError):
        exc = from_engine(exc)
    if isinstance(exc, ValidationError):
        exc = Unprocessable(f"invalid subscription: {exc.errors()[0]['msg']}")
    assert isinstance(exc, PlancubeError)
    return exc.body()["error"]


def _changed(old: np.ndarray, new: np.ndarray) -> list[dict[str, Any]]:
    if old.shape != new.shape:
        return []
    diff = (old != new) if new.dtype != object else np.array(old.tolist()) != np.array(new.tolist())
    return [
        {
            "row": int(r),
            "col": int(c),
            "value": new[r, c].item() if new.dtype != object else new[r, c],
        }
        for r, c in zip(*np.nonzero(diff), strict=True)
    ]


@router.websocket("/api/models/{model}/feed")
async def feed(socket: WebSocket, model: str) -> None:
    ws: Workspace = socket.app.state.workspace
    await socket.accept()
    try:
        ws.runtime(model)
    except PlancubeError as exc:
        await _send(socket, {"type": "error", "id": None, "error": _error(exc)})
        await socket.close(code=4404)
        return
    sub = ws.feed.subscribe(model)
    watches: dict[str, _Watch] = {}

    async def listen() -> None:
        while True:
            wid = ""
            try:
                frame = await socket.receive()
                if frame["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(frame.get("code", 1000))
                if frame.get("text") is None:
                    raise Unprocessable("send JSON text frames")
                msg = orjson.loads(frame["text"])
                if not isinstance(msg, dict):
                    raise Unprocessable("a feed message is a JSON object")
                wid = str(msg.get("id", ""))
                if msg.get("op") == "subscribe":
                    spec = views.ViewSpec.model_validate(msg.get("view", {}))
                    cube = str(msg.get("cube", ""))
                    body = await anyio.to_thread.run_sync(views.query, ws, model, cube, spec)
                    watches[wid] = _Watch(
                        cube,
                        spec,
                        np.asarray(body["values"], dtype=object)
                        if isinstance(body["values"], list)
                        else body["values"],
                    )
                    await _send(socket, {"type": "snapshot", "id": wid, "view": body})
                elif msg.get("op") == "unsubscribe":
                    watches.pop(wid, None)
                else:
                    raise Unprocessable(f"unknown op {msg.get('op')!r}; use subscribe/unsubscribe")
            except orjson.JSONDecodeError as exc:
                await _send(
                    socket,
                    {
                        "type": "error",
                        "id": None,
                        "error": _error(Unprocessable(f"not JSON: {exc}")),
                    },
                )
            except (PlancubeError, EngineError, ValidationError) as exc:
                await _send(socket, {"type": "error", "id": wid, "error": _error(exc)})

    async def push() -> None:
        while True:
            event = await sub.queue.get()
            while not sub.queue.empty():  # a burst of commits: one re-read answers them all
                event = sub.queue.get_nowait()
            for wid, watch in list(watches.items()):
                if watch.cube not in event["cubes"] or watch.spec.as_of or watch.spec.snapshot:
                    continue
                try:
                    body = await anyio.to_thread.run_sync(
                        views.query, ws, model, watch.cube, watch.spec
                    )
                except (PlancubeError, EngineError) as exc:  # e.g. an element it shows is gone
                    watches.pop(wid, None)
                    await _send(socket, {"type": "error", "id": wid, "error": _error(exc)})
                    continue
                new = body["values"]
                new = np.asarray(new, dtype=object) if isinstance(new, list) else new
                if new.shape != watch.values.shape:  # the view changed shape: start over
                    watch.values = new
                    await _send(socket, {"type": "snapshot", "id": wid, "view": body})
                    continue
                changed = _changed(watch.values, new)
                watch.values = new
                if changed:
                    await _send(
                        socket,
                        {"type": "cells", "id": wid, "commit": event["commit"], "cells": changed},
                    )

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(push)
            with contextlib.suppress(WebSocketDisconnect):
                await listen()
            tg.cancel_scope.cancel()
    finally:
        ws.feed.unsubscribe(sub)
        with contextlib.suppress(Exception):
            await socket.close()
