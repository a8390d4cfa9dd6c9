"""Dimension loads: a dimension's elements and hierarchy from a file, validated whole, one change.

Two layouts (``docs/dimension-loads.md``):

- **parent/child**: a row per element — columns ``element``, ``parent`` (blank: a top element),
  ``weight`` (blank: the edge's weight is kept, 1 for a new edge), ``alias`` (the dimension's
  alias attribute) and one column per attribute of the dimension, by its name. An element on
  several rows under different parents has several parents (alternate rollups) only with
  ``multiple_parents``; otherwise the second parent is a problem. A file without a ``parent``
  column leaves every edge as it is (an attribute load).
- **levels**: columns ``L1``, ``L2``, … — each row a path from a top element to its leaf (the
  row's last non-blank level); ``weight``, ``alias`` and attribute columns are the leaf's.

The load is incremental: new elements are added (after the existing ones, in file order), an
element the file names as a child takes exactly the file's parents (a moved one is re-parented;
its edges from other parents go), and every other element is kept as it is. Elements the file
does not mention at all are *orphans*: listed in the answer, kept unless ``remove_orphans``
(refused, element by element, where stored cells use them). ``mode=replace`` makes the
dimension exactly the file: its elements in file order, its edges only, the orphans removed.

The whole file is checked first and every problem reported by row, column, value and reason
(``server.imports.problems``): bad names, bad weights, unknown parents, duplicate rows, a second
parent, cycles, conflicting attributes, aliases that clash, and removals or leaves turned into
totals that would hide stored cells. A file with problems changes nothing; a good one is saved
as one structural change through ``services.dimensions.replace`` (the same validation, storage
transaction and engine rebuild as ``PUT …/dimensions/{dimension}``), then announced on the
live feed. A dry run reports what would be added, moved and removed.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from calc_engine import MAX_INPUT
from server.context import Context
from server.errors import InvalidModel, Unprocessable
from server.imports.numbers import Locale, parse
from server.imports.problems import Problems
from server.imports.read import _text
from server.modeldef import MAX_WEIGHT, AttributeType, DimensionDef
from server.names import normalize, problem
from server.services import dimensions
from server.workspace import ModelRuntime

FIRST_ROW = 2  # the file row of a table's first record: the header is row 1
MAX_REPORTED = 100  # problems (and orphans) an answer lists in JSON; the CSV report has them all
LEVEL = re.compile(r"^l(\d+)$")
ROLES = ("element", "parent", "weight", "alias")
WHOLE = "(dimension)"  # the column of a problem that is not on one row (row 0)

REASONS = {
    "bad_name": "not a valid element name (docs/model-file.md: names)",
    "missing_column": "the layout needs this column",
    "unknown_column": "neither a layout column nor an attribute of the dimension",
    "not_a_number": "the weight or number attribute is not a number",
    "bad_weight": f"a weight is finite and at most {MAX_WEIGHT:g} in magnitude",
    "weight_without_parent": "a weight belongs to an edge; the row has no parent",
    "level_gap": "a blank level before a filled one",
    "unknown_parent": "the parent is neither an element of the file nor of the dimension",
    "duplicate": "the file gives this element under this parent again",
    "two_parents": "the element is given under a second parent",
    "cycle": "the element would be its own ancestor",
    "conflict": "the element's rows give different values for this column",
    "alias_taken": "the alias is already another element's name or alias",
    "holds_cells": "stored cells use the element; they would drop out of every total",
    "invalid_dimension": "the dimension the file makes is not valid",
}


class Layout(StrEnum):
    auto = "auto"
    parent_child = "parent-child"
    levels = "levels"


class Mode(StrEnum):
    incremental = "incremental"
    replace_all = "replace"


class DimensionLoadRejected(Unprocessable):
    code = "dimension_load_rejected"
    outcome: Outcome | None = None  # the whole report, for a CSV answer


@dataclass
class Outcome:
    rows: int
    problems: Problems = field(default_factory=Problems)
    added: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    reweighted: int = 0
    attributes: list[str] = field(default_factory=list)  # existing elements whose changed
    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dimension: DimensionDef | None = None
    summary: dict[str, Any] | None = None

    def json(self, dry_run: bool) -> dict[str, Any]:
        counts = {
            "added": len(self.added),
            "moved": len(self.moved),
            "reweighted": self.reweighted,
            "attributes_updated": len(self.attributes),
            "orphans": len(self.orphans),
            "removed": len(self.removed),
        }
        return {
            "dry_run": dry_run,
            "applied": not dry_run and not self.problems.count,
            "rows": self.rows,
            **counts,
            "added_elements": self.added[:MAX_REPORTED],
            "moved_elements": self.moved[:MAX_REPORTED],
            "orphan_elements": self.orphans[:MAX_REPORTED],
            "removed_elements": self.removed[:MAX_REPORTED],
            "error_count": self.problems.count,
            "errors": self.problems.first(MAX_REPORTED),
            "dimension": self.summary,
        }


@dataclass
class _Entry:
    """One edge the file states: ``child`` under ``parent`` (None: a top element)."""

    row: int  # file row
    column: str  # the child's column
    child: str
    parent: str | None
    parent_column: str
    weight: float  # NaN: not given
    subject: bool  # the row's own element (its weight and attributes)


def _texts(col: pa.ChunkedArray | pa.Array) -> list[str]:
    """A column as the text of each cell ('' for blank); numbers as a sheet shows them."""
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        return [_text(v) for v in col.to_pylist()]
    out: list[str] = pc.fill_null(pc.cast(col, pa.string()), "").to_pylist()
    return out


class _Names:
    """Names normalized and checked once per distinct value (a level repeats its totals on
    every row): ASCII text without control characters only needs its spaces collapsed."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, str | None]] = {}

    def check(self, raw: str) -> tuple[str, str | None]:
        got = self.seen.get(raw)
        if got is None:
            name = normalize(raw)
            got = self.seen[raw] = (name, problem(name))
        return got


