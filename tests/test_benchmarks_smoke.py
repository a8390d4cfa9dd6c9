"""Smoke runs of the benchmarks: the P&L at size S (plancube and the numpy floor agree with the
reference), the load briefly, the structure benchmark at tiny sizes, the feed fan-out and the
sign-in and element security benchmark briefly.

Not timing tests: they only prove the benchmarks run and plancube's answers are right, in the
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


def test_load_benchmark_runs_and_checks_every_acknowledged_write(tmp_path: Path) -> None:
    """25 planners (so some share a department and conflict) and live subscribers, briefly."""
    out = tmp_path / "load.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.load",
            "--stores",
            "duckdb",
            "--planners",
            "25",
            "--seconds",
            "3",
            "--subscribers",
            "5",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (result,) = json.loads(out.read_text())["results"]
    assert result["correct"] is True, result
    assert result["writes_acked"] > 0 and result["write_ms"]["n"] >= result["writes_acked"]
    assert result["view_ms"]["p95"] >= result["view_ms"]["p50"] > 0
    assert result["feed_messages"] > 0  # the subscribers heard the writes


def test_structure_benchmark_runs_and_both_ways_agree(tmp_path: Path) -> None:
    """Elements added through parents and through children, tiny sizes: the same dimension."""
    out = tmp_path / "structure.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.structure",
            "--sizes",
            "50,200",
            "--stores",
            "duckdb",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(out.read_text())["results"]
    assert [(r["way"], r["elements"]) for r in results] == [
        ("parents", 50),
        ("children", 50),
        ("parents", 200),
        ("children", 200),
    ]
    assert all(r["correct"] and r["seconds"] > 0 for r in results)


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


def test_security_benchmark_runs_and_the_planner_sees_what_the_admin_sees(tmp_path: Path) -> None:
    """Signed in as an admin and as a planner with element security, briefly: same answers."""
    out = tmp_path / "security.json"
    args = ["--samples", "4", "--warmup", "1", "--big-samples", "1", "--populated", "2000"]
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.security", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())["result"]
    assert result["correct"] is True
    for model in ("open", "secured"):
        for op in ("view", "write", "big_view"):
            assert result[model][op]["planner_ms"]["p50"] > 0
    assert result["secured"]["write"]["writes_without_change"] == 0


def test_signin_cost_benchmark_runs(tmp_path: Path) -> None:
    """The guards called in process, briefly: every case measured and written down."""
    from benchmarks import signin_cost

    out = tmp_path / "signin_cost.json"
    assert signin_cost.main(["--calls", "300", "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert set(got["results"]) == {
        "no sign-in (Public)",
        "server admin (Viewer, masks open)",
        "planner with element security (Viewer)",
    }
    assert all(r["median_us"] > 0 for r in got["results"].values())


def test_imports_benchmark_runs_and_the_totals_are_right(tmp_path: Path) -> None:
    """A few thousand rows through CSV, Parquet and the API batch path on DuckDB: the engine's
    grand total after each import equals the file's sum."""
    from benchmarks import imports

    out = tmp_path / "imports.json"
    imports.main(["--rows", "3000", "--xlsx-rows", "600", "--stores", "duckdb", "--out", str(out)])
    got = json.loads(out.read_text())["stores"]["duckdb"]
    assert got["csv"]["correct"] and got["parquet"]["correct"] and got["xlsx"]["correct"]
    assert got["csv"]["cells"] == got["parquet"]["cells"] == got["api_batch"]["cells"] == 3000


def test_exports_benchmark_runs_and_reads_back_right(tmp_path: Path) -> None:
    """A few thousand cells to CSV, XLSX and Parquet, each in its own process: every file read
    back holds the cube's cells (count and sum)."""
    from benchmarks import exports

    out = tmp_path / "exports.json"
    assert exports.main(["--cells", "3000", "--out", str(out)]) == 0
    got = json.loads(out.read_text())["results"]
    assert [r["format"] for r in got] == ["csv", "xlsx", "parquet"]
    assert all(r["correct"] and r["cells"] > 2900 and r["rss_peak_mb"] > 0 for r in got)
