"""plancube's calc engine on the driver-based P&L: the same cubes and rules a user would write.

The P&L becomes three cubes — ``PnL`` (Product x Region x Month x Measure) and the assumption
cubes ``AssumpP`` (Product x Assumption) and ``AssumpR`` (Region x Assumption) — and the rules of
BENCHMARKS.md in Excel syntax. Everything else (consolidation, incremental recalculation after a
write, the report slice) is the engine's own work, read straight from its cached consolidations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.pnl.model import MEASURES, N_MONTHS, PnlModel
from calc_engine import Edge, Engine, Hierarchy
from calc_engine.compile import RuleDef

RULES = [
    RuleDef("revenue", "Revenue", "=Units * Price"),
    RuleDef("cogs", "COGS", '=Revenue * DB("AssumpP", "COGS%")'),
    RuleDef("gm", "GM", "=Revenue - COGS"),
    RuleDef("opex", "Opex", '=Units * DB("AssumpR", "OpexPerUnit")'),
    RuleDef("ebit", "EBIT", "=GM - Opex"),
    RuleDef("ytd", "RevYTD", "=PREV(RevYTD) + Revenue"),
]


def _tree(
    name: str, total: str, groups: list[str], leaves: list[str], group_of: np.ndarray
) -> Hierarchy:
    edges = [Edge(total, g) for g in groups]
    edges += [Edge(groups[int(g)], leaf) for leaf, g in zip(leaves, group_of, strict=True)]
    return Hierarchy(name, [total, *groups, *leaves], edges)


class PlancubeEngine:
    name = "plancube"

    def load(self, model: PnlModel, xlsx: Path) -> None:
        s = model.size
        e = Engine()
        products = [f"P{i}" for i in range(s.products)]
        regions = [f"R{i}" for i in range(s.regions)]
        e.set_dimension(
            _tree(
                "Product",
                "Total Product",
                [f"F{i}" for i in range(s.families)],
                products,
                model.family_of,
            )
        )
        e.set_dimension(
            _tree(
                "Region",
                "Total Region",
                [f"G{i}" for i in range(s.groups)],
                regions,
                model.group_of,
            )
        )
        months = [f"M{i + 1:02d}" for i in range(N_MONTHS)]
        e.set_dimension(Hierarchy("Month", ["FY", *months], [Edge("FY", m) for m in months]))
        e.set_dimension(Hierarchy("Measure", list(MEASURES)))
        e.set_dimension(Hierarchy("Assumption", ["COGS%", "OpexPerUnit"]))
        e.add_cube(
            "PnL", ["Product", "Region", "Month", "Measure"], measure="Measure", time="Month"
        )
        e.add_cube("AssumpP", ["Product", "Assumption"], measure="Assumption")
        e.add_cube("AssumpR", ["Region", "Assumption"], measure="Assumption")
        self.engine, self.model = e, model
        self.p0, self.r0, self.m0 = 1 + s.families, 1 + s.groups, 1
        self._load_inputs(model.units, model.price)
        ap, ar = e.cube("AssumpP"), e.cube("AssumpR")
        ap.values[self.p0 :, 0] = model.cogs_pct
        ar.values[self.r0 :, 1] = model.opex_per_unit
        ap.recompute()
        ar.recompute()
        e.set_rules({"PnL": RULES})  # parse, compile, order (and a first evaluation): the load

    def _load_inputs(self, units: np.ndarray, price: np.ndarray) -> None:
        v = self.engine.cube("PnL").values
        v[self.p0 :, self.r0 :, self.m0 :, MEASURES.index("Units")] = units
        v[self.p0 :, self.r0 :, self.m0 :, MEASURES.index("Price")] = price

    def full_recalc(self) -> None:
        self.engine.recalc()

    def slice(self) -> np.ndarray:
        s = self.model.size
        fam = [*range(1, 1 + s.families), 0]  # families, then Total
        grp = [*range(1, 1 + s.groups), 0]
        months = [*range(1, 1 + N_MONTHS), 0]  # months, then FY
        return self.engine.cube("PnL").read([fam, grp, months, [MEASURES.index("EBIT")]])[..., 0]

    def write_units(self, p: int, r: int, m: int, value: float) -> tuple[float, float]:
        coord = np.array([[self.p0 + p, self.r0 + r, self.m0 + m, MEASURES.index("Units")]])
        self.engine.write("PnL", coord, np.array([value]), {})
        v = self.engine.cube("PnL").values
        ebit = float(v[0, 0, 0, MEASURES.index("EBIT")])
        ytd = float(v[self.p0 + p, self.r0 + r, N_MONTHS, MEASURES.index("RevYTD")])
        return ebit, ytd

    def bulk_replace_units(self, units: np.ndarray) -> None:
        self._load_inputs(units, self.model.price)
        self.engine.recalc()

    def bytes_per_cell(self) -> tuple[float | None, str]:
        total = sum(c.values.nbytes for c in self.engine.cubes.values())
        return (
            total / self.model.leaf_cells,
            "exact array sizes: one dense float64 array per cube over leaves and totals",
        )
