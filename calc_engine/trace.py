"""Trace: explain one cell as a tree — where its number comes from, down to the inputs.

A consolidated cell is explained by its children along its first consolidated dimension, with
the weights; a rule cell by its rule and the cells the formula reads (after time offsets and
cross-cube mapping); a leaf that no rule computes is an input. The tree stops at ``depth`` and,
so that a total over thousands of leaves stays readable, after ``max_nodes`` nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calc_engine.compile import Dependency
from calc_engine.engine import Engine
from calc_engine.functions import ErrorCode


@dataclass
class TraceNode:
    cube: str
    coord: tuple[int, ...]
    value: float | str
    kind: str  # "consolidation", "rule", "input"
    weight: float | None = None
    rule: str | None = None
    formula: str | None = None
    children: list[TraceNode] = field(default_factory=list)
    truncated: bool = False

    def to_dict(self, engine: Engine) -> dict[str, Any]:
        hs = engine.cube(self.cube).hierarchies
        out: dict[str, Any] = {
            "cube": self.cube,
            "elements": [h.names[p] for h, p in zip(hs, self.coord, strict=True)],
            "value": self.value,
            "kind": self.kind,
        }
        for key in ("weight", "rule", "formula"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.children:
            out["children"] = [c.to_dict(engine) for c in self.children]
        if self.truncated:
            out["truncated"] = True
        return out


def trace(
    engine: Engine, cube: str, coord: tuple[int, ...], depth: int = 3, max_nodes: int = 200
) -> TraceNode:
    budget = [max_nodes]
    return _node(engine, cube, coord, depth, budget)


def _value(engine: Engine, cube: str, coord: tuple[int, ...]) -> float | str:
    array = engine.cube(cube)
    if coord in array.text:
        return array.text[coord]
    v = float(array.values[coord])
    if np.isinf(v):  # a total past the float range (the numeric policy in ``cube``)
        return ErrorCode.NUM.text
    if np.isnan(v):
        code = array.errors.first_below(coord, array.hierarchies)
        return ErrorCode(code or ErrorCode.VALUE).text
    return v


def _node(
    engine: Engine, cube: str, coord: tuple[int, ...], depth: int, budget: list[int]
) -> TraceNode:
    budget[0] -= 1
    array = engine.cube(cube)
    value = _value(engine, cube, coord)
    axis = next((a for a, h in enumerate(array.hierarchies) if not h.is_leaf[coord[a]]), None)
    rule = engine.rules.rule_at(cube, coord)
    if axis is not None and rule is None:
        node = TraceNode(cube, coord, value, "consolidation")
        for child, weight in array.hierarchies[axis].children[coord[axis]]:
            if depth <= 0 or budget[0] <= 0:
                node.truncated = True
                break
            sub = (*coord[:axis], child, *coord[axis + 1 :])
            kid = _node(engine, cube, sub, depth - 1, budget)
            kid.weight = weight
            node.children.append(kid)
        return node
    if rule is None:
        return TraceNode(cube, coord, value, "input")
    node = TraceNode(cube, coord, value, "rule", rule=rule.rule.name, formula=rule.rule.formula)
    seen: set[tuple[str, tuple[int, ...]]] = set()
    for dep in rule.dependencies:
        read = _read_coord(engine, dep, coord, cube)
        if read is None or (dep.cube, read) in seen:
            continue
        seen.add((dep.cube, read))
        if depth <= 0 or budget[0] <= 0:
            node.truncated = True
            break
        node.children.append(_node(engine, dep.cube, read, depth - 1, budget))
    return node


def _read_coord(
    engine: Engine, dep: Dependency, coord: tuple[int, ...], cube: str
) -> tuple[int, ...] | None:
    """The cell a dependency reads for ``coord``; None before the first / after the last period."""
    target = engine.cube(dep.cube)
    out = [0] * target.ndim
    for t, a in dep.mapped:
        out[t] = coord[a]
    for t, p in dep.fixed:
        out[t] = p
    for t, a, table in dep.lookups:
        if table[coord[a]] < 0:
            return None  # the attribute names no element: the rule reads #N/A
        out[t] = int(table[coord[a]])
    time_axis = engine.time_axes.get(cube)
    if dep.shift and time_axis is not None:
        t_axis = next((t for t, a in dep.mapped if a == time_axis), None)
        if t_axis is not None:
            h = target.hierarchies[t_axis]
            rank = int(np.searchsorted(h.leaves, out[t_axis])) + dep.shift
            if not 0 <= rank < len(h.leaves):
                return None
            out[t_axis] = int(h.leaves[rank])
    return tuple(out)
