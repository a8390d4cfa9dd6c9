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

Numeric policy. Cells are float64, and three rules keep them trustworthy:

1. *Inputs are bounded*: a client may store no number of magnitude above ``MAX_INPUT`` (10^15; the
   server enforces it on every way in — writes, spreads, model files). Below 2^53 ≈ 9.007e15
   float64 holds every whole number exactly, so up to 10^15 a total of many such leaves is
   still exact to the unit; 10^15 is ten times the world's yearly output in US dollars, and a
   plan in a currency of small unit value is kept in thousands. With combined rollup weights
   bounded too (the server refuses a dimension whose weights multiply past 10^6), no total of
   inputs can come near the float range; rule results can (``=Units * 1e300``).
2. *Overflow is an error, never a number or an empty cell*: a rule result beyond the float
   range is ``#NUM!`` (an error value, see ``functions``); a total that overflows holds ±inf,
   which every reader shows as ``#NUM!``. NaN in a total always means an error below it (a
   ``#DIV/0!`` leaf), never an overflow: a sum that runs into inf - inf is set to inf.
3. *Deltas never corrupt a total*: a written leaf holds exactly the value written (not the old
   value plus a delta), and a total the delta turns non-finite, or shrinks more than
   ``_SHRINK``-fold (a big number cleared or corrected, where its rounding would surface), is
   summed again from its leaves. So a total follows its leaves after any sequence of writes:
   it differs from a fresh sum only by the rounding of numbers of its own current magnitude.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np

from calc_engine.hierarchy import Hierarchy

Coords = np.ndarray  # (n, ndim) int64 element positions
# Bytes per cell address: the float64 value and, once a rule errs, an int8 error code.
BYTES_PER_ADDRESS = 9
MAX_INPUT = 1e15  # the largest magnitude a client may store in a cell (the numeric policy above)
# A batch touching more than this share of the cube recomputes instead of applying deltas.
_RECOMPUTE_SHARE = 0.05
# A total a delta shrinks more than this many times is summed again from its leaves: the
# rounding it carries from its larger past would otherwise show in its smaller present.
_SHRINK = 1024.0
_FLOAT_MAX = float(np.finfo(np.float64).max)


def all_finite(a: np.ndarray) -> bool:
    """No inf or NaN in ``a``. A big array: its sum is finite (one pass, no copy), or failing
    that, each cell; a small one (a rule's box after an edit) is checked cell by cell, which
    spares the error-state switch the sum needs."""
    if a.size < 65536:
        return bool(np.isfinite(a).all())
    with np.errstate(over="ignore", invalid="ignore"):
        return math.isfinite(float(np.sum(a))) or bool(np.isfinite(a).all())


def _sum_along(block: np.ndarray, axis: int, h: Hierarchy, rollup: Any) -> np.ndarray:
    """``block`` (leaves along ``axis``) with every element of ``h`` along it: the leaves
    times ``rollup``, one sparse product (nothing to do for a flat list)."""
    if len(h.leaves) == h.size:
        return block
    moved = np.moveaxis(block, axis, 0)
    flat = moved.reshape(moved.shape[0], int(np.prod(moved.shape[1:])))
    out = np.asarray(rollup @ flat)
    return np.moveaxis(out.reshape((h.size, *moved.shape[1:])), 0, axis)


def box_index(box: Sequence[np.ndarray]) -> tuple[slice | np.ndarray, ...]:
    """An index for the cells of a box (one position array per axis).

    Where every axis is a run of consecutive positions the index is all slices — a view, no
    copy — which is the common case of a rule's whole area; otherwise each axis is reshaped to
    broadcast against the others (what ``np.ix_`` does, without its per-call checks). A run is
    checked in full: a kernel may pass repeats (a period clamped at the calendar's edge) whose
    ends alone look like a run.
    """
    slices: list[slice] = []
    for b in box:
        n = len(b)
        if n == 0 or int(b[-1]) - int(b[0]) != n - 1:
            break
        if n > 2 and not (np.diff(b) == 1).all():
            break
        slices.append(slice(int(b[0]), int(b[0]) + n))
    else:
        return tuple(slices)
    ndim = len(box)
    return tuple(
        np.asarray(b).reshape((1,) * a + (-1,) + (1,) * (ndim - a - 1)) for a, b in enumerate(box)
    )


def dense_cost(sizes: Sequence[int]) -> tuple[int, int]:
    """(addresses, bytes) a ``CubeArray`` over dimensions of these sizes holds.

    Every address of the cross product — leaf or consolidated, populated or empty — has a value
    and (after a rule errs) an error code, so the cost follows the sizes alone and is known
    before anything is allocated. A recalculation briefly needs a working copy or two more. This
    is the one place that says what a cube costs; a sparse leaf store will answer differently.
    """
    addresses = math.prod(int(n) for n in sizes)
    return addresses, addresses * BYTES_PER_ADDRESS


