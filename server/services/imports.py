"""Cell imports: a file mapped onto a cube, validated whole, written as one commit.

The mapping names, for each dimension of the cube, where its elements come from: a column of the
file (by header; a dimension with a column of its own name needs no mapping), a constant, or —
in the wide layout — the headers of the value columns (months across). Every value becomes one
leaf cell. The whole file is checked before anything is written, with arrays, and every problem
is reported by file row, column, value and reason (``server.imports.problems``). A file with
problems writes nothing unless ``load_valid_rows`` asks to load the rows without any.

Modes: ``upsert`` writes the file's cells; ``replace`` first clears every stored cell in the
file's *area* — per dimension, the elements the loaded cells name (a constant is one element) —
that the file does not write; ``accumulate`` sums numbers the file gives the same cell more than
once (otherwise a duplicate is a problem). A dry run validates and reports only. The commit goes
through the ordinary write path (``cells.submit``: group commit, engine apply, live feed) with
source ``import``, as one ``CellBatch`` of columns: the store commits it with set-based SQL and
the engine applies it at the coordinates resolved here (``server.storage.bulk``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calc_engine import MAX_INPUT
from server.access import Access
from server.addressing import decode, encode
from server.context import Context
from server.errors import InvalidValue, Unprocessable
from server.imports import match
from server.imports.numbers import Locale, parse
from server.imports.problems import Problems
from server.services import cells
from server.storage import CellBatch, CommitResult
from server.workspace import ModelRuntime

FIRST_ROW = 2  # the file row of a table's first record: the header is row 1
MAX_REPORTED = 100  # problems an answer lists in JSON; the CSV report has them all
MAX_BITMAP = 64_000_000  # cells of a cube up to which repeats are found without a sort


class Mode(StrEnum):
    upsert = "upsert"
    replace_area = "replace"
    accumulate = "accumulate"


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)  # dimension -> column header
    constants: dict[str, str] = field(default_factory=dict)  # dimension -> element
    value: str | None = None  # long layout: the value column (default: a column "value")
    across: str | None = None  # wide layout: the dimension the value columns' headers name
    value_columns: list[str] | None = None  # wide: the columns to unpivot (default: the rest)
    case_insensitive: bool = False
    locale: Locale = field(default_factory=Locale)


class Progress(Protocol):
    """What a background import (``server.jobs``) hears: each phase as it starts, with the
    rows done of the total. It raises to cancel; after ``committing`` it no longer may."""

    def phase(self, name: str, done: int, total: int) -> None: ...


class ImportRejected(Unprocessable):
    code = "import_rejected"
    outcome: Outcome | None = None  # the whole report, for a CSV answer


@dataclass
class Outcome:
    rows: int
    cells: int
    problems: Problems
    changes: CellBatch | None = None
    cleared: int = 0
    result: CommitResult | None = None

    @property
    def loaded(self) -> int:
        return (len(self.changes) if self.changes is not None else 0) - self.cleared

    def json(self, dry_run: bool) -> dict[str, Any]:
        """The report; a refused import (problems, not loading the valid rows) wrote nothing."""
        wrote = not dry_run and self.result is not None
        out: dict[str, Any] = {
            "dry_run": dry_run,
            "rows": self.rows,
            "cells": self.cells,
            "written": self.loaded if wrote else 0,
            "cleared": self.cleared if wrote else 0,
            "error_count": self.problems.count,
            "errors": self.problems.first(MAX_REPORTED),
        }
        if dry_run:
            out["would_write"] = self.loaded
            out["would_clear"] = self.cleared
        if self.result is not None:
            out.update(cells.result_json(self.result))
        return out


@dataclass
class _Cells:
    """The file's cells, columns unpivoted: one entry per value."""

    row: np.ndarray  # 0-based record of the table
    coords: np.ndarray  # n x ndim positions, -1 where unknown
    col_of: np.ndarray  # which value column the cell comes from (an index into headers)
    headers: pa.Array  # the value columns' headers
    parts: list[pa.Array]  # the value columns as the file gave them
    num: np.ndarray
    blank: np.ndarray
    bad: np.ndarray

    def column(self, idx: np.ndarray) -> pa.Array:
        """The header of each cell's value column (for the report)."""
        return self.headers.take(pa.array(self.col_of[idx], pa.int64()))

    def raw(self, idx: np.ndarray) -> pa.Array:
        """Each cell's value as the file wrote it, as text: only the cells asked for are cast
        (a clean import of numbers never turns a million of them into strings)."""
        if not len(idx):
            return pa.array([], pa.string())
        if len(self.parts) == 1:
            return pc.cast(self.parts[0].take(pa.array(self.row[idx], pa.int64())), pa.string())
        texts = pa.concat_arrays([pc.cast(p, pa.string()) for p in self.parts])
        n = len(self.parts[0])
        return texts.take(pa.array(self.col_of[idx] * n + self.row[idx], pa.int64()))


