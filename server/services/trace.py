"""Explain a cell: the trace tree from the engine, with element names (see calc_engine.trace)."""

from __future__ import annotations

from typing import Any

from calc_engine.trace import trace as engine_trace
from server.workspace import Workspace


def explain(
    ws: Workspace, model: str, cube: str, elements: list[str], depth: int, max_nodes: int
) -> dict[str, Any]:
    rt = ws.runtime(model)
    ws.sync(rt)
    coord = rt.coord(cube, elements)
    with rt.lock:
        return engine_trace(rt.engine, cube, coord, depth, max_nodes).to_dict(rt.engine)
