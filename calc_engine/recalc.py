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
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from calc_engine.compile import Box, CompiledRule, CubeInfo, Dependency, Kernel
from calc_engine.cube import CubeArray, all_finite, box_index
from calc_engine.errors import RuleCycleError
from calc_engine.functions import ErrorCode, Val, evaluating, flag_non_finite
from calc_engine.hierarchy import Hierarchy

MeasureCover = Callable[[str, int], list[int]]  # (cube, measure position) -> leaf measures


@dataclass
class Change:
    """Cells of one measure of one cube that changed: a box (measure axis included)."""

    cube: str
    measure: int
    box: Box


def order(
    rules: list[CompiledRule], covers: MeasureCover, cubes: dict[str, CubeInfo]
) -> list[CompiledRule]:
    """Rules in evaluation order; RuleCycleError names the rules of a loop.

    A rule depends on every rule whose target it reads — directly, or inside a consolidated
    measure it reads (``covers`` gives the leaf measures of a measure position). Where it reads
    its own target, only the rules on that target whose area the cells read meet count: Plan =
    Actual * 1.1 (same measure, another version) depends on the rule of the Actual cells, not on
    itself. Reading its own cells in earlier periods is no loop either (a running sum, evaluated
    period by period); it orders the rule after the other rules on that target whose cells those
    periods are (the opening a running sum starts from).
    """
    by_target: dict[tuple[str, int], list[int]] = {}
    for i, r in enumerate(rules):
        by_target.setdefault((r.cube, r.target), []).append(i)
    sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for i, r in enumerate(rules):
        needs: set[int] = set()
        info = cubes[r.cube]
        for d in r.dependencies:
            own = d.cube == r.cube and d.measure == r.target
            back = own and d.shift < 0 and info.time_axis not in dict(d.fixed)
            for m in covers(d.cube, d.measure):
                needs.update(
                    j
                    for j in by_target.get((d.cube, m), [])
                    if not own or (not (back and j == i) and _reads_area(r, rules[j], d, info))
                )
        sorter.add(i, *needs)
    try:
        indices = list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise RuleCycleError([rules[i].rule.name for i in exc.args[1]]) from None
    return [rules[i] for i in indices]


def _reads_area(r: CompiledRule, other: CompiledRule, d: Dependency, info: CubeInfo) -> bool:
    """Does ``r`` read cells of ``other`` (same cube and target, maybe ``r`` itself) through
    ``d``? Per axis, the positions read (fixed, shifted in time, looked up, or the rule's own)
    meet the other rule's area."""
    hierarchies, time_axis = info.array.hierarchies, info.time_axis
    fixed = dict(d.fixed)
    looked_up = {a for _, a, _ in d.lookups}
    for a, (mine, theirs) in enumerate(zip(r.area_masks(), other.area_masks(), strict=True)):
        if a == r.measure_axis or a in looked_up:  # a lookup may name any element: it may meet
            continue
        if a in fixed:
            read = hierarchies[a].covers(fixed[a])
        elif a == time_axis and (d.shift or d.cumulative):
            h = hierarchies[a]
            ranks = h.leaf_rank[r.area[a]] + d.shift
            if d.cumulative:  # YTD: every period of the year up to there
                ranks = np.arange(0, ranks.max() + 1) if len(ranks) else ranks
            read = np.zeros(h.size, dtype=bool)
            read[h.leaves[ranks[(ranks >= 0) & (ranks < len(h.leaves))]]] = True
        else:
            read = mine
        if not (read & theirs).any():
            return False
    return True


def evaluate(rule: CompiledRule, cube: CubeArray, box: Box, time_axis: int | None) -> None:
    """Evaluate ``rule`` on ``box`` and store the results in the cube's leaves (no totals)."""
    with evaluating():  # overflow and 0/0 become error values (#NUM!, #DIV/0!), not warnings
        if rule.consolidated:
            _store(cube, box, rule.kernel(box), rule.total_mask(box))
        elif rule.recurrence is not None and time_axis is not None:
            for run in _runs(cube, box, time_axis):
                _store(cube, run, _running_sum(rule.recurrence, run, time_axis))
        elif rule.recursive and time_axis is not None:
            for t in box[time_axis]:
                step = list(box)
                step[time_axis] = np.array([t])
                _store(cube, step, rule.kernel(step))
        else:
            _store(cube, box, rule.kernel(box))


def _runs(cube: CubeArray, box: Box, time_axis: int) -> list[Box]:
    """``box`` cut where its periods skip a leaf period: each run is consecutive in time."""
    ranks = _ranks(cube, time_axis)[box[time_axis]]
    if int(ranks[-1]) - int(ranks[0]) == len(ranks) - 1:  # ordered: consecutive already
        return [box]
    cuts = np.flatnonzero(np.diff(ranks) != 1) + 1
    if not len(cuts):
        return [box]
    out = []
    for part in np.split(box[time_axis], cuts):
        run = list(box)
        run[time_axis] = part
        out.append(run)
    return out


