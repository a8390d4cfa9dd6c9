"""The engine: one model's dimensions and cubes in memory, and the composition root.

The server builds one ``Engine`` per model from storage at start-up and then keeps it current by
applying every commit to it. The engine knows nothing of storage, HTTP or commits beyond the id of
the last one applied (``head``): arrays in, arrays out (DESIGN decision 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from calc_engine.cube import CubeArray
from calc_engine.errors import NotALeafError, UnknownCubeError, UnknownDimensionError
from calc_engine.hierarchy import Hierarchy


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
        coords, values = cube.leaf_cells()
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
        fresh = self.add_cube(cube_name, self.cube_dimensions[cube_name])
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
