"""Connector pulls, end to end: a SQL source in PostgreSQL and a paged REST source, into a cube.

The sales cube of ``benchmarks.imports`` (Product x Region x Month, every leaf cell once). For
each source this measures, in process:

- ``pull_s``: the connector type's ``pull`` read whole into one Arrow table (SQL: a SELECT over
  a PostgreSQL table of the rows, in ``batch_rows`` batches through a server-side cursor; REST:
  JSON pages of ``page`` records from a local uvicorn, next-link pagination);
- ``import_s``: ``imports.run`` of that table (validate, one commit, engine apply);
- ``rows_per_s`` = rows / (pull_s + import_s).

Correctness: the FY x All x All consolidation equals the source's sum (relative 1e-9).

    python -m benchmarks.connectors [--rows 200000] [--store duckdb|postgres]
        [--postgres-url URL] [--out benchmarks/results/connectors.json]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pyarrow as pa
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks.api_latency import DEFAULT_POSTGRES_URL, machine, postgres_schema
from benchmarks.imports import MODEL, fresh, sizes, store_url, table, total
from connectors import rest, sql
from server.imports.spec import LoadSpec
from server.launch import free_port
from server.services import imports


def _import(ctx: Any, t: pa.Table) -> float:
    spec = LoadSpec.model_validate({"value": "Value"})
    start = time.perf_counter()
    imports.run(ctx, "Sales", t, spec.mapping(), mode=spec.mode)
    return time.perf_counter() - start


def bench_sql(url: str, pg: str, rows: int) -> dict[str, Any]:
    products, regions = sizes(rows)
    source = table(products, regions)
    with postgres_schema(pg) as src:
        with psycopg.connect(src, autocommit=True) as conn:
            conn.execute(
                'CREATE TABLE ledger ("Product" text, "Region" text, "Month" text, '
                '"Value" double precision)'
            )
            with conn.cursor().copy(
                'COPY ledger ("Product", "Region", "Month", "Value") FROM STDIN'
            ) as copy:
                for row in zip(*(source[c].to_pylist() for c in source.column_names), strict=True):
                    copy.write_row(row)
            schema = conn.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index]
        cfg = sql.SqlConfig.model_validate(
            {"url": pg, "query": f"SELECT * FROM {schema}.ledger", "batch_rows": 50_000}
        )
        start = time.perf_counter()
        pulled = sql.pull(cfg, {}, None)
        t = pa.Table.from_batches(list(pulled.batches))
        pull_s = time.perf_counter() - start
    ws, ctx = fresh(url, products, regions)
    try:
        import_s = _import(ctx, t)
        ok = abs(total(ctx) - sum(source["Value"].to_pylist())) <= 1e-9 * abs(
            sum(source["Value"].to_pylist())
        )
    finally:
        ws.close()
    return _result("sql", t.num_rows, pull_s, import_s, ok)


def bench_rest(url: str, rows: int, page: int = 10_000) -> dict[str, Any]:
    products, regions = sizes(rows)
    source = table(products, regions).to_pylist()
    bodies = []
    for i in range(0, len(source), page):
        more = i + page < len(source)
        nxt = f"/ledger?p={i // page + 1}" if more else None
        bodies.append(orjson.dumps({"items": source[i : i + page], "next": nxt}))

    def ledger(request: Request) -> Response:
        return Response(
            bodies[int(request.query_params.get("p", "0"))], media_type="application/json"
        )

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/ledger", ledger)]),
            port=port,
            log_level="warning",
            ws="none",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        cfg = rest.RestConfig.model_validate(
            {
                "url": f"http://127.0.0.1:{port}/ledger",
                "records": "items",
                "pagination": {"kind": "next_link", "next": "next"},
            }
        )
        start = time.perf_counter()
        pulled = rest.pull(cfg, {}, None)
        t = pa.Table.from_batches(list(pulled.batches))
        pull_s = time.perf_counter() - start
    finally:
        server.should_exit = True
        thread.join()
    ws, ctx = fresh(url, products, regions)
    try:
        import_s = _import(ctx, t)
        expected = sum(r["Value"] for r in source)
        ok = abs(total(ctx) - expected) <= 1e-9 * abs(expected)
    finally:
        ws.close()
    return _result("rest", t.num_rows, pull_s, import_s, ok)


def _result(kind: str, n: int, pull_s: float, import_s: float, ok: bool) -> dict[str, Any]:
    return {
        "source": kind,
        "rows": n,
        "pull_s": round(pull_s, 3),
        "import_s": round(import_s, 3),
        "rows_per_s": round(n / (pull_s + import_s)),
        "pull_rows_per_s": round(n / pull_s),
        "correct": ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--store", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/connectors.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="plancube-bench-"))
    results = []
    for bench in (bench_sql, bench_rest):
        with store_url(args.store, work, args.postgres_url) as url:
            if bench is bench_sql:
                r = bench_sql(url, args.postgres_url, args.rows)
            else:
                r = bench_rest(url, args.rows)
        r["store"] = args.store
        print(r)
        results.append(r)
    out = {
        "benchmark": "connectors",
        "model": MODEL,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "results": results,
    }
    args.out.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
