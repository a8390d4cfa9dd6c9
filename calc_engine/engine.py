"""The engine: one model's dimensions and cubes in memory, and the composition root.

The server builds one ``Engine`` per model from storage at start-up and then keeps it current by
applying every commit to it. The engine knows nothing of storage, HTTP or commits beyond the id of
the last one applied (``head``): arrays in, arrays out (DESIGN decision 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from calc_engine.compile import CubeInfo, RuleDef
from calc_engine.cube import CubeArray, box_index
from calc_engine.errors import (
    NotALeafError,
    RuleCellError,
    UnknownCubeError,
    UnknownDimensionError,
)
from calc_engine.hierarchy import Hierarchy
from calc_engine.rules import RuleBook


class Engine:
    def __init__(self) -> None:
        self.dimensions: dict[str, Hierarchy] = {}
        self.cubes: dict[str, CubeArray] = {}
        self.cube_dimensions: dict[str, list[str]] = {}
        self.measure_axes: dict[str, int | None] = {}
        self.time_axes: dict[str, int | None] = {}
        self.rules = RuleBook()
        # numeric element attributes rules may read: dimension -> attribute -> value per element
        self.attributes: dict[str, dict[str, np.ndarray]] = {}
        self.head = 0

    # -- structure ---------------------------------------------------------------------------

    def dimension(self, name: str) -> Hierarchy:
        try:
            return self.dimensions[name]
        except KeyError:
            raise UnknownDimensionError(name) from None

    def cube(self, name: str) -> CubeArray:
        try:
            return self.cubes[name]
        except KeyError:
            raise UnknownCubeError(name) from None

    def set_dimension(self, hierarchy: Hierarchy) -> None:
        """Add or replace a dimension; cubes over it keep their cells by element name."""
        old = self.dimensions.get(hierarchy.name)
        self.dimensions[hierarchy.name] = hierarchy
        if old is None:
            return
        for cube_name, dims in self.cube_dimensions.items():
            if hierarchy.name in dims:
                self._rebuild(cube_name, {hierarchy.name: old})
        if self.rules.defs:
            self.set_rules(self.rules.defs)  # positions moved: compile again

    def remove_dimension(self, name: str) -> None:
        self.dimensions.pop(name, None)

    def add_cube(
        self,
        name: str,
        dimensions: Sequence[str],
        measure: str | None = None,
        time: str | None = None,
    ) -> CubeArray:
        """A cube over named dimensions; ``measure`` and ``time`` name its role dimensions."""
        cube = CubeArray(name, [self.dimension(d) for d in dimensions])
        self.cubes[name] = cube
        self.cube_dimensions[name] = list(dimensions)
        self.measure_axes[name] = list(dimensions).index(measure) if measure else None
        self.time_axes[name] = list(dimensions).index(time) if time else None
        return cube

    def remove_cube(self, name: str) -> None:
        self.cubes.pop(name, None)
        self.cube_dimensions.pop(name, None)
        if name in self.rules.defs:
            self.set_rules({c: r for c, r in self.rules.defs.items() if c != name})

    # -- rules -------------------------------------------------------------------------------

    def cube_info(self, name: str) -> CubeInfo:
        return CubeInfo(
            name,
            self.cube(name),
            self.cube_dimensions[name],
            self.measure_axes.get(name),
            self.time_axes.get(name),
            {d: self.attributes.get(d, {}) for d in self.cube_dimensions[name]},
        )

    def check_rules(self, rules: dict[str, list[RuleDef]]) -> None:
        """Compile and order a rule set without applying it (RuleSyntaxError, RuleCycleError)."""
        self.rules.compile(rules, {c: self.cube_info(c) for c in self.cubes})

    def set_rules(self, rules: dict[str, list[RuleDef]]) -> None:
        """Replace every rule (cube -> rules) and recalculate; nothing changes if one is bad.

        Cells the old rules computed are emptied first (with their errors), so a cell that is no
        longer a rule cell reads as an empty input, as it would in a model built afresh.
        """
        # cubes rebuilt since (a dimension change) kept no rule cells and have other positions
        old = [
            r
            for r in self.rules.compiled
            if self.rules.arrays.get(r.cube) is self.cubes.get(r.cube)
        ]
        self.rules.set(rules, {c: self.cube_info(c) for c in self.cubes})
        for r in old:
            if not r.consolidated:
                self.cubes[r.cube].values[box_index(r.area)] = 0.0
        for name in {r.cube for r in old}:
            self.cubes[name].errors.clear()
            self.cubes[name].recompute()
        self.rules.full_recalc(self.cubes, self.time_axes)

    def recalc(self) -> None:
        """Full recalculation: every rule over its whole area, then every total."""
        self.rules.full_recalc(self.cubes, self.time_axes)

    def input_cells(self, cube_name: str) -> tuple[np.ndarray, np.ndarray]:
        """Non-empty numeric leaves that hold input (rule cells left out)."""
        coords, values = self.cube(cube_name).leaf_cells()
        keep = ~self.rules.rule_cells(cube_name, coords)
        return coords[keep], values[keep]

    def _rebuild(self, cube_name: str, old_dims: dict[str, Hierarchy]) -> None:
        """Move a cube's cells onto changed hierarchies, matching elements by name.

        Each axis gets an old-position -> new-position map (-1 where the element is gone or no
        longer a leaf); cells that map to -1 on any axis are dropped (the server refuses such
        changes while the cells hold data).
        """
        cube = self.cubes[cube_name]
        maps = []
        for h in cube.hierarchies:
            before = old_dims.get(h.name, h)
            now = self.dimensions[h.name]
            pos = np.array([now.index.get(n, -1) for n in before.names], dtype=np.int64)
            leaf = np.zeros(len(pos), dtype=bool)
            leaf[pos >= 0] = now.is_leaf[pos[pos >= 0]]
            maps.append(np.where(leaf, pos, -1))
        coords, values = self.input_cells(cube_name)
        moved = np.stack([m[coords[:, a]] for a, m in enumerate(maps)], axis=1)
        keep = (moved >= 0).all(axis=1)
        texts = {
            key: text
            for key, text in (
                (tuple(int(m[i]) for m, i in zip(maps, k, strict=True)), t)
                for k, t in cube.text.items()
            )
            if min(key) >= 0
        }
        axes = (self.measure_axes.get(cube_name), self.time_axes.get(cube_name))
        dims = self.cube_dimensions[cube_name]
        fresh = self.add_cube(cube_name, dims, *(None if a is None else dims[a] for a in axes))
        fresh.load(moved[keep], values[keep])
        fresh.text = texts

    # -- cells -------------------------------------------------------------------------------

    def leaf_coords(self, cube_name: str, addresses: Iterable[Sequence[str]]) -> np.ndarray:
        """Positions of leaf addresses given by element names; raises on unknown or totals."""
        cube = self.cube(cube_name)
        rows = []
        for address in addresses:
            row = []
            for h, name in zip(cube.hierarchies, address, strict=True):
                i = h.position(name)
                if not h.is_leaf[i]:
                    raise NotALeafError(h.name, name)
                row.append(i)
            rows.append(row)
        coords = np.array(rows, dtype=np.int64).reshape(-1, cube.ndim)
        ruled = self.rules.rule_cells(cube_name, coords)
        if ruled.any():
            i = int(np.flatnonzero(ruled)[0])
            rule = self.rules.rule_at(cube_name, tuple(int(x) for x in coords[i]))
            names = [h.names[p] for h, p in zip(cube.hierarchies, coords[i], strict=True)]
            raise RuleCellError(names, rule.rule.name if rule else "?")
        return coords

    def write(
        self,
        cube_name: str,
        coords: np.ndarray,
        values: np.ndarray,
        texts: dict[int, str | None],
        unique: bool = False,
    ) -> None:
        """Apply one batch: numeric ``values`` at ``coords``; ``texts`` maps row -> text/None.

        Rows named in ``texts`` are text cells and leave the numeric array alone. ``unique``
        promises each cell is named once (``CubeArray.write`` then skips its last-wins pass).
        """
        cube = self.cube(cube_name)
        for axis, h in enumerate(cube.hierarchies):
            total = ~h.is_leaf[coords[:, axis]]
            if total.any():
                raise NotALeafError(h.name, h.names[int(coords[np.argmax(total), axis])])
        numeric = np.ones(len(coords), dtype=bool)
        if texts:
            numeric[np.fromiter(texts, dtype=np.int64, count=len(texts))] = False
        if numeric.any():
            cube.write(coords[numeric], values[numeric], unique=unique)
            self.rules.after_write(
                cube_name, coords[numeric], self.cubes, self.measure_axes, self.time_axes
            )
        for i, text in texts.items():
            key = tuple(int(x) for x in coords[i])
            if text is None:
                cube.text.pop(key, None)
            else:
                cube.text[key] = text
