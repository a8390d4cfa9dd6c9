"""Views: a cube seen as a grid of rows x columns, with page filters for the other dimensions.

A view names, for each axis, one or more dimensions and their members. Members are element names
(or aliases) and expressions over the hierarchy:

=====================  =====================================================================
``"X"``                the element X
``"children(X)"``      X's children, in order
``"descendants(X)"``   X and everything below it, each parent before its children
``"leaves(X)"``        the leaf elements inside X, in dimension order
``"roots()"``          every element without a parent
``"members()"``        every element, in dimension order
=====================  =====================================================================

Rows (and columns) are the cross product of their dimensions' member lists. Each row carries its
``depth`` and the index of its ``parent`` row (from the innermost dimension's tree), so a grid can
show the rows as a collapsible tree. A dimension of the cube that is on neither axis is a page
filter: one element, by default the dimension's first root.

Values come from the engine's cached consolidations with one fancy-index; per-cell ``flags`` are
bit masks (see ``FLAG_BITS``) so a 5,000 x 36 view stays one compact matrix.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, Field

from calc_engine import CubeArray, Hierarchy, TreeRow
from calc_engine.cube import ErrorCells
from calc_engine.functions import ErrorCode
from server.access import Access
from server.context import Context
from server.errors import (
    BadRequest,
    CommitNotFound,
    ElementNotFound,
    InvalidExpression,
    SnapshotNotFound,
)
from server.names import Reference
from server.wire import CommitId
from server.workspace import ModelRuntime, Workspace

MAX_CELLS = 2_000_000  # values in one view answer
# an element name or an expression over one (``descendants(X)``), in characters
MemberSpec = Annotated[str, Field(max_length=512)]
FLAG_BITS = {
    "consolidated": 1,
    "editable": 2,
    "text": 4,
    "rule": 8,
    "seeded": 16,
    "commented": 32,
    "held": 64,
}
_EXPRESSION = re.compile(r"^\s*(children|descendants|leaves|roots|members)\s*\((.*)\)\s*$")


class AxisSpec(BaseModel):
    dimension: Reference
    members: list[MemberSpec] | MemberSpec = Field(
        default="roots()",
        description="element names and expressions: children(X), descendants(X), leaves(X), "
        "roots(), members()",
    )


class ViewSpec(BaseModel):
    rows: list[AxisSpec] = Field(min_length=1)
    columns: list[AxisSpec] = Field(min_length=1)
    filters: dict[Reference, Reference] = Field(
        default={}, description="one element per remaining dimension; default: its first root"
    )
    as_of: CommitId | None = Field(default=None, description="read the cube as of this commit id")
    snapshot: Reference | None = Field(
        default=None, description="read the cube as of this snapshot"
    )


@dataclass(frozen=True, slots=True)
class Member:
    position: int
    depth: int
    parent: int | None  # index in the same member list


@dataclass
class ResolvedView:
    cube: str
    dims: list[str]  # the cube's dimensions, in cube order
    row_dims: list[str]
    col_dims: list[str]
    row_members: list[list[Member]]
    col_members: list[list[Member]]
    filters: dict[str, int]
    as_of: int | None

    @property
    def n_rows(self) -> int:
        return int(np.prod([len(m) for m in self.row_members]))

    @property
    def n_cols(self) -> int:
        return int(np.prod([len(m) for m in self.col_members]))

    @property
    def positions(self) -> list[list[int]]:
        """Per cube axis, the element positions the block reads."""
        per_dim = {d: [p] for d, p in self.filters.items()}
        for d, ms in zip(
            self.row_dims + self.col_dims, self.row_members + self.col_members, strict=True
        ):
            per_dim[d] = [m.position for m in ms]
        return [per_dim[d] for d in self.dims]

    @property
    def order(self) -> list[int]:
        """Cube axes in (rows..., columns..., filters...) order."""
        return [self.dims.index(d) for d in self.row_dims + self.col_dims + list(self.filters)]

    def broadcast(self, dim: str, per_member: np.ndarray) -> np.ndarray:
        """A per-member property of one dimension spread over the (rows x columns) grid."""
        shape = (self.n_rows, self.n_cols)
        if dim in self.filters:
            return np.full(shape, per_member[0])
        on_rows = dim in self.row_dims
        axes = self.row_members if on_rows else self.col_members
        k = (self.row_dims if on_rows else self.col_dims).index(dim)
        n = self.n_rows if on_rows else self.n_cols
        index = np.unravel_index(np.arange(n), [len(m) for m in axes])[k]
        line = per_member[index]
        return np.broadcast_to(line[:, None] if on_rows else line[None, :], shape)

    def coord(self, r: int, c: int) -> tuple[int, ...]:
        """The cube coordinate of grid cell (r, c)."""
        by_dim = dict(self.filters)
        for dims, axes, i in (
            (self.row_dims, self.row_members, r),
            (self.col_dims, self.col_members, c),
        ):
            idx = np.unravel_index(i, [len(m) for m in axes])
            for d, ms, j in zip(dims, axes, idx, strict=True):
                by_dim[d] = ms[int(j)].position
        return tuple(by_dim[d] for d in self.dims)


def members(ctx: Context, dimension: str, spec: list[str] | str) -> list[Member]:
    """Resolve a member list; InvalidExpression names the expression and its position.

    Elements the caller may not see are left out (named one by one, they are not found, as
    elsewhere); a visible member under a hidden parent hangs from its nearest visible
    ancestor in the list."""
    rt = ctx.rt
    h = rt.hierarchy(dimension)
    out: list[Member] = []
    for i, item in enumerate([spec] if isinstance(spec, str) else spec):
        match = _EXPRESSION.match(item)
        if match is None or item in h.index:
            out.append(Member(ctx.position(dimension, item), 0, None))
            continue
        fn, arg = match.group(1), match.group(2).strip()
        if fn in ("roots", "members"):
            if arg:
                raise InvalidExpression(
                    f"{fn}() takes no argument, got {item!r}",
                    dimension=dimension,
                    expression=item,
                    index=i,
                    position=match.start(2),
                )
            chosen = h.roots() if fn == "roots" else list(range(h.size))
            out.extend(Member(p, 0, None) for p in chosen)
            continue
        root = ctx.position(dimension, arg)
        if fn == "children":
            out.extend(Member(p, 0, None) for p in h.child_positions(root))
        elif fn == "leaves":
            out.extend(Member(p, 0, None) for p in h.leaf_descendants(root))
        else:
            base = len(out)
            out.extend(_tree_members(h.tree(root), base))
    visible = ctx.visible(dimension)
    return out if visible is None else _only_visible(out, visible)


def _only_visible(members: list[Member], visible: np.ndarray) -> list[Member]:
    keep = [bool(visible[m.position]) for m in members]
    index: dict[int, int] = {}
    out: list[Member] = []
    for i, m in enumerate(members):
        if not keep[i]:
            continue
        parent = m.parent
        while parent is not None and not keep[parent]:
            parent = members[parent].parent
        index[i] = len(out)
        depth = 0 if parent is None else out[index[parent]].depth + 1
        out.append(Member(m.position, depth, None if parent is None else index[parent]))
    return out


def _tree_members(tree: list[TreeRow], base: int) -> list[Member]:
    return [Member(r.element, r.depth, None if r.parent is None else base + r.parent) for r in tree]


def resolve(ctx: Context, cube_name: str, spec: ViewSpec) -> ResolvedView:
    ws, rt = ctx.ws, ctx.rt
    dims = rt.cube(cube_name).dimensions
    used: dict[str, str] = {}
    for where, axis in [("rows", a) for a in spec.rows] + [("columns", a) for a in spec.columns]:
        _claim(used, axis.dimension, where, dims, cube_name)
    for name in spec.filters:
        _claim(used, name, "filters", dims, cube_name)
    filters: dict[str, int] = {}
    for d in dims:
        if d in spec.filters:
            filters[d] = ctx.position(d, spec.filters[d])
        elif d not in used:
            filters[d] = _default_member(ctx, d)
    view = ResolvedView(
        cube=cube_name,
        dims=list(dims),
        row_dims=[a.dimension for a in spec.rows],
        col_dims=[a.dimension for a in spec.columns],
        row_members=[members(ctx, a.dimension, a.members) for a in spec.rows],
        col_members=[members(ctx, a.dimension, a.members) for a in spec.columns],
        filters=filters,
        as_of=as_of_commit(ws, rt, spec),
    )
    if view.n_rows * view.n_cols > MAX_CELLS:
        raise BadRequest(
            f"the view has {view.n_rows:,} rows x {view.n_cols:,} columns; at most "
            f"{MAX_CELLS:,} cells fit in one view (narrow the members or add filters)",
            rows=view.n_rows,
            columns=view.n_cols,
        )
    return view


def _default_member(ctx: Context, dimension: str) -> int:
    """A page filter's default: the dimension's first root the caller may see, else the first
    element they may see."""
    h = ctx.rt.hierarchy(dimension)
    visible = ctx.visible(dimension)
    if visible is None:
        roots = h.roots()
        return roots[0] if roots else 0
    for p in [*h.roots(), *range(h.size)]:
        if visible[p]:
            return p
    raise ElementNotFound(f"you may see no element of dimension {dimension!r}", dimension=dimension)


def _claim(used: dict[str, str], dim: str, where: str, dims: list[str], cube: str) -> None:
    if dim not in dims:
        raise BadRequest(
            f"cube {cube!r} has no dimension {dim!r} (it has {dims})",
            cube=cube,
            dimension=dim,
            where=where,
        )
    if dim in used:
        raise BadRequest(
            f"dimension {dim!r} is used twice in the view ({used[dim]} and {where})",
            dimension=dim,
        )
    used[dim] = where


def as_of_commit(ws: Workspace, rt: ModelRuntime, spec: ViewSpec) -> int | None:
    if spec.snapshot is not None:
        snap = ws.store.get_snapshot(rt.name, spec.snapshot)
        if snap is None:
            raise SnapshotNotFound(
                f"model {rt.name!r} has no snapshot {spec.snapshot!r}",
                model=rt.name,
                snapshot=spec.snapshot,
            )
        return snap.commit_id
    if spec.as_of is not None and spec.as_of != rt.engine.head:
        if spec.as_of != 0 and ws.store.get_commit(rt.name, spec.as_of) is None:
            raise CommitNotFound(
                f"model {rt.name!r} has no commit {spec.as_of}", model=rt.name, commit=spec.as_of
            )
        return spec.as_of
    return None


def access(ctx: Context, view: ResolvedView) -> np.ndarray | None:
    """The caller's access (``server.access.Access``) to each grid cell; None: write to all."""
    masks = ctx.masks
    if masks.open:
        return None
    grid = np.full((view.n_rows, view.n_cols), masks.ceiling(view.cube), dtype=np.int8)
    for d, pos in zip(view.dims, view.positions, strict=True):
        mask = masks.dimensions.get(d)
        if mask is not None:
            np.minimum(grid, view.broadcast(d, mask[np.asarray(pos, dtype=np.int64)]), out=grid)
    return grid


