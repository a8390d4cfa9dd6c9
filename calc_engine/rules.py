"""The rule book: every rule of a model, compiled and ordered, and the recalculation it drives.

Setting rules is all or nothing: every rule is compiled against the cubes as they are and the
whole set is ordered (a loop is refused) before anything changes; then a full recalculation puts
every rule cell in place. After that, ``after_write`` keeps rule cells and their totals current
by evaluating only the boxes an edit can reach (see ``recalc``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from calc_engine.compile import Box, CompiledRule, CubeInfo, Dependency, RuleDef, compile_rule
from calc_engine.cube import CubeArray
from calc_engine.errors import RuleSyntaxError
from calc_engine.recalc import Change, evaluate, merge, order, reach, update


class RuleBook:
    def __init__(self) -> None:
        self.defs: dict[str, list[RuleDef]] = {}
        self.compiled: list[CompiledRule] = []
        # (cube, leaf measure position or -1) -> (rule index, dependency, reads the same cell,
        # reads its own target back in time at other cells) for the readers of those cells
        self._readers: dict[tuple[str, int], list[tuple[int, Dependency, bool, bool]]] = {}
        # per cube: the array the rules were compiled against
        self.arrays: dict[str, CubeArray] = {}
        # per cube: its recompute count when consolidated rules last set its totals
        self._totals_at: dict[str, int] = {}

    def compile(
        self, defs: dict[str, list[RuleDef]], cubes: dict[str, CubeInfo]
    ) -> list[CompiledRule]:
        """Compile and order a whole set of rules (raises; changes nothing)."""
        compiled = [compile_rule(r, cubes[c], cubes) for c, rules in defs.items() for r in rules]
        _check_overlaps(compiled)
        leaf = [r for r in compiled if not r.consolidated]
        totals = [r for r in compiled if r.consolidated]
        _check_leaf_reads(leaf, totals, cubes)
        # consolidated rules run after every leaf rule and the totals, in their own order
        return order(leaf, _covers(cubes), cubes) + order(totals, _covers(cubes), cubes)

    def set(self, defs: dict[str, list[RuleDef]], cubes: dict[str, CubeInfo]) -> None:
        compiled = self.compile(defs, cubes)
        self.defs = {c: list(rs) for c, rs in defs.items() if rs}
        self.compiled = compiled
        self.arrays = {c: info.array for c, info in cubes.items()}
        covers = _covers(cubes)
        readers: dict[tuple[str, int], list[tuple[int, Dependency, bool, bool]]] = {}
        for i, r in enumerate(compiled):
            for d in r.dependencies:
                same, across = _same_cell(r, d), _back_across(r, d)
                for m in covers(d.cube, d.measure):
                    readers.setdefault((d.cube, m), []).append((i, d, same, across))
        self._readers = readers

    def full_recalc(self, cubes: dict[str, CubeArray], time_axes: dict[str, int | None]) -> None:
        """Every rule over its whole area, in order; then totals, once per cube."""
        totals_needed = {
            d.cube
            for r in self.compiled
            for d in r.dependencies
            for axis, pos in d.fixed
            if not cubes[d.cube].hierarchies[axis].is_leaf[pos]
        }
        for cube in {r.cube for r in self.compiled}:
            cubes[cube].errors.clear()
        leaf = [r for r in self.compiled if not r.consolidated]
        for r in leaf:
            evaluate(r, cubes[r.cube], r.area, time_axes[r.cube])
            if r.cube in totals_needed:
                cubes[r.cube].recompute()
        for cube in {r.cube for r in self.compiled}:
            cubes[cube].recompute()
        for r in self.compiled[len(leaf) :]:
            evaluate(r, cubes[r.cube], r.area, time_axes[r.cube])
        self._totals_at = {r.cube: cubes[r.cube].recomputes for r in self.compiled}

    def after_write(
        self,
        cube: str,
        coords: np.ndarray,
        cubes: dict[str, CubeArray],
        measure_axes: dict[str, int | None],
        time_axes: dict[str, int | None],
    ) -> None:
        """Bring rule cells (and their totals) up to date after ``coords`` of ``cube`` changed."""
        if not self.compiled or len(coords) == 0:
            return
        pending: dict[int, list[Box]] = {}

        def changed(change: Change, after: int) -> None:
            """Queue the boxes of later rules that read cells of ``change``."""
            one = all(len(b) == 1 for b in change.box)
            for i, d, same, across in self._readers.get((change.cube, change.measure), ()):
                # a rule's own later periods follow from its box; other cells reading it back in
                # time (another version's opening) make it evaluate again, until nothing changes
                if i > after or (across and i == after):
                    r = self.compiled[i]
                    box: Box | None
                    if one and same:  # the same cell's other measure: no mapping to work out
                        box = list(change.box)
                        box[r.measure_axis] = r.area[r.measure_axis]
                        masks = r.area_masks()
                        if not all(m[b[0]] for m, b in zip(masks, box, strict=True)):
                            continue
                    else:
                        box = reach(d, change, r, cubes[d.cube], cubes[r.cube], time_axes[r.cube])
                    if box is not None:
                        pending.setdefault(i, []).append(box)

        log = _changes(cube, coords, measure_axes[cube])
        for c in log:
            changed(c, -1)
        while pending:
            i = min(pending)
            r = self.compiled[i]
            if r.consolidated:
                break
            box = update(r, cubes[r.cube], merge(pending.pop(i)), time_axes[r.cube])
            if box is not None:
                change = Change(r.cube, r.target, box)
                log.append(change)
                changed(change, i)
        for r in self.compiled:
            if r.consolidated:
                self._redo_totals(r, log, cubes, self._totals_at.get(r.cube, -1), time_axes[r.cube])
        for r in self.compiled:
            if r.consolidated:
                self._totals_at[r.cube] = cubes[r.cube].recomputes

    def _redo_totals(
        self,
        r: CompiledRule,
        log: list[Change],
        cubes: dict[str, CubeArray],
        recomputes: int,
        time_axis: int | None,
    ) -> None:
        """Evaluate a consolidated rule again over the totals above the cells that changed.

        Writes move totals by deltas (or recompute them all — the input batch itself, or an
        error — which the cube's recompute count tells), which overwrites the rule's cells there;
        the rule then sets them again. A read of its own cube at fixed elements (a share of the
        revenue total) sends it over the totals above the change on the other axes and the whole
        of the fixed ones; cells of other cubes it reads send it over its whole area, which is
        rare and still one array operation.
        """
        cube = cubes[r.cube]
        read = {d.cube for d in r.dependencies}
        own = [d for d in r.dependencies if d.cube == r.cube]
        fixed = sorted({a for d in own for a, _ in d.fixed if a != r.measure_axis})
        # a read at a fixed element (Revenue's total) follows the cell on every other axis: a
        # change reaches the rule's cells above it there, at every element of the fixed axes —
        # unless the read also moves in time or looks its element up, which _above cannot follow
        plain = all(
            d.shift == 0 and not d.lookups and not d.cumulative and all(a == b for a, b in d.mapped)
            for d in own
        )
        boxes: list[Box] = []
        if cube.recomputes != recomputes:
            boxes.append(r.area)
        else:
            for c in log:
                if c.cube == r.cube:
                    if fixed and not plain:
                        boxes.append(r.area)
                        continue
                    box = _above(cube, c.box, r)
                    for a in fixed:
                        box[a] = r.area[a]
                    boxes.append(box)
                elif c.cube in read:
                    boxes.append(r.area)
        boxes = [b for b in boxes if all(len(x) for x in b)]
        if not boxes:
            return
        box = merge(boxes)
        evaluate(r, cube, box, time_axis)
        log.append(Change(r.cube, r.target, box))

    def readers(self, cubes: Iterable[str]) -> frozenset[str]:
        """``cubes`` and every cube whose rules read them, directly or through other rules."""
        out: frozenset[str] = frozenset(cubes)
        grew = True
        while grew:
            more = {r.cube for r in self.compiled if any(d.cube in out for d in r.dependencies)}
            grew = not more <= out
            out = out | more
        return out

    def rule_cells(self, cube: str, coords: np.ndarray) -> np.ndarray:
        """Which of ``coords`` (n x ndim) are computed by a rule (leaf or consolidated)."""
        hit = np.zeros(len(coords), dtype=bool)
        for r in self.compiled:
            if r.cube == cube:
                hit |= r.covers(coords)
        return hit

    def rule_at(self, cube: str, coord: tuple[int, ...]) -> CompiledRule | None:
        row = np.array([coord], dtype=np.int64)
        for r in self.compiled:
            if r.cube == cube and r.covers(row)[0]:
                return r
        return None


def _covers(cubes: dict[str, CubeInfo]) -> Callable[[str, int], list[int]]:
    def covers(cube: str, measure: int) -> list[int]:
        info = cubes.get(cube)
        if info is None or info.measure_axis is None or measure < 0:
            return [measure]
        h = info.array.hierarchies[info.measure_axis]
        return (
            [measure] if h.is_leaf[measure] else [int(p) for p in np.flatnonzero(h.covers(measure))]
        )

    return covers


def _changes(cube: str, coords: np.ndarray, measure_axis: int | None) -> list[Change]:
    if len(coords) == 1:
        m = -1 if measure_axis is None else int(coords[0, measure_axis])
        return [Change(cube, m, [c for c in coords.T.copy()])]
    if measure_axis is None:
        return [Change(cube, -1, [np.unique(c) for c in coords.T])]
    out = []
    for m in np.unique(coords[:, measure_axis]):
        rows = coords[coords[:, measure_axis] == m]
        out.append(Change(cube, int(m), [np.unique(c) for c in rows.T]))
    return out


def _follows_cell(r: CompiledRule, d: Dependency) -> bool:
    """Does ``d`` read the rule's own cell's coordinates (only the measure fixed, every other
    axis mapped to itself, no lookup)?"""
    ndim = len(r.area)
    return (
        not d.lookups
        and d.fixed == ((r.measure_axis, d.measure),)
        and d.mapped == tuple((a, a) for a in range(ndim) if a != r.measure_axis)
    )


def _same_cell(r: CompiledRule, d: Dependency) -> bool:
    """Does ``d`` read the rule's own cell, in another measure (no shift, no mapping)?"""
    return (
        d.cube == r.cube
        and not d.shift
        and not d.cumulative
        and not r.recursive
        and not r.consolidated
        and _follows_cell(r, d)
    )


def _back_across(r: CompiledRule, d: Dependency) -> bool:
    """Does ``d`` read the rule's own target in earlier periods at *other* cells (a fixed
    element, a lookup), which the rule's forward widening along time does not cover?"""
    own_past = d.cube == r.cube and d.measure == r.target and d.shift < 0
    return own_past and not _follows_cell(r, d)


def _above(cube: CubeArray, box: Box, r: CompiledRule) -> Box:
    """The consolidated rule's cells over ``box``: per axis, the ancestors of its positions."""
    out: Box = []
    for a, (h, positions) in enumerate(zip(cube.hierarchies, box, strict=True)):
        if a == r.measure_axis:
            out.append(r.area[a])
            continue
        leaves = positions[h.is_leaf[positions]]
        idx, wts = h.ancestor_table()
        ups = idx[leaves][wts[leaves] != 0]
        if len(leaves) < len(positions):  # totals changed (another consolidated rule)
            ups = np.concatenate([ups, np.flatnonzero(~h.is_leaf)])
        ups = np.unique(ups)
        out.append(ups[r.area_mask(a, h.size)[ups]])
    return out


def _check_leaf_reads(
    leaf: list[CompiledRule], totals: list[CompiledRule], cubes: dict[str, CubeInfo]
) -> None:
    """A leaf rule may not read the consolidated cells a consolidated rule computes: those are
    set after the leaf rules and their totals, so the read would come too early."""
    computed = {(t.cube, t.target): t for t in totals}
    for r in leaf:
        for d in r.dependencies:
            info = cubes[d.cube]
            for m in _covers(cubes)(d.cube, d.measure):
                t = computed.get((d.cube, m))
                if t is None:
                    continue
                at_total = any(
                    a != info.measure_axis and not info.array.hierarchies[a].is_leaf[p]
                    for a, p in d.fixed
                ) or any(
                    (~info.array.hierarchies[a].is_leaf[table[table >= 0]]).any()
                    for a, _, table in d.lookups
                )
                if at_total:
                    raise RuleSyntaxError(
                        r.rule.formula,
                        0,
                        f"rule {r.rule.name!r} reads totals of {t.rule.target!r} that the "
                        f"consolidated rule {t.rule.name!r} computes after the leaf rules; "
                        "read the leaves or make this rule consolidated too",
                    )


def _check_overlaps(compiled: list[CompiledRule]) -> None:
    for i, a in enumerate(compiled):
        for b in compiled[i + 1 :]:
            if (
                a.cube == b.cube
                and a.target == b.target
                and a.consolidated == b.consolidated
                and all(np.intersect1d(x, y).size for x, y in zip(a.area, b.area, strict=True))
            ):
                raise RuleSyntaxError(
                    b.rule.formula,
                    0,
                    f"rules {a.rule.name!r} and {b.rule.name!r} both compute some cells of "
                    f"{a.rule.target!r}; narrow one with 'where'",
                )
