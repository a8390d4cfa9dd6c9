"""Explain a cell: the trace tree from the engine, with element names (see calc_engine.trace).

Element security applies to every node: a cell the caller may not see — a hidden leaf under a
visible total, a hidden input of a rule, in this cube or another — is shown as ``hidden`` with
its kind only: no elements, no value, nothing below it. A rule's formula is shown to modelers
and admins (rule text is the model's design); others see the rule's name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calc_engine import Engine
from calc_engine.trace import TraceNode
from calc_engine.trace import trace as engine_trace
from server.access import Access
from server.context import Context
from server.directory import Role


def explain(
    ctx: Context, cube: str, elements: list[str], depth: int, max_nodes: int
) -> dict[str, Any]:
    ws, rt = ctx.ws, ctx.rt
    ws.sync(rt)
    coord = ctx.coord(cube, elements)
    formulas = ctx.allows(Role.modeler)
    with rt.lock:
        node = engine_trace(rt.engine, cube, coord, depth, max_nodes)
        if ctx.secured or not formulas:
            return _shown(ctx, rt.engine, node, formulas)
        return node.to_dict(rt.engine)


def _shown(ctx: Context, engine: Engine, node: TraceNode, formulas: bool) -> dict[str, Any]:
    masks = ctx.masks
    if not masks.open:
        dims = ctx.rt.cube(node.cube).dimensions
        if masks.cells(node.cube, dims, np.asarray([node.coord]))[0] < Access.READ:
            hidden: dict[str, Any] = {"cube": node.cube, "kind": node.kind, "hidden": True}
            if node.weight is not None:
                hidden["weight"] = node.weight
            return hidden
    hs = engine.cube(node.cube).hierarchies
    out: dict[str, Any] = {
        "cube": node.cube,
        "elements": [h.names[p] for h, p in zip(hs, node.coord, strict=True)],
        "value": node.value,
        "kind": node.kind,
    }
    if node.weight is not None:
        out["weight"] = node.weight
    if node.rule is not None:
        out["rule"] = node.rule
    if node.formula is not None and formulas:
        out["formula"] = node.formula
    if node.children:
        out["children"] = [_shown(ctx, engine, c, formulas) for c in node.children]
    if node.truncated:
        out["truncated"] = True
    return out