def values(rt: ModelRuntime, array: CubeArray, view: ResolvedView) -> tuple[np.ndarray, np.ndarray]:
    """The (rows x columns) values and flags of a resolved view.

    Numbers stay a float matrix unless the view holds text cells or formula errors; then it is an
    object matrix with strings (text, or Excel's error text such as ``#DIV/0!``).
    """
    positions = view.positions
    with rt.lock:
        block = array.read(positions)
        texts = dict(array.text) if array.text else {}
        errors = array.errors.copy() if array.errors else None
    grid = np.transpose(block, view.order).reshape(view.n_rows, view.n_cols)
    consolidated = np.zeros(grid.shape, dtype=bool)
    for h, d, pos in zip(array.hierarchies, view.dims, positions, strict=True):
        consolidated |= view.broadcast(d, ~h.is_leaf[np.asarray(pos, dtype=np.int64)])
    leaf_ruled, total_ruled = _rule_cells(rt, view)
    ruled = (leaf_ruled & ~consolidated) | (total_ruled & consolidated)
    flags = np.where(consolidated, FLAG_BITS["consolidated"], 0)
    flags |= np.where(ruled, FLAG_BITS["rule"], 0)
    if view.as_of is None:
        flags |= np.where(consolidated | ruled, 0, FLAG_BITS["editable"])
    mask = rt.text_mask(view.cube)
    failed = ~np.isfinite(grid)
    if mask is None and not failed.any():
        return grid, flags.astype(np.int32)
    out = grid.astype(object)
    for r, c in zip(*np.nonzero(failed), strict=True):
        out[r, c] = _error_text(array, errors, view.coord(int(r), int(c)), float(grid[r, c]))
    if mask is not None:
        axis, text_elements = mask
        is_text = view.broadcast(view.dims[axis], text_elements[np.asarray(positions[axis])])
        flags |= np.where(is_text, FLAG_BITS["text"], 0)
        out[is_text] = None
        for r, c in zip(*np.nonzero(is_text & ~consolidated), strict=True):
            out[r, c] = texts.get(view.coord(int(r), int(c)))
    return out, flags.astype(np.int32)