def _header(table: pa.Table) -> dict[str, str]:
    return {c.strip().lower(): c for c in table.column_names}


def _read_entries(
    table: pa.Table, layout: Layout, problems: Problems, names: _Names
) -> tuple[list[_Entry], bool, Layout]:
    """The file's edges, and whether it gives parents at all."""
    head = _header(table)
    levels = sorted(
        ((int(m.group(1)), c) for k, c in head.items() if (m := LEVEL.match(k))),
        key=lambda x: x[0],
    )
    if layout is Layout.auto:
        layout = Layout.levels if levels and "element" not in head else Layout.parent_child
    entries: list[_Entry] = []
    weights = _weights(table, head, problems)
    if layout is Layout.parent_child:
        if "element" not in head:
            problems.add(
                np.array([1]),
                "element",
                ["element"],
                "missing_column",
                f"the file's columns: {table.column_names}",
            )
            return entries, False, layout
        col = head["element"]
        kids = _texts(table.column(col))
        has_parent = "parent" in head
        pcol = head.get("parent", "parent")
        parents = _texts(table.column(pcol)) if has_parent else [""] * len(kids)
        for i, (raw, praw) in enumerate(zip(kids, parents, strict=True)):
            row = i + FIRST_ROW
            child, why = names.check(raw)
            if why is not None:
                problems.add(np.array([row]), col, [raw], "bad_name", why)
                continue
            parent: str | None = None
            if praw.strip():
                parent, why = names.check(praw)
                if why is not None:
                    problems.add(np.array([row]), pcol, [praw], "bad_name", why)
                    continue
            entries.append(_Entry(row, col, child, parent, pcol, weights[i], True))
        return entries, has_parent, layout
    if not levels:
        problems.add(
            np.array([1]),
            "L1",
            ["L1"],
            "missing_column",
            f"a levels file has columns L1, L2, …; the file's: {table.column_names}",
        )
        return entries, False, layout
    cols = [c for _, c in levels]
    paths = list(zip(*(_texts(table.column(c)) for c in cols), strict=True))
    for i, path in enumerate(paths):
        row = i + FIRST_ROW
        filled = [j for j, v in enumerate(path) if v.strip()]
        if not filled:
            continue
        last = filled[-1]
        if len(filled) != last + 1:
            gap = next(j for j in range(last) if not path[j].strip())
            problems.add(
                np.array([row]), cols[gap], [path[gap]], "level_gap", f"{cols[last]} is filled"
            )
            continue
        made: list[str] = []
        for j in range(last + 1):
            name, why = names.check(path[j])
            if why is not None:
                problems.add(np.array([row]), cols[j], [path[j]], "bad_name", why)
                break
            made.append(name)
        else:
            for j, name in enumerate(made):
                parent = made[j - 1] if j else None
                pcol = cols[j - 1] if j else cols[0]
                leaf = j == last
                w = weights[i] if leaf else math.nan
                entries.append(_Entry(row, cols[j], name, parent, pcol, w, leaf))
    return entries, True, layout


