"""A ``Grid`` written as CSV (streamed), XLSX (formatted) or Parquet (long layout).

- **CSV**: UTF-8 with a byte-order mark (so Excel reads it as UTF-8), CRLF line ends (RFC 4180),
  numbers in the shortest text that reads back the same (``1250``, ``0.1``), text neutralised
  (``server.exports.grid``). Lines are written as they are iterated, so a response streams them.
- **XLSX**: openpyxl in write-only mode (rows go to the file as they come, memory stays flat); a
  bold header row and bold row-header columns, both frozen; the innermost row header indented by
  its tree depth; numbers as numbers with ``NUMBER_FORMAT``; text neutralised.
- **Parquet**: long layout, one record per grid cell: a column per row and column dimension,
  then ``num`` (double) and ``txt`` (string), as the store keeps cells — what a data lake or
  DuckDB wants. No spreadsheet opens Parquet, so text is written as it is. Built by column
  (row headers repeated, column headers tiled), in row groups of ``PARQUET_ROW_GROUP``.

XLSX and Parquet are written to a file (``server.api.exports`` streams it back and deletes it),
never built whole in memory.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from server.exports.grid import Grid, Value

NUMBER_FORMAT = "#,##0.00"
CSV_BATCH = 1_000  # rows per streamed chunk
PARQUET_ROW_GROUP = 65_536  # records per Parquet row group
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # no XML 1.0 document can hold these


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    parquet = "parquet"


MEDIA_TYPES = {
    Format.csv: "text/csv; charset=utf-8",
    Format.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Format.parquet: "application/vnd.apache.parquet",
}


def content_disposition(stem: str, fmt: Format) -> str:
    """An attachment named after the cube: an ASCII ``filename`` for old clients and the exact
    name in ``filename*`` (RFC 6266)."""
    name = f"{stem}.{fmt.value}"
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _number(v: float) -> str:
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _text(v: Value) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else _number(v)


def csv_chunks(grid: Grid) -> Iterator[bytes]:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    out.writerow(grid.header)
    for i, row in enumerate(grid.rows(), 1):
        out.writerow([*row.elements, *(_text(v) for v in row.values)])
        if i % CSV_BATCH == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def xml_safe(text: str) -> str:
    return _ILLEGAL_XML.sub("\ufffd", text)


def xlsx_file(grid: Grid, path: Path) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title(grid.cube))
    n_heads = len(grid.row_dimensions)
    ws.freeze_panes = f"{get_column_letter(n_heads + 1)}2"
    for i in range(n_heads):
        ws.column_dimensions[get_column_letter(i + 1)].width = 24
    for i in range(len(grid.columns)):
        ws.column_dimensions[get_column_letter(n_heads + i + 1)].width = 14
    bold = Font(bold=True)

    def head(text: str, indent: int = 0) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=xml_safe(text))
        cell.font = bold
        if indent:
            cell.alignment = Alignment(indent=indent)
        return cell

    ws.append([head(t) for t in grid.header])
    for row in grid.rows():
        line = [head(e, row.depth if k == n_heads - 1 else 0) for k, e in enumerate(row.elements)]
        for v in row.values:
            cell = WriteOnlyCell(ws, value=xml_safe(v) if isinstance(v, str) else v)
            if isinstance(v, float):
                cell.number_format = NUMBER_FORMAT
            line.append(cell)
        ws.append(line)
    wb.save(path)


def sheet_title(cube: str) -> str:
    # Excel's rules for a sheet name: at most 31 characters, none of []:*?/\
    return re.sub(r"[\[\]:*?/\\]", "_", cube)[:31] or "Sheet1"


def parquet_file(grid: Grid, path: Path) -> None:
    """The grid in long layout, by column: row headers repeated across the columns, column
    headers tiled down the rows; one row group per ``PARQUET_ROW_GROUP`` records."""
    dims = [*grid.row_dimensions, *grid.column_dimensions]
    rows = grid.answer["rows"]
    n_rows, n_cols = len(rows), len(grid.columns)
    columns: dict[str, pa.Array] = {}
    for k, d in enumerate(grid.row_dimensions):
        names = pa.array([h["elements"][k] for h in rows], pa.string())
        columns[d] = names.take(pa.array(np.repeat(np.arange(n_rows), n_cols)))
    for k, d in enumerate(grid.column_dimensions):
        names = pa.array([c[k] for c in grid.columns], pa.string())
        columns[d] = names.take(pa.array(np.tile(np.arange(n_cols), n_rows)))
    values = grid.answer["values"]
    if isinstance(values, np.ndarray) and values.dtype != object:
        flat = values.reshape(-1).astype(np.float64)
        num = pa.array(flat, pa.float64())
        txt = pa.nulls(len(flat), pa.string())
    else:
        cells = [v for line in values for v in line]
        num = pa.array(
            [float(v) if v is not None and not isinstance(v, str) else None for v in cells],
            pa.float64(),
        )
        txt = pa.array([v if isinstance(v, str) else None for v in cells], pa.string())
    table = pa.table({**{d: columns[d] for d in dims}, "num": num, "txt": txt})
    pq.write_table(table, path, row_group_size=PARQUET_ROW_GROUP)
