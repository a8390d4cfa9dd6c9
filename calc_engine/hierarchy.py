"""Hierarchies: a dimension's elements as an index, its weighted rollups as a matrix.

A dimension is an ordered list of elements. Elements with children are consolidated; the others
are leaves and hold data. A parent->child edge carries a weight (+1, -1 or any float), and an
element may have several parents (alternate rollups). The value of a consolidated element is the
weighted sum of its leaf descendants, where a leaf reached along several paths counts once per
path with the product of the weights along that path. That is the same rule TM1 and Jedox apply.

The whole rollup is one sparse matrix ``rollup`` of shape (elements x leaves): row ``i`` holds
the weight of every leaf inside element ``i`` (a leaf's own row is the unit vector). It is built
once per structure change by iterating ``W = E + A @ W`` over the adjacency matrix ``A`` until it
stops changing, which takes as many rounds as the hierarchy is deep. Consolidating a cube is then
a chain of sparse-dense products, one per axis, and the ancestors of a leaf (what one write must
touch) are one column of the same matrix.
"""

from __future__ import annotations

import functools
import graphlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from calc_engine.errors import HierarchyCycleError, UnknownElementError


@dataclass(frozen=True, slots=True)
class Edge:
    parent: str
    child: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class TreeRow:
    """One row of a flattened tree: the element, its depth and the position of its parent row."""

    element: int
    depth: int
    parent: int | None


