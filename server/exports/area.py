"""A cube area: per dimension a set of elements, exported as one record per cell (long layout).

A view is a grid a person reads; an area is the cells themselves, for a file another system
loads — so it has no rows and columns, only a column per dimension and the value, and no limit
of a view's size (its own limit, ``PLANCUBE_MAX_EXPORT_CELLS``, counts the cells written).

The area is the cross product of one element list per dimension. A dimension the request does
not name contributes every element the caller may see: its leaves, or with ``computed`` every
element. Named members are element names, aliases or the view's expressions (``leaves(X)``,
``descendants(X)``…, ``server.services.views``). Two kinds of export:

- ``computed: false`` (the default): what is *stored* — leaf cells only, no rule cells, exactly
  what an import would write back. A consolidated element named stands for its leaves.
- ``computed: true``: the cells as the engine computes them — consolidated elements as named
  (a total is a record of its own; ``descendants(X)`` gives X and everything below), rule
  cells included.

Zero and empty cells are left out unless ``suppress_zeros`` is false. Element security holds as
in a view: an element the caller may not see is not found when named, and left out of every
list (the leaves of a visible total included), so every record is one the caller may read.

Everything is arrays: the cube's block is read in slabs along its first axis, the cells kept
are one ``flatnonzero`` per slab, and what is held while the file is written is a flat index
into the area and a value per cell (16 bytes a cell); records are made 65,536 at a time with
Arrow ``take`` over each dimension's element names. The cells are read under the model's lock
in one go, so a file is one commit's cells (``commit``), never half of a write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field

from calc_engine import CubeArray
from calc_engine.functions import ErrorCode
from server.context import Context
from server.errors import BadRequest, ExportTooLarge
from server.limits import EXPORT_SETTING
from server.names import Reference
from server.services import views
from server.wire import CommitId

BATCH_ROWS = 65_536  # records per Arrow batch: one Parquet row group, one CSV chunk
SLAB_CELLS = 1 << 22  # addresses read from the cube at a time


class AreaSpec(BaseModel):
    elements: dict[Reference, list[views.MemberSpec] | views.MemberSpec] = Field(
        default={},
        description="per dimension, its elements: names, aliases or expressions "
        "(children(X), descendants(X), leaves(X), roots(), members()); a dimension not named "
        "gives every element the caller may see (its leaves unless `computed`)",
    )
    computed: bool = Field(
        default=False,
        description="false: stored leaf cells only (a consolidated element stands for its "
        "leaves, rule cells are left out); true: consolidated and rule cells too, as computed",
    )
    suppress_zeros: bool = Field(default=True, description="leave out zero and empty cells")
    as_of: CommitId | None = Field(default=None, description="read the cube as of this commit id")
    snapshot: Reference | None = Field(
        default=None, description="read the cube as of this snapshot"
    )


@dataclass
class AreaCells:
    """The cells an export writes, in the area's order (first dimension outermost)."""

    cube: str
    dimensions: list[str]
    names: list[np.ndarray]  # per dimension, the area's element names, in order
    commit: int
    index: np.ndarray  # int64: flat index of each cell in the area's cross product
    num: np.ndarray  # float64: the number, NaN for none (a text or error cell)
    txt_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # rows with text
    txt: list[str] = field(default_factory=list)  # their text (a text cell, an error's code)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(n) for n in self.names)

    def batches(self, text: Callable[[str], str] | None = None) -> Iterator[pa.RecordBatch]:
        """Records ``BATCH_ROWS`` at a time: a string column per dimension, ``num``, ``txt``.

        ``text``: applied to every element name and text once, e.g. ``neutralise`` for a
        spreadsheet (CSV, XLSX)."""
        names = [pa.array([text(n) for n in ns] if text else ns, pa.string()) for ns in self.names]
        texts = [text(t) for t in self.txt] if text else self.txt
        shape = self.shape
        for start in range(0, len(self), BATCH_ROWS):
            stop = min(start + BATCH_ROWS, len(self))
            coords = np.unravel_index(self.index[start:stop], shape) if shape else ()
            nums = self.num[start:stop]
            lo, hi = np.searchsorted(self.txt_at, [start, stop])
            txt = np.full(stop - start, None, dtype=object)
            txt[self.txt_at[lo:hi] - start] = texts[lo:hi]
            columns = [n.take(pa.array(c)) for n, c in zip(names, coords, strict=True)]
            columns.append(pa.array(nums, pa.float64(), mask=np.isnan(nums)))
            columns.append(pa.array(txt, pa.string(), from_pandas=True))
            yield pa.RecordBatch.from_arrays(columns, [*self.dimensions, "num", "txt"])


