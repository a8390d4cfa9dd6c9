"""The ``formulas`` package as a peer (EUPL; benchmark only — in the product it is the parser).

``ExcelModel().loads(xlsx).finish()`` parses every formula and builds its dispatch graph (load);
``calculate()`` evaluates the whole workbook (full recalc). ``formulas`` keeps no state between
calculations: a write is ``calculate(inputs=…, outputs=[EBIT total, RevYTD])`` with every Units
value written so far as inputs, which recomputes what depends on them on the way to the outputs.
The bulk replace passes every Units cell as an input and asks for the report block. Memory is
the worker process's RSS delta from before the load to after the full recalc.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.pnl.harness import rss_bytes
from benchmarks.pnl.model import N_MONTHS, PnlModel
from benchmarks.pnl.workbook import Layout, layout_of

MAX_SIZE = ("S", "M")


class FormulasEngine:
    name = "formulas"

    def __init__(self) -> None:
        self.inputs: dict[str, float] = {}
        self.solution: Any = None

    def load(self, model: PnlModel, xlsx: Path) -> None:
        import formulas

        gc.collect()
        self.rss_before = rss_bytes()
        self.model = model
        self.layout: Layout = layout_of(model)
        self.rows = model.row_index
        self.prefix = f"'[{xlsx.name}]"
        self.xl = formulas.ExcelModel().loads(str(xlsx)).finish()

    def key(self, sheet: str, row: int, col: int) -> str:
        return f"{self.prefix}{sheet.upper()}'!{self.layout.to_a1(row, col)}"

    def full_recalc(self) -> None:
        self.solution = self.xl.calculate()
        gc.collect()
        self.rss_after = rss_bytes()

    def _value(self, solution: Any, key: str) -> float:
        return float(np.asarray(solution[key].value).ravel()[0])

    def _report(self, solution: Any) -> np.ndarray:
        lay = self.layout
        r0, c0 = lay.report_origin()
        return np.array(
            [
                [self._value(solution, self.key("Report", r0 + i, c0 + j)) for j in range(13)]
                for i in range(lay.report_rows)
            ]
        )

    def slice(self) -> np.ndarray:
        return self._report(self.solution)

    def write_units(self, p: int, r: int, m: int, value: float) -> tuple[float, float]:
        i = self.rows[(p, r)]
        self.inputs[self.key("Units", *self.layout.units_cell(i, m))] = value
        total = self.key("Report", *self.layout.ebit_total_fy())
        ytd = self.key("RevYTD", *self.layout.rev_ytd_dec(i))
        sol = self.xl.calculate(inputs=dict(self.inputs), outputs=[total, ytd])
        return self._value(sol, total), self._value(sol, ytd)

    def bulk_replace_units(self, units: np.ndarray) -> None:
        self.inputs = {}
        for i, (p, r) in enumerate(self.model.rows):
            for m in range(N_MONTHS):
                if self.model.mask[p, r, m]:
                    key = self.key("Units", *self.layout.units_cell(i, m))
                    self.inputs[key] = float(units[p, r, m])
        lay = self.layout
        r0, c0 = lay.report_origin()
        outputs = [
            self.key("Report", r0 + i, c0 + j) for i in range(lay.report_rows) for j in range(13)
        ]
        self.solution = self.xl.calculate(inputs=dict(self.inputs), outputs=outputs)

    def bytes_per_cell(self) -> tuple[float | None, str]:
        delta = self.rss_after - self.rss_before
        return delta / self.model.leaf_cells, "RSS delta of the worker, before load to after recalc"