class Hierarchy:
    """The elements of one dimension and their weighted parent->child edges."""

    def __init__(self, name: str, elements: Sequence[str], edges: Iterable[Edge] = ()) -> None:
        self.name = name
        self.names: list[str] = list(elements)
        self.index: dict[str, int] = {n: i for i, n in enumerate(self.names)}
        if len(self.index) != len(self.names):
            seen: set[str] = set()
            dup = next(n for n in self.names if n in seen or seen.add(n))  # type: ignore[func-returns-value]
            raise ValueError(f"element {dup!r} appears twice in dimension {name!r}")
        n = len(self.names)
        self.children: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        self.parents: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        for e in edges:
            if not math.isfinite(e.weight):
                raise ValueError(f"edge {e.parent!r} -> {e.child!r} has weight {e.weight}")
            p, c = self.position(e.parent), self.position(e.child)
            self.children[p].append((c, float(e.weight)))
            self.parents[c].append((p, float(e.weight)))
        self._check_acyclic()
        self.is_leaf = np.array([not ch for ch in self.children], dtype=bool)
        self.leaves = np.flatnonzero(self.is_leaf)
        # per position: its rank among the leaves (dimension order), -1 for consolidations
        self.leaf_rank = np.full(n, -1, dtype=np.int64)
        self.leaf_rank[self.leaves] = np.arange(len(self.leaves))
        self.rollup = self._build_rollup()
        if not np.isfinite(self.rollup.data).all():
            raise ValueError(f"the weights of dimension {name!r} multiply past the float range")
        # Column i of the transposed rollup lists the ancestors of leaf i with their weights.
        self._ancestors = self.rollup.tocsc()
        self._covers: dict[int, np.ndarray] = {}
        self._table: tuple[np.ndarray, np.ndarray] | None = None
        self._lists: dict[int, list[tuple[int, float]]] = {}

    @property
    def size(self) -> int:
        return len(self.names)

    def position(self, element: str) -> int:
        try:
            return self.index[element]
        except KeyError:
            raise UnknownElementError(self.name, element) from None

    def _check_acyclic(self) -> None:
        sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
        for p, kids in enumerate(self.children):
            sorter.add(p, *(c for c, _ in kids))
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = [self.names[i] for i in exc.args[1]]
            raise HierarchyCycleError(self.name, cycle) from None

    def _build_rollup(self) -> sp.csr_matrix:
        n, leaves = self.size, self.leaves
        unit = sp.csr_matrix(
            (np.ones(len(leaves)), (leaves, np.arange(len(leaves)))), shape=(n, len(leaves))
        )
        rows = [p for p, kids in enumerate(self.children) for _ in kids]
        cols = [c for kids in self.children for c, _ in kids]
        weights = [w for kids in self.children for _, w in kids]
        adjacency = sp.csr_matrix((weights, (rows, cols)), shape=(n, n))
        w = unit
        for _ in range(n + 1):
            nxt = (unit + adjacency @ w).tocsr()
            if abs(nxt - w).sum() == 0:
                break
            w = nxt
        w.eliminate_zeros()
        return w

    def contents(self, element: int) -> tuple[np.ndarray, np.ndarray]:
        """The leaves inside ``element`` (positions, itself for a leaf) and their weights."""
        r = self.rollup
        lo, hi = r.indptr[element], r.indptr[element + 1]
        return self.leaves[r.indices[lo:hi]], r.data[lo:hi]

    @functools.cached_property
    def gain(self) -> float:
        """The most a sum along this dimension can grow its inputs: the largest row sum of
        absolute weights (1 for a flat list)."""
        if not self.rollup.nnz:
            return 1.0
        return max(1.0, float(abs(self.rollup).sum(axis=1).max()))

    def ancestors(self, leaf: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions of every element that contains ``leaf`` (itself included) and its weights."""
        col = int(np.searchsorted(self.leaves, leaf))
        a = self._ancestors
        lo, hi = a.indptr[col], a.indptr[col + 1]
        return a.indices[lo:hi], a.data[lo:hi]

    def ancestor_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Per position, its ancestors (itself first) and their weights, padded to one width.

        Row ``i`` of both arrays is meaningful for leaves only; padding points at position 0 with
        weight 0, so a write can add ``delta * weight`` at every entry of a row without a loop.
        Cached: ``(positions, weights)``, each ``(size, widest ancestry)``.
        """
        if self._table is None:
            a = self._ancestors
            counts = np.diff(a.indptr)
            width = int(counts.max()) if len(counts) else 1
            idx = np.zeros((self.size, width), dtype=np.int64)
            wts = np.zeros((self.size, width), dtype=np.float64)
            rows = np.repeat(self.leaves, counts)
            slot = np.arange(len(a.indices)) - np.repeat(a.indptr[:-1], counts)
            idx[rows, slot] = a.indices
            wts[rows, slot] = a.data
            self._table = idx, wts
        return self._table

    def ancestor_list(self, leaf: int) -> list[tuple[int, float]]:
        """``ancestors`` as Python pairs (position, weight), for one-cell writes. Cached."""
        found = self._lists.get(leaf)
        if found is None:
            ix, w = self.ancestors(leaf)
            found = self._lists[leaf] = list(zip(ix.tolist(), w.tolist(), strict=True))
        return found

    # -- navigation, for view expressions -------------------------------------------------

    def roots(self) -> list[int]:
        return [i for i in range(self.size) if not self.parents[i]]

    def child_positions(self, element: int) -> list[int]:
        return [c for c, _ in self.children[element]]

    def tree(self, root: int, max_depth: int | None = None) -> list[TreeRow]:
        """``root`` and its descendants, depth first, each parent before its children."""
        out: list[TreeRow] = []

        def visit(e: int, depth: int, parent: int | None) -> None:
            me = len(out)
            out.append(TreeRow(e, depth, parent))
            if max_depth is None or depth < max_depth:
                for c, _ in self.children[e]:
                    visit(c, depth + 1, me)

        visit(root, 0, None)
        return out

    def covers(self, element: int) -> np.ndarray:
        """Bool per position: the leaves inside ``element`` (itself if a leaf). Cached."""
        mask = self._covers.get(element)
        if mask is None:
            mask = np.zeros(self.size, dtype=bool)
            mask[self.leaves[self.rollup.getrow(element).indices]] = True
            self._covers[element] = mask
        return mask

    def leaf_descendants(self, element: int) -> list[int]:
        """Leaves inside ``element``, in dimension order."""
        row = self.rollup.getrow(element)
        return sorted(int(self.leaves[j]) for j in row.indices)