def _held(ctx: Context, view: ResolvedView) -> np.ndarray:
    """Grid cells the caller holds, directly or under a held consolidation."""
    from server.services.spreading import holds

    out = np.zeros((view.n_rows, view.n_cols), dtype=bool)
    hierarchies = ctx.rt.engine.cube(view.cube).hierarchies
    for hold in holds(ctx, view.cube, fresh=False):
        inside = np.ones_like(out)
        for d, h, pos, p in zip(view.dims, hierarchies, view.positions, hold, strict=True):
            below = [r.element for r in h.tree(p)]
            inside &= view.broadcast(d, np.isin(np.asarray(pos, dtype=np.int64), below))
        out |= inside
    return out


def _rule_cells(rt: ModelRuntime, view: ResolvedView) -> tuple[np.ndarray, np.ndarray]:
    """Grid cells inside some leaf rule's area, and inside some consolidated rule's area."""
    leaf = np.zeros((view.n_rows, view.n_cols), dtype=bool)
    total = np.zeros_like(leaf)
    for rule in rt.engine.rules.compiled:
        if rule.cube != view.cube:
            continue
        inside = np.ones_like(leaf)
        for a, (d, pos, leaf_mask) in enumerate(
            zip(view.dims, view.positions, rule.leaf_masks, strict=True)
        ):
            in_area = rule.area_mask(a, len(leaf_mask))[np.asarray(pos, dtype=np.int64)]
            if not in_area.all():
                inside &= view.broadcast(d, in_area)
        if rule.consolidated:
            total |= inside
        else:
            leaf |= inside
    return leaf, total


