"""Files to Arrow tables: CSV (any common dialect), Parquet and XLSX, read safely.

``read`` dispatches on the format to the reader the hook registry holds for it
(``server.plugins``): the three below are the built-in plugin ``server.imports.builtin_readers``,
and a plugin can add more (docs/plugins.md).

Every reader gives a table whose first row of data is file row 2 (a CSV or sheet's header is
row 1; a Parquet file's first record is row 2 too, so reports read the same for every format).

- **CSV** is read by pyarrow with every column as text, so ``007`` stays an element name and
  numbers are parsed later in the file's locale (``server.imports.numbers``). The encoding is
  UTF-8 (a byte-order mark is dropped) unless the bytes are not UTF-8, then cp1252 — the two
  encodings spreadsheets write; the delimiter is sniffed from the first lines among
  ``, ; TAB |`` unless given. Quoted newlines and CRLF line ends are read as CSV means them.
  ``read_csv_dialect`` also says what it decided (``Dialect``), for the web's preview.
- **Parquet** is read by pyarrow as it is typed.
- **XLSX** is read by python-calamine (MIT, Rust; tens of times openpyxl's speed), after the
  archive is checked: at most ``MAX_XLSX_MEMBERS`` parts, ``MAX_XLSX_BYTES`` uncompressed and a
  compression ratio of ``MAX_XLSX_RATIO`` per part (a zip bomb is refused before a byte of it is
  inflated), and no part may declare a DTD (OOXML never does; a DTD is how entity expansion and
  external entities (XXE) get in). Formula cells saved without values (a workbook a script
  wrote) are computed by the optional ``formulas`` package or refused, naming them
  (``server.imports.formulas``); values a spreadsheet application saved are read as they are.

In every format a header that names a column twice is refused: a mapping names columns.

The bytes themselves are bounded before they are read by the server's body limit
(``PLANCUBE_MAX_BODY_BYTES``, ``server.body_limit``).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from server import plugins
from server.errors import BadRequest, InvalidValue
from server.imports import formulas
from server.plugins import Reader

MAX_XLSX_BYTES = 1 << 30  # all parts inflated
MAX_XLSX_RATIO = 200  # per part: a sheet of numbers packs about 10:1, a bomb 1000:1
MAX_XLSX_MEMBERS = 10_000
DELIMITERS = ",;\t|"


class Format(StrEnum):
    """The built-in formats; a plugin's reader adds its own name (``server.plugins``)."""

    csv = "csv"
    xlsx = "xlsx"
    parquet = "parquet"


MEDIA_TYPES = {
    "text/csv": Format.csv,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": Format.xlsx,
    "application/vnd.apache.parquet": Format.parquet,
}


class UnreadableFile(BadRequest):
    code = "unreadable_file"


def readers() -> dict[str, Reader]:
    """Every format imports read, by name: the built-ins and the plugins' (the registry)."""
    return plugins.readers()


def format_for(media_type: str) -> str | None:
    """The format a Content-Type names, among every registered reader's."""
    media_type = media_type.split(";", 1)[0].strip().lower()
    for reader in readers().values():
        if media_type in (m.lower() for m in reader.media_types):
            return reader.name
    return None


def read(raw: bytes, fmt: str, **options: str | None) -> pa.Table:
    """The file as a table, read by the reader registered for ``fmt``; of ``options``
    (delimiter, encoding, sheet) it gets those it takes that were given."""
    known = readers()
    reader = known.get(str(fmt))
    if reader is None:
        raise InvalidValue(
            f"no reader for format {str(fmt)!r} (formats: {', '.join(sorted(known))})",
            parameter="format",
            value=str(fmt),
            formats=sorted(known),
        )
    given = {k: v for k, v in options.items() if v is not None and k in reader.options}
    return reader.read(raw, **given)


def read_parquet(raw: bytes) -> pa.Table:
    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFile(f"not a readable Parquet file: {exc}") from None
    return unique_headers(table)


