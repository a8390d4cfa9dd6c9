"""Bulk import: a 1 M-row long CSV and the same rows as Parquet, end to end, on each store.

A sales cube Product (P leaves in F families) x Region (R leaves in G groups) x Month (12 in FY),
every leaf cell in the file once. For each store (a DuckDB file; a fresh PostgreSQL schema) and
format this measures, in process (no HTTP; the route adds a body read and a thread hop):

- ``read_s``: the file to an Arrow table (``server.imports.read``);
- ``validate_s``: a dry run — mapping, element matching, values, security, duplicates, and the
  cells built as storage changes (what a real import does under the write lock before the store);
- an XLSX of ``--xlsx-rows`` rows (100,000 by default) written by openpyxl, imported the same way;
- ``import_s``: the real import, parse to answer: read, validate, one durable commit, the engine
  apply and its recalculation of every consolidation; ``cells_per_s`` = cells / ``import_s``;
- ``merge_s``: after the answer, the background merge of the import's new cells from the
  unindexed ``cells_delta`` into ``cells`` (``server.storage.delta``), waited for and timed apart:
  other writers of the model wait behind one chunk of it at a time, never the import;
- in the same run, two references: the **floor** — DuckDB's own ``read_csv`` + ``INSERT`` of the
  same rows as addresses and values into a table (no validation, no history, no engine) — and
  the **API batch path**: the same cells as one POST .../cells body (JSON parsed by the route's
  parser, validated per cell by ``cells.validate``, committed, applied).

Correctness: after each import the FY x Total x Total consolidation equals the file's sum to a
relative error of 1e-9, or the run is marked ``"correct": false``.

    python -m benchmarks.imports [--rows 1000000] [--stores duckdb,postgres]
        [--postgres-url URL] [--xlsx-rows N] [--skip-api] [--repeat 3]
        [--out benchmarks/results/imports.json]

Each import (and the floor) runs ``--repeat`` times, each time into a new store; the run whose
``import_s`` is the median is reported, with every run's ``import_s`` beside it (``runs_s``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import openpyxl
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from benchmarks.api_latency import DEFAULT_POSTGRES_URL, machine, postgres_schema
from server.api.route import parse_body
from server.context import Context
from server.imports.read import Format, read
from server.modeldef import ChildRef, CubeDef, DimensionDef, ElementDef, ModelDef, Role
from server.services import cells, imports
from server.services import models as model_service
from server.storage import open_store
from server.workspace import Workspace

MODEL = "sales"


def sizes(rows: int) -> tuple[int, int]:
    """(products, regions) with products x regions x 12 about ``rows``."""
    regions = 42 if rows >= 100_000 else 5
    return max(1, round(rows / 12 / regions)), regions


def model_def(products: int, regions: int) -> ModelDef:
    def dim(name: str, prefix: str, n: int, groups: int) -> DimensionDef:
        leaves = [f"{prefix}{i:05d}" for i in range(n)]
        per = -(-n // groups)
        families = [
            ElementDef(
                name=f"{prefix}G{g}",
                children=[ChildRef(name=x) for x in leaves[g * per : (g + 1) * per]],
            )
            for g in range(groups)
            if leaves[g * per : (g + 1) * per]
        ]
        total = ElementDef(name=f"All {name}", children=[ChildRef(name=f.name) for f in families])
        return DimensionDef(
            name=name, elements=[total, *families, *(ElementDef(name=x) for x in leaves)]
        )

    months = [f"M{m:02d}" for m in range(1, 13)]
    month = DimensionDef(
        name="Month",
        role=Role.time,
        elements=[
            ElementDef(name="FY", children=[ChildRef(name=m) for m in months]),
            *(ElementDef(name=m) for m in months),
        ],
    )
    return ModelDef(
        name=MODEL,
        dimensions=[
            dim("Product", "P", products, max(1, products // 50)),
            dim("Region", "R", regions, max(1, regions // 7)),
            month,
        ],
        cubes=[CubeDef(name="Sales", dimensions=["Product", "Region", "Month"])],
    )


def table(products: int, regions: int) -> pa.Table:
    rng = np.random.default_rng(13)
    p, r, m = np.meshgrid(np.arange(products), np.arange(regions), np.arange(12), indexing="ij")
    n = p.size
    return pa.table(
        {
            "Product": pa.array(np.char.add("P", np.char.zfill(p.ravel().astype(str), 5))),
            "Region": pa.array(np.char.add("R", np.char.zfill(r.ravel().astype(str), 5))),
            "Month": pa.array(np.char.add("M", np.char.zfill((m.ravel() + 1).astype(str), 2))),
            "Value": pa.array(np.round(rng.uniform(0, 1000, n), 2)),
        }
    )


def xlsx(t: pa.Table) -> bytes:
    """The table as a workbook written by openpyxl (write-only mode), not timed."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("cells")
    sheet.append(t.column_names)
    for row in zip(*(t[c].to_pylist() for c in t.column_names), strict=True):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@contextlib.contextmanager
