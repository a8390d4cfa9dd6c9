"""HyperFormula peer: runs ``hyperformula.mjs`` with node on the workbook's JSON export.

Needs node and ``npm install`` in ``benchmarks/`` (``hyperformula`` is a devDependency of
``benchmarks/package.json``; GPL-3, licence key ``gpl-v3``: benchmark only, DESIGN decision 8).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from benchmarks.pnl.proc import run_logged

DRIVER = Path(__file__).with_name("hyperformula.mjs")
BENCH_DIR = Path(__file__).resolve().parents[2]  # benchmarks/, where node_modules lives
MAX_OLD_SPACE_MB = 16384


def skip_reason() -> str | None:
    """Why this peer cannot run here, or None."""
    if shutil.which("node") is None:
        return "node not found"
    if not (BENCH_DIR / "node_modules" / "hyperformula" / "package.json").exists():
        return "hyperformula not installed (cd benchmarks && npm ci)"
    return None


def run(job_path: Path, workdir: Path, timeout_s: float, log_path: Path) -> dict[str, Any]:
    """Run the driver on a job file; the raw result, or raise on failure or timeout."""
    out = workdir / "hyperformula-result.json"
    out.unlink(missing_ok=True)
    cmd = [
        "nice",
        "-n",
        "5",
        "node",
        "--expose-gc",
        f"--max-old-space-size={MAX_OLD_SPACE_MB}",
        str(DRIVER),
        str(job_path),
        str(out),
    ]
    run_logged(cmd, log_path, timeout_s, cwd=BENCH_DIR)
    result: dict[str, Any] = json.loads(out.read_text())
    return result