class ErrorCells:
    """The formula errors of a cube: an int8 ``ErrorCode`` per cell, 0 where there is none.

    The array is allocated with the first error, so a cube without errors pays nothing; a rule
    that fails over its whole area (a ratio over empty drivers) costs one byte per cell and one
    array assignment per evaluation, not a Python object per cell. Reads look like a dict.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.codes: np.ndarray | None = None
        self.count = 0

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count

    def get(self, coord: tuple[int, ...], default: int | None = None) -> int | None:
        if self.codes is None:
            return default
        code = int(self.codes[coord])
        return code if code else default

    def __getitem__(self, coord: tuple[int, ...]) -> int:
        code = self.get(coord)
        if code is None:
            raise KeyError(coord)
        return code

    def __contains__(self, coord: object) -> bool:
        return isinstance(coord, tuple) and self.get(coord) is not None

    def __setitem__(self, coord: tuple[int, ...], code: int) -> None:
        codes = self._codes()
        self.count += int(code != 0) - int(codes[coord] != 0)
        codes[coord] = code

    def clear(self) -> None:
        self.codes, self.count = None, 0

    def items(self) -> list[tuple[tuple[int, ...], int]]:
        """Every error cell and its code, in position order."""
        if not self.count or self.codes is None:
            return []
        hits = np.argwhere(self.codes != 0)
        return [(tuple(int(x) for x in h), int(self.codes[tuple(h)])) for h in hits]

    def set(
        self, index: tuple[slice | np.ndarray, ...], e: np.ndarray | None, only: np.ndarray | None
    ) -> bool:
        """Set the codes of a box (``e``, or none where None; only where ``only``); changed?"""
        if self.codes is None and (e is None or not e.any()):
            return False
        codes = self._codes()
        old = codes[index]
        new = np.zeros(old.shape, dtype=np.int8) if e is None else np.broadcast_to(e, old.shape)
        if only is not None:
            new = np.where(only, new, old)
        if np.array_equal(old, new):
            return False
        self.count += int(np.count_nonzero(new)) - int(np.count_nonzero(old))
        codes[index] = new
        return True

    def first_below(self, coord: tuple[int, ...], hierarchies: Sequence[Hierarchy]) -> int | None:
        """The cell's own error, or for a total the first error among the leaves it adds up."""
        own = self.get(coord)
        if own is not None or self.codes is None:
            return own
        ix = [
            np.array([p]) if h.is_leaf[p] else np.flatnonzero(h.covers(p))
            for h, p in zip(hierarchies, coord, strict=True)
        ]
        block = self.codes[np.ix_(*ix)].reshape(-1)
        hit = np.flatnonzero(block)
        return int(block[hit[0]]) if len(hit) else None

    def copy(self) -> ErrorCells:
        out = ErrorCells(self.shape)
        out.codes = None if self.codes is None else self.codes.copy()
        out.count = self.count
        return out

    def _codes(self) -> np.ndarray:
        if self.codes is None:
            self.codes = np.zeros(self.shape, dtype=np.int8)
        return self.codes