def store_url(kind: str, work: Path, pg: str) -> Iterator[str]:
    if kind == "duckdb":
        yield str(work / f"import-{time.monotonic_ns()}.duckdb")
    else:
        with postgres_schema(pg) as url:
            yield url


def fresh(url: str, products: int, regions: int) -> tuple[Workspace, Context]:
    ws = Workspace(open_store(url))
    ws.start()
    model_service.load(ws, model_def(products, regions), "bench")
    return ws, Context.system(ws, MODEL, "bench")


def total(ctx: Context) -> float:
    """FY x All Region x All Product as the engine holds it after the import's recalculation."""
    rt = ctx.rt
    tops = {"Product": "All Product", "Region": "All Region", "Month": "FY"}
    block = rt.engine.cube("Sales").read([[rt.position(d, e)] for d, e in tops.items()])
    return float(block.reshape(-1)[0])


def run_import(
    url: str, products: int, regions: int, raw: bytes, fmt: Format, expected: float
) -> dict[str, Any]:
    ws, ctx = fresh(url, products, regions)
    try:
        mapping = imports.Mapping()
        t0 = time.perf_counter()
        t = read(raw, fmt)
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        dry = imports.run(ctx, "Sales", t, mapping, dry_run=True)
        validate_s = time.perf_counter() - t0
        assert dry.problems.count == 0, dry.problems.first(3)
        t0 = time.perf_counter()
        out = imports.run(ctx, "Sales", read(raw, fmt), mapping)
        import_s = time.perf_counter() - t0  # its own read included
        got = total(ctx)
        t0 = time.perf_counter()
        merged = ws.store.merge_bulk_loads(timeout=600)  # type: ignore[attr-defined]
        merge_s = time.perf_counter() - t0
        n = len(out.changes)
        return {
            "cells": n,
            "read_s": round(read_s, 3),
            "validate_s": round(validate_s, 3),
            "import_s": round(import_s, 3),
            "commit_apply_s": round(import_s - read_s - validate_s, 3),
            "cells_per_s": round(n / import_s),
            # after the answer, in the background: the new cells into the indexed table
            "merge_s": round(merge_s, 3) if merged else None,
            "correct": abs(got - expected) <= 1e-9 * abs(expected),
        }
    finally:
        ws.close()


def run_api_batch(url: str, products: int, regions: int, t: pa.Table) -> dict[str, Any]:
    ws, ctx = fresh(url, products, regions)
    try:
        body = orjson.dumps(
            {
                "cells": [
                    {"elements": [p, r, m], "value": v}
                    for p, r, m, v in zip(*(t[c].to_pylist() for c in t.column_names), strict=True)
                ]
            }
        )
        t0 = time.perf_counter()
        answer = cells.write(ctx, "Sales", parse_body(body, cells.WriteBatch.model_validate))
        s = time.perf_counter() - t0
        return {
            "cells": answer["changed"],
            "s": round(s, 3),
            "cells_per_s": round(answer["changed"] / s),
        }
    finally:
        ws.close()


