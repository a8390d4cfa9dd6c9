"""The engine: one model's dimensions and cubes in memory, and the composition root.

The server builds one ``Engine`` per model from storage at start-up and then keeps it current by
applying every commit to it. The engine knows nothing of storage, HTTP or commits beyond the id of
the last one applied (``head``): arrays in, arrays out (DESIGN decision 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from calc_engine.cube import CubeArray
from calc_engine.errors import NotALeafError, UnknownCubeError, UnknownDimensionError
from calc_engine.hierarchy import Hierarchy


@dataclass(frozen=True, slots=True)
class LeafCell:
    """A leaf address by element names, in the cube's dimension order."""

    elements: tuple[str, ...]


class Engine:
    def __init__(self) -> None:
        self.dimensions: dict[str, Hierarchy] = {}
        self.cubes: dict[str, CubeArray] = {}
        self.cube_dimensions: dict[str, list[str]] = {}
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

    def remove_dimension(self, name: str) -> None:
        self.dimensions.pop(name, None)

    def add_cube(self, name: str, dimensions: Sequence[str]) -> CubeArray:
        cube = CubeArray(name, [self.dimension(d) for d in dimensions])
        self.cubes[name] = cube
        self.cube_dimensions[name] = list(dimensions)
        return cube

    def remove_cube(self, name: str) -> None:
        self.cubes.pop(name, None)
        self.cube_dimensions.pop(name, None)

    def _rebuild(self, cube_name: str, old_dims: dict[str, Hierarchy]) -> None:
        """Move a cube's cells onto changed hierarchies, matching elements by name."""
        cube = self.cubes[cube_name]
        before = [old_dims.get(h.name, h) for h in cube.hierarchies]
        coords, values = cube.leaf_cells()
        names = [[before[a].names[i] for a, i in enumerate(row)] for row in coords.tolist()]
        texts = [([before[a].names[i] for a, i in enumerate(k)], v) for k, v in cube.text.items()]
        fresh = self.add_cube(cube_name, self.cube_dimensions[cube_name])
        keep = [(self._leaf_positions(fresh, n), v) for n, v in zip(names, values.tolist())]
        kept = [(p, v) for p, v in keep if p is not None]
        fresh.load(
            np.array([p for p, _ in kept], dtype=np.int64).reshape(-1, fresh.ndim),
            np.array([v for _, v in kept], dtype=np.float64),
        )
        for n, text in texts:
            pos = self._leaf_positions(fresh, n)
            if pos is not None:
                fresh.text[pos] = text

    @staticmethod
    def _leaf_positions(cube: CubeArray, names: Sequence[str]) -> tuple[int, ...] | None:
        out = []
        for h, n in zip(cube.hierarchies, names, strict=True):
            i = h.index.get(n)
            if i is None or not h.is_leaf[i]:
                return None
            out.append(i)
        return tuple(out)

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
        return np.array(rows, dtype=np.int64).reshape(-1, cube.ndim)

    def write(
        self, cube_name: str, coords: np.ndarray, values: np.ndarray, texts: dict[int, str | None]
    ) -> None:
        """Apply one batch: numeric ``values`` at ``coords``; ``texts`` maps row -> text/None.

        Rows named in ``texts`` are text cells and leave the numeric array alone.
        """
        cube = self.cube(cube_name)
        numeric = np.array([i not in texts for i in range(len(coords))], dtype=bool)
        if numeric.any():
            cube.write(coords[numeric], values[numeric])
        for i, text in texts.items():
            key = tuple(int(x) for x in coords[i])
            if text is None:
                cube.text.pop(key, None)
            else:
                cube.text[key] = text