class CubeArray:
    def __init__(self, name: str, hierarchies: Sequence[Hierarchy]) -> None:
        self.name = name
        self.hierarchies = list(hierarchies)
        self.values = np.zeros(tuple(h.size for h in self.hierarchies), dtype=np.float64)
        self.text: dict[tuple[int, ...], str] = {}
        # Formula errors of rule cells (their value is NaN): an ErrorCode per cell.
        self.errors = ErrorCells(self.values.shape)
        self.recomputes = 0  # counts full recomputations (consolidated rules redo theirs after)
        self.overflow = False  # some total may hold ±inf (readers then look for it)

    @property
    def ndim(self) -> int:
        return len(self.hierarchies)

    @functools.cached_property
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
        self.recomputes += 1
        leaf = self.values[np.ix_(*(h.leaves for h in self.hierarchies))]
        # one loop here rather than ``_sum_along`` per axis: freeing each stage's temporaries at
        # a helper's return made glibc hand memory back and fault it in again (2-3x slower at
        # 2 x 10^5 cells); kept alive to the next stage, they are reused
        with np.errstate(over="ignore", invalid="ignore"):
            for axis, h in enumerate(self.hierarchies):
                if len(h.leaves) == h.size:  # no totals on this axis (a flat measure list)
                    continue
                moved = np.moveaxis(leaf, axis, 0)
                flat = moved.reshape(moved.shape[0], int(np.prod(moved.shape[1:])))
                out = np.asarray(h.rollup @ flat)
                leaf = np.moveaxis(out.reshape((h.size, *moved.shape[1:])), 0, axis)
            self.values = np.ascontiguousarray(leaf)
        self._mark_overflow()

    def _mark_overflow(self) -> None:
        """After a full sum: a NaN total with no NaN leaf below ran into inf - inf; set it to
        inf, so that NaN in a total keeps meaning an error below it (policy rule 2)."""
        values = self.values
        if all_finite(values):
            self.overflow = False
            return
        leaf = values[np.ix_(*(h.leaves for h in self.hierarchies))]  # a leaf sums to itself
        nan_leaf = np.isnan(leaf)
        if nan_leaf.any():
            # NaN totals are error totals unless some partial sum could pass the float range
            biggest = float(np.max(np.abs(leaf), where=~nan_leaf, initial=0.0))
            reach = math.prod(h.gain for h in self.hierarchies)
            if biggest * reach < _FLOAT_MAX and not np.isinf(values).any():
                self.overflow = False
                return
            reached = nan_leaf.astype(np.float64)  # how many error leaves each cell adds up
            for axis, h in enumerate(self.hierarchies):
                reached = _sum_along(reached, axis, h, abs(h.rollup))
            values[np.isnan(values) & (reached == 0)] = np.inf
        else:
            values[np.isnan(values)] = np.inf
        self.overflow = bool(np.isinf(values).any())

    def write(self, coords: Coords, values: np.ndarray, unique: bool = False) -> np.ndarray:
        """Set numeric leaves; return their previous values. Totals stay current.

        ``unique`` promises that no cell is named twice (skips the last-wins pass).
        """
        coords = np.asarray(coords, dtype=np.int64).reshape(-1, self.ndim)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if not self.values.flags.c_contiguous:  # deltas go through a flat view
            self.values = np.ascontiguousarray(self.values)
        if len(coords) == 1:
            return np.array([self.set_cell(tuple(int(x) for x in coords[0]), float(values[0]))])
        if len(coords) > 1 and not unique:  # a cell named twice: the last value wins
            flat = np.asarray(np.ravel_multi_index(tuple(coords.T), self.values.shape))
            _, last = np.unique(flat[::-1], return_index=True)
            keep = np.sort(len(flat) - 1 - last)
            coords, values = coords[keep], values[keep]
        index = tuple(coords.T)
        old = self.values[index]  # fancy indexing: a copy
        with np.errstate(over="ignore", invalid="ignore"):
            deltas = values - old
        # NaN (a formula error) cannot travel as a delta: a total once NaN would stay NaN; nor
        # can a delta past the float range
        suspects = None
        if len(coords) <= _RECOMPUTE_SHARE * self.leaf_count and all_finite(deltas):
            suspects = self.add_deltas(coords, deltas)
        self.values[index] = values  # exactly what was written, not old + delta
        if suspects is None:
            self.recompute()
        elif len(suspects):
            written = np.ravel_multi_index(index, self.values.shape)
            self._resum(np.setdiff1d(suspects, written, assume_unique=True))
        return old

    def set_cell(self, cell: tuple[int, ...], value: float) -> float:
        """Set one numeric leaf (totals stay current); return its previous value."""
        was = float(self.values[cell])
        if value == was:
            return was
        delta = value - was
        suspects = self._add_delta(cell, delta) if math.isfinite(delta) else None
        self.values[cell] = value
        if suspects is None:
            self.recompute()
        elif len(suspects):
            own = np.ravel_multi_index(cell, self.values.shape)
            self._resum([at for at in suspects if at != own])
        return was

    def add_deltas(self, coords: Coords, deltas: np.ndarray) -> np.ndarray | None:
        """Add ``deltas`` at leaf ``coords`` and at every ancestor, weighted, in one pass.

        Each cell's ancestors form a block (one ancestor list per axis); with the lists padded to
        one width per axis (``Hierarchy.ancestor_table``, premultiplied by the axis stride here)
        the blocks of all cells are one broadcast of flat indices and weights, summed in with
        ``np.add.at``. Returns the flat offsets of the cells to sum again (policy rule 3), or
        None, changing nothing, where a weighted delta would pass the float range.
        """
        n, ndim = len(coords), self.ndim
        flat = np.zeros((n,) + (1,) * ndim, dtype=np.int64)
        weight = np.asarray(deltas, dtype=np.float64).reshape(flat.shape)
        with np.errstate(over="ignore", invalid="ignore"):
            for axis, (offsets, wts) in enumerate(self._tables()):
                shape = [n] + [1] * ndim
                shape[axis + 1] = offsets.shape[1]
                flat = flat + offsets[coords[:, axis]].reshape(shape)
                weight = weight * wts[coords[:, axis]].reshape(shape)
            at, weight = flat.reshape(-1), weight.reshape(-1)
            if not all_finite(weight):
                return None
            target = self.values.reshape(-1)
            before = target[at]
            np.add.at(target, at, weight)  # padding adds 0 (and is never suspect but for inf)
            after = target[at]
            # fine: finite now and not shrunk a lot (False for NaN); NaN before: an error below
            fine = np.abs(after) * _SHRINK >= np.abs(before)
            if fine.all() and all_finite(after):
                return np.empty(0, dtype=np.int64)
            suspect = ~(fine & np.isfinite(after)) & ~np.isnan(before)
        return np.unique(at[suspect])

    def _add_delta(self, cell: tuple[int, ...], delta: float) -> list[int] | np.ndarray | None:
        """``add_deltas`` for one cell: its ancestor block, walked in Python when small."""
        block: list[tuple[int, float]] = [(0, delta)]
        for axis, (lists, i) in enumerate(zip(self._offsets, cell, strict=True)):
            found = lists.get(i)
            if found is None:
                stride = self._strides[axis]
                pairs = self.hierarchies[axis].ancestor_list(i)
                found = lists[i] = [(p * stride, w) for p, w in pairs]
            block = [(o + p, w * v) for o, w in block for p, v in found]
            if len(block) > 256:
                return self.add_deltas(np.array([cell]), np.array([delta]))
        flat: Any = memoryview(cast(Any, self.values.reshape(-1)))  # float64 items, no copy
        suspects = []
        for at, weight in block:
            old = flat[at]
            new = old + weight
            flat[at] = new
            # false when it shrank a lot or is not finite now (near the float range too);
            # then it is summed again unless it was NaN before (an error below, which stays)
            if not abs(old) <= abs(new) * _SHRINK <= _FLOAT_MAX and old == old:
                suspects.append(at)
        return suspects  # the written cell too, maybe: the caller sets it exactly

    def _resum(self, offsets: Iterable[int]) -> None:
        """Sum consolidated cells (flat offsets; leaves are skipped) again from their leaves."""
        hierarchies, shape = self.hierarchies, self.values.shape
        for at in sorted(set(int(x) for x in offsets)):
            coord = np.unravel_index(at, shape)
            if all(h.is_leaf[p] for h, p in zip(hierarchies, coord, strict=True)):
                continue  # a leaf holds what was written
            parts = [h.contents(int(p)) for h, p in zip(hierarchies, coord, strict=True)]
            block = self.values[np.ix_(*(positions for positions, _ in parts))]
            with np.errstate(over="ignore", invalid="ignore"):
                total = block
                for _, weights in parts:
                    total = np.tensordot(weights, total, axes=1)
            value = float(total)
            if math.isnan(value) and not np.isnan(block).any():
                value = math.inf  # inf - inf inside the sum: an overflow (policy rule 2)
            if math.isinf(value):
                self.overflow = True
            self.values[coord] = value

    @functools.cached_property
    def _offsets(self) -> list[dict[int, list[tuple[int, float]]]]:
        """Per axis, per leaf: its ancestors as (flat offset, weight), filled as cells are hit."""
        return [{} for _ in self.hierarchies]

    @functools.cached_property
    def _strides(self) -> list[int]:
        return [s // self.values.itemsize for s in self.values.strides]

    def _tables(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per axis: ancestor positions times the axis stride (flat offsets), and weights."""
        tables: list[tuple[np.ndarray, np.ndarray]] | None = self.__dict__.get("_strided")
        if tables is None:
            tables = []
            for h, stride in zip(self.hierarchies, self._strides, strict=True):
                idx, wts = h.ancestor_table()
                tables.append((idx * stride, wts))
            self.__dict__["_strided"] = tables
        return tables

    def read(self, positions: Sequence[Sequence[int]]) -> np.ndarray:
        """The block of cells at the cross product of one position list per axis."""
        index = box_index([np.asarray(p, dtype=np.int64) for p in positions])
        return self.values[index].copy()

    def leaf_cells(self) -> tuple[Coords, np.ndarray]:
        """Every non-empty numeric leaf as (coords, values)."""
        leaf_ix = [h.leaves for h in self.hierarchies]
        block = self.values[np.ix_(*leaf_ix)]
        nz = np.nonzero(block)
        coords = np.stack([ix[n] for ix, n in zip(leaf_ix, nz, strict=True)], axis=1)
        return coords.astype(np.int64).reshape(-1, self.ndim), block[nz]