def _header(table: pa.Table, name: str, case_insensitive: bool = True) -> str | None:
    if name in table.column_names:
        return name
    if case_insensitive:
        for c in table.column_names:
            if c.strip().lower() == name.strip().lower():
                return c
    return None


def _plan(
    rt: ModelRuntime, cube: str, table: pa.Table, m: Mapping
) -> tuple[dict[str, str], list[str]]:
    """(dimension -> column, value columns); a mapping that cannot apply is a 422."""
    dims = rt.cube(cube).dimensions
    unknown = [
        d for d in (*m.columns, *m.constants, *([m.across] if m.across else [])) if d not in dims
    ]
    if unknown:
        raise InvalidValue(
            f"cube {cube!r} has no dimension {unknown[0]!r} (its dimensions: {dims})",
            dimensions=dims,
            unknown=unknown,
        )
    columns: dict[str, str] = {}
    for d in dims:
        if d in m.constants or d == m.across:
            continue
        wanted = m.columns.get(d, d)
        found = _header(table, wanted)
        if found is None:
            raise InvalidValue(
                f"dimension {d!r}: the file has no column {wanted!r} (its columns: "
                f"{table.column_names}); map a column (`map={d}=COLUMN`) or give a constant "
                f"(`const={d}=ELEMENT`)",
                dimension=d,
                columns=table.column_names,
            )
        columns[d] = found
    if m.across is None:
        value = _header(table, m.value or "value")
        if value is None:
            raise InvalidValue(
                f"the file has no value column {m.value or 'value'!r} (its columns: "
                f"{table.column_names}); name it with `value=COLUMN`, or unpivot value "
                "columns with `across=DIMENSION`",
                columns=table.column_names,
            )
        return columns, [value]
    used = set(columns.values())
    values = m.value_columns or [c for c in table.column_names if c not in used]
    missing = [c for c in values if c not in table.column_names]
    if missing or not values:
        raise InvalidValue(
            f"value columns {missing or values} are not in the file (its columns: "
            f"{table.column_names})",
            columns=table.column_names,
        )
    return columns, values


def _visible(ctx: Context, d: str) -> np.ndarray | None:
    mask = ctx.masks.dimensions.get(d)
    return None if mask is None else mask >= Access.READ


