"""Formula cells an uploaded workbook carries without values, found and — optionally — computed.

A spreadsheet application saves each formula cell with the value it last computed (its *cached*
value), and an importer reads that value: the formula itself means nothing to a cube. A workbook
written by a script (openpyxl, a report generator) has the formulas but no values — nothing ever
computed them — and a reader that takes cached values sees those cells as empty. Loading such a
file as it reads would load blanks where the file shows numbers, so it is never done silently:

- ``uncached`` finds them in the sheet's XML: a cell with an ``<f>`` and no ``<v>`` value (a
  cell typed ``t="str"`` with an empty ``<v>`` is a formula whose cached result is the empty
  string, as Excel and LibreOffice save it, and is not one of them);
- ``evaluate`` computes the workbook with the ``formulas`` package (Excel semantics in Python,
  the optional extra ``plancube[formulas]``: its licence is the EUPL, so it is not part of the
  default install) and answers the computed values of those cells;
- without it, ``FormulasWithoutValues`` (422) names the cells (``Sheet!A1``, the first 100) and
  how to give them values: open and save the file in Excel or LibreOffice, or install the extra.
"""

from __future__ import annotations

import html
import io
import os
import re
import tempfile
import zipfile
from posixpath import join, normpath
from typing import Any
from xml.etree import ElementTree

import numpy as np

from server.errors import Unprocessable

MAX_REPORTED = 100  # cells a refusal names
# formula cells computed for one upload; past that, save it in Excel. The package is slow and
# grows faster than linearly: measured, 1,000 cells of =B2*2 in 4 s, 10,000 in 60 s
MAX_EVALUATED = 5_000

# The end of a formula (``</f>``, or a shared formula's ``<f …/>``) not followed by a cached value:
# a cell's children come in the order f, v, is (ECMA-376 CT_Cell), so a value, when there is
# one, is the next element. The patterns start with literal text, which the regex engine finds
# without trying every ``<`` of the sheet (tens of milliseconds for 100 k rows); a prefixed
# namespace (``<x:f>``, rare) has its own pattern, tried only when the sheet has one.
_UNCACHED = re.compile(rb"(?:</f>|<f\b[^>]*/>)(?!\s*<v>[^<])")
_UNCACHED_PREFIXED = re.compile(rb"(?:</\w+:f>|<\w+:f\b[^>]*/>)(?!\s*<\w+:v>[^<])")
_CELL_START = re.compile(rb"<(?:\w+:)?c\b([^>]*)>")
_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_TYPE = re.compile(rb'\bt="(\w+)"')
_KEY = re.compile(r"^'?\[[^\]]*\](.+?)'?!\$?([A-Z]+)\$?([0-9]+)$")
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class FormulasWithoutValues(Unprocessable):
    code = "formulas_without_values"


class FormulasFailed(Unprocessable):
    code = "formulas_failed"


# A formula's text, and a defined name's, in any part (entities decoded before it is judged)
_FORMULA_TEXT = re.compile(rb"<(?:\w+:)?(?:f|definedName)\b[^>]*>([^<]*)</")
# another workbook: ``[book.xlsx]Sheet!A1``, ``[1]Sheet!A1`` (an external link), or a path
_EXTERNAL = re.compile(r"\[|'[^']*[/\\][^']*'!")


def self_contained(archive: zipfile.ZipFile) -> None:
    """Refuse a workbook whose formulas reach outside it before it is computed.

    The ``formulas`` package loads the workbooks a formula refers to, from paths relative to the
    file: a reference to ``'/srv/other/[secret.xlsx]Sheet1'!A1`` would have the server read a
    file of its own disk into a cube. So a workbook with external links, or a formula or defined
    name naming another book (or holding a structured reference, which the package does not
    compute either), is not computed.
    """
    for part in archive.namelist():
        if part.startswith("xl/externalLinks/"):
            raise FormulasFailed(
                "the workbook links to other workbooks; the server computes only formulas "
                "within the file: open it in Excel or LibreOffice and save it",
                part=part,
            )
        if not (part.startswith("xl/worksheets/") or part == "xl/workbook.xml"):
            continue
        for m in _FORMULA_TEXT.finditer(archive.read(part)):
            text = html.unescape(m.group(1).decode("utf-8", errors="replace"))
            if _EXTERNAL.search(text):
                raise FormulasFailed(
                    f"a formula refers outside the workbook ({text[:200]!r}); the server "
                    "computes only formulas within the file: open it in Excel or LibreOffice "
                    "and save it",
                    part=part,
                    formula=text[:200],
                )


def sheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The archive member holding the worksheet named ``sheet``."""
    try:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    rid = next(
        (s.get(f"{{{_REL}}}id") for s in book.iterfind(".//{*}sheet") if s.get("name") == sheet),
        None,
    )
    for rel in rels.iterfind("{*}Relationship"):
        if rel.get("Id") == rid:
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else normpath(join("xl", target))
    return None


def uncached(archive: zipfile.ZipFile, sheet: str) -> list[str]:
    """The cells (``A1`` references) of ``sheet`` with a formula but no cached value."""
    part = sheet_part(archive, sheet)
    if part is None:
        return []
    try:
        data = archive.read(part)
    except KeyError:
        return []
    ends = [(m, b"<c ") for m in _UNCACHED.finditer(data)]
    if b":f" in data:
        ends += [(m, b":c ") for m in _UNCACHED_PREFIXED.finditer(data)]
    out = []
    for end, opening in ends:  # one per formula without a value: none if a spreadsheet saved it
        at = end.start()
        start = data.rfind(opening, 0, at)  # the cell's start: back over one formula's text
        if start < 0:
            continue
        cell = _CELL_START.match(data, data.rfind(b"<", 0, start + 1), at)
        if cell is None:
            continue
        kind = _TYPE.search(cell.group(1))
        if kind is not None and kind.group(1) == b"str" and data.startswith(b"<", end.end()):
            continue  # a cached empty string: t="str" and an empty <v>
        ref = _REF.search(cell.group(1))
        if ref is not None:
            out.append(ref.group(1).decode())
    return sorted(set(out), key=cell_index) if len(ends) > len(out) or b":f" in data else out


def quoted(sheet: str) -> str:
    """A sheet name as a reference spells it: quoted unless it is a plain word."""
    return (
        sheet
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", sheet)
        else "'" + sheet.replace("'", "''") + "'"
    )


def refuse(sheet: str, cells: list[str]) -> FormulasWithoutValues:
    shown = [f"{quoted(sheet)}!{c}" for c in cells[:MAX_REPORTED]]
    more = f" and {len(cells) - MAX_REPORTED} more" if len(cells) > MAX_REPORTED else ""
    return FormulasWithoutValues(
        f"{len(cells)} formula cell(s) have no computed values — the workbook was written by a "
        f"program and never calculated: {', '.join(shown)}{more}. Open it in Excel or "
        "LibreOffice and save it (that stores the values), or have the server compute them "
        "by installing the optional extra: pip install 'plancube[formulas]'",
        sheet=sheet,
        cells=shown,
        count=len(cells),
    )


def available() -> bool:
    try:
        import formulas  # noqa: F401
    except ImportError:
        return False
    return True


def evaluate(raw: bytes, sheet: str, cells: list[str]) -> dict[str, Any]:
    """The computed values of ``cells`` of ``sheet`` (``A1`` references), by ``formulas``."""
    if len(cells) > MAX_EVALUATED:
        raise FormulasFailed(
            f"{len(cells)} formula cells have no values; the server computes at most "
            f"{MAX_EVALUATED}: open the workbook in Excel or LibreOffice and save it",
            count=len(cells),
            limit=MAX_EVALUATED,
        )
    self_contained(zipfile.ZipFile(io.BytesIO(raw)))
    import formulas

    with tempfile.TemporaryDirectory(prefix="plancube-formulas-") as tmp:
        path = os.path.join(tmp, "upload.xlsx")
        with open(path, "wb") as f:
            f.write(raw)
        try:
            solution = formulas.ExcelModel().loads(path).finish().calculate()
        except Exception as exc:  # the package raises its own types for what it cannot compute
            raise FormulasFailed(
                f"the workbook's formulas could not be computed ({type(exc).__name__}: {exc}); "
                "open it in Excel or LibreOffice and save it",
                sheet=sheet,
            ) from None
    wanted = set(cells)
    upper = sheet.upper()  # formulas names sheets in upper case
    out: dict[str, Any] = {}
    for key, ranges in solution.items():
        m = _KEY.match(str(key))
        if m is None or m.group(1).replace("''", "'").upper() != upper:
            continue
        ref = m.group(2) + m.group(3)
        if ref in wanted:
            out[ref] = _plain(getattr(ranges, "value", ranges))
    missing = [c for c in cells if c not in out]
    if missing:
        raise FormulasFailed(
            f"the workbook's formulas were computed, but not those of "
            f"{', '.join(f'{quoted(sheet)}!{c}' for c in missing[:MAX_REPORTED])}; open it in "
            "Excel or LibreOffice and save it",
            sheet=sheet,
            cells=missing[:MAX_REPORTED],
        )
    return out


def _plain(value: Any) -> Any:
    """A computed 1x1 range as a Python value: a number, text, a bool, None for empty; an
    Excel error (``#DIV/0!``) as its text, so a value column reports it as not a number."""
    flat = np.asarray(value, dtype=object).ravel()
    value = flat[0] if flat.size else None
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return "" if value is None else value
    text = str(value)
    return "" if text in ("", "empty") else text


def cell_index(ref: str) -> tuple[int, int]:
    """``B3`` -> (2, 1): 0-based row and column."""
    m = re.fullmatch(r"([A-Z]+)([0-9]+)", ref)
    assert m is not None, ref
    col = 0
    for ch in m.group(1):
        col = col * 26 + (ord(ch) - 64)
    return int(m.group(2)) - 1, col - 1