def _error_text(
    array: CubeArray, errors: ErrorCells | None, coord: tuple[int, ...], value: float
) -> str:
    """A rule cell's error, or for a total the first error among the cells it adds up; a total
    past the float range (±inf) is ``#NUM!`` (the numeric policy in ``calc_engine.cube``)."""
    if not np.isnan(value):
        return ErrorCode.NUM.text
    code = None if errors is None else errors.first_below(coord, array.hierarchies)
    return ErrorCode(code).text if code else ErrorCode.VALUE.text


def headers(hierarchies: list[Hierarchy], axes: list[list[Member]]) -> list[dict[str, Any]]:
    """Row or column headers: element names, tree depth, parent row, consolidated or not.

    The parent of a row is the row with the same outer members whose innermost member is the
    innermost member's parent; in the cross product that is a fixed offset away.
    """
    inner = axes[-1]
    names = [np.asarray(h.names, dtype=object) for h in hierarchies]
    out = []
    for i, combo in enumerate(itertools.product(*axes)):
        last = combo[-1]
        j = i % len(inner)
        out.append(
            {
                "elements": [names[k][m.position] for k, m in enumerate(combo)],
                "depth": last.depth,
                "parent": None if last.parent is None else i - j + last.parent,
                "consolidated": any(
                    not h.is_leaf[m.position] for h, m in zip(hierarchies, combo, strict=True)
                ),
            }
        )
    return out


def query(ctx: Context, cube: str, spec: ViewSpec, holds: bool = True) -> dict[str, Any]:
    """Answer a view: headers, values and flags (``held``: the caller's holds and below them;
    ``editable`` only where the caller may write)."""
    ws, rt = ctx.ws, ctx.rt
    ws.sync(rt)
    view = resolve(ctx, cube, spec)
    array = rt.engine.cube(cube) if view.as_of is None else ws.cube_as_of(rt, cube, view.as_of)
    head = rt.engine.head
    grid, flags = values(rt, array, view)
    allowed = access(ctx, view)
    if allowed is not None:
        flags &= np.where(allowed >= Access.WRITE, -1, ~FLAG_BITS["editable"]).astype(np.int32)
    if holds:
        flags |= np.where(_held(ctx, view), FLAG_BITS["held"], 0).astype(np.int32)
    hs = {d: rt.hierarchy(d) for d in view.dims}
    return {
        "model": rt.name,
        "cube": cube,
        "commit": head if view.as_of is None else view.as_of,
        "as_of": view.as_of,
        "row_dimensions": view.row_dims,
        "column_dimensions": view.col_dims,
        "filters": {d: hs[d].names[p] for d, p in view.filters.items()},
        "rows": headers([hs[d] for d in view.row_dims], view.row_members),
        "columns": headers([hs[d] for d in view.col_dims], view.col_members),
        "values": grid if grid.dtype != object else grid.tolist(),
        "flags": flags,
        "flag_bits": FLAG_BITS,
    }
