"""The driver-based P&L benchmark of BENCHMARKS.md, side by side in one run.

    python -m benchmarks.pnl --size S|M|L|XL [--sparse]
        [--engines numpy,libreoffice,hyperformula,formulas,pycel,plancube] [--samples 30]
        [--budget-s 120] [--timeout-s 900] [--workdir DIR] [--out FILE] [--force-peers]

Builds the model (seeded), the workbook that the spreadsheet peers compute (cached in
``--workdir``), and the numpy reference; runs each engine in its own process, one after the
other; checks every engine's numbers against the reference; prints the table with ratios against
LibreOffice and numpy from the same run; writes ``benchmarks/results/pnl-<size>[-sparse].json``.

Operations (BENCHMARKS.md): load; (a) full recalc; (b) ``--samples`` single Units writes, each
followed by reading EBIT[Total,Total,FY] and RevYTD[p,r,Dec], p50/p95; (c) the report block
(EBIT over families+Total × groups+Total × months+FY) read cold — first read after the recalc —
and warm — median of up to ``--samples`` repeated reads; (d) bulk replace of every Units value
and reading the report; memory in bytes per populated leaf cell. For plancube, (b) again through
the HTTP API of a real server process (``benchmarks.pnl.http_api``: DuckDB store, one commit per
write, two one-cell view reads; not at dense XL). Writes and warm reads stop early
(at least 3 samples) once they have taken ``--budget-s``; a whole engine is killed after
``--timeout-s``. Both are said in the engine's note. ``formulas`` and pycel run at S and M only,
HyperFormula not at dense XL, unless ``--force-peers``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.pnl.model import SIZES, build_model, bulk_units, write_plan
from benchmarks.pnl.reference import report_block, write_readings
from benchmarks.pnl.runner import DEFAULT_ENGINES, ENGINES, EngineFailed, run_engine, skip_reason
from benchmarks.pnl.summary import (
    HTTP_METHOD,
    References,
    empty_entry,
    entry_from_raw,
    ratios,
    table,
)
from benchmarks.pnl.workbook import ensure_files

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKDIR = Path("/tmp/plancube-pnl-bench")
TARGETS_L = {
    "full_recalc_s": 0.050,
    "full_recalc_vs_libreoffice": 0.1,
    "write_p50_ms": 1.0,
    "write_p95_ms": 10.0,
    "http_write_p95_ms": 20.0,
    "slice_warm_ms": 10.0,
    "bytes_per_cell": 24.0,
}


def machine() -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024**2, 1),
        "cpu": cpu,
        "os": platform.platform(),
    }


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("numpy", "openpyxl", "formulas", "pycel"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[pkg] = importlib.metadata.version(pkg)
    with contextlib.suppress(OSError):
        out["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return out


def git_head() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return head.stdout.strip() or None


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` with every float cut to ``digits`` significant digits (for the JSON file)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.pnl", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--size", choices=list(SIZES), default="S")
    ap.add_argument("--sparse", action="store_true", help="2%% populated at XL's address space")
    ap.add_argument("--engines", default=",".join(DEFAULT_ENGINES))
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--budget-s", type=float, default=120.0, help="cap on writes and warm reads")
    ap.add_argument("--timeout-s", type=float, default=900.0, help="cap on one engine's run")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--force-peers", action="store_true", help="ignore the peers' size caps")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise SystemExit(f"unknown engines {unknown}; choose from {', '.join(ENGINES)}")
    model = build_model(args.size, args.sparse)
    label = model.label
    out_path = args.out or ROOT / "benchmarks" / "results" / f"pnl-{label}.json"
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"P&L {label}: {model.leaf_cells:,} leaf cells, {len(model.rows):,} workbook rows")

    writes = write_plan(model, args.samples)
    refs = References(
        report_block(model), write_readings(model, writes), report_block(model, bulk_units(model))
    )
    runnable = {n: skip_reason(n, model, args.force_peers) for n in names}
    if any(r is None and n not in ("numpy", "plancube") for n, r in runnable.items()):
        t = time.perf_counter()
        xlsx, _ = ensure_files(model, args.workdir)
        print(
            f"workbook {xlsx} ({xlsx.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - t:.1f} s)"
        )

    engines: dict[str, dict[str, Any]] = {}
    for name in names:
        reason = runnable[name]
        if reason is not None:
            engines[name] = empty_entry(f"skipped: {reason}")
            print(f"{name}: skipped — {reason}")
            continue
        print(f"{name}: running …", flush=True)
        t = time.perf_counter()
        try:
            raw = run_engine(name, model, args.workdir, args.samples, args.budget_s, args.timeout_s)
        except EngineFailed as exc:
            engines[name] = empty_entry(f"failed: {exc}")
            print(f"{name}: FAILED {exc}")
            continue
        engines[name] = entry_from_raw(raw, model, refs)
        ok = "correct" if engines[name]["correct"] else "WRONG NUMBERS"
        print(f"{name}: done in {time.perf_counter() - t:.1f} s, {ok}")

    result = {
        "benchmark": "pnl",
        "size": args.size if not args.sparse else "XL",
        "sparse": args.sparse,
        "leaf_cells": model.leaf_cells,
        "machine": machine(),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": git_head(),
        "versions": versions(),
        "settings": {
            "samples": args.samples,
            "budget_s": args.budget_s,
            "timeout_s": args.timeout_s,
            "seed": "benchmarks.pnl.model.SEED",
            "rtol": 1e-9,
            "write": "set one Units leaf, then read EBIT[Total,Total,FY] and RevYTD[p,r,Dec]",
            "slice": "EBIT (families+Total) x (groups+Total) x (12 months+FY); cold = first read "
            "after the full recalc, warm = median of repeated reads",
            "bulk": "replace every populated Units value, then read the report block",
            "http_write": HTTP_METHOD,
        },
        "targets_at_L": TARGETS_L,
        "engines": engines,
        "ratios": ratios(engines),
    }
    print()
    print(table(engines))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(rounded(result), indent=2) + "\n")
    print(f"\nwrote {out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path}")
    return 0 if all(e.get("correct") is not False for e in engines.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