def _weights(table: pa.Table, head: dict[str, str], problems: Problems) -> np.ndarray:
    if "weight" not in head:
        return np.full(table.num_rows, np.nan)
    col = head["weight"]
    values = table.column(col).combine_chunks()
    num, blank, bad = parse(values, Locale())
    rows = np.arange(table.num_rows) + FIRST_ROW
    text = pc.cast(values, pa.string())
    idx = np.flatnonzero(bad)
    problems.add(rows[idx], col, text.take(pa.array(idx, pa.int64())), "not_a_number")
    big = np.flatnonzero(~bad & ~blank & ~(np.abs(np.nan_to_num(num, nan=np.inf)) <= MAX_WEIGHT))
    problems.add(
        rows[big],
        col,
        text.take(pa.array(big, pa.int64())),
        "bad_weight",
        f"at most {MAX_WEIGHT:g} in magnitude",
    )
    num = num.copy()
    num[idx] = np.nan
    num[big] = np.nan
    return num


def _attribute_columns(
    dim: DimensionDef, table: pa.Table, problems: Problems
) -> dict[str, tuple[str, AttributeType]]:
    """column -> (attribute, its type), for every column that is not a layout column."""
    by_lower = {a.lower(): a for a in dim.attributes}
    aliases = [a for a, k in dim.attributes.items() if k is AttributeType.alias]
    out: dict[str, tuple[str, AttributeType]] = {}
    for key, col in _header(table).items():
        if LEVEL.match(key) or key in ("element", "parent", "weight"):
            continue
        if key in by_lower:
            attr = by_lower[key]
        elif key == "alias" and len(aliases) == 1:
            attr = aliases[0]
        else:
            why = (
                f"dimension {dim.name!r} has {len(aliases)} alias attributes: name the column "
                "by the attribute"
                if key == "alias"
                else f"dimension {dim.name!r} defines attributes {sorted(dim.attributes)}"
            )
            problems.add(np.array([1]), col, [col], "unknown_column", why)
            continue
        out[col] = (attr, dim.attributes[attr])
    return out