def _cells(ctx: Context, cube: str, table: pa.Table, m: Mapping, problems: Problems) -> _Cells:
    rt = ctx.rt
    dims = rt.cube(cube).dimensions
    columns, values = _plan(rt, cube, table, m)
    n, k = table.num_rows, len(values)
    empty = _empty_rows(table)  # a row of empty fields (Excel's ";;") loads nothing, quietly
    row = np.tile(np.arange(n, dtype=np.int64), k)
    col_of = np.repeat(np.arange(k, dtype=np.int64), n)
    coords = np.full((n * k, len(dims)), -1, dtype=np.int64)
    for axis, d in enumerate(dims):
        h, aliases, visible = rt.hierarchy(d), rt.aliases.get(d, {}), _visible(ctx, d)
        if d in m.constants:
            pos = match.positions(
                h,
                aliases,
                pa.array([m.constants[d]]),
                case_insensitive=m.case_insensitive,
                visible=visible,
            )
            if pos[0] < 0 or not h.is_leaf[pos[0]]:
                why = "has no such element" if pos[0] < 0 else "holds it as a consolidated element"
                raise InvalidValue(
                    f"constant {d}={m.constants[d]!r}: dimension {d!r} {why}; a constant "
                    "names a leaf",
                    dimension=d,
                    element=m.constants[d],
                )
            coords[:, axis] = pos[0]
            continue
        if d == m.across:
            source, where = pa.array(values, pa.string()), col_of
            pos = match.positions(
                h, aliases, source, case_insensitive=m.case_insensitive, visible=visible
            )
            bad = np.flatnonzero(pos < 0)
            problems.add(
                np.ones(len(bad), dtype=np.int64),
                source.take(pa.array(bad)),
                source.take(pa.array(bad)),
                "unknown_element",
                match.suggestions(h, source.take(pa.array(bad)), visible),
            )
        else:
            source, where = table.column(columns[d]).combine_chunks(), row
            pos = match.positions(
                h, aliases, source, case_insensitive=m.case_insensitive, visible=visible
            )
            bad = np.flatnonzero((pos < 0) & ~empty)
            unknown = pc.cast(source.take(pa.array(bad)), pa.string())
            problems.add(
                bad + FIRST_ROW,
                columns[d],
                unknown,
                "unknown_element",
                match.suggestions(h, unknown, visible),
            )
            leaf = np.flatnonzero((pos >= 0) & ~h.is_leaf[np.maximum(pos, 0)])
            problems.add(
                leaf + FIRST_ROW,
                columns[d],
                pc.cast(source.take(pa.array(leaf)), pa.string()),
                "consolidated",
                f"dimension {d}",
            )
            pos[leaf] = -1
        if d == m.across:
            leaf = np.flatnonzero((pos >= 0) & ~h.is_leaf[np.maximum(pos, 0)])
            problems.add(
                np.ones(len(leaf), dtype=np.int64),
                pa.array(values).take(pa.array(leaf)),
                pa.array(values).take(pa.array(leaf)),
                "consolidated",
                f"dimension {d}",
            )
            pos[leaf] = -1
        coords[:, axis] = pos[where]
    parts, nums, blanks, bads = [], [], [], []
    for c in values:
        col = table.column(c).combine_chunks()
        num, blank, bad = parse(col, m.locale)
        parts.append(col)
        nums.append(num)
        blanks.append(blank)
        bads.append(bad)
    return _Cells(
        row,
        coords,
        col_of,
        pa.array(values, pa.string()),
        parts,
        np.concatenate(nums),
        np.concatenate(blanks),
        np.concatenate(bads),
    )


def _surely_distinct(flat: np.ndarray, size: int) -> bool:
    """Whether no cell is named twice, told by marking each in a bitmap of the cube's cells
    (no sort) when the cube is small enough for one; False: sort to find the repeats."""
    if not len(flat) or size > MAX_BITMAP:
        return not len(flat)
    seen = np.zeros(size, dtype=bool)
    seen[flat] = True
    return int(np.count_nonzero(seen)) == len(flat)


def _empty_rows(table: pa.Table) -> np.ndarray:
    """Which records have nothing in any field (null, or empty text)."""
    empty = np.ones(table.num_rows, dtype=bool)
    for column in table.columns:
        none = pc.is_null(column)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            none = pc.or_(none, pc.equal(column, ""))
        empty &= np.asarray(none.to_numpy(zero_copy_only=False), dtype=bool)
        if not empty.any():
            break
    return empty