def floor(csv_path: Path, work: Path) -> dict[str, Any]:
    con = duckdb.connect(str(work / f"floor-{time.monotonic_ns()}.duckdb"))
    con.execute("CREATE TABLE cells (addr VARCHAR, num DOUBLE)")
    t0 = time.perf_counter()
    con.execute(
        "INSERT INTO cells SELECT concat_ws(chr(9), Product, Region, Month), Value "
        f"FROM read_csv('{csv_path}', header = true)"
    )
    s = time.perf_counter() - t0
    n = con.execute("SELECT count(*) FROM cells").fetchone()[0]  # type: ignore[index]
    con.close()
    return {"cells": n, "s": round(s, 3), "cells_per_s": round(n / s)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--stores", default="duckdb,postgres")
    ap.add_argument(
        "--postgres-url",
        default=os.environ.get("PLANCUBE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    ap.add_argument("--skip-api", action="store_true", help="leave out the API batch path")
    ap.add_argument(
        "--xlsx-rows", type=int, default=100_000, help="rows of the XLSX import (0: none)"
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs of each import, each into a new store"
    )
    ap.add_argument("--out", default="benchmarks/results/imports.json")
    args = ap.parse_args(argv)

    def median_run(run: Any, key: str = "import_s") -> dict[str, Any]:
        runs = [run() for _ in range(max(1, args.repeat))]
        out = dict(sorted(runs, key=lambda r: r[key])[len(runs) // 2])
        out["runs_s"] = [r[key] for r in runs]
        return out

    products, regions = sizes(args.rows)
    t = table(products, regions)
    expected = float(np.sum(t["Value"].to_numpy()))
    result: dict[str, Any] = {
        "benchmark": "imports",
        "rows": t.num_rows,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_before": os.getloadavg(),
        "stores": {},
    }
    with tempfile.TemporaryDirectory(prefix="plancube-import-") as tmp:
        work = Path(tmp)
        csv_path = work / "cells.csv"
        pacsv.write_csv(t, csv_path, pacsv.WriteOptions(quoting_style="none"))
        sink = pa.BufferOutputStream()
        pq.write_table(t, sink)
        files = {"csv": csv_path.read_bytes(), "parquet": sink.getvalue().to_pybytes()}
        result["file_bytes"] = {k: len(v) for k, v in files.items()}
        result["floor_duckdb_read_csv_insert"] = median_run(lambda: floor(csv_path, work), "s")
        for kind in args.stores.split(","):
            out: dict[str, Any] = {}
            for name, raw in files.items():

                def once(raw: bytes = raw, name: str = name, kind: str = kind) -> dict[str, Any]:
                    with store_url(kind, work, args.postgres_url) as url:
                        return run_import(url, products, regions, raw, Format(name), expected)

                out[name] = median_run(once)
            if args.xlsx_rows:
                xp, xr = sizes(args.xlsx_rows)
                xt = table(xp, xr)
                with store_url(kind, work, args.postgres_url) as url:
                    out["xlsx"] = run_import(
                        url, xp, xr, xlsx(xt), Format.xlsx, float(np.sum(xt["Value"].to_numpy()))
                    )
            if not args.skip_api:
                with store_url(kind, work, args.postgres_url) as url:
                    out["api_batch"] = run_api_batch(url, products, regions, t)
            result["stores"][kind] = out
    result["load_after"] = os.getloadavg()
    print(f"{t.num_rows} rows; load {result['load_before']} -> {result['load_after']}")
    fl = result["floor_duckdb_read_csv_insert"]
    print(f"floor (DuckDB read_csv + INSERT): {fl['s']} s, {fl['cells_per_s']:,} cells/s")
    for kind, out in result["stores"].items():
        for name, r in out.items():
            extra = (
                ""
                if "import_s" not in r
                else (
                    f" (read {r['read_s']} s, validate {r['validate_s']} s, commit+apply "
                    f"{r['commit_apply_s']} s) correct={r['correct']}"
                )
            )
            s = r.get("import_s", r.get("s"))
            print(f"{kind:9} {name:8} {s:8} s {r['cells_per_s']:>12,} cells/s{extra}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return result


if __name__ == "__main__":
    main()