def _attributes(
    table: pa.Table,
    columns: dict[str, tuple[str, AttributeType]],
    entries: list[_Entry],
    problems: Problems,
) -> dict[str, dict[str, str | float]]:
    """element -> the attribute values its rows give (blank: kept as it is)."""
    out: dict[str, dict[str, str | float]] = {}
    first: dict[tuple[str, str], int] = {}
    subject = {e.row: e.child for e in entries if e.subject}
    rows = np.arange(table.num_rows) + FIRST_ROW
    for col, (attr, kind) in columns.items():
        values = table.column(col).combine_chunks()
        if kind is AttributeType.number:
            num, blank, bad = parse(values, Locale())
            text = pc.cast(values, pa.string())
            big = ~bad & ~blank & ~(np.abs(np.nan_to_num(num, nan=np.inf)) <= MAX_INPUT)
            for mask, detail in ((bad, ""), (big, f"at most {MAX_INPUT:g} in magnitude")):
                idx = np.flatnonzero(mask)
                problems.add(
                    rows[idx], col, text.take(pa.array(idx, pa.int64())), "not_a_number", detail
                )
            given: list[Any] = [
                None if blank[i] or bad[i] or big[i] else float(num[i]) for i in range(len(num))
            ]
        else:
            given = [normalize(t) or None for t in _texts(values)]
        for i, v in enumerate(given):
            element = subject.get(i + FIRST_ROW)
            if v is None or element is None:
                continue
            if kind is AttributeType.alias:
                why = problem(str(v))
                if why is not None:
                    problems.add(np.array([i + FIRST_ROW]), col, [str(v)], "bad_name", why)
                    continue
            mine = out.setdefault(element, {})
            if attr in mine and mine[attr] != v:
                problems.add(
                    np.array([i + FIRST_ROW]),
                    col,
                    [_text(v)],
                    "conflict",
                    f"row {first[(element, attr)]} gives {_text(mine[attr])!r}",
                )
                continue
            mine[attr] = v
            first.setdefault((element, attr), i + FIRST_ROW)
    return out


def _cells_by_element(rt: ModelRuntime, dim: str) -> np.ndarray:
    """Per position of ``dim``: the stored input cells that use it, over every cube."""
    h = rt.hierarchy(dim)
    count = np.zeros(h.size, dtype=np.int64)
    for cube, dims in rt.engine.cube_dimensions.items():
        if dim not in dims:
            continue
        axis = dims.index(dim)
        coords, _ = rt.engine.input_cells(cube)
        count += np.bincount(coords[:, axis], minlength=h.size)
        for key in rt.engine.cube(cube).text:
            count[key[axis]] += 1
    return count


