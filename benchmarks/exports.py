"""Area exports: a 1 M-cell cube area to CSV, XLSX and Parquet — seconds and peak memory.

The cube is the import benchmark's sales cube (``benchmarks.imports``: Product x Region x Month,
every leaf cell populated, about ``--cells`` of them), its cells put straight into the engine
(the export reads the engine, not storage). Each format runs in a fresh process, so its peak
resident memory is its own: ``rss_base_mb`` is the process with the cube loaded, ``rss_peak_mb``
its high-water mark once the file is written (``VmHWM``, reset when the cube is loaded; else
``getrusage``), ``extra_mb`` the difference —
what the export itself held. In process, no HTTP (the route adds only the file's transfer):

- ``read_s``: the area's cells out of the engine (``server.exports.area.read``: selection,
  security, one slab scan, the flat index and values kept);
- ``write_s``: the file (``server.exports.long``): CSV chunks, the XLSX by openpyxl's
  write-only mode, Parquet by ``ParquetWriter`` in row groups;
- ``floor_s``: DuckDB's own ``COPY ... TO`` of the same records from an Arrow table (no XLSX).

Correctness: the file is read back (pyarrow for CSV and Parquet, calamine for XLSX) and its row
count and value sum must match the cube's, or the run says ``"correct": false``.

    python -m benchmarks.exports [--cells 1000000] [--formats csv,xlsx,parquet]
        [--out benchmarks/results/exports.json]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from benchmarks.api_latency import machine
from benchmarks.imports import model_def, sizes, table

FORMATS = ("csv", "xlsx", "parquet")


def _status_mb(field: str) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


def _rss_mb() -> float:
    """Resident memory now, freed memory handed back first (glibc's ``malloc_trim``, Arrow's
    pool), and the high-water mark reset to it (Linux: ``clear_refs`` 5), so the peak read
    later is the export's, not the cube's build."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mb("VmRSS") or float("nan")


def _peak_mb() -> float:
    hwm = _status_mb("VmHWM")  # since the reset
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(fmt: str, cells: int, work: Path) -> dict[str, Any]:
    """Build the cube, export it once in ``fmt``, read the file back; in this process."""
    from server.context import Context
    from server.exports import area, long
    from server.services import models
    from server.storage import open_store
    from server.workspace import Workspace

    products, regions = sizes(cells)
    ws = Workspace(open_store(str(work / "bench.duckdb")))
    ws.start()
    models.load(ws, model_def(products, regions), "bench")
    rt = ws.runtime("sales")
    t = table(products, regions)
    addr = pc.binary_join_element_wise(t["Product"], t["Region"], t["Month"], "\t")
    rt.load_cells("Sales", pa.table({"addr": addr, "num": t["Value"], "txt": pa.nulls(len(t))}))
    # zero cells are suppressed (a value may round to 0.00)
    expected = (
        t.num_rows - int(pc.sum(pc.equal(t["Value"], 0.0)).as_py() or 0),
        float(pc.sum(t["Value"]).as_py()),
    )
    del t, addr
    gc.collect()
    ctx = Context.system(ws, "sales")
    base = _rss_mb()
    start = time.perf_counter()
    got = area.read(ctx, "Sales", area.AreaSpec())
    read_s = time.perf_counter() - start
    path = work / f"sales.{fmt}"
    start = time.perf_counter()
    if fmt == "csv":
        with path.open("wb") as f:
            for chunk in long.csv_chunks(got):
                f.write(chunk)
    elif fmt == "xlsx":
        long.xlsx_file(got, path)
    else:
        long.parquet_file(got, path)
    write_s = time.perf_counter() - start
    peak = _peak_mb()
    result = {
        "format": fmt,
        "cells": len(got),
        "read_s": round(read_s, 3),
        "write_s": round(write_s, 3),
        "total_s": round(read_s + write_s, 3),
        "cells_per_s": round(len(got) / (read_s + write_s)),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "rss_base_mb": round(base, 1),
        "rss_peak_mb": round(peak, 1),
        "extra_mb": round(peak - base, 1),
    }
    rows, total = _read_back(fmt, path)
    result["correct"] = rows == expected[0] and abs(total - expected[1]) <= 1e-9 * expected[1]
    result["floor_s"] = _floor(got, fmt, work) if fmt != "xlsx" else None
    ws.close()
    return result


def _read_back(fmt: str, path: Path) -> tuple[int, float]:
    if fmt == "parquet":
        t = pq.read_table(path)
        return t.num_rows, float(pc.sum(t["num"]).as_py())
    if fmt == "csv":
        t = pacsv.read_csv(path)
        return t.num_rows, float(pc.sum(t["value"]).as_py())
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    return len(rows) - 1, float(sum(r[-1] for r in rows[1:]))


def _floor(cells: Any, fmt: str, work: Path) -> float:
    """DuckDB writing the same records from Arrow: the floor for CSV and Parquet."""
    records = pa.Table.from_batches(list(cells.batches()))  # noqa: F841 (read by DuckDB)
    con = duckdb.connect()
    target = work / f"floor.{fmt}"
    option = "(FORMAT csv, HEADER)" if fmt == "csv" else "(FORMAT parquet)"
    start = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM records) TO '{target}' {option}")
    return round(time.perf_counter() - start, 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", type=int, default=1_000_000)
    p.add_argument("--formats", default=",".join(FORMATS))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/exports.json"))
    p.add_argument("--one", choices=FORMATS, help=argparse.SUPPRESS)  # the child process
    args = p.parse_args(argv)
    if args.one:
        with tempfile.TemporaryDirectory(prefix="plancube-bench-export-") as work:
            print(json.dumps(one(args.one, args.cells, Path(work))))
        return 0
    results = []
    for fmt in args.formats.split(","):
        run = subprocess.run(
            [sys.executable, "-m", "benchmarks.exports", "--one", fmt, "--cells", str(args.cells)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        result = json.loads(run.stdout.strip().splitlines()[-1])
        print(json.dumps(result))
        results.append(result)
    report = {
        "benchmark": "exports",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["correct"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
