"""Smoke run of the P&L benchmark at size S: plancube and the numpy floor agree with the reference.

Not a timing test: it only proves the benchmark runs and plancube's numbers are right, in the
engine and through the HTTP API of a real server process (the writes read back and checked).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_pnl_benchmark_runs_and_plancube_is_correct(tmp_path: Path) -> None:
    out = tmp_path / "pnl-S.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.pnl",
            "--size",
            "S",
            "--engines",
            "numpy,plancube",
            "--samples",
            "5",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["engines"]["plancube"]["correct"] is True
    assert result["engines"]["numpy"]["correct"] is True
    assert result["machine"]["cores"] >= 1
    plancube, numpy = result["engines"]["plancube"], result["engines"]["numpy"]
    assert plancube["http_write_p50_ms"] > 0, plancube["note"]
    assert plancube["http_write_p95_ms"] >= plancube["http_write_p50_ms"]
    assert plancube["detail"]["http_write_samples"] == 5
    assert "DuckDB" in plancube["detail"]["http_method"]
    assert numpy["http_write_p50_ms"] is None and numpy["http_write_p95_ms"] is None


def test_feed_fanout_benchmark_runs_and_every_grid_is_right(tmp_path: Path) -> None:
    """A few subscribers on a real server: each grid, rebuilt from the feed, equals the view."""
    out = tmp_path / "feed.json"
    args = ["--subscribers", "0,6", "--samples", "4", "--warmup", "1", "--interval", "20"]
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.feed_fanout", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [result] = json.loads(out.read_text())["results"]
    none, some = result["cases"]
    assert (none["subscribers"], some["subscribers"]) == (0, 6)
    assert some["grids_wrong"] == 0 and some["out_of_order"] == 0 and some["messages"] > 0
    assert len(some["burst_write_ms"]) == len(some["paced_write_ms"]) == 4
