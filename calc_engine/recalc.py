"""Recalculation: rules in dependency order, over whole areas or over the boxes an edit reaches.

The dependency graph is kept at area level — rule R depends on rule S when R reads S's target
measure — and ordered once when the rules change (``graphlib``); a loop is refused naming its
rules. A rule that reads its *own* target in an earlier period (closing = PREV(closing) + flow)
is not a loop: it is evaluated period by period, each period one array operation.

Full recalculation evaluates each rule over its area, writes the results into the leaves and
recomputes the consolidations once. After an edit, ``propagate`` starts from the box of edited
cells and walks the rules in order: each dependency maps a changed box onto the box of the
reading rule it can reach (same coordinates, shifted periods, or a cross-cube mapping), the rule
is evaluated on that box only, and only cells whose value really changed are written — through
the cube's delta path, so totals stay current — and passed on as the next changed box. A write
that changes nothing stops there.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from calc_engine.compile import Box, CompiledRule, Dependency
from calc_engine.cube import CubeArray
from calc_engine.errors import RuleCycleError
from calc_engine.functions import Val

MeasureCover = Callable[[str, int], list[int]]  # (cube, measure position) -> leaf measures


@dataclass
class Change:
    """Cells of one measure of one cube that changed: a box (measure axis included)."""

    cube: str
    measure: int
    box: Box


def order(rules: list[CompiledRule], covers: MeasureCover) -> list[CompiledRule]:
    """Rules in evaluation order; RuleCycleError names the rules of a loop.

    A rule depends on every rule whose target it reads — directly, or inside a consolidated
    measure it reads (``covers`` gives the leaf measures of a measure position).
    """
    by_target: dict[tuple[str, int], list[int]] = {}
    for i, r in enumerate(rules):
        by_target.setdefault((r.cube, r.target), []).append(i)
    sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for i, r in enumerate(rules):
        needs = {
            j
            for d in r.dependencies
            if not (d.cube == r.cube and d.measure == r.target and d.shift < 0)
            for m in covers(d.cube, d.measure)
            for j in by_target.get((d.cube, m), [])
        }
        sorter.add(i, *needs)
    try:
        indices = list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise RuleCycleError([rules[i].rule.name for i in exc.args[1]]) from None
    return [rules[i] for i in indices]


def evaluate(rule: CompiledRule, cube: CubeArray, box: Box, time_axis: int | None) -> None:
    """Evaluate ``rule`` on ``box`` and store the results in the cube's leaves (no totals)."""
    if rule.recursive and time_axis is not None:
        for t in box[time_axis]:
            step = list(box)
            step[time_axis] = np.array([t])
            _store(cube, step, rule.kernel(step))
    else:
        _store(cube, box, rule.kernel(box))


def _store(cube: CubeArray, box: Box, result: Val) -> None:
    shape = tuple(len(b) for b in box)
    v = np.broadcast_to(result.v, shape).astype(np.float64)
    if result.e is not None:
        e = np.broadcast_to(result.e, shape)
        v = np.where(e != 0, np.nan, v)
        _record_errors(cube, box, e)
    elif cube.errors:
        _record_errors(cube, box, None)
    cube.values[np.ix_(*box)] = v


def _record_errors(cube: CubeArray, box: Box, e: np.ndarray | None) -> None:
    grid = np.ix_(*box)
    members = [set(b.tolist()) for b in box]
    for key in [k for k in cube.errors if all(k[a] in m for a, m in enumerate(members))]:
        cube.errors.pop(key)
    if e is None:
        return
    for idx in zip(*np.nonzero(e), strict=True):
        key = tuple(int(grid[a].ravel()[i]) for a, i in enumerate(idx))
        cube.errors[key] = int(e[idx])


def update(rule: CompiledRule, cube: CubeArray, box: Box, time_axis: int | None) -> Box | None:
    """Evaluate on ``box``, write changed cells through the delta path; the changed box."""
    index = np.ix_(*box)
    before = cube.values[index].copy()
    if rule.recursive or cube.errors:
        # later periods read earlier results, and error bookkeeping writes as it goes:
        # evaluate in place, then put the old values back and write through the delta path
        errors_before = dict(cube.errors)
        evaluate(rule, cube, box, time_axis)
        after = cube.values[index].copy()
        cube.values[index] = before
        errors_moved = cube.errors != errors_before
    else:
        result = rule.kernel(box)
        after = np.broadcast_to(result.v, before.shape).astype(np.float64)
        errors_moved = result.e is not None and bool(np.any(result.e))
        if result.e is not None and errors_moved:
            e = np.broadcast_to(result.e, before.shape)
            after = np.where(e != 0, np.nan, after)
            _record_errors(cube, box, e)
    changed = ~((before == after) | (np.isnan(before) & np.isnan(after)))
    if errors_moved:
        changed |= np.isnan(after) | np.isnan(before)
    if not changed.any():
        return None
    hits = np.nonzero(changed)
    coords = np.stack([b[h] for b, h in zip(box, hits, strict=True)], axis=1)
    cube.write(coords, after[hits])
    return [np.unique(b[h]) for b, h in zip(box, hits, strict=True)]


def reach(
    dep: Dependency,
    change: Change,
    rule: CompiledRule,
    source: CubeArray,
    target: CubeArray,
    time_axis: int | None,
) -> Box | None:
    """The part of ``rule``'s area (in ``target``) that reads a cell of ``change`` via ``dep``."""
    for axis, pos in dep.fixed:
        if not source.hierarchies[axis].covers(pos)[change.box[axis]].any():
            return None
    box = list(rule.area)
    for t, a in dep.mapped:
        changed = change.box[t]
        box[a] = changed[rule.area_mask(a, target.hierarchies[a].size)[changed]]
    if dep.shift and time_axis is not None:
        source_axis = next((t for t, a in dep.mapped if a == time_axis), None)
        if source_axis is not None:
            box[time_axis] = _shift_positions(
                rule, target, time_axis, change.box[source_axis], -dep.shift
            )
    if (rule.recursive or dep.cumulative) and time_axis is not None and len(box[time_axis]):
        ranks = _ranks(target, time_axis)
        first = ranks[box[time_axis]].min()
        later = rule.area[time_axis][ranks[rule.area[time_axis]] >= first]
        box[time_axis] = later
    return None if any(len(b) == 0 for b in box) else box


def _ranks(cube: CubeArray, time_axis: int) -> np.ndarray:
    h = cube.hierarchies[time_axis]
    ranks = np.full(h.size, -1, dtype=np.int64)
    ranks[h.leaves] = np.arange(len(h.leaves))
    return ranks


def _shift_positions(
    rule: CompiledRule, cube: CubeArray, time_axis: int, positions: np.ndarray, steps: int
) -> np.ndarray:
    h = cube.hierarchies[time_axis]
    ranks = _ranks(cube, time_axis)[positions] + steps
    ranks = ranks[(ranks >= 0) & (ranks < len(h.leaves))]
    return np.intersect1d(rule.area[time_axis], h.leaves[ranks])


def merge(boxes: list[Box]) -> Box:
    return [np.unique(np.concatenate(parts)) for parts in zip(*boxes, strict=True)]
