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
        # (cube, leaf measure position or -1) -> (rule index, dependency) reading those cells
        self._readers: dict[tuple[str, int], list[tuple[int, Dependency]]] = {}

    def compile(
        self, defs: dict[str, list[RuleDef]], cubes: dict[str, CubeInfo]
    ) -> list[CompiledRule]:
        """Compile and order a whole set of rules (raises; changes nothing)."""
        compiled = [compile_rule(r, cubes[c], cubes) for c, rules in defs.items() for r in rules]
        _check_overlaps(compiled)
        return order(compiled, _covers(cubes))

    def set(self, defs: dict[str, list[RuleDef]], cubes: dict[str, CubeInfo]) -> None:
        compiled = self.compile(defs, cubes)
        self.defs = {c: list(rs) for c, rs in defs.items() if rs}
        self.compiled = compiled
        covers = _covers(cubes)
        readers: dict[tuple[str, int], list[tuple[int, Dependency]]] = {}
        for i, r in enumerate(compiled):
            for d in r.dependencies:
                for m in covers(d.cube, d.measure):
                    readers.setdefault((d.cube, m), []).append((i, d))
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
        for r in self.compiled:
            evaluate(r, cubes[r.cube], r.area, time_axes[r.cube])
            if r.cube in totals_needed:
                cubes[r.cube].recompute()
        for cube in {r.cube for r in self.compiled}:
            cubes[cube].recompute()

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
            for i, d in self._readers.get((change.cube, change.measure), ()):
                if i > after:
                    r = self.compiled[i]
                    box = reach(d, change, r, cubes[d.cube], cubes[r.cube], time_axes[r.cube])
                    if box is not None:
                        pending.setdefault(i, []).append(box)

        for c in _changes(cube, coords, measure_axes[cube]):
            changed(c, -1)
        while pending:
            i = min(pending)
            r = self.compiled[i]
            box = update(r, cubes[r.cube], merge(pending.pop(i)), time_axes[r.cube])
            if box is not None:
                changed(Change(r.cube, r.target, box), i)

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
        """Which of ``coords`` (n x ndim) are computed by a rule."""
        hit = np.zeros(len(coords), dtype=bool)
        for r in self.compiled:
            if r.cube != cube:
                continue
            inside = np.ones(len(coords), dtype=bool)
            for a, positions in enumerate(r.area):
                inside &= np.isin(coords[:, a], positions)
            hit |= inside
        return hit

    def rule_at(self, cube: str, coord: tuple[int, ...]) -> CompiledRule | None:
        for r in self.compiled:
            if r.cube == cube and all(coord[a] in p for a, p in enumerate(r.area)):
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


def _check_overlaps(compiled: list[CompiledRule]) -> None:
    for i, a in enumerate(compiled):
        for b in compiled[i + 1 :]:
            if (
                a.cube == b.cube
                and a.target == b.target
                and all(np.intersect1d(x, y).size for x, y in zip(a.area, b.area, strict=True))
            ):
                raise RuleSyntaxError(
                    b.rule.formula,
                    0,
                    f"rules {a.rule.name!r} and {b.rule.name!r} both compute some cells of "
                    f"{a.rule.target!r}; narrow one with 'where'",
                )
