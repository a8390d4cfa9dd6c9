"""Cube arrays: every cell of a cube, leaf and consolidated, in one dense numpy array.

The array has one axis per dimension and one position per element (leaf or consolidated), so a
view of any mix of leaves and totals is a single fancy-index. Leaf positions hold the stored
inputs; consolidated positions hold the cached weighted sums of the leaves below them.

Keeping the totals cached is what makes reads cheap; keeping them *current* is what makes writes
cheap. A write of ``delta`` at a leaf adds ``delta * w1 * w2 * ... * wd`` to the block of
ancestors (one ancestor list per axis, from the hierarchy's rollup matrix), an outer product of a
few dozen cells. A large batch instead sets the leaves and recomputes everything with one sparse
product per axis. Empty and zero are the same number here; text cells live beside the array in a
dict because a cube holds few of them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from calc_engine.hierarchy import Hierarchy

Coords = np.ndarray  # (n, ndim) int64 element positions
# A batch touching more than this share of the cube recomputes instead of applying deltas.
_RECOMPUTE_SHARE = 0.05


class CubeArray:
    def __init__(self, name: str, hierarchies: Sequence[Hierarchy]) -> None:
        self.name = name
        self.hierarchies = list(hierarchies)
        self.values = np.zeros(tuple(h.size for h in self.hierarchies), dtype=np.float64)
        self.text: dict[tuple[int, ...], str] = {}
        # Formula errors of rule cells (their value is NaN): position -> ErrorCode.
        self.errors: dict[tuple[int, ...], int] = {}

    @property
    def ndim(self) -> int:
        return len(self.hierarchies)

    @property
    def leaf_count(self) -> int:
        return int(np.prod([len(h.leaves) for h in self.hierarchies]))

    def load(self, coords: Coords, values: np.ndarray) -> None:
        """Replace every numeric leaf with ``values`` at ``coords`` (the rest become empty)."""
        self.values[...] = 0.0
        if len(coords):
            self.values[tuple(np.asarray(coords).T)] = values
        self.recompute()

    def recompute(self) -> None:
        """Recompute every consolidated cell from the leaves: one sparse product per axis."""
        leaf = self.values[np.ix_(*(h.leaves for h in self.hierarchies))]
        for axis, h in enumerate(self.hierarchies):
            moved = np.moveaxis(leaf, axis, 0)
            flat = moved.reshape(moved.shape[0], int(np.prod(moved.shape[1:])))
            out = np.asarray(h.rollup @ flat)
            leaf = np.moveaxis(out.reshape((h.size, *moved.shape[1:])), 0, axis)
        self.values = np.ascontiguousarray(leaf)

    def write(self, coords: Coords, values: np.ndarray) -> np.ndarray:
        """Set numeric leaves; return their previous values. Totals stay current."""
        coords = np.asarray(coords, dtype=np.int64).reshape(-1, self.ndim)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(coords) > 1:  # a cell named twice: the last value wins, as if written in turn
            flat = np.asarray(np.ravel_multi_index(tuple(coords.T), self.values.shape))
            _, last = np.unique(flat[::-1], return_index=True)
            keep = np.sort(len(flat) - 1 - last)
            coords, values = coords[keep], values[keep]
        index = tuple(coords.T)
        old = self.values[index].copy()
        # NaN (a formula error) cannot travel as a delta: a total once NaN would stay NaN.
        errors_involved = np.isnan(old).any() or np.isnan(values).any()
        if errors_involved or len(coords) > _RECOMPUTE_SHARE * self.leaf_count:
            self.values[index] = values
            self.recompute()
            return old
        deltas = values - old
        for row, delta in zip(coords, deltas, strict=True):
            if delta == 0.0:
                continue
            blocks = [h.ancestors(int(i)) for h, i in zip(self.hierarchies, row, strict=True)]
            weights = functools.reduce(np.multiply.outer, (w for _, w in blocks))
            self.values[np.ix_(*(ix for ix, _ in blocks))] += delta * weights
        return old

    def read(self, positions: Sequence[Sequence[int]]) -> np.ndarray:
        """The block of cells at the cross product of one position list per axis."""
        return self.values[np.ix_(*(np.asarray(p, dtype=np.int64) for p in positions))]

    def leaf_cells(self) -> tuple[Coords, np.ndarray]:
        """Every non-empty numeric leaf as (coords, values)."""
        leaf_ix = [h.leaves for h in self.hierarchies]
        block = self.values[np.ix_(*leaf_ix)]
        nz = np.nonzero(block)
        coords = np.stack([ix[n] for ix, n in zip(leaf_ix, nz, strict=True)], axis=1)
        return coords.astype(np.int64).reshape(-1, self.ndim), block[nz]
