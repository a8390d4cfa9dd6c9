"""Spreading: a value typed into a consolidated cell, distributed to the leaves below it.

The leaves of a cell are the cross product, over every dimension, of the leaves under the cell's
element there, each with the product of the rollup weights (so an expense under Net Income at -1
counts -1). Cells that must not move are *frozen*: the user's held leaves, every leaf under a
held consolidation, and rule cells. The frozen cells keep their values and their contribution is
taken out of the target; the free ones share the rest:

==================  ============================================================================
``proportional``    free leaves scale by one factor so the cell reaches the value (equal shares
                    when the free leaves are all empty)
``equal``           every free leaf gets the same value, so the cell reaches the value
``repeat``          every free leaf gets the value itself
``percent``         every free leaf changes by the value in percent (10 = +10 %)
``clear``           every free leaf is emptied
==================  ============================================================================

Spreading is pure: it returns the leaf cells to write, and the caller commits them as one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import reduce

import numpy as np

from calc_engine.cube import CubeArray
from calc_engine.errors import EngineError


class Method(StrEnum):
    proportional = "proportional"
    equal = "equal"
    repeat = "repeat"
    percent = "percent"
    clear = "clear"


class SpreadError(EngineError, ValueError):
    """The value cannot be spread (nothing free to change, or weights that cancel out)."""


def leaves_of(cube: CubeArray, coord: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The leaf cells inside ``coord`` (n x ndim) and their weights in it."""
    axes, weights = [], []
    for h, p in zip(cube.hierarchies, coord, strict=True):
        row = h.rollup.getrow(int(p))
        axes.append(h.leaves[row.indices])
        weights.append(row.data)
    grids = np.meshgrid(*axes, indexing="ij")
    coords = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
    w = reduce(np.multiply.outer, weights).ravel()
    keep = w != 0
    return coords[keep], w[keep]


def frozen(cube: CubeArray, coords: np.ndarray, holds: Sequence[Sequence[int]]) -> np.ndarray:
    """Leaves held directly or under a held consolidation."""
    out = np.zeros(len(coords), dtype=bool)
    for hold in holds:
        inside = np.ones(len(coords), dtype=bool)
        for a, (h, p) in enumerate(zip(cube.hierarchies, hold, strict=True)):
            inside &= np.isin(coords[:, a], h.leaves[h.rollup.getrow(int(p)).indices])
        out |= inside
    return out


def spread(
    cube: CubeArray,
    coord: Sequence[int],
    value: float,
    method: Method,
    holds: Sequence[Sequence[int]] = (),
    fixed: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Leaf coordinates and their new values; ``fixed(coords)`` marks more frozen leaves."""
    coords, w = leaves_of(cube, coord)
    current = cube.values[tuple(coords.T)]
    stuck = frozen(cube, coords, holds)
    if fixed is not None:
        stuck |= fixed(coords)
    free = ~stuck
    if not free.any():
        raise SpreadError("every cell under it is held or computed; nothing can change")
    c, cw, cur = coords[free], w[free], current[free]
    with np.errstate(over="ignore", invalid="ignore"):
        rest = value - float(np.dot(w[stuck], current[stuck]))
        share = float(np.dot(cw, cur))
    if not np.isfinite(rest):
        raise SpreadError("a held or computed cell under it holds an error or overflows")
    if not np.isfinite(share) and method is Method.proportional:
        raise SpreadError("its leaves add up past the float range; use equal or repeat instead")
    if method is Method.proportional and share != 0:
        with np.errstate(over="ignore"):
            new = cur * (rest / share)
    elif method in (Method.proportional, Method.equal):
        total_weight = float(cw.sum())
        if total_weight == 0:
            raise SpreadError("the weights of the free cells cancel out; use repeat instead")
        new = np.full(len(c), rest / total_weight)
    elif method is Method.repeat:
        new = np.full(len(c), float(value))
    elif method is Method.percent:
        with np.errstate(over="ignore"):  # an overflow becomes inf; the caller refuses it
            new = cur * (1.0 + value / 100.0)
    else:
        new = np.zeros(len(c))
    return c, new
