"""Stored cell addresses <-> engine coordinates, vectorized with Arrow.

Storage keys a leaf cell by its element names joined by a tab; the engine by element positions.
Loading a million cells at start-up must not loop in Python, so the split and the name lookups
run as Arrow compute kernels over the whole column.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calc_engine import Hierarchy
from server.storage.base import SEPARATOR

_NAMES: weakref.WeakKeyDictionary[Hierarchy, pa.Array] = weakref.WeakKeyDictionary()


def names(h: Hierarchy) -> pa.Array:
    """The hierarchy's element names as an Arrow array, made once per hierarchy (a hierarchy
    never changes: a structure change builds a new one)."""
    got = _NAMES.get(h)
    if got is None:
        got = _NAMES[h] = pa.array(h.names, pa.string())
    return got


def decode(hierarchies: Sequence[Hierarchy], addrs: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Positions (n x ndim) of stored addresses; -1 in a row whose address no longer fits.

    A row is -1 throughout when it has the wrong number of parts, names an element that does not
    exist, or names an element that is no longer a leaf.
    """
    ndim, n = len(hierarchies), len(addrs)
    out = np.full((n, ndim), -1, dtype=np.int64)
    if n == 0:
        return out
    parts = pc.split_pattern(addrs, SEPARATOR)
    fits = pc.equal(pc.list_value_length(parts), ndim).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(parts.filter(pa.array(fits)))
    rows = np.flatnonzero(fits)
    good = np.ones(len(rows), dtype=bool)
    cols = []
    for axis, h in enumerate(hierarchies):
        part = flat.take(pa.array(np.arange(axis, len(flat), ndim)))
        pos = pc.index_in(part, value_set=names(h))
        col = pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        good &= col >= 0
        good[good] &= h.is_leaf[col[good]]
        cols.append(col)
    if rows.size:
        out[rows[good]] = np.stack(cols, axis=1)[good]
    return out


def encode(hierarchies: Sequence[Hierarchy], coords: np.ndarray) -> pa.Array:
    """Stored addresses of the cells at ``coords`` (n x ndim): element names joined, with Arrow
    kernels."""
    if not len(coords):
        return pa.array([], pa.string())
    # int32 positions, one contiguous column at a time: Arrow's take is fastest so
    parts = [
        names(h).take(pa.array(np.ascontiguousarray(coords[:, a], dtype=np.int32)))
        for a, h in enumerate(hierarchies)
    ]
    joined: pa.Array = pc.binary_join_element_wise(*parts, SEPARATOR)
    return joined
