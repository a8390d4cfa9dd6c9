"""A big API write checked as columns: the batch path for ``POST …/cells``.

``cells.validate`` walks a write cell by cell and names the first problem exactly (its index, its
elements, its value). For a write of thousands of cells that walk, and the ``CellChange`` per
cell it makes, cost more than the commit. Here the same checks run once per column — element
names matched exactly with Arrow, leaves, element security, rule cells, repeats, values by type —
and a clean write becomes one ``CellBatch`` for the store's set-based SQL and the engine apply.

This path only ever says yes: at the first sign of anything ``validate`` might answer otherwise
(a name that needs normalising, an object of elements, a hidden or read-only element, a repeat,
a value of the wrong kind), it answers None and the caller runs ``validate``, which finds the
problem and names it as it always has. So the two paths cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calc_engine import MAX_INPUT
from server.access import Access, AccessMasks
from server.addressing import encode
from server.storage import CellBatch
from server.workspace import ModelRuntime

if TYPE_CHECKING:
    from server.services.cells import CellWrite

MIN_CELLS = 1_000  # smaller writes go cell by cell: nothing to gain


def validate(
    rt: ModelRuntime, cube: str, cells: Sequence[CellWrite], masks: AccessMasks
) -> CellBatch | None:
    """The write as a batch of columns, or None when ``cells.validate`` must look at it."""
    dims = rt.cube(cube).dimensions
    n, ndim = len(cells), len(dims)
    elements: list[list[str]] = [c.elements for c in cells if isinstance(c.elements, list)]
    if len(elements) != n or not all(len(e) == ndim for e in elements):
        return None  # an object of elements, or a wrong count: validate names it
    coords = np.empty((n, ndim), dtype=np.int64)
    for axis, d in enumerate(dims):
        pos = _exact(rt, d, pa.array([e[axis] for e in elements], pa.string()))
        h = rt.hierarchy(d)
        if (pos < 0).any() or not h.is_leaf[pos].all():
            return None
        coords[:, axis] = pos
    shape = tuple(rt.hierarchy(d).size for d in dims)
    flat = np.ravel_multi_index(coords.T, shape)
    if len(np.unique(flat)) != n:
        return None
    values = [c.value for c in cells]
    kinds = np.array([_kind(v) for v in values], dtype=np.int8)
    mask = rt.text_mask(cube)
    is_text = mask[1][coords[:, mask[0]]] if mask else np.zeros(n, dtype=bool)
    # a number into a number cell, text into a text cell, null anywhere
    if ((kinds == _NUMBER) & is_text).any() or ((kinds == _TEXT) & ~is_text).any():
        return None
    if (kinds == _OTHER).any():
        return None
    numeric = kinds == _NUMBER
    numbers = np.array(
        [v if k else np.nan for v, k in zip(values, numeric, strict=True)], np.float64
    )
    if not (np.abs(numbers[numeric]) <= MAX_INPUT).all():
        return None
    if not masks.open and (masks.cells(cube, dims, coords) < Access.WRITE).any():
        return None
    if rt.engine.rules.rule_cells(cube, coords).any():
        return None
    text = kinds == _TEXT
    texts = pa.array([v if k else None for v, k in zip(values, text, strict=True)], pa.string())
    hierarchies = rt.engine.cube(cube).hierarchies
    return CellBatch.of(cube, encode(hierarchies, coords), numbers, texts, coords)


_NUMBER, _TEXT, _NULL, _OTHER = 0, 1, 2, 3


def _kind(v: object) -> int:
    t = type(v)
    if t is float or t is int:
        return _NUMBER
    if t is str:
        return _TEXT
    return _NULL if v is None else _OTHER


def _exact(rt: ModelRuntime, dimension: str, names: pa.Array) -> np.ndarray:
    """Positions of names given exactly as an element's name or alias (-1: anything else)."""
    h = rt.hierarchy(dimension)
    aliases = rt.aliases.get(dimension, {})
    keys = pa.array([*h.names, *aliases], pa.string())
    targets = np.array([*range(h.size), *(h.index[a] for a in aliases.values())], np.int64)
    found = pc.index_in(names, value_set=keys).fill_null(-1).to_numpy(zero_copy_only=False)
    found = np.asarray(found, dtype=np.int64)
    return np.where(found >= 0, targets[np.maximum(found, 0)], -1)