def unique_headers(table: pa.Table) -> pa.Table:
    """The table, once no two of its columns have the same name (a mapping names columns)."""
    seen: dict[str, int] = {}
    for j, name in enumerate(table.column_names):
        if name in seen:
            raise _twice(name, seen[name], j)
        seen[name] = j
    return table


def _twice(name: str, first: int, second: int) -> UnreadableFile:
    return UnreadableFile(
        f"the header names column {name!r} twice (columns {first + 1} and {second + 1}): "
        "each column needs a name of its own",
        column=name,
    )


@dataclass(frozen=True)
class Dialect:
    """What ``read_csv`` decided (or was told): the web's preview shows it, and a load keeps it."""

    delimiter: str
    encoding: str
    bom: bool  # the file began with a UTF-8 byte-order mark (dropped)


def read_csv(raw: bytes, *, delimiter: str | None = None, encoding: str | None = None) -> pa.Table:
    return read_csv_dialect(raw, delimiter=delimiter, encoding=encoding)[0]


def read_csv_dialect(
    raw: bytes, *, delimiter: str | None = None, encoding: str | None = None
) -> tuple[pa.Table, Dialect]:
    """The table and the dialect it was read in (the delimiter and encoding sniffed unless
    given)."""
    for magic, kind, fmt in ((b"PK\x03\x04", "a zip archive (an XLSX workbook?)", "xlsx"),
                             (b"PAR1", "a Parquet file", "parquet")):  # fmt: skip
        if raw.startswith(magic):
            raise UnreadableFile(
                f"this is {kind}, not CSV: send it with format={fmt} (or its own Content-Type)",
                format=fmt,
            )
    bom = raw.startswith(b"\xef\xbb\xbf")
    if bom:
        raw, encoding = raw[3:], encoding or "utf-8"
    if encoding is None:
        try:
            raw.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    try:
        sample = raw[: 1 << 16].decode(encoding, errors="ignore")
    except LookupError:
        raise UnreadableFile(f"unknown encoding {encoding!r}", encoding=encoding) from None
    if delimiter is None:
        delimiter = _sniff(sample)
    try:
        header = next(csv.reader(io.StringIO(sample), delimiter=delimiter))
    except (StopIteration, csv.Error):
        raise UnreadableFile("the file is empty: a CSV import needs a header row") from None
    slots = [f"c{j}" for j in range(len(header))]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(raw),
            read_options=pacsv.ReadOptions(encoding=encoding, column_names=slots, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(slots, pa.string()), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise UnreadableFile(f"not a readable CSV file: {exc}", delimiter=delimiter) from None
    return unique_headers(_named(table, header)), Dialect(delimiter, encoding, bom)


def _named(table: pa.Table, header: list[str]) -> pa.Table:
    """The columns under their headers. A column with no header and no values is dropped (Excel
    saves a sheet's trailing empty columns as ``a;b;;``); one with values but no header is
    "column N", as in a workbook."""
    keep, names = [], []
    for j, name in enumerate(header):
        column = table.column(j)
        if not name.strip() and not pc.any(pc.not_equal(column, "")).as_py():
            continue
        keep.append(j)
        names.append(name if name.strip() else f"column {j + 1}")
    return table.select(keep).rename_columns(names)


def _sniff(sample: str) -> str:
    lines = sample.splitlines()[:20]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        # one column, or the sniffer undecided: the delimiter the header has most of
        head = lines[0] if lines else ""
        return max(DELIMITERS, key=head.count) if any(d in head for d in DELIMITERS) else ","


def check_xlsx(raw: bytes) -> zipfile.ZipFile:
    """The archive, once it is known not to be a bomb nor to carry a DTD."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise UnreadableFile("not an XLSX file (not a zip archive)") from None
    parts = archive.infolist()
    if len(parts) > MAX_XLSX_MEMBERS:
        raise UnreadableFile(f"the workbook has {len(parts)} parts (at most {MAX_XLSX_MEMBERS})")
    total = sum(p.file_size for p in parts)
    if total > MAX_XLSX_BYTES:
        raise UnreadableFile(
            f"the workbook inflates to {total} bytes (at most {MAX_XLSX_BYTES}); refused",
            limit=MAX_XLSX_BYTES,
        )
    for p in parts:
        if p.file_size > 1 << 20 and p.file_size > MAX_XLSX_RATIO * max(p.compress_size, 1):
            raise UnreadableFile(
                f"part {p.filename!r} inflates {p.file_size // max(p.compress_size, 1)}-fold "
                f"(at most {MAX_XLSX_RATIO}); a zip bomb is refused",
                part=p.filename,
                limit=MAX_XLSX_RATIO,
            )
        if p.filename.endswith((".xml", ".rels")):
            with archive.open(p) as f:
                head = f.read(4096)
            if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in head.upper():
                raise UnreadableFile(
                    f"part {p.filename!r} declares a DTD (entities are refused)", part=p.filename
                )
    return archive


def read_xlsx(raw: bytes, *, sheet: str | None = None) -> pa.Table:
    return read_xlsx_sheets(raw, sheet=sheet)[0]


def read_xlsx_sheets(raw: bytes, *, sheet: str | None = None) -> tuple[pa.Table, list[str]]:
    """The sheet's table (the first sheet unless named) and the workbook's sheet names."""
    from python_calamine import CalamineWorkbook

    archive = check_xlsx(raw)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(raw))
        names = book.sheet_names
        if sheet is not None and sheet not in names:
            raise UnreadableFile(f"the workbook has no sheet {sheet!r}", sheets=names)
        name = sheet or names[0]
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except UnreadableFile:
        raise
    except Exception as exc:  # calamine raises its own error types for broken workbooks
        raise UnreadableFile(f"not a readable XLSX file: {exc}") from None
    rows = _computed(raw, archive, name, rows)
    if not rows:
        raise UnreadableFile("the sheet is empty: an import needs a header row")
    header = [_text(v) for v in rows[0]]
    columns: dict[str, pa.Array] = {}
    where: dict[str, int] = {}
    for j, col_name in enumerate(header):
        if col_name == "" and all(j >= len(r) or r[j] in ("", None) for r in rows[1:]):
            continue  # an unused column of the sheet's area
        key = col_name or f"column {j + 1}"
        if key in where:
            raise _twice(key, where[key], j)
        where[key] = j
        columns[key] = _column([r[j] if j < len(r) else None for r in rows[1:]])
    return pa.table(columns), list(names)


def _computed(
    raw: bytes, archive: zipfile.ZipFile, sheet: str, rows: list[list[Any]]
) -> list[list[Any]]:
    """``rows`` (from A1) with the values of formula cells that were saved without any:
    computed by the optional ``formulas`` package, or refused naming them (``formulas``)."""
    cells = formulas.uncached(archive, sheet)
    if not cells:
        return rows
    if not formulas.available():
        raise formulas.refuse(sheet, cells)
    values = formulas.evaluate(raw, sheet, cells)
    width = max([len(r) for r in rows] + [formulas.cell_index(c)[1] + 1 for c in cells])
    height = max(len(rows), *(formulas.cell_index(c)[0] + 1 for c in cells))
    out = [[*r, *([""] * (width - len(r)))] for r in rows]
    out += [[""] * width for _ in range(height - len(out))]
    for ref, value in values.items():
        i, j = formulas.cell_index(ref)
        out[i][j] = value
    return out


def _column(values: list[Any]) -> pa.Array:
    """Numbers stay numbers (a value column); anything else is text, as the sheet shows it."""
    if all(
        v is None or v == "" or (isinstance(v, int | float) and not isinstance(v, bool))
        for v in values
    ):
        return pa.array([None if v == "" else float(v) for v in values], pa.float64())
    return pa.array([_text(v) for v in values], pa.string())


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # an element named 2024 is typed as a number in a sheet
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    return str(v)