def selection(ctx: Context, cube: str, spec: AreaSpec) -> list[np.ndarray]:
    """Per cube dimension, the positions of the area's elements (visible ones only)."""
    rt = ctx.rt
    dims = rt.cube(cube).dimensions
    for name in spec.elements:
        if name not in dims:
            raise BadRequest(
                f"cube {cube!r} has no dimension {name!r} (it has {dims})",
                cube=cube,
                dimension=name,
            )
    out = []
    for d in dims:
        h = rt.hierarchy(d)
        if d in spec.elements:
            chosen = np.array([m.position for m in views.members(ctx, d, spec.elements[d])])
        else:
            chosen = np.arange(h.size) if spec.computed else np.asarray(h.leaves)
        chosen = chosen.astype(np.int64)
        if not spec.computed and d in spec.elements:
            chosen = np.concatenate(
                [[p] if h.is_leaf[p] else h.leaf_descendants(int(p)) for p in chosen] or [[]]
            ).astype(np.int64)
        visible = ctx.visible(d)
        if visible is not None:
            chosen = chosen[visible[chosen]]
        _, first = np.unique(chosen, return_index=True)  # once each, first mention kept
        out.append(chosen[np.sort(first)])
    return out


def read(ctx: Context, cube: str, spec: AreaSpec) -> AreaCells:
    """The cells of an area the caller asked for; ``ExportTooLarge`` past the limit."""
    ws, rt = ctx.ws, ctx.rt
    ws.sync(rt)
    rt.cube(cube)
    positions = selection(ctx, cube, spec)
    as_of = views.as_of_commit(
        ws, rt, views.ViewSpec.model_construct(as_of=spec.as_of, snapshot=spec.snapshot)
    )
    array = rt.engine.cube(cube) if as_of is None else ws.cube_as_of(rt, cube, as_of)
    limit = ws.limits.max_export_cells
    hierarchies = [rt.hierarchy(d) for d in rt.cube(cube).dimensions]
    names = [
        np.asarray(h.names, dtype=object)[p] for h, p in zip(hierarchies, positions, strict=True)
    ]
    with rt.lock:
        commit = rt.engine.head if as_of is None else as_of
        index, num, errors = _numbers(ctx, cube, array, positions, spec, limit)
        texts = dict(array.text) if array.text else {}
    cells = AreaCells(cube, list(rt.cube(cube).dimensions), names, commit, index, num)
    _add_texts(cells, positions, texts, errors, spec.suppress_zeros, limit)
    return cells


def _too_large(cube: str, counted: int, limit: int) -> ExportTooLarge:
    return ExportTooLarge(
        f"the export of cube {cube!r} would write {counted:,} cells or more; at most "
        f"{limit:,} fit in one export ({EXPORT_SETTING}): name fewer elements, or export "
        "the area in parts",
        cube=cube,
        cells=counted,
        limit=limit,
        setting=EXPORT_SETTING,
    )


