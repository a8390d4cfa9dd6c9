"""Structure changes through real HTTP: adding many elements under a parent, two ways.

A planner (or an importer) grows a dimension with ``POST …/dimensions/{d}/elements``. The same
hierarchy — a ``Total`` over N new leaves — can be sent two ways:

- ``parents``: every new element names its parent, ``{"name": "e1", "parents": [{"name":
  "Total"}]}``;
- ``children``: the new elements, and ``Total`` listing all of them as its children.

Both must cost the same, linear in N. For each store (a DuckDB file; a fresh PostgreSQL schema)
this starts ``plancube serve`` as a subprocess, makes a dimension holding ``Total`` alone, times
one POST of the N elements each way, and checks the answer: ``GET`` of the dimension lists the N
leaves under ``Total`` in order, and both ways give the same dimension. A run that disagrees is
marked ``"correct": false``.

    python -m benchmarks.structure [--sizes 5000,20000,60000] [--stores duckdb,postgres]
        [--postgres-url URL] [--out benchmarks/results/structure.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.api_latency import (
    DEFAULT_POSTGRES_URL,
    JSON_HEADERS,
    Server,
    code_fingerprint,
    machine,
    ok,
    postgres_problem,
    postgres_schema,
)

DEFAULT_OUT = "benchmarks/results/structure.json"
WAYS = ("parents", "children")


def batch(way: str, n: int) -> list[dict[str, Any]]:
    """The POST …/elements body adding ``n`` leaves under the existing ``Total``."""
    names = [f"e{i}" for i in range(n)]
    if way == "parents":
        return [{"name": x, "parents": [{"name": "Total"}]} for x in names]
    children = [{"name": x} for x in names]
    return [{"name": x} for x in names] + [{"name": "Total", "children": children}]


def run_case(client: httpx.Client, way: str, n: int) -> dict[str, Any]:
    model = f"{way}_{n}"
    ok(client.post("/api/models", json={"name": model}), 201)
    dims = f"/api/models/{model}/dimensions"
    ok(client.post(dims, json={"name": "D", "elements": ["Total"]}), 201)
    body = orjson.dumps(batch(way, n))
    start = time.perf_counter()
    answer = ok(client.post(f"{dims}/D/elements", content=body, headers=JSON_HEADERS))
    seconds = time.perf_counter() - start
    dimension = ok(client.get(f"{dims}/D"))
    total = dimension["elements"][0]
    correct = (
        answer["elements"] == n + 1
        and answer["leaves"] == n
        and [c["name"] for c in total["children"]] == [f"e{i}" for i in range(n)]
        and all(e["parents"] == ["Total"] for e in dimension["elements"][1:])
    )
    deleted = client.delete(f"/api/models/{model}")
    if deleted.status_code != 204:
        ok(deleted, 204)  # raises with the server's error
    return {
        "way": way,
        "elements": n,
        "seconds": round(seconds, 3),
        "elements_per_s": round(n / seconds),
        "correct": correct,
        "dimension": dimension,
    }


def run_store(store: str, db: str, sizes: list[int], log: Path) -> list[dict[str, Any]]:
    out = []
    with Server(db, log) as server, server.client(timeout=3600) as client:
        for n in sizes:
            by_way = {}
            for way in WAYS:
                print(f"  {store} {way:<8} {n:>7,} elements ...", end=" ", flush=True)
                by_way[way] = run_case(client, way, n)
                print(f"{by_way[way]['seconds']:.2f} s", flush=True)
            same = by_way["parents"].pop("dimension") == by_way["children"].pop("dimension")
            for r in by_way.values():
                out.append({"store": store, **r, "correct": r["correct"] and same})
    return out


def table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'store':<11}{'way':<10}{'elements':>9}{'seconds':>10}{'elements/s':>12}  correct"]
    for r in results:
        lines.append(
            f"{r['store']:<11}{r['way']:<10}{r['elements']:>9,}{r['seconds']:>10.2f}"
            f"{r['elements_per_s']:>12,}  {r['correct']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,20000,60000")
    parser.add_argument("--stores", default="duckdb,postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="plancube-structure-") as tmp:
        for store in args.stores.split(","):
            log = Path(tmp) / f"{store}.log"
            if store == "duckdb":
                results += run_store(store, str(Path(tmp) / "bench.duckdb"), sizes, log)
            elif store == "postgres":
                problem = postgres_problem(args.postgres_url)
                if problem:
                    skipped[store] = problem
                    print(f"  postgres skipped: {problem}")
                    continue
                with postgres_schema(args.postgres_url) as url:
                    results += run_store(store, url, sizes, log)
            else:
                parser.error(f"unknown store {store!r}")
    print(table(results))
    report = {
        "benchmark": "structure",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "code": code_fingerprint(),
        "results": results,
        "skipped": skipped,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["correct"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
