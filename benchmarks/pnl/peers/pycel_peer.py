"""pycel as a peer (GPL-3; benchmark only): compiles the workbook's formulas to Python, lazily.

``ExcelCompiler(filename=…)`` reads the workbook with openpyxl; pycel compiles a formula the first
time a cell is evaluated, so load is the compiler plus a first evaluation of the report block and
of RevYTD's December column, which reaches every formula cell. The full recalc is
``recalculate()`` (every formula cell reset and evaluated again). A write is ``set_value`` (which
resets the cells that depend on it) followed by ``evaluate`` of EBIT[Total,Total,FY] and
RevYTD[p,r,Dec]; the bulk replace sets every populated Units cell and evaluates the report block.
Memory is the worker's RSS delta from before the load to after the full recalc.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.pnl.harness import rss_bytes
from benchmarks.pnl.model import N_MONTHS, PnlModel
from benchmarks.pnl.workbook import Layout, col_letter, layout_of


class PycelEngine:
    name = "pycel"

    def load(self, model: PnlModel, xlsx: Path) -> None:
        from pycel import ExcelCompiler

        gc.collect()
        self.rss_before = rss_bytes()
        self.model = model
        self.layout: Layout = layout_of(model)
        self.rows = model.row_index
        self.excel: Any = ExcelCompiler(filename=str(xlsx))
        lay = self.layout
        r0, c0 = lay.report_origin()
        r1, c1 = r0 + lay.report_rows - 1, c0 + lay.report_cols - 1
        self.report_addr = f"Report!{lay.to_a1(r0, c0)}:{lay.to_a1(r1, c1)}"
        dec = col_letter(lay.rev_ytd_dec(0)[1])
        self.ytd_addr = f"RevYTD!{dec}2:{dec}{len(model.rows) + 1}"
        self.excel.evaluate(self.report_addr)
        self.excel.evaluate(self.ytd_addr)

    def addr(self, sheet: str, row: int, col: int) -> str:
        return f"{sheet}!{self.layout.to_a1(row, col)}"

    def full_recalc(self) -> None:
        self.excel.recalculate()
        gc.collect()
        self.rss_after = rss_bytes()

    def slice(self) -> np.ndarray:
        return np.array(self.excel.evaluate(self.report_addr), dtype=np.float64)

    def write_units(self, p: int, r: int, m: int, value: float) -> tuple[float, float]:
        i = self.rows[(p, r)]
        self.excel.set_value(self.addr("Units", *self.layout.units_cell(i, m)), value)
        total = self.excel.evaluate(self.addr("Report", *self.layout.ebit_total_fy()))
        ytd = self.excel.evaluate(self.addr("RevYTD", *self.layout.rev_ytd_dec(i)))
        return float(total), float(ytd)

    def bulk_replace_units(self, units: np.ndarray) -> None:
        for i, (p, r) in enumerate(self.model.rows):
            for m in range(N_MONTHS):
                if self.model.mask[p, r, m]:
                    addr = self.addr("Units", *self.layout.units_cell(i, m))
                    self.excel.set_value(addr, float(units[p, r, m]))

    def bytes_per_cell(self) -> tuple[float | None, str]:
        delta = self.rss_after - self.rss_before
        return delta / self.model.leaf_cells, "RSS delta of the worker, before load to after recalc"