def build(
    ctx: Context,
    name: str,
    table: pa.Table,
    *,
    layout: Layout = Layout.auto,
    mode: Mode = Mode.incremental,
    multiple_parents: bool = False,
    remove_orphans: bool = False,
) -> Outcome:
    """What the file would make of the dimension, and every problem with it."""
    rt = ctx.rt
    old = rt.dimension(name)
    h = rt.hierarchy(name)
    out = Outcome(table.num_rows)
    problems = out.problems
    entries, parents_given, layout = _read_entries(table, layout, problems, _Names())
    attr_cols = _attribute_columns(old, table, problems)
    given_attrs = _attributes(table, attr_cols, entries, problems)

    # edges, each once; a row's own element under a parent twice is a duplicate row
    edges: dict[tuple[str, str | None], _Entry] = {}
    parents_of: dict[str, list[_Entry]] = {}
    for e in entries:
        key = (e.child, e.parent)
        seen = edges.get(key)
        if seen is not None:
            if e.subject and seen.subject:
                problems.add(
                    np.array([e.row]), e.column, [e.child], "duplicate", f"first in row {seen.row}"
                )
            elif e.subject:
                edges[key] = e
            continue
        parents = parents_of.setdefault(e.child, [])
        if parents and (e.parent is None or parents[0].parent is None or not multiple_parents):
            under = parents[0].parent
            problems.add(
                np.array([e.row]),
                e.parent_column if e.parent else e.column,
                [e.parent or ""],
                "two_parents",
                f"{e.child!r} is {'a top element' if under is None else f'under {under!r}'} in "
                f"row {parents[0].row}"
                + ("" if multiple_parents else "; multiple_parents=true allows alternate rollups"),
            )
            continue
        parents.append(e)
        edges[key] = e
    for e in edges.values():
        if e.parent is None and not math.isnan(e.weight):
            problems.add(np.array([e.row]), "weight", [_text(e.weight)], "weight_without_parent")

    existing = set(h.names)
    file_elements = list(dict.fromkeys(e.child for e in entries))
    known = existing | set(file_elements)
    for e in edges.values():
        if e.parent is not None and e.parent not in known:
            near = difflib.get_close_matches(e.parent, sorted(known)[:100_000], n=3)
            problems.add(
                np.array([e.row]),
                e.parent_column,
                [e.parent],
                "unknown_parent",
                f"nearest: {', '.join(near)}" if near else "",
            )

    # the new edge lists: parent -> [(child, weight)]
    restated = set(parents_of) if parents_given else set()
    stated = {(c, p): e for (c, p), e in edges.items() if p is not None and p in known}
    old_edges = {(c.name, el.name): c.weight for el in old.elements for c in el.children}
    children: dict[str, list[tuple[str, float]]] = {}
    if mode is Mode.incremental:
        for el in old.elements:
            children[el.name] = [
                (c.name, _weight(stated.get((c.name, el.name)), c.weight))
                for c in el.children
                if c.name not in restated or (c.name, el.name) in stated
            ]
    for (c, p), e in stated.items():
        if (c, p) not in old_edges or mode is Mode.replace_all:
            children.setdefault(p, []).append((c, _weight(e, old_edges.get((c, p), 1.0))))

    mentioned = dict.fromkeys([*file_elements, *(p for _, p in stated)])
    out.orphans = [n for n in h.names if n not in mentioned]
    remove = set(out.orphans) if remove_orphans or mode is Mode.replace_all else set()
    if mode is Mode.replace_all:
        order = list(mentioned)
    else:
        order = [n for n in h.names if n not in remove] + [
            n for n in file_elements if n not in existing
        ]
    if remove:
        for p in children:
            children[p] = [(c, w) for c, w in children[p] if c not in remove]
    out.added = [n for n in order if n not in existing]
    out.removed = [n for n in h.names if n in remove]

    _check_cycles(order, children, stated, problems)
    _check_cells(rt, name, h, remove, children, stated, problems)

    # what changes for the elements that stay
    new_parents: dict[str, set[str]] = {}
    for p, kids in children.items():
        for c, _ in kids:
            new_parents.setdefault(c, set()).add(p)
    out.moved = [
        n
        for i, n in enumerate(h.names)
        if n not in remove and {h.names[p] for p, _ in h.parents[i]} != new_parents.get(n, set())
    ]
    new_edges = {(c, p): w for p, kids in children.items() for c, w in kids}
    out.reweighted = sum(1 for k, w in new_edges.items() if k in old_edges and old_edges[k] != w)
    old_by_name = {el.name: el for el in old.elements}
    elements: list[dict[str, Any]] = []
    for n in order:
        prev = old_by_name.get(n)
        attrs = dict(prev.attributes) if prev is not None else {}
        changed = given_attrs.get(n, {})
        if prev is not None and any(attrs.get(k) != v for k, v in changed.items()):
            out.attributes.append(n)
        attrs.update(changed)
        item: dict[str, Any] = {"name": n, "attributes": attrs}
        if prev is not None:
            item["type"] = prev.type
        below = children.get(n)
        if below:
            item["children"] = [{"name": c, "weight": w} for c, w in below]
        elements.append(item)
    _check_aliases(old, elements, given_attrs, entries, attr_cols, problems)
    if problems.count:
        return out
    try:
        dim = DimensionDef.model_validate(
            {**old.model_dump(exclude={"elements"}), "elements": elements}
        )
        dimensions.build_hierarchy(dim)
    except InvalidModel as exc:
        problems.add(np.array([0]), WHOLE, [name], "invalid_dimension", exc.message)
        return out
    out.dimension = dim
    return out


def _weight(e: _Entry | None, default: float) -> float:
    return default if e is None or math.isnan(e.weight) else float(e.weight)


def _check_cycles(
    order: list[str],
    children: dict[str, list[tuple[str, float]]],
    stated: dict[tuple[str, str], _Entry],
    problems: Problems,
) -> None:
    """Edges the file states that close a cycle: both ends in one strongly connected part."""
    index = {n: i for i, n in enumerate(order)}
    src, dst = [], []
    for p, kids in children.items():
        for c, _ in kids:
            if p in index and c in index:
                src.append(index[p])
                dst.append(index[c])
    if not src:
        return
    n = len(order)
    graph = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, label = connected_components(graph, directed=True, connection="strong")
    size = np.bincount(label)
    for (c, p), e in stated.items():
        if c not in index or p not in index:
            continue
        i, j = index[p], index[c]
        if i == j or (label[i] == label[j] and size[label[i]] > 1):
            detail = (
                f"{c!r} would be its own parent"
                if i == j
                else f"{c!r} is already an ancestor of {p!r}"
            )
            problems.add(np.array([e.row]), e.parent_column, [p], "cycle", detail)


