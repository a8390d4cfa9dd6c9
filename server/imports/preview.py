"""A file's first rows and a suggested mapping, before anything is imported.

The web's upload form shows the file as the server reads it — the format, the delimiter and
encoding ``read_csv`` sniffed (``Dialect``), an XLSX's sheets, the headers, the first rows as
text and how many rows there are — and fills its mapping in from a ``LoadSpec`` suggested here:

- each cube dimension takes the column whose header is its name (case-insensitive);
- else, when the headers of two or more columns are elements of one dimension (months, say),
  the wide layout unpivots those columns ``across`` it (the dimension with the most wins);
- else a column whose sampled values are mostly elements of the dimension (by name or alias);
- the value column (long layout) is one headed ``value``, else the rightmost other column
  whose sampled values look like numbers;
- the decimal and thousands separators are guessed from how the value columns' sampled numbers
  are written (``1.234,5``; ``1 234,5``; ``12,50`` in a semicolon file: decimal comma).

A dimension none of this finds a column for is ``unmatched``: the form asks for a constant.
Only the first ``SAMPLE`` rows are looked at, and only elements the caller may see are matched.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from server.context import Context
from server.imports import match
from server.imports.read import Format, read, read_csv_dialect, read_xlsx_sheets
from server.imports.spec import LoadSpec

SAMPLE = 1000  # rows the suggestion looks at
MAX_ROWS = 50  # rows a preview shows at most
MATCHED = 0.8  # share of a column's non-blank sampled values that must match
# RE2 (Arrow's regex engine) spells the no-break spaces \x{a0} and \x{202f}
_LOOKS_NUMERIC = r"^[\s(+-]*[\d.,' \x{a0}\x{202f}]*\d[\d.,' \x{a0}\x{202f}]*[)%-]?\s*$"


@dataclass
class Preview:
    format: Format
    table: pa.Table
    delimiter: str | None = None
    encoding: str | None = None
    bom: bool | None = None
    sheet: str | None = None
    sheets: list[str] | None = None


def read_preview(
    raw: bytes,
    fmt: Format,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> Preview:
    """The file read as an import reads it, with the options the reader decided."""
    if fmt is Format.csv:
        table, dialect = read_csv_dialect(raw, delimiter=delimiter, encoding=encoding)
        return Preview(fmt, table, dialect.delimiter, dialect.encoding, dialect.bom)
    if fmt is Format.xlsx:
        table, sheets = read_xlsx_sheets(raw, sheet=sheet)
        return Preview(fmt, table, sheet=sheet or sheets[0], sheets=sheets)
    return Preview(fmt, read(raw, fmt))


def as_text(column: pa.ChunkedArray | pa.Array) -> list[str]:
    """A column's values as the preview shows them: text, blank for a missing value."""
    text = pc.fill_null(pc.cast(column, pa.string()), "")
    return [str(v) for v in text.to_pylist()]


def answer(ctx: Context, cube: str, p: Preview, rows: int) -> dict[str, Any]:
    """The preview route's JSON."""
    table = p.table
    head = table.slice(0, rows)
    columns = [as_text(head.column(i)) for i in range(head.num_columns)]
    spec, unmatched = suggest(ctx, cube, table, p.delimiter)
    # the load reads the file as the preview did
    spec = spec.model_copy(
        update={"delimiter": p.delimiter, "encoding": p.encoding, "sheet": p.sheet}
    )
    return {
        "format": p.format.value,
        "delimiter": p.delimiter,
        "encoding": p.encoding,
        "bom": p.bom,
        "sheet": p.sheet,
        "sheets": p.sheets,
        "headers": table.column_names,
        "rows": [list(r) for r in zip(*columns, strict=True)] if columns else [],
        "row_count": table.num_rows,
        "dimensions": ctx.rt.cube(cube).dimensions,
        "suggestion": spec.model_dump(mode="json"),
        "unmatched": unmatched,
    }


