"""The job file handed to out-of-process spreadsheet drivers (LibreOffice/UNO, HyperFormula/node).

Those drivers run outside this venv (Debian's python3 with ``uno``; node), so they get everything
in workbook coordinates, as plain JSON, and print the raw result described in
:mod:`benchmarks.pnl.harness`. Coordinates are 0-based (row, column) of the workbook laid out by
:mod:`benchmarks.pnl.workbook`; ranges are inclusive ``[first_row, first_col, last_row, last_col]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.pnl.harness import MIN_SAMPLES
from benchmarks.pnl.model import N_MONTHS, PnlModel, Write
from benchmarks.pnl.workbook import layout_of


def build_job(
    model: PnlModel,
    xlsx: Path,
    json_path: Path,
    writes: Sequence[Write],
    bulk: np.ndarray,
    samples: int,
    budget_s: float,
) -> dict[str, Any]:
    """Everything a driver needs to run the operations on the workbook."""
    lay = layout_of(model)
    rows = model.row_index
    job_writes = []
    for w in writes[:samples]:
        i = rows[(w.p, w.r)]
        row, col = lay.units_cell(i, w.m)
        ytd_row, ytd_col = lay.rev_ytd_dec(i)
        job_writes.append(
            {"row": row, "col": col, "value": w.value, "ytd_row": ytd_row, "ytd_col": ytd_col}
        )
    bulk_values = [
        [float(bulk[p, r, m]) if model.mask[p, r, m] else None for m in range(N_MONTHS)]
        for p, r in model.rows
    ]
    r0, c0 = lay.report_origin()
    return {
        "xlsx": str(xlsx),
        "json": str(json_path),
        "samples": samples,
        "budget_s": budget_s,
        "min_samples": MIN_SAMPLES,
        "leaf_cells": model.leaf_cells,
        "sheets": {"units": "Units", "revytd": "RevYTD", "report": "Report"},
        "report_range": [r0, c0, r0 + lay.report_rows - 1, c0 + lay.report_cols - 1],
        "ebit_total": list(lay.ebit_total_fy()),
        "writes": job_writes,
        "bulk_range": list(lay.data_range()),
        "bulk_values": bulk_values,
    }


def write_job(job: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(job, separators=(",", ":")))
    return path
