"""Run one engine of the P&L benchmark in its own process and return its raw result.

Python engines (numpy, formulas, pycel) run in a worker ``python -m benchmarks.pnl.harness``;
LibreOffice runs under Debian's python3 with UNO, HyperFormula under node — both from a job file.
plancube also runs operation (b) through the HTTP API, in a second worker
``python -m benchmarks.pnl.http_api`` that starts a real server (after the in-engine worker ended).
Each engine gets a fresh process, one after the other (never two at once: the machine is small and
shared, and the comparison is only fair side by side, not on top of each other). Each runs at
``nice 5`` and under a wall-clock timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.pnl import http_api
from benchmarks.pnl.job import build_job, write_job
from benchmarks.pnl.model import PnlModel, bulk_units, write_plan
from benchmarks.pnl.peers import hyperformula, libreoffice
from benchmarks.pnl.proc import run_logged
from benchmarks.pnl.workbook import ensure_files

ENGINES = ("plancube", "numpy", "libreoffice", "hyperformula", "formulas", "pycel")
DEFAULT_ENGINES = ("numpy", "libreoffice", "hyperformula", "formulas", "pycel", "plancube")
SMALL_ONLY = ("formulas", "pycel")
SMALL_SIZES = ("S", "M")


class EngineFailed(RuntimeError):
    """The engine's process failed or timed out; the message says how."""


def skip_reason(name: str, model: PnlModel, force: bool = False) -> str | None:
    """Why engine ``name`` is not run on ``model``, or None (``force``: ignore the size caps)."""
    if not force and name in SMALL_ONLY and (model.sparse or model.size.name not in SMALL_SIZES):
        return (
            f"run at sizes S and M only (BENCHMARKS.md: minutes and gigabytes beyond); "
            f"this is {model.label} (--force-peers runs it anyway)"
        )
    if not force and name == "hyperformula" and model.size.name == "XL" and not model.sparse:
        return (
            "not run at dense XL: from L (~1.2 kB/cell, ~40 s load + recalc, ~1.3 s a write) "
            "it needs ~12 GB and well over 15 min on this 2-core machine (--force-peers runs it)"
        )
    if name == "libreoffice":
        return libreoffice.skip_reason()
    if name == "hyperformula":
        return hyperformula.skip_reason()
    return None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_engine(
    name: str,
    model: PnlModel,
    workdir: Path,
    samples: int,
    budget_s: float,
    timeout_s: float,
) -> dict[str, Any]:
    """The engine's raw result (see :mod:`benchmarks.pnl.harness`); raises EngineFailed."""
    log_path = workdir / f"{model.label}-{name}.log"
    log_path.write_text("")
    try:
        if name in ("libreoffice", "hyperformula"):
            xlsx, json_path = ensure_files(model, workdir)
            job = build_job(
                model,
                xlsx,
                json_path,
                write_plan(model, samples),
                bulk_units(model),
                samples,
                budget_s,
            )
            job_path = write_job(job, workdir / f"job-{model.label}.json")
            peer = libreoffice if name == "libreoffice" else hyperformula
            return peer.run(job_path, workdir, timeout_s, log_path)
        out = workdir / f"{model.label}-{name}-result.json"
        out.unlink(missing_ok=True)
        cmd = [
            "nice", "-n", "5", sys.executable, "-m", "benchmarks.pnl.harness",
            "--engine", name, "--size", model.size.name, "--workdir", str(workdir),
            "--samples", str(samples), "--budget-s", str(budget_s), "--out", str(out),
        ]  # fmt: skip
        if model.sparse:
            cmd.append("--sparse")
        run_logged(cmd, log_path, timeout_s)
        result: dict[str, Any] = json.loads(out.read_text())
    except subprocess.TimeoutExpired:
        raise EngineFailed(f"timed out after {timeout_s:.0f} s (cap)") from None
    except (subprocess.CalledProcessError, OSError, ValueError) as exc:
        raise EngineFailed(f"{type(exc).__name__}: {exc}\n{_tail(log_path)}") from None
    if name == "plancube":
        result["http"] = run_http(model, workdir, samples, budget_s, timeout_s)
    return result


def run_http(
    model: PnlModel, workdir: Path, samples: int, budget_s: float, timeout_s: float
) -> dict[str, Any]:
    """plancube's writes through the HTTP API (raw result of :mod:`benchmarks.pnl.http_api`).

    Never raises: a skip is ``{"skipped": reason}``, a failure ``{"error": message}``.
    """
    reason = http_api.skip_reason(model)
    if reason is not None:
        return {"skipped": reason}
    log_path = workdir / f"{model.label}-plancube-http.log"
    log_path.write_text("")
    out = workdir / f"{model.label}-plancube-http-result.json"
    out.unlink(missing_ok=True)
    cmd = [
        "nice", "-n", "5", sys.executable, "-m", "benchmarks.pnl.http_api",
        "--size", model.size.name, "--workdir", str(workdir),
        "--samples", str(samples), "--budget-s", str(budget_s), "--out", str(out),
    ]  # fmt: skip
    if model.sparse:
        cmd.append("--sparse")
    try:
        run_logged(cmd, log_path, timeout_s)
        result: dict[str, Any] = json.loads(out.read_text())
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s (cap)"}
    except (subprocess.CalledProcessError, OSError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}\n{_tail(log_path)}"}
    return result
