"""The P&L as a spreadsheet: one sheet per measure, an assumption sheet and a report sheet.

Every spreadsheet peer (LibreOffice, HyperFormula, ``formulas``, pycel) computes this same
workbook. Measure sheets have one row per (product, region) pair and one column per month::

    A Product | B Region | C Family | D Group | E Key (family·G + group) | F..Q Jan..Dec

``Units`` and ``Price`` hold values (blank where the sparse model has none); the rule sheets hold
formulas, cell by cell, as a modeller would write them::

    Revenue!F2 = Units!F2*Price!F2
    COGS!F2    = Revenue!F2*Assump!$B$<row of the product>      (cross-cube: a direct reference)
    GM!F2      = Revenue!F2-COGS!F2
    Opex!F2    = Units!F2*Assump!$E$<row of the region>
    EBIT!F2    = GM!F2-Opex!F2
    RevYTD!F2  = Revenue!F2;   RevYTD!G2 = F2+Revenue!G2 …

``Assump`` lists products with COGS% in A:B and regions with OpexPerUnit in D:E. ``Report`` has one
row per (family + Total) × (group + Total), product-family-major, months in D..O and FY in P:
(family, group) cells are ``SUMIF`` over the EBIT key column, the totals are ``SUM`` of those.

:func:`workbook_cells` builds the cells once as plain Python lists; :func:`write_xlsx` saves them
with openpyxl and :func:`write_json` for HyperFormula, so every peer reads identical content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from benchmarks.pnl.model import MONTHS, N_MONTHS, PnlModel

Cell = float | str | None

MEASURE_SHEETS = ("Units", "Price", "Revenue", "COGS", "GM", "Opex", "EBIT", "RevYTD")
SHEETS = (*MEASURE_SHEETS, "Assump", "Report")
FIRST_MONTH_COL = 5  # 0-based column F
REPORT_FIRST_COL = 3  # 0-based column D
FIRST_ROW = 1  # 0-based row 2: data starts below the header


def col_letter(col: int) -> str:
    """0-based column index → Excel letters (0 → A, 26 → AA)."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@dataclass(frozen=True)
class Layout:
    """Where things are in the workbook; positions are 0-based (sheet row, column)."""

    n_rows: int
    families: int
    groups: int

    def units_cell(self, row: int, m: int) -> tuple[int, int]:
        """Units cell of data row ``row`` (0-based) and month ``m``."""
        return FIRST_ROW + row, FIRST_MONTH_COL + m

    def rev_ytd_dec(self, row: int) -> tuple[int, int]:
        """RevYTD cell of data row ``row`` in December."""
        return FIRST_ROW + row, FIRST_MONTH_COL + N_MONTHS - 1

    @property
    def report_rows(self) -> int:
        return (self.families + 1) * (self.groups + 1)

    @property
    def report_cols(self) -> int:
        return N_MONTHS + 1

    def report_origin(self) -> tuple[int, int]:
        """Top-left cell of the report block (first family × first group, Jan)."""
        return FIRST_ROW, REPORT_FIRST_COL

    def ebit_total_fy(self) -> tuple[int, int]:
        """Report cell of EBIT[Total, Total, FY]."""
        return FIRST_ROW + self.report_rows - 1, REPORT_FIRST_COL + N_MONTHS

    def data_range(self) -> tuple[int, int, int, int]:
        """Units/Price month block: first row, first col, last row, last col (inclusive)."""
        return FIRST_ROW, FIRST_MONTH_COL, FIRST_ROW + self.n_rows - 1, FIRST_MONTH_COL + 11

    def to_a1(self, row: int, col: int) -> str:
        return f"{col_letter(col)}{row + 1}"


def layout_of(model: PnlModel) -> Layout:
    return Layout(len(model.rows), model.size.families, model.size.groups)


def _num(x: float) -> float:
    return float(x)