def _check_cells(
    rt: ModelRuntime,
    name: str,
    h: Any,
    remove: set[str],
    children: dict[str, list[tuple[str, float]]],
    stated: dict[tuple[str, str], _Entry],
    problems: Problems,
) -> None:
    """Refuse, element by element, a removal or a leaf made a total that hides stored cells."""
    turned = {p for p, kids in children.items() if kids and p in h.index and h.is_leaf[h.index[p]]}
    if not remove and not turned:
        return
    used = _cells_by_element(rt, name)
    for n in h.names:
        count = int(used[h.index[n]])
        if not count:
            continue
        if n in remove:
            problems.add(
                np.array([0]),
                WHOLE,
                [n],
                "holds_cells",
                f"an orphan to remove, but {count} stored cell(s) use it",
            )
        elif n in turned:
            row = min(e.row for (c, p), e in stated.items() if p == n)
            problems.add(
                np.array([row]),
                next(e.parent_column for (c, p), e in stated.items() if p == n and e.row == row),
                [n],
                "holds_cells",
                f"a leaf with {count} stored cell(s) would get children",
            )


def _check_aliases(
    old: DimensionDef,
    elements: list[dict[str, Any]],
    given: dict[str, dict[str, str | float]],
    entries: list[_Entry],
    columns: dict[str, tuple[str, AttributeType]],
    problems: Problems,
) -> None:
    """An alias the file gives may not be another element's name or alias."""
    alias_cols = {a: c for c, (a, k) in columns.items() if k is AttributeType.alias}
    if not alias_cols:
        return
    names = {e["name"] for e in elements}
    row_of = {e.child: e.row for e in entries if e.subject}
    for attr, col in alias_cols.items():
        owner: dict[str, str] = {}
        for e in elements:
            v = e["attributes"].get(attr)
            if isinstance(v, str) and v != e["name"]:
                owner.setdefault(v, e["name"])
        for element, attrs in given.items():
            v = attrs.get(attr)
            if not isinstance(v, str) or v == element:
                continue
            other = v if v in names else owner.get(v)
            if other is not None and other != element:
                problems.add(
                    np.array([row_of.get(element, 0)]),
                    col,
                    [v],
                    "alias_taken",
                    f"{other!r} is called {v!r} already",
                )


def run(
    ctx: Context,
    name: str,
    table: pa.Table,
    *,
    dry_run: bool = False,
    **options: Any,
) -> Outcome:
    """Validate the whole file and, unless a dry run, save the dimension it makes as one
    structural change (``DimensionLoadRejected`` with the report when the file has problems)."""
    rt = ctx.rt
    rt.dimension(name)
    with rt.write_lock:  # what is checked (stored cells, the dimension) is what is changed
        out = build(ctx, name, table, **options)
        if dry_run:
            return out
        if out.problems.count or out.dimension is None:
            p = out.problems.first(1)[0]
            exc = DimensionLoadRejected(
                f"{out.problems.count} problem(s) in the file; the dimension is unchanged (the "
                f"first: row {p['row']}, column {p['column']!r}, value {p['value']!r}: "
                f"{p['reason']} {p['detail']})".replace(" )", ")"),
                error_count=out.problems.count,
                errors=out.problems.first(MAX_REPORTED),
            )
            exc.outcome = out
            raise exc
        out.summary = dimensions.replace(ctx, out.dimension)
    cubes = [c.name for c in rt.cubes.values() if name in c.dimensions]
    ctx.ws.feed.publish(rt.name, {"commit": None, "cubes": cubes})
    return out