def _running_sum(recurrence: tuple[Kernel, Kernel], box: Box, time_axis: int) -> Val:
    """``x[t] = x[t-1] + flow[t]`` over consecutive periods, as one cumulative sum.

    The opening (``x`` before the first period of the box) is read through the rule's own
    ``PREV`` kernel and added to the first flow; a cumulative sum from there adds left to right,
    the same bits as adding period by period. A cell's error is the opening's, else the first
    error of the flow so far.
    """
    previous, flow = recurrence
    first = list(box)
    first[time_axis] = box[time_axis][:1]
    shape = tuple(len(b) for b in box)
    opening_shape = tuple(1 if a == time_axis else n for a, n in enumerate(shape))
    opening = previous(first)
    moves = flow(box)
    v = np.array(np.broadcast_to(moves.v, shape), dtype=np.float64)  # a copy to sum into
    head = (slice(None),) * time_axis + (slice(0, 1),)
    v[head] = np.broadcast_to(opening.v, opening_shape) + v[head]  # (opening + flow[0]) first
    np.cumsum(v, axis=time_axis, out=v)
    if opening.e is None and moves.e is None:
        return Val(v)
    e = np.zeros(shape, dtype=np.int8)
    if moves.e is not None:
        me = np.broadcast_to(moves.e, shape)
        seen = np.logical_or.accumulate(me != 0, axis=time_axis)
        at = np.expand_dims(np.argmax(me != 0, axis=time_axis), time_axis)
        e = np.where(seen, np.take_along_axis(me, at, axis=time_axis), 0).astype(np.int8)
    if opening.e is not None:
        oe = np.broadcast_to(opening.e, opening_shape)
        e = np.where(oe != 0, oe, e).astype(np.int8)
    return Val(v, e)


def _finite(result: Val) -> Val:
    """``result`` with #NUM! wherever it is not finite and carries no error yet: a rule cell
    never holds inf (policy rule 2 in ``cube``). Operations flag their own overflows (so that
    IFERROR sees them); this catches what reached the result another way (a running sum)."""
    return result if all_finite(result.v) else flag_non_finite(result)


def _store(cube: CubeArray, box: Box, result: Val, only: np.ndarray | None = None) -> None:
    """Put ``result`` into the cells of ``box`` (only where ``only`` is set, if given)."""
    result = _finite(result)
    shape = tuple(len(b) for b in box)
    v = np.broadcast_to(result.v, shape)
    e = None if result.e is None else np.broadcast_to(result.e, shape)
    if e is not None:
        v = np.where(e != 0, np.nan, v)
    index = box_index(box)
    if only is not None:
        v = np.where(only, v, cube.values[index])
        if e is not None:
            e = np.where(only, e, 0)
    if e is not None or cube.errors:
        cube.errors.set(index, e, only)
    cube.values[index] = v


def update(rule: CompiledRule, cube: CubeArray, box: Box, time_axis: int | None) -> Box | None:
    """Evaluate on ``box``, write changed cells through the delta path; the changed box."""
    if not rule.recursive and not cube.errors and all(len(b) == 1 for b in box):
        return _update_cell(rule, cube, box)
    index = box_index(box)
    before = cube.values[index].copy()
    running = rule.recurrence is not None and time_axis is not None and not cube.errors
    if running and len(runs := _runs(cube, box, time_axis)) == 1:  # type: ignore[arg-type]
        # a running sum reads only the opening before the box: no need to evaluate in place
        with evaluating():
            summed = _running_sum(rule.recurrence, runs[0], time_axis)  # type: ignore[arg-type]
        result = _finite(summed)
        after = result.v
        errors_moved = result.e is not None and bool(np.any(result.e))
        if result.e is not None and errors_moved:
            after = np.where(result.e != 0, np.nan, after)
            cube.errors.set(index, result.e, None)
    elif rule.recursive or cube.errors:
        # later periods read earlier results, and error bookkeeping writes as it goes:
        # evaluate in place, then put the old values back and write through the delta path
        codes = cube.errors.codes
        errors_before = None if codes is None else codes[index].copy()
        evaluate(rule, cube, box, time_axis)
        after = cube.values[index].copy()
        cube.values[index] = before
        codes = cube.errors.codes
        errors_after = None if codes is None else codes[index]
        errors_moved = _moved(errors_before, errors_after)
    else:
        with evaluating():
            result = _finite(rule.kernel(box))
        after = np.broadcast_to(result.v, before.shape)
        errors_moved = result.e is not None and bool(np.any(result.e))
        if result.e is not None and errors_moved:
            e = np.broadcast_to(result.e, before.shape)
            after = np.where(e != 0, np.nan, after)
            cube.errors.set(index, e, None)
    changed = before != after
    if errors_moved:
        changed |= np.isnan(after) | np.isnan(before)
    else:
        changed &= ~(np.isnan(before) & np.isnan(after))
    if not changed.any():
        return None
    hits = np.nonzero(changed)
    coords = np.stack([b[h] for b, h in zip(box, hits, strict=True)], axis=1)
    cube.write(coords, after[hits], unique=True)
    ndim = len(box)
    return [  # per axis, the positions with some changed cell (ordered, as the box was)
        b if len(b) == 1 else b[changed.any(axis=tuple(x for x in range(ndim) if x != a))]
        for a, b in enumerate(box)
    ]


