"""The Engine protocol every in-process engine implements, the numpy floor, and plancube's hook.

An engine is driven by :func:`benchmarks.pnl.harness.measure` through these steps, each timed:
``load`` (reported separately), ``full_recalc`` (a), ``write_units`` then read EBIT[Total,Total,FY]
and RevYTD[p,r,Dec] (b), ``slice`` — the report block — cold and warm (c), ``bulk_replace_units``
followed by ``slice`` (d), and ``bytes_per_cell`` (memory).

The numpy engine is the floor: every rule is one array expression over its area, the EBIT
consolidation is cached after the first slice and kept current by deltas on write, and RevYTD is
updated from the written month on. It is what a vectorized area engine does, written by hand for
this one model.

plancube's own engine implements the same protocol in ``plancube_engine.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from benchmarks.pnl.model import N_MONTHS, PnlModel
from benchmarks.pnl.reference import consolidate, leaf_rules


@runtime_checkable
class Engine(Protocol):
    """What the harness needs from an engine; one instance per run."""

    name: str

    def load(self, model: PnlModel, xlsx: Path) -> None:
        """Take in the model (from the arrays, or from the workbook at ``xlsx``)."""

    def full_recalc(self) -> None:
        """Compute every rule cell from the inputs."""

    def slice(self) -> np.ndarray:
        """The EBIT report block, ``(F+1, G+1, 13)`` (any array-like of that many values)."""
        ...

    def write_units(self, p: int, r: int, m: int, value: float) -> tuple[float, float]:
        """Set Units[p, r, m]; return EBIT[Total, Total, FY] and RevYTD[p, r, Dec] after it."""
        ...

    def bulk_replace_units(self, units: np.ndarray) -> None:
        """Replace every populated Units value (``units`` is ``(P, R, 12)``, 0 where empty)."""

    def bytes_per_cell(self) -> tuple[float | None, str]:
        """Bytes per populated leaf cell and how it was measured."""
        ...


class NumpyEngine:
    """The floor: dense arrays, vectorized rules, a delta-maintained EBIT consolidation."""

    name = "numpy"

    def __init__(self) -> None:
        self.model: PnlModel | None = None
        self.leaf: dict[str, np.ndarray] = {}
        self.block: np.ndarray | None = None

    def load(self, model: PnlModel, xlsx: Path) -> None:
        self.model = model
        self.units = model.units.copy()
        self.price = model.price.copy()
        self.cogs_pct = model.cogs_pct.copy()
        self.opex_per_unit = model.opex_per_unit.copy()
        self.family_of = model.family_of
        self.group_of = model.group_of
        self.totals = (model.size.families, model.size.groups)

    def full_recalc(self) -> None:
        self.leaf = leaf_rules(self.units, self.price, self.cogs_pct, self.opex_per_unit)
        self.block = None

    def slice(self) -> np.ndarray:
        if self.block is None:
            assert self.model is not None
            self.block = consolidate(self.leaf["EBIT"], self.model)
        return self.block

    def write_units(self, p: int, r: int, m: int, value: float) -> tuple[float, float]:
        leaf = self.leaf
        cell = (p, r, m)
        self.units[cell] = value
        revenue = value * self.price[cell]
        cogs = revenue * self.cogs_pct[p]
        gm = revenue - cogs
        opex = value * self.opex_per_unit[r]
        ebit = gm - opex
        d_revenue = revenue - leaf["Revenue"][cell]
        d_ebit = ebit - leaf["EBIT"][cell]
        leaf["Revenue"][cell] = revenue
        leaf["COGS"][cell] = cogs
        leaf["GM"][cell] = gm
        leaf["Opex"][cell] = opex
        leaf["EBIT"][cell] = ebit
        leaf["RevYTD"][p, r, m:] += d_revenue
        block = self.block
        if block is None:
            total = float(leaf["EBIT"].sum())
        else:
            big_f, big_g = self.totals
            f, g = int(self.family_of[p]), int(self.group_of[r])
            for fi in (f, big_f):
                for gi in (g, big_g):
                    block[fi, gi, m] += d_ebit
                    block[fi, gi, N_MONTHS] += d_ebit
            total = float(block[big_f, big_g, N_MONTHS])
        return total, float(leaf["RevYTD"][p, r, N_MONTHS - 1])

    def bulk_replace_units(self, units: np.ndarray) -> None:
        self.units[...] = units
        self.full_recalc()

    def bytes_per_cell(self) -> tuple[float | None, str]:
        assert self.model is not None
        total = sum(a.nbytes for a in self.leaf.values())
        total += self.cogs_pct.nbytes + self.opex_per_unit.nbytes
        total += 0 if self.block is None else self.block.nbytes
        return total / self.model.leaf_cells, "exact array sizes (dense float64 arrays)"
