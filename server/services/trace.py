"""Explain a cell: the trace tree from the engine, with element names (see calc_engine.trace)."""

from __future__ import annotations

from typing import Any

from calc_engine.trace import trace as engine_trace
from server.errors import InvalidValue
from server.workspace import Workspace


def explain(
    ws: Workspace, model: str, cube: str, elements: list[str], depth: int, max_nodes: int
) -> dict[str, Any]:
    rt = ws.runtime(model)
    ws.sync(rt)
    dims = rt.cube(cube).dimensions
    if len(elements) != len(dims):
        raise InvalidValue(
            f"cube {cube!r} has {len(dims)} dimensions {dims}, got {len(elements)} elements",
            elements=elements,
        )
    coord = tuple(rt.position(d, e) for d, e in zip(dims, elements, strict=True))
    with rt.lock:
        return engine_trace(rt.engine, cube, coord, depth, max_nodes).to_dict(rt.engine)
