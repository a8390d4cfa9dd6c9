"""An area's cells (``server.exports.area``) written as long CSV, XLSX or Parquet, streamed.

One record per cell: a column per cube dimension (element names), then the value.

- **CSV**: UTF-8 with a byte-order mark, CRLF line ends, a ``value`` column holding the number
  (whole numbers below 10^15 without a decimal point, others in the shortest form that reads
  back the same) or the text; written by Arrow's CSV writer one batch at a time, so the answer
  streams as it is written. Element names and texts are neutralised (``grid.neutralise``).
- **XLSX**: openpyxl in write-only mode to a file (rows go to disk as they come: memory stays
  flat); a bold header row, frozen; numbers as numbers with ``NUMBER_FORMAT``; text neutralised.
  A sheet holds at most ``XLSX_MAX_ROWS`` rows (Excel's own limit), so a bigger export goes on
  into sheets named ``Cube (2)``, ``Cube (3)``…, each with its header.
- **Parquet**: ``num`` (double) and ``txt`` (string) instead of ``value``, as the store keeps
  cells; written by pyarrow's ``ParquetWriter``, one row group per batch of
  ``area.BATCH_ROWS`` records. Text is kept as it is (no spreadsheet opens Parquet).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from server.exports.area import AreaCells
from server.exports.grid import neutralise
from server.exports.write import NUMBER_FORMAT, sheet_title, xml_safe

XLSX_MAX_ROWS = 1_048_576  # rows in one Excel sheet, the header included
_EXACT = 1e15  # whole numbers below this are written as integers (``1250``, not ``1250.0``)
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, eol="\r\n", quoting_style="needed")


def _value_text(num: pa.Array, txt: pa.Array) -> pa.Array:
    """The ``value`` column of a batch: its text, else its number as text, else empty."""
    values = num.to_numpy(zero_copy_only=False)
    whole = np.isfinite(values) & (np.abs(values) < _EXACT) & (values == np.round(values))
    as_int = pc.cast(pa.array(np.where(whole, values, 0).astype(np.int64)), pa.string())
    text = pc.if_else(pa.array(whole), as_int, pc.cast(num, pa.string()))
    return pc.coalesce(txt, text, pa.scalar(""))


def csv_chunks(cells: AreaCells) -> Iterator[bytes]:
    header = [neutralise(d) for d in cells.dimensions] + ["value"]
    line = io.StringIO()
    line.write("\ufeff")
    csv.writer(line, lineterminator="\r\n").writerow(header)
    yield line.getvalue().encode()
    n = len(cells.dimensions)
    for batch in cells.batches(neutralise):
        value = _value_text(batch.column(n), batch.column(n + 1))
        table = pa.table([*batch.columns[:n], value], names=_unique(header))
        out = io.BytesIO()
        pacsv.write_csv(table, out, _CSV_OPTIONS)
        yield out.getvalue()


def _unique(names: list[str]) -> list[str]:
    """Distinct column names, as an Arrow table needs them (a dimension may be named
    ``value``); the header line is written apart, as it is."""
    seen: set[str] = set()
    out = []
    for n in names:
        while n in seen:
            n += "_"
        seen.add(n)
        out.append(n)
    return out


def xlsx_file(cells: AreaCells, path: Path) -> None:
    wb = Workbook(write_only=True)
    header = [xml_safe(neutralise(d)) for d in cells.dimensions] + ["value"]
    bold = Font(bold=True)
    sheets = 0

    def new_sheet() -> tuple[WriteOnlyWorksheet, WriteOnlyCell]:
        nonlocal sheets
        sheets += 1
        title = sheet_title(cells.cube)
        if sheets > 1:
            suffix = f" ({sheets})"
            title = title[: 31 - len(suffix)] + suffix
        ws = wb.create_sheet(title=title)
        ws.freeze_panes = "A2"
        for i in range(len(header)):
            ws.column_dimensions[get_column_letter(i + 1)].width = 18
        heads = []
        for text in header:
            cell = WriteOnlyCell(ws, value=text)
            cell.font = bold
            heads.append(cell)
        ws.append(heads)
        # one styled cell, its value set per row: openpyxl writes a row as it is appended
        number = WriteOnlyCell(ws)
        number.number_format = NUMBER_FORMAT
        return ws, number

    ws, number = new_sheet()
    rows = 1
    n = len(cells.dimensions)
    for batch in cells.batches(lambda t: xml_safe(neutralise(t))):
        names = [c.to_pylist() for c in batch.columns[:n]]
        nums = batch.column(n).to_pylist()
        txts = batch.column(n + 1).to_pylist()
        for i, (v, t) in enumerate(zip(nums, txts, strict=True)):
            if rows == XLSX_MAX_ROWS:
                ws, number = new_sheet()
                rows = 1
            line: list[object] = [c[i] for c in names]
            if t is not None:
                line.append(t)
            elif v is not None:
                number.value = v
                line.append(number)
            ws.append(line)
            rows += 1
    wb.save(path)


def parquet_file(cells: AreaCells, path: Path) -> None:
    schema = pa.schema(
        [*((d, pa.string()) for d in cells.dimensions), ("num", pa.float64()), ("txt", pa.string())]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for batch in cells.batches():
            writer.write_batch(batch, row_group_size=len(batch))
