"""Operation (b) through the HTTP API: a real ``plancube serve`` process on a DuckDB file.

The P&L becomes a model file (the same dimensions, cubes and rules as ``plancube_engine.py``) and
is loaded with its inputs — Units and Price for every populated leaf, COGS% and OpexPerUnit —
in one ``POST /api/models/import`` (one commit; the load is not the measured quantity). Then,
per sample, with one keep-alive httpx client signed in with a server admin's personal access
token (minted before the server starts, ``benchmarks.signin``), timed from the client until the
last answer is read:

1. ``POST .../cubes/PnL/cells`` of one Units leaf, ``base_commit`` = the last head seen: one
   durable commit, applied to the engine (rules and totals current) before the server answers;
2. ``POST .../cubes/PnL/view`` of EBIT[Total Product, Total Region, FY] (one cell);
3. ``POST .../cubes/PnL/view`` of RevYTD[p, r, Dec] (one cell).

The writes are the same cells as the in-engine writes (:func:`benchmarks.pnl.model.write_plan`),
and the two values read back are checked by the caller against
:func:`benchmarks.pnl.reference.write_readings`. The worker entry point::

    python -m benchmarks.pnl.http_api --size S [--sparse] --workdir DIR --out FILE
        [--samples 30] [--budget-s 120] [--stores duckdb,postgres] [--postgres-url URL]

prints progress on stderr and writes the raw result: ``http_write_ms`` (one per sample, the whole
round trip), ``http_write_readings`` (EBIT total and RevYTD per sample), ``write_only_ms``,
``read_ms`` (both view requests of a sample), ``load_s``, ``load_via``, ``note`` — for the
embedded default (DuckDB) — and the same under ``postgres`` for a server on PostgreSQL (a fresh
schema, dropped afterwards), or ``{"skipped": reason}`` when it cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.api_latency import (
    DEFAULT_POSTGRES_URL,
    JSON_HEADERS,
    ok,
    postgres_problem,
    postgres_schema,
    timed_post,
)
from benchmarks.pnl.harness import MIN_SAMPLES
from benchmarks.pnl.model import (
    MEASURES,
    MONTHS,
    N_MONTHS,
    PnlModel,
    Write,
    build_model,
    write_plan,
)
from benchmarks.pnl.plancube_engine import RULES
from benchmarks.signin import mint_admin
from server.launch import launched
from server.modeldef import (
    ChildRef,
    CubeDef,
    DimensionDef,
    ElementDef,
    ModelDef,
    Role,
    RuleSpec,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL = "pnl"
CUBE = "PnL"
TOTAL_PRODUCT, TOTAL_REGION, FY = "Total Product", "Total Region", "FY"
# Dense XL's 2.4 M input cells make a ~200 MB model file whose import holds every row as a
# validated object (gigabytes), and in batches of POST .../cells they took ~150 s.
HTTP_SIZES = ("S", "M", "L")


def skip_reason(model: PnlModel) -> str | None:
    """Why the HTTP part is not run on ``model``, or None."""
    if model.sparse or model.size.name in HTTP_SIZES:
        return None
    return (
        f"HTTP writes not run at dense {model.size.name}: loading its "
        f"{2 * model.populated:,} input cells through the API takes over 2 min "
        "(~150 s in batches of 500k POST .../cells on this machine)"
    )


def _tree(name: str, total: str, parents: list[str], leaves: list[str], parent_of: Any) -> Any:
    kids: dict[str, list[ChildRef]] = {p: [] for p in parents}
    for leaf, k in zip(leaves, parent_of, strict=True):
        kids[parents[int(k)]].append(ChildRef(name=leaf))
    elements = [ElementDef(name=total, children=[ChildRef(name=p) for p in parents])]
    elements += [ElementDef(name=p, children=kids[p]) for p in parents]
    elements += [ElementDef(name=leaf) for leaf in leaves]
    return DimensionDef(name=name, elements=elements)


def model_def(model: PnlModel) -> ModelDef:
    """The P&L as a plancube model file, with its inputs as data rows."""
    s = model.size
    products = [model.product_name(p) for p in range(s.products)]
    regions = [model.region_name(r) for r in range(s.regions)]
    product = _tree(
        "Product",
        TOTAL_PRODUCT,
        [model.family_name(f) for f in range(s.families)],
        products,
        model.family_of,
    )
    region = _tree(
        "Region",
        TOTAL_REGION,
        [model.group_name(g) for g in range(s.groups)],
        regions,
        model.group_of,
    )
    month = DimensionDef(
        name="Month",
        role=Role.time,
        elements=[ElementDef(name=FY, children=[ChildRef(name=m) for m in MONTHS])]
        + [ElementDef(name=m) for m in MONTHS],
    )
    measure = DimensionDef(
        name="Measure", role=Role.measure, elements=[ElementDef(name=m) for m in MEASURES]
    )
    assumption = DimensionDef(
        name="Assumption",
        role=Role.measure,
        elements=[ElementDef(name="COGS%"), ElementDef(name="OpexPerUnit")],
    )
    rules = [RuleSpec(name=r.name, target=r.target, formula=r.formula) for r in RULES]
    cubes = [
        CubeDef(name=CUBE, dimensions=["Product", "Region", "Month", "Measure"], rules=rules),
        CubeDef(name="AssumpP", dimensions=["Product", "Assumption"]),
        CubeDef(name="AssumpR", dimensions=["Region", "Assumption"]),
    ]
    pnl: list[list[str | float | None]] = []
    for p, r, m in zip(*model.mask.nonzero(), strict=True):
        at = [products[p], regions[r], MONTHS[m]]
        pnl.append([*at, "Units", float(model.units[p, r, m])])
        pnl.append([*at, "Price", float(model.price[p, r, m])])
    data: dict[str, list[list[str | float | None]]] = {
        CUBE: pnl,
        "AssumpP": [[products[p], "COGS%", float(v)] for p, v in enumerate(model.cogs_pct)],
        "AssumpR": [
            [regions[r], "OpexPerUnit", float(v)] for r, v in enumerate(model.opex_per_unit)
        ],
    }
    return ModelDef(
        name=MODEL,
        description=f"Driver-based P&L, BENCHMARKS.md size {model.label}",
        dimensions=[product, region, month, measure, assumption],
        cubes=cubes,
        data=data,
    )


def _cell_view(product: str, region: str, month: str, measure: str) -> bytes:
    """A one-cell view body (Product on rows, Measure on columns, the rest as filters)."""
    return orjson.dumps(
        {
            "rows": [{"dimension": "Product", "members": [product]}],
            "columns": [{"dimension": "Measure", "members": [measure]}],
            "filters": {"Region": region, "Month": month},
        }
    )


def _value(response: httpx.Response) -> float:
    body = ok(response)
    return float(body["values"][0][0])


def measure_http(
    model: PnlModel,
    writes: Sequence[Write],
    samples: int,
    budget_s: float,
    workdir: Path,
    log: Callable[[str], None] = lambda _msg: None,
    store_url: str | None = None,
) -> dict[str, Any]:
    """Start a server (a fresh DuckDB file, or ``store_url``), load the model, time the writes."""
    out: dict[str, Any] = {"note": ""}
    notes: list[str] = []
    body = orjson.dumps(model_def(model).model_dump(mode="json"))
    tmp = Path(tempfile.mkdtemp(prefix="pnl-http-", dir=workdir))
    server_log = workdir / f"{model.label}-plancube-http-server.log"
    db = store_url or str(tmp / "pnl.duckdb")
    try:
        admin = mint_admin(db)  # before the server holds the file (benchmarks.signin)
        with (
            launched(["serve", "--db", db], server_log, cwd=ROOT) as srv,
            httpx.Client(base_url=srv.url, headers=admin, timeout=900, trust_env=False) as client,
        ):
            log(f"server at {srv.url}; importing {len(body) / 1e6:.1f} MB of model file …")
            ms, r = timed_post(client, "/api/models/import", body)
            head = int(ok(r, 201)["head"])
            out["load_s"] = ms / 1e3
            out["load_via"] = "one POST /api/models/import (structure, rules and inputs)"
            log(f"load {out['load_s']:.2f} s, head commit {head}")

            cells = f"/api/models/{MODEL}/cubes/{CUBE}/cells"
            view = f"/api/models/{MODEL}/cubes/{CUBE}/view"
            ebit_total = _cell_view(TOTAL_PRODUCT, TOTAL_REGION, FY, "EBIT")
            total_ms: list[float] = []
            write_only: list[float] = []
            read_ms: list[float] = []
            readings: list[list[float]] = []
            start = time.perf_counter()
            for w in writes[:samples]:
                p, r_, m = model.product_name(w.p), model.region_name(w.r), MONTHS[w.m]
                write = orjson.dumps(
                    {
                        "cells": [{"elements": [p, r_, m, "Units"], "value": w.value}],
                        "base_commit": head,
                        "source": "api",
                    }
                )
                ytd = _cell_view(p, r_, MONTHS[N_MONTHS - 1], "RevYTD")
                t0 = time.perf_counter()
                wrote = client.post(cells, content=write, headers=JSON_HEADERS)
                t1 = time.perf_counter()
                got_total = client.post(view, content=ebit_total, headers=JSON_HEADERS)
                got_ytd = client.post(view, content=ytd, headers=JSON_HEADERS)
                t2 = time.perf_counter()
                answer = ok(wrote)
                if answer["changed"] != 1:
                    raise RuntimeError(f"write {w} changed {answer['changed']} cells, not 1")
                head = int(answer["head"])
                readings.append([_value(got_total), _value(got_ytd)])
                total_ms.append((t2 - t0) * 1e3)
                write_only.append((t1 - t0) * 1e3)
                read_ms.append((t2 - t1) * 1e3)
                if len(total_ms) >= MIN_SAMPLES and time.perf_counter() - start > budget_s:
                    notes.append(f"{len(total_ms)} HTTP write samples (time cap)")
                    break
            median = statistics.median
            log(
                f"HTTP writes: {len(total_ms)}, median {median(total_ms):.2f} ms "
                f"(write {median(write_only):.2f}, reads {median(read_ms):.2f})"
            )
    except Exception as exc:
        tail = server_log.read_text(errors="replace")[-4000:] if server_log.exists() else ""
        raise RuntimeError(f"{exc}\nserver log (tail):\n{tail}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["store"] = "postgres" if store_url else "duckdb"
    out["http_write_ms"] = total_ms
    out["write_only_ms"] = write_only
    out["read_ms"] = read_ms
    out["http_write_readings"] = readings
    out["note"] = "; ".join(notes)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pnl.http_api")
    ap.add_argument("--size", default="S")
    ap.add_argument("--sparse", action="store_true")
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--budget-s", type=float, default=120.0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--stores", default="duckdb,postgres", help="comma list of duckdb, postgres")
    ap.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = ap.parse_args(argv)
    stores = set(args.stores.split(","))

    def log(msg: str) -> None:
        print(f"[plancube http] {msg}", file=sys.stderr, flush=True)

    model = build_model(args.size, args.sparse)
    args.workdir.mkdir(parents=True, exist_ok=True)
    plan = write_plan(model, args.samples)
    raw: dict[str, Any] = {"skipped": "not asked for (--stores)"}
    if "duckdb" in stores:
        raw = measure_http(model, plan, args.samples, args.budget_s, args.workdir, log)
    if "postgres" in stores:
        problem = postgres_problem(args.postgres_url)
        if problem:
            raw["postgres"] = {"skipped": f"PostgreSQL at {args.postgres_url}: {problem}"}
        else:
            with postgres_schema(args.postgres_url) as url:
                log("again on PostgreSQL (a fresh schema)")
                raw["postgres"] = measure_http(
                    model, plan, args.samples, args.budget_s, args.workdir, log, store_url=url
                )
    args.out.write_text(json.dumps(raw))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