def _moved(before: np.ndarray | None, after: np.ndarray | None) -> bool:
    """Did the error codes of a box change (None: the cube had no error array yet)?"""
    if before is None or after is None:
        return bool((before is not None and before.any()) or (after is not None and after.any()))
    return not np.array_equal(before, after)


def _update_cell(rule: CompiledRule, cube: CubeArray, box: Box) -> Box | None:
    """``update`` for a box of one cell (the usual edit): scalars instead of masks."""
    cell = tuple(int(b[0]) for b in box)
    with evaluating():
        result = rule.kernel(box)
    code = 0
    if result.e is not None and np.any(result.e):
        code = int(np.asarray(result.e).reshape(-1)[0])
    after = float(np.asarray(result.v).reshape(-1)[0])
    if not code and not math.isfinite(after):  # past the float range another way (``_finite``)
        code = ErrorCode.NUM
    if code:
        cube.errors[cell] = code
        after = math.nan
    before = float(cube.values[cell])
    if before == after or (math.isnan(before) and math.isnan(after) and not code):
        return None
    cube.set_cell(cell, after)
    return box


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
    for t, a, table in dep.lookups:
        box[a] = _looked_up(source.hierarchies[t], change.box[t], table, box[a])
    moves = time_axis is not None and (dep.shift or dep.cumulative)
    source_axis = next((t for t, a in dep.mapped if a == time_axis), None) if moves else None
    if time_axis is not None and source_axis is not None:
        # the periods that read a changed one: shifted, then (YTD) every later one of the area;
        # cut to the area only after that, as an edit before the area still reaches into it
        h = target.hierarchies[time_axis]
        ranks = h.leaf_rank[change.box[source_axis]] - dep.shift
        if dep.cumulative:  # a year to date read later (NEXT(YTD(x))) starts before the edit
            ranks = np.maximum(ranks, 0)
        ranks = ranks[(ranks >= 0) & (ranks < len(h.leaves))]
        area = rule.area[time_axis]
        if dep.cumulative and len(ranks):
            box[time_axis] = area[h.leaf_rank[area] >= ranks.min()]
        elif dep.shift:
            moved = np.unique(h.leaves[ranks])
            box[time_axis] = moved[rule.area_mask(time_axis, h.size)[moved]]
    if rule.recursive and time_axis is not None and len(box[time_axis]):
        # the rule's own later periods read the ones it is about to change
        ranks = _ranks(target, time_axis)
        first = ranks[box[time_axis]].min()
        box[time_axis] = rule.area[time_axis][ranks[rule.area[time_axis]] >= first]
    return None if any(len(b) == 0 for b in box) else box


def _looked_up(
    source: Hierarchy, changed: np.ndarray, table: np.ndarray, candidates: np.ndarray
) -> np.ndarray:
    """The ``candidates`` whose looked-up element (``table``) is or contains a changed one."""
    hit = np.zeros(source.size, dtype=bool)
    hit[changed] = True
    for q in np.unique(table[table >= 0]):
        if not source.is_leaf[q] and source.covers(int(q))[changed].any():
            hit[q] = True
    found = table[candidates]
    return candidates[(found >= 0) & hit[np.maximum(found, 0)]]


def _ranks(cube: CubeArray, time_axis: int) -> np.ndarray:
    return cube.hierarchies[time_axis].leaf_rank


def merge(boxes: list[Box]) -> Box:
    if len(boxes) == 1:
        return boxes[0]
    if all(len(b) == 1 for box in boxes for b in box):  # one-cell boxes, often the same cell
        cells = {tuple(int(b[0]) for b in box) for box in boxes}
        if len(cells) == 1:
            return boxes[0]
    return [np.unique(np.concatenate(parts)) for parts in zip(*boxes, strict=True)]