def suggest(
    ctx: Context, cube: str, table: pa.Table, delimiter: str | None = None
) -> tuple[LoadSpec, list[str]]:
    """A mapping for the file, and the dimensions it found no column for."""
    rt = ctx.rt
    dims = list(rt.cube(cube).dimensions)
    sample = table.slice(0, SAMPLE)
    headers = list(table.column_names)
    used: set[str] = set()
    columns: dict[str, str] = {}
    folded = False  # a match needed case folding

    def positions(d: str, values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        h, aliases, visible = rt.hierarchy(d), rt.aliases.get(d, {}), ctx.visible(d)
        exact = match.positions(h, aliases, values, visible=visible)
        loose = match.positions(h, aliases, values, case_insensitive=True, visible=visible)
        return exact, loose

    for d in dims:  # by header name
        for c in headers:
            if c not in used and c.strip().lower() == d.strip().lower():
                columns[d] = c
                used.add(c)
                break
    across: str | None = None
    across_columns: list[str] = []
    folded_across = False
    free = [c for c in headers if c not in used]
    if free:  # the headers of several columns are elements of one dimension: wide
        for d in dims:
            if d in columns:
                continue
            exact, loose = positions(d, pa.array(free, pa.string()))
            hits = [c for c, p in zip(free, loose, strict=True) if p >= 0]
            if len(hits) >= 2 and len(hits) > len(across_columns):
                across, across_columns = d, hits
                folded_across = bool(((loose >= 0) & (exact < 0)).any())
        if across is not None:
            used.update(across_columns)
            folded |= folded_across
    for d in dims:  # by content: a column whose values are mostly the dimension's elements
        if d in columns or d == across:
            continue
        best: str | None = None
        share, best_folded = 0.0, False
        for c in headers:
            if c in used:
                continue
            values = _non_blank(sample.column(c))
            if len(values) == 0:
                continue
            exact, loose = positions(d, values)
            found = float((loose >= 0).mean())
            if found >= MATCHED and found > share:
                best, share = c, found
                best_folded = bool(((loose >= 0) & (exact < 0)).any())
        if best is not None:
            columns[d] = best
            used.add(best)
            folded |= best_folded
    value = None
    if across is None:
        named = [c for c in headers if c not in used and c.strip().lower() == "value"]
        numeric = [c for c in headers if c not in used and _numeric(sample.column(c))]
        value = (named or numeric[-1:] or [None])[0]
    numbers = across_columns if across is not None else [value] if value else []
    decimal, thousands = _separators(
        [t for c in numbers for t in _texts(sample.column(c))], delimiter
    )
    spec = LoadSpec(
        columns=columns,
        value=value,
        across=across,
        value_columns=across_columns or None,
        case_insensitive=folded,
        decimal=decimal,  # type: ignore[arg-type]
        thousands=thousands,  # type: ignore[arg-type]
        delimiter=None,
        sheet=None,
    )
    unmatched = [d for d in dims if d not in columns and d != across]
    return spec, unmatched


def _non_blank(column: pa.ChunkedArray) -> pa.Array:
    text = pc.utf8_trim_whitespace(pc.cast(column.combine_chunks(), pa.string()))
    return text.filter(pc.fill_null(pc.not_equal(text, ""), False))


def _texts(column: pa.ChunkedArray) -> list[str]:
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        return []  # typed numbers (XLSX, Parquet): no separators to guess
    return [str(v) for v in pc.unique(_non_blank(column)).to_pylist()]


def _numeric(column: pa.ChunkedArray) -> bool:
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return True
    values = _non_blank(column)
    if len(values) == 0:
        return False
    looks = pc.match_substring_regex(values, _LOOKS_NUMERIC)
    return float(np.asarray(looks.to_numpy(zero_copy_only=False), dtype=bool).mean()) >= MATCHED


def _separators(texts: Sequence[str], delimiter: str | None) -> tuple[str, str]:
    """(decimal, thousands) as LoadSpec names them, by how the numbers are written."""
    votes: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    for raw in texts[:SAMPLE]:
        t = raw.strip().strip("()%+-").strip().replace("\u00a0", " ").replace("\u202f", " ")
        if re.fullmatch(r"\d{1,3}(\.\d{3})+,\d+", t):
            votes["comma"] += 1
            groups["dot"] += 1
        elif re.fullmatch(r"\d{1,3}(,\d{3})+\.\d+", t):
            votes["dot"] += 1
            groups["comma"] += 1
        elif re.fullmatch(r"\d{1,3}('\d{3})+([.,]\d+)?", t):
            groups["apostrophe"] += 1
            if "," in t or "." in t:
                votes["comma" if "," in t else "dot"] += 1
        elif re.fullmatch(r"\d{1,3}( \d{3})+([.,]\d+)?", t):
            groups["space"] += 1
            if "," in t or "." in t:
                votes["comma" if "," in t else "dot"] += 1
        elif re.fullmatch(r"\d{1,3}(\.\d{3}){2,}", t):
            groups["dot"] += 1
            votes["comma"] += 1
        elif re.fullmatch(r"\d{1,3}(,\d{3}){2,}", t):
            groups["comma"] += 1
            votes["dot"] += 1
        elif m := re.fullmatch(r"\d*([.,])(\d+)", t):
            # "1,234" is a decimal comma or a thousands comma: the digits after it decide,
            # and for three digits the delimiter does (a semicolon file is a decimal-comma one)
            sep = "comma" if m.group(1) == "," else "dot"
            if len(m.group(2)) != 3 or (sep == "comma") == (delimiter == ";"):
                votes[sep] += 1
            else:
                groups[sep] += 1
                votes["dot" if sep == "comma" else "comma"] += 1
    decimal = "comma" if votes["comma"] > votes["dot"] else "dot"
    groups.pop(decimal, None)
    thousands = groups.most_common(1)[0][0] if groups else "none"
    return decimal, thousands