def workbook_cells(model: PnlModel) -> dict[str, list[list[Cell]]]:
    """All sheets' cells: numbers, text, formulas (text starting with ``=``) or None (blank)."""
    s = model.size
    n = len(model.rows)
    last = n + 1  # last data row, 1-based
    month_cols = [col_letter(FIRST_MONTH_COL + m) for m in range(N_MONTHS)]
    header: list[Cell] = ["Product", "Region", "Family", "Group", "Key", *MONTHS]
    sheets: dict[str, list[list[Cell]]] = {name: [list(header)] for name in MEASURE_SHEETS}
    for i, (p, r) in enumerate(model.rows):
        p, r = int(p), int(r)
        k = i + 2
        f, g = int(model.family_of[p]), int(model.group_of[r])
        lead: list[Cell] = [
            model.product_name(p),
            model.region_name(r),
            model.family_name(f),
            model.group_name(g),
            float(f * s.groups + g),
        ]
        mask = model.mask[p, r]
        sheets["Units"].append(
            lead + [_num(model.units[p, r, m]) if mask[m] else None for m in range(N_MONTHS)]
        )
        sheets["Price"].append(
            lead + [_num(model.price[p, r, m]) if mask[m] else None for m in range(N_MONTHS)]
        )
        sheets["Revenue"].append(lead + [f"=Units!{c}{k}*Price!{c}{k}" for c in month_cols])
        sheets["COGS"].append(lead + [f"=Revenue!{c}{k}*Assump!$B${p + 2}" for c in month_cols])
        sheets["GM"].append(lead + [f"=Revenue!{c}{k}-COGS!{c}{k}" for c in month_cols])
        sheets["Opex"].append(lead + [f"=Units!{c}{k}*Assump!$E${r + 2}" for c in month_cols])
        sheets["EBIT"].append(lead + [f"=GM!{c}{k}-Opex!{c}{k}" for c in month_cols])
        ytd: list[Cell] = [f"=Revenue!{month_cols[0]}{k}"]
        ytd += [f"={month_cols[m - 1]}{k}+Revenue!{month_cols[m]}{k}" for m in range(1, N_MONTHS)]
        sheets["RevYTD"].append(lead + ytd)

    assump: list[list[Cell]] = [["Product", "COGS%", None, "Region", "OpexPerUnit"]]
    for i in range(max(s.products, s.regions)):
        row: list[Cell] = [None] * 5
        if i < s.products:
            row[0], row[1] = model.product_name(i), _num(model.cogs_pct[i])
        if i < s.regions:
            row[3], row[4] = model.region_name(i), _num(model.opex_per_unit[i])
        assump.append(row)
    sheets["Assump"] = assump

    report: list[list[Cell]] = [["Family", "Group", "Key", *MONTHS, "FY"]]
    rep_cols = [col_letter(REPORT_FIRST_COL + m) for m in range(N_MONTHS)]
    fy_from, fy_to = rep_cols[0], rep_cols[-1]

    def rep_row(f: int, g: int) -> int:
        return 2 + f * (s.groups + 1) + g

    for f in range(s.families + 1):
        for g in range(s.groups + 1):
            k = rep_row(f, g)
            cells: list[Cell] = [model.family_name(f), model.group_name(g)]
            if f < s.families and g < s.groups:
                cells.append(float(f * s.groups + g))
                for ec in month_cols:
                    cells.append(f"=SUMIF(EBIT!$E$2:$E${last},$C{k},EBIT!{ec}$2:{ec}${last})")
            elif f < s.families:
                cells.append(None)
                r0, r1 = rep_row(f, 0), rep_row(f, s.groups - 1)
                cells += [f"=SUM({rc}{r0}:{rc}{r1})" for rc in rep_cols]
            else:
                cells.append(None)
                for rc in rep_cols:
                    refs = ",".join(f"{rc}{rep_row(ff, g)}" for ff in range(s.families))
                    cells.append(f"=SUM({refs})")
            cells.append(f"=SUM({fy_from}{k}:{fy_to}{k})")
            report.append(cells)
    sheets["Report"] = report
    return {name: sheets[name] for name in SHEETS}


def write_xlsx(cells: dict[str, list[list[Cell]]], path: Path) -> None:
    """Save the cells as .xlsx with openpyxl (write-only mode; no cached formula values)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    for name, rows in cells.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)


def write_json(cells: dict[str, list[list[Cell]]], path: Path) -> None:
    """Save the cells as ``{"sheets": {name: rows}}`` for the HyperFormula driver."""
    path.write_text(json.dumps({"sheets": cells}, separators=(",", ":")))


def _signature(model: PnlModel) -> str:
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in ("model.py", "workbook.py"):
        h.update((here / name).read_bytes())
    h.update(model.label.encode())
    return h.hexdigest()[:16]


def ensure_files(model: PnlModel, workdir: Path) -> tuple[Path, Path]:
    """The model's .xlsx and .json in ``workdir``, (re)built when the generator changed."""
    workdir.mkdir(parents=True, exist_ok=True)
    sig = _signature(model)
    xlsx = workdir / f"pnl-{model.label}-{sig}.xlsx"
    js = workdir / f"pnl-{model.label}-{sig}.json"
    if not (xlsx.exists() and js.exists()):
        cells = workbook_cells(model)
        write_xlsx(cells, xlsx.with_suffix(".tmp.xlsx"))
        write_json(cells, js.with_suffix(".tmp.json"))
        xlsx.with_suffix(".tmp.xlsx").replace(xlsx)
        js.with_suffix(".tmp.json").replace(js)
    return xlsx, js
