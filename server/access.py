"""Element security: who may see and change which cells, as masks over the engine's positions.

The rules are TM1's, written down once here so every read and write path applies the same:

- A dimension without rules is open. A dimension with rules is *secured*: an element's access
  for a group is NONE, READ or WRITE; an element without a rule of its own inherits from its
  parents, down the hierarchy — under several parents (an alternate rollup) the least of
  those a rule reaches, so a NONE somewhere is not undone by another path to the element, and
  an alternate rollup nobody secured closes nothing; an element no rule reaches takes the
  dimension's default, NONE unless set: a group the rules do not name sees nothing of a
  secured dimension.
- A user in several groups gets, per element, the most any of their groups gives.
- A cell's access is the least over its elements, capped by the cube's access and the user's
  role in the model (a viewer reads at most).
- A total shows its full value, leaves the user may not see included, as TM1 does: element
  security hides the detail, not the aggregate. Totals that must not be seen are secured
  themselves (NONE on the consolidated element, which its descendants then inherit). The
  stricter "sum of what you may see" would show each user a different number for the same
  cell, and a number that is not in the plan. docs/security.md says the same.

Everything here is arrays: one ``int8`` per element position, so a view's access is a few
``np.minimum`` over its axes, and a write batch's is one fancy index per dimension.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from calc_engine import Hierarchy


class Access(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2


@dataclass(frozen=True, slots=True)
class ElementRule:
    """``group`` has ``access`` to ``element`` of ``dimension`` (and, unless they have rules of
    their own, to its descendants)."""

    dimension: str
    element: str
    group: str
    access: Access


def element_access(
    h: Hierarchy, explicit: Mapping[str, Access], default: Access = Access.NONE
) -> np.ndarray:
    """Access per position of ``h``: an element's own rule, else the least of what its ruled
    parents have (inherited down), else ``default``. A parent counts only when a rule reaches it
    (its own or an ancestor's): an alternate rollup nobody secured does not close the elements
    under it. Unknown elements in ``explicit`` are ignored (a rule outlives an element deleted
    since)."""
    own = {h.index[e]: int(a) for e, a in explicit.items() if e in h.index}
    if not own:
        return np.full(h.size, int(default), dtype=np.int8)
    ruled = np.full(h.size, -1, dtype=np.int8)  # -1: no rule reaches the element
    order: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for child in range(h.size):
        order.add(child, *(p for p, _ in h.parents[child]))
    for e in order.static_order():  # every parent before its children
        if e in own:
            ruled[e] = own[e]
        else:
            reached = [ruled[p] for p, _ in h.parents[e] if ruled[p] >= 0]
            if reached:
                ruled[e] = min(reached)
    return np.where(ruled >= 0, ruled, np.int8(default)).astype(np.int8)


@dataclass(frozen=True)
class AccessMasks:
    """One user's access in one model: per secured dimension an access per position, and the
    cap from the user's role and each cube's access. A dimension not listed is open."""

    dimensions: Mapping[str, np.ndarray] = field(default_factory=dict)
    cap: Access = Access.WRITE
    cubes: Mapping[str, Access] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        """Nothing restricted: the paths can skip masking altogether."""
        return not self.dimensions and self.cap == Access.WRITE and not self.cubes

    def ceiling(self, cube: str) -> int:
        return int(min(self.cap, self.cubes.get(cube, Access.WRITE)))

    def cells(self, cube: str, dimensions: Sequence[str], coords: np.ndarray) -> np.ndarray:
        """Access of each cell (row of ``coords``: positions in ``dimensions`` order)."""
        coords = np.asarray(coords, dtype=np.int64).reshape(-1, len(dimensions))
        out = np.full(len(coords), self.ceiling(cube), dtype=np.int8)
        for axis, d in enumerate(dimensions):
            mask = self.dimensions.get(d)
            if mask is not None:
                np.minimum(out, mask[coords[:, axis]], out=out)
        return out

    def axis(self, members: Sequence[Sequence[tuple[str, int]]]) -> np.ndarray:
        """Access along one axis of a view: each member a tuple of (dimension, position)."""
        out = np.full(len(members), int(Access.WRITE), dtype=np.int8)
        for i, member in enumerate(members):
            for d, pos in member:
                mask = self.dimensions.get(d)
                if mask is not None:
                    out[i] = min(out[i], mask[pos])
        return out

    def grid(
        self,
        cube: str,
        rows: np.ndarray,
        columns: np.ndarray,
        filters: Iterable[tuple[str, int]] = (),
    ) -> np.ndarray:
        """Access of every cell of a view: rows × columns (from ``axis``), the filters' elements
        and the cube's ceiling."""
        fixed = self.ceiling(cube)
        for d, pos in filters:
            mask = self.dimensions.get(d)
            if mask is not None:
                fixed = min(fixed, int(mask[pos]))
        grid = np.minimum.outer(np.asarray(rows, np.int8), np.asarray(columns, np.int8))
        return np.minimum(grid, np.int8(fixed))


def masks_for(
    hierarchies: Mapping[str, Hierarchy],
    rules: Iterable[ElementRule],
    groups: Iterable[str],
    *,
    defaults: Mapping[str, Access] | None = None,
    cap: Access = Access.WRITE,
    cubes: Mapping[str, Access] | None = None,
) -> AccessMasks:
    """The masks of a user in ``groups``: per secured dimension (one with a rule), each
    group's access worked out down the hierarchy, then the most of them per element."""
    by_dim: dict[str, dict[str, dict[str, Access]]] = {}
    for r in rules:
        per = by_dim.setdefault(r.dimension, {}).setdefault(r.group, {})
        per[r.element] = max(per.get(r.element, Access.NONE), r.access)
    mine = set(groups)
    dims: dict[str, np.ndarray] = {}
    for d, per_group in by_dim.items():
        h = hierarchies.get(d)
        if h is None:
            continue
        default = (defaults or {}).get(d, Access.NONE)
        masks = [element_access(h, per_group[g], default) for g in sorted(mine & per_group.keys())]
        dims[d] = np.maximum.reduce(masks) if masks else element_access(h, {}, default)
    return AccessMasks(dims, cap, dict(cubes or {}))