def _numbers(
    ctx: Context,
    cube: str,
    array: CubeArray,
    positions: list[np.ndarray],
    spec: AreaSpec,
    limit: int,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The numeric cells kept (flat index, value; NaN for an error) and the error cells (flat
    index, ``ErrorCode``)."""
    rt = ctx.rt
    shape = tuple(len(p) for p in positions)
    inner = int(np.prod(shape[1:])) if shape else 1
    step = max(1, SLAB_CELLS // max(inner, 1))
    text = rt.text_mask(cube)
    ruled = None if spec.computed else _ruled_axes(ctx, cube, positions)
    flats: list[np.ndarray] = []
    nums: list[np.ndarray] = []
    err_flat: list[np.ndarray] = []
    err_code: list[np.ndarray] = []
    kept = 0
    for a in range(0, shape[0] if shape and all(shape) else 0, step):
        slab = [positions[0][a : a + step], *positions[1:]]
        block = array.values[np.ix_(*slab)]
        keep = block != 0 if spec.suppress_zeros else np.ones(block.shape, dtype=bool)
        on_text = None
        if text is not None:
            on_text = _along(text[1][slab[text[0]]], text[0], block.ndim)
            if spec.suppress_zeros:
                keep &= ~on_text
        for masks in ruled or ():
            inside = np.ones(block.shape, dtype=bool)
            for axis, m in masks:
                inside &= _along(m[slab[axis]], axis, block.ndim)
            keep &= ~inside
        flat = np.flatnonzero(keep)
        values = block.reshape(-1)[flat]
        if on_text is not None and not spec.suppress_zeros:
            values[np.broadcast_to(on_text, block.shape).reshape(-1)[flat]] = np.nan
            bad = ~np.isfinite(values) & ~np.broadcast_to(on_text, block.shape).reshape(-1)[flat]
        else:
            bad = ~np.isfinite(values)
        flat += a * inner
        if bad.any():
            err_flat.append(flat[bad])
            err_code.append(_error_codes(array, positions, shape, flat[bad], values[bad]))
        values[bad] = np.nan
        kept += len(flat)
        if kept > limit:
            raise _too_large(cube, kept, limit)
        flats.append(flat)
        nums.append(values)
    errors = (
        np.concatenate(err_flat) if err_flat else np.zeros(0, np.int64),
        np.concatenate(err_code) if err_code else np.zeros(0, np.int8),
    )
    if not flats:
        return np.zeros(0, np.int64), np.zeros(0), errors
    return np.concatenate(flats).astype(np.int64), np.concatenate(nums), errors


def _error_codes(
    array: CubeArray,
    positions: list[np.ndarray],
    shape: tuple[int, ...],
    flat: np.ndarray,
    values: np.ndarray,
) -> np.ndarray:
    """The ``ErrorCode`` of each non-finite cell: a total past the float range is ``#NUM!``
    (``calc_engine.cube``'s numeric policy); a rule cell has its own code, read for all at
    once; a total without one takes the first error among the cells it adds up."""
    codes = np.full(len(flat), int(ErrorCode.NUM), dtype=np.int8)
    nan = np.isnan(values)
    if not nan.any():
        return codes
    local = np.unravel_index(flat[nan], shape)
    coords = tuple(p[j] for p, j in zip(positions, local, strict=True))
    stored = array.errors.codes
    own = stored[coords] if stored is not None else np.zeros(len(coords[0]), np.int8)
    for i in np.flatnonzero(own == 0):  # totals: few next to the cells below them
        coord = tuple(int(c[i]) for c in coords)
        below = array.errors.first_below(coord, array.hierarchies)
        own[i] = below if below else int(ErrorCode.VALUE)
    codes[nan] = own
    return codes


def _along(line: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """A per-position property of one axis, shaped to broadcast over a block."""
    return line.reshape([-1 if i == axis else 1 for i in range(ndim)])


def _ruled_axes(
    ctx: Context, cube: str, positions: list[np.ndarray]
) -> list[list[tuple[int, np.ndarray]]]:
    """Per leaf rule of the cube, its area as (axis, mask per position) for the axes it
    narrows (a box: the cells where every mask holds are computed, not stored)."""
    out = []
    for rule in ctx.rt.engine.rules.compiled:
        if rule.cube != cube or rule.consolidated:
            continue
        masks = []
        for axis, leaf_mask in enumerate(rule.leaf_masks):
            m = rule.area_mask(axis, len(leaf_mask))
            if not m[positions[axis]].all():
                masks.append((axis, np.asarray(m, dtype=bool)))
        out.append(masks)
    return out


def _add_texts(
    cells: AreaCells,
    positions: list[np.ndarray],
    texts: dict[tuple[int, ...], str],
    errors: tuple[np.ndarray, np.ndarray],
    suppress: bool,
    limit: int,
) -> None:
    """Merge the text cells inside the area into the numeric ones, and mark the error cells."""
    shape = cells.shape
    at = np.zeros(0, np.int64)
    if texts and all(shape):
        keys = np.array(list(texts), dtype=np.int64).reshape(-1, len(shape))
        local = np.empty_like(keys)
        for axis, p in enumerate(positions):
            lut = np.full(int(keys[:, axis].max(initial=0)) + 1, -1, dtype=np.int64)
            inside = p[p < len(lut)]
            lut[inside] = np.flatnonzero(p < len(lut))
            local[:, axis] = lut[keys[:, axis]]
        ok: np.ndarray = np.asarray((local >= 0).all(axis=1))
        flat = np.asarray(np.ravel_multi_index(tuple(local[ok].T), shape), dtype=np.int64)
        values = [t for t, k in zip(texts.values(), ok.tolist(), strict=True) if k]
        order = np.argsort(flat)
        flat = flat[order]
        values = [values[i] for i in order]
        if not suppress:  # every address is there already, but those rules compute
            where = np.searchsorted(cells.index, flat).clip(max=max(len(cells) - 1, 0))
            present = cells.index[where] == flat if len(cells) else np.zeros(len(flat), bool)
            values = [v for v, k in zip(values, present.tolist(), strict=True) if k]
            flat = flat[present]
        else:
            where = np.searchsorted(cells.index, flat)
            cells.index = np.insert(cells.index, where, flat)
            cells.num = np.insert(cells.num, where, np.nan)
            if len(cells) > limit:
                raise _too_large(cells.cube, len(cells), limit)
        at, text_values = flat, values
    else:
        text_values = []
    err_flat, err_code = errors
    if not len(at) and not len(err_flat):
        return
    flats = np.concatenate([at, err_flat])
    order = np.argsort(flats, kind="stable")
    words = [ErrorCode(c).text for c in range(len(ErrorCode))]
    every = text_values + [words[c] for c in err_code.tolist()]
    cells.txt_at = np.searchsorted(cells.index, flats[order]).astype(np.int64)
    cells.txt = [every[i] for i in order.tolist()]