def _rows(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[idx]``, without the copy when ``idx`` is every row in order (a clean file)."""
    if len(idx) == len(a) and (not len(idx) or (idx[0] == 0 and idx[-1] == len(a) - 1)):
        return a  # idx is increasing (np.flatnonzero), so first and last tell
    return a[idx]


def _take(a: pa.Array, idx: np.ndarray) -> pa.Array:
    return a.take(pa.array(idx, pa.int64()))


def build(
    ctx: Context, cube: str, table: pa.Table, m: Mapping, mode: Mode, load_valid_rows: bool
) -> Outcome:
    """The changes the import makes and its problems. Runs under the model's write lock when
    it is committed (``run``), so what it checks is what is written."""
    rt = ctx.rt
    dims = rt.cube(cube).dimensions
    hierarchies = [rt.hierarchy(d) for d in dims]
    problems = Problems()
    c = _cells(ctx, cube, table, m, problems)
    known = (c.coords >= 0).all(axis=1)
    mask = rt.text_mask(cube)
    is_text = np.zeros(len(c.row), dtype=bool)
    if mask is not None:
        is_text[known] = mask[1][c.coords[known, mask[0]]]
    file_row = c.row + FIRST_ROW
    # values: a blank is no change; text in a number cell, or a number past the limit, is wrong
    bad = np.flatnonzero(known & ~is_text & c.bad)
    problems.add(file_row[bad], c.column(bad), c.raw(bad), "not_a_number")
    big = np.flatnonzero(
        known & ~is_text & ~c.blank & ~c.bad & (np.abs(np.nan_to_num(c.num)) > MAX_INPUT)
    )
    problems.add(
        file_row[big],
        c.column(big),
        c.raw(big),
        "too_large",
        f"at most {MAX_INPUT:g} in magnitude",
    )
    live = known & ~c.blank
    live[bad] = False
    live[big] = False
    idx = np.flatnonzero(live)
    coords = _rows(c.coords, idx)
    allowed = ctx.masks.cells(cube, dims, coords)
    refused = np.flatnonzero(allowed < Access.WRITE)
    problems.add(
        file_row[idx[refused]],
        c.column(idx[refused]),
        c.raw(idx[refused]),
        "not_writable",
    )
    ruled = np.flatnonzero(rt.engine.rules.rule_cells(cube, coords))
    problems.add(file_row[idx[ruled]], c.column(idx[ruled]), c.raw(idx[ruled]), "rule_cell")
    ok = np.ones(len(idx), dtype=bool)
    ok[refused] = False
    ok[ruled] = False
    if not ok.all():
        idx, coords = idx[ok], coords[ok]
    # duplicates: one cell named twice; accumulate sums numbers
    shape = tuple(h.size for h in hierarchies)
    flat = np.ravel_multi_index(coords.T, shape) if len(coords) else np.zeros(0, np.int64)
    first_of = np.ones(len(flat), dtype=bool)
    again = np.zeros(0, dtype=np.int64)
    if not _surely_distinct(flat, math.prod(shape)):
        order = np.argsort(flat, kind="stable")
        first_of[order[1:]] = flat[order[1:]] != flat[order[:-1]]
        again = np.flatnonzero(~first_of)
    if len(again):
        firsts = order[np.searchsorted(flat[order], flat[again])]
        if mode is Mode.accumulate:
            text_again = is_text[idx[again]] | is_text[idx[firsts]]
            again, firsts = again[text_again], firsts[text_again]
        problems.add(
            file_row[idx[again]],
            c.column(idx[again]),
            c.raw(idx[again]),
            "duplicate",
            pa.array([f"first given in row {r}" for r in file_row[idx[firsts]]], pa.string()),
        )
    loaded = np.ones(len(idx), dtype=bool)  # rows without problems (when those are loaded)
    if problems.count and load_valid_rows:
        loaded = ~np.isin(file_row[idx], problems.rows())
    keep = loaded & first_of
    num = c.num[idx]
    if mode is Mode.accumulate and len(flat):
        # each cell once (its first loaded row), holding the sum of its loaded rows' numbers
        keep = np.zeros(len(idx), dtype=bool)
        rows = np.flatnonzero(loaded)
        _, first, group = np.unique(flat[rows], return_index=True, return_inverse=True)
        keep[rows[first]] = True
        numeric = ~is_text[idx[rows]]
        sums = np.bincount(group[numeric], weights=num[rows][numeric], minlength=len(first))
        num[rows[first]] = np.where(is_text[idx[rows[first]]], num[rows[first]], sums)
        over = keep & ~is_text[idx] & (np.abs(num) > MAX_INPUT)
        problems.add(
            file_row[idx[over]],
            c.column(idx[over]),
            pa.array([f"{v:g}" for v in num[over]], pa.string()),
            "too_large",
            "the sum of the cell's rows",
        )
        keep &= ~over
    sel = idx[keep]
    out = Outcome(table.num_rows, int((~c.blank).sum()), problems)
    texts = is_text[sel]
    written = _rows(c.coords, sel)
    out.changes = CellBatch.of(
        cube,
        encode(hierarchies, written),
        np.where(texts, np.nan, num[keep]),
        pc.if_else(pa.array(texts), pc.cast(c.raw(sel), pa.string()), None)
        if texts.any()
        else None,
        written,
    )
    if mode is Mode.replace_area:
        cleared = _clear(ctx, cube, hierarchies, written, problems)
        out.changes = CellBatch.concat([out.changes, cleared])
        out.cleared = len(cleared)
    return out


def _clear(
    ctx: Context, cube: str, hierarchies: Sequence[Any], written: np.ndarray, problems: Problems
) -> CellBatch:
    """Clears for the stored cells in the file's area the file does not write."""
    if not len(written):
        return CellBatch.of(cube, [], np.zeros(0), None, np.zeros((0, len(hierarchies)), np.int64))
    stored = ctx.ws.store.load_cells(ctx.rt.name, cube)
    coords = decode(hierarchies, stored["addr"])
    inside = (coords >= 0).all(axis=1)
    for a in range(len(hierarchies)):
        inside &= np.isin(coords[:, a], np.unique(written[:, a]))
    shape = tuple(h.size for h in hierarchies)
    inside &= ~np.isin(
        np.ravel_multi_index(np.maximum(coords, 0).T, shape), np.ravel_multi_index(written.T, shape)
    )
    idx = np.flatnonzero(inside)
    allowed = ctx.masks.cells(cube, [h.name for h in hierarchies], coords[idx])
    refused = idx[allowed < Access.WRITE]
    problems.add(
        np.zeros(len(refused), dtype=np.int64),
        "(area)",
        _take(stored["addr"].combine_chunks(), refused),
        "not_writable",
        "replace would clear this stored cell",
    )
    idx = idx[allowed >= Access.WRITE]
    return CellBatch.of(
        cube,
        _take(stored["addr"].combine_chunks(), idx),
        np.full(len(idx), np.nan),
        None,
        coords[idx],
    )


def run(
    ctx: Context,
    cube: str,
    table: pa.Table,
    mapping: Mapping,
    *,
    mode: Mode = Mode.upsert,
    dry_run: bool = False,
    load_valid_rows: bool = False,
    message: str = "",
    progress: Progress | None = None,
) -> Outcome:
    """Validate the whole table, then (unless a dry run, or problems without
    ``load_valid_rows``) commit it as one commit of source ``import``."""
    rt = ctx.rt
    rt.cube(cube)
    rows = table.num_rows
    if dry_run:
        with rt.write_lock:
            if progress is not None:
                progress.phase("validating", 0, rows)
            return build(ctx, cube, table, mapping, mode, load_valid_rows)
    done: list[Outcome] = []

    def prepare() -> CellBatch:
        if progress is not None:
            progress.phase("validating", 0, rows)
        out = build(ctx, cube, table, mapping, mode, load_valid_rows)
        done.append(out)
        if out.problems.count and not load_valid_rows:
            exc = ImportRejected(
                f"{out.problems.count} problem(s) in the file; nothing was written (the first: "
                f"{_first(out.problems)})",
                error_count=out.problems.count,
                errors=out.problems.first(MAX_REPORTED),
            )
            exc.outcome = out
            raise exc
        assert out.changes is not None
        if progress is not None:
            progress.phase("committing", rows, rows)  # the last moment a cancel is heard
        return out.changes

    result = cells.submit(
        ctx.ws,
        rt,
        prepare,
        size=table.num_rows,
        author=ctx.author,
        message=message or "import",
        source=cells.Source.import_.value,
        base=None,
        session=ctx.session,
    )
    done[-1].result = result
    return done[-1]


def _first(problems: Problems) -> str:
    p = problems.first(1)[0]
    return f"row {p['row']}, column {p['column']!r}, value {p['value']!r}: {p['reason']}"
