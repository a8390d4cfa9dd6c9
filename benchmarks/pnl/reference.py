"""The numpy reference of the P&L rules and consolidations, and the correctness check.

Rules (leaf level), as in BENCHMARKS.md::

    Revenue = Units * Price
    COGS    = Revenue * Assump(product, COGS%)
    GM      = Revenue - COGS
    Opex    = Units * Assump(region, OpexPerUnit)
    EBIT    = GM - Opex
    RevYTD  = RevYTD(previous month) + Revenue      (first month = Revenue)

The *report block* is the consolidated slice of operation (c) plus FY totals: EBIT over
(families + Total) × (groups + Total) × (12 months + FY), an array of shape ``(F+1, G+1, 13)``
whose last index on each axis is the total. Every engine's report must equal this to a relative
error of 1e-9 (:func:`check`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.pnl.model import N_MONTHS, PnlModel, Write

RTOL = 1e-9


def leaf_rules(
    units: np.ndarray, price: np.ndarray, cogs_pct: np.ndarray, opex_per_unit: np.ndarray
) -> dict[str, np.ndarray]:
    """Every rule measure over its whole leaf area, as ``(P, R, 12)`` arrays."""
    revenue = units * price
    cogs = revenue * cogs_pct[:, None, None]
    gm = revenue - cogs
    opex = units * opex_per_unit[None, :, None]
    ebit = gm - opex
    rev_ytd = np.cumsum(revenue, axis=2)
    return {
        "Units": units,
        "Price": price,
        "Revenue": revenue,
        "COGS": cogs,
        "GM": gm,
        "Opex": opex,
        "EBIT": ebit,
        "RevYTD": rev_ytd,
    }


def _starts(parent_of: np.ndarray, n_parents: int) -> np.ndarray:
    return np.searchsorted(parent_of, np.arange(n_parents))


def consolidate(leaf: np.ndarray, model: PnlModel) -> np.ndarray:
    """Roll a ``(P, R, 12)`` measure up all three dimensions: ``(F+1, G+1, 13)``, weight 1.

    Parents are contiguous blocks of leaves, so ``np.add.reduceat`` does each roll-up in one pass.
    """
    s = model.size
    by_family = np.add.reduceat(leaf, _starts(model.family_of, s.families), axis=0)
    by_fg = np.add.reduceat(by_family, _starts(model.group_of, s.groups), axis=1)
    out = np.empty((s.families + 1, s.groups + 1, N_MONTHS + 1))
    out[: s.families, : s.groups, :N_MONTHS] = by_fg
    out[: s.families, s.groups, :N_MONTHS] = by_fg.sum(axis=1)
    out[s.families, :, :N_MONTHS] = out[: s.families, :, :N_MONTHS].sum(axis=0)
    out[:, :, N_MONTHS] = out[:, :, :N_MONTHS].sum(axis=2)
    return out


def report_block(model: PnlModel, units: np.ndarray | None = None) -> np.ndarray:
    """The EBIT report block for the model's inputs (or with ``units`` in place of its Units)."""
    u = model.units if units is None else units
    ebit = leaf_rules(u, model.price, model.cogs_pct, model.opex_per_unit)["EBIT"]
    return consolidate(ebit, model)


def write_readings(model: PnlModel, writes: Sequence[Write]) -> np.ndarray:
    """EBIT[Total, Total, FY] and RevYTD[p, r, Dec] after each write, applied cumulatively.

    Recomputed from scratch after every write (no deltas), so it is independent of how any
    engine updates incrementally. Shape ``(len(writes), 2)``.
    """
    units = model.units.copy()
    out = np.empty((len(writes), 2))
    for i, w in enumerate(writes):
        units[w.p, w.r, w.m] = w.value
        m = leaf_rules(units, model.price, model.cogs_pct, model.opex_per_unit)
        out[i, 0] = m["EBIT"].sum()
        out[i, 1] = m["RevYTD"][w.p, w.r, N_MONTHS - 1]
    return out


@dataclass(frozen=True)
class Check:
    """Outcome of comparing an engine's numbers with the reference."""

    ok: bool
    max_rel_err: float
    message: str = ""


def check(
    report: np.ndarray | Sequence[object], reference: np.ndarray, rtol: float = RTOL
) -> Check:
    """Whether ``report`` equals ``reference`` to a relative error of ``rtol``.

    Relative to each reference value; a reference value smaller than 1e-4 × the largest one is
    judged relative to that floor instead, so a value near 0 is not judged on rounding noise.
    """
    try:
        got = np.asarray(report, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        return Check(False, float("inf"), f"non-numeric values: {exc}")
    if got.shape != reference.shape:
        return Check(False, float("inf"), f"shape {got.shape} != {reference.shape}")
    if not np.all(np.isfinite(got)):
        return Check(False, float("inf"), "non-finite values")
    scale = max(float(np.abs(reference).max(initial=0.0)), 1e-300)
    err = np.abs(got - reference) / np.maximum(np.abs(reference), scale * 1e-4)
    worst = float(err.max(initial=0.0))
    if worst <= rtol:
        return Check(True, worst)
    idx = np.unravel_index(int(np.argmax(err)), err.shape)
    return Check(
        False, worst, f"at {tuple(int(i) for i in idx)}: {got[idx]!r} != {reference[idx]!r}"
    )
