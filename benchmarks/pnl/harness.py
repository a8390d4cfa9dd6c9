"""Drive one in-process engine through the operations and return its raw measurements.

Also the entry point of the worker subprocess that ``python -m benchmarks.pnl`` starts for each
Python engine, so that every engine gets a fresh process (clean memory, no shared caches)::

    python -m benchmarks.pnl.harness --engine numpy --size S [--sparse] --workdir DIR --out FILE

The raw result (a JSON object, the same shape the LibreOffice and HyperFormula drivers print) has
``load_s``, ``full_recalc_s``, ``slice_cold_ms``, ``slice_warm_ms`` (median), ``write_ms`` (one per
write), ``bulk_s``, the numbers to check — ``report`` (cold read), ``report_warm``,
``write_readings`` (EBIT total and RevYTD per write), ``report_bulk`` — and ``bytes_per_cell``,
``bytes_method`` and ``note``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.pnl.engines import Engine, NumpyEngine
from benchmarks.pnl.model import PnlModel, Write, build_model, bulk_units, write_plan
from benchmarks.pnl.workbook import ensure_files

MIN_SAMPLES = 3


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _tolist(a: Any) -> Any:
    return np.asarray(a, dtype=np.float64).tolist()


def measure(
    engine: Engine,
    model: PnlModel,
    xlsx: Path,
    writes: Sequence[Write],
    bulk: np.ndarray,
    samples: int,
    budget_s: float,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Run every operation once (writes and warm reads up to ``samples`` within ``budget_s``)."""
    out: dict[str, Any] = {"note": ""}
    notes: list[str] = []
    t = time.perf_counter()
    engine.load(model, xlsx)
    out["load_s"] = time.perf_counter() - t
    log(f"load {out['load_s']:.3f} s")

    t = time.perf_counter()
    engine.full_recalc()
    out["full_recalc_s"] = time.perf_counter() - t
    log(f"full recalc {out['full_recalc_s']:.3f} s")

    t = time.perf_counter()
    report = _tolist(engine.slice())
    out["slice_cold_ms"] = (time.perf_counter() - t) * 1e3
    out["report"] = report

    warm: list[float] = []
    start = time.perf_counter()
    warm_report: Any = None
    for _ in range(samples):
        t = time.perf_counter()
        block = engine.slice()
        warm.append((time.perf_counter() - t) * 1e3)
        warm_report = block
        if len(warm) >= MIN_SAMPLES and time.perf_counter() - start > budget_s:
            notes.append(f"{len(warm)} warm slice samples (time cap)")
            break
    out["slice_warm_ms"] = statistics.median(warm)
    out["report_warm"] = _tolist(warm_report)
    log(f"slice cold {out['slice_cold_ms']:.3f} ms, warm {out['slice_warm_ms']:.3f} ms")

    out["bytes_per_cell"], out["bytes_method"] = engine.bytes_per_cell()

    write_ms: list[float] = []
    readings: list[list[float]] = []
    start = time.perf_counter()
    for w in writes[:samples]:
        t = time.perf_counter()
        total, ytd = engine.write_units(w.p, w.r, w.m, w.value)
        write_ms.append((time.perf_counter() - t) * 1e3)
        readings.append([float(total), float(ytd)])
        if len(write_ms) >= MIN_SAMPLES and time.perf_counter() - start > budget_s:
            notes.append(f"{len(write_ms)} write samples (time cap)")
            break
    out["write_ms"] = write_ms
    out["write_readings"] = readings
    log(f"writes: {len(write_ms)}, median {statistics.median(write_ms):.3f} ms")

    t = time.perf_counter()
    engine.bulk_replace_units(bulk)
    report_bulk = _tolist(engine.slice())
    out["bulk_s"] = time.perf_counter() - t
    out["report_bulk"] = report_bulk
    log(f"bulk {out['bulk_s']:.3f} s")
    out["note"] = "; ".join(notes)
    return out


def make_engine(name: str) -> Engine:
    """The in-process engine called ``name``."""
    if name == "numpy":
        return NumpyEngine()
    if name == "plancube":
        from benchmarks.pnl.plancube_engine import PlancubeEngine

        return PlancubeEngine()
    if name == "formulas":
        from benchmarks.pnl.peers.formulas_peer import FormulasEngine

        return FormulasEngine()
    if name == "pycel":
        from benchmarks.pnl.peers.pycel_peer import PycelEngine

        return PycelEngine()
    raise SystemExit(f"unknown in-process engine {name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pnl.harness")
    ap.add_argument("--engine", required=True)
    ap.add_argument("--size", default="S")
    ap.add_argument("--sparse", action="store_true")
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--budget-s", type=float, default=180.0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(f"[{args.engine}] {msg}", file=sys.stderr, flush=True)

    model = build_model(args.size, args.sparse)
    # The numpy floor works from the arrays; only the spreadsheet engines need the workbook.
    xlsx = Path() if args.engine == "numpy" else ensure_files(model, args.workdir)[0]
    engine = make_engine(args.engine)
    raw = measure(
        engine,
        model,
        xlsx,
        write_plan(model, args.samples),
        bulk_units(model),
        args.samples,
        args.budget_s,
        log,
    )
    raw["pid"] = os.getpid()
    args.out.write_text(json.dumps(raw))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
