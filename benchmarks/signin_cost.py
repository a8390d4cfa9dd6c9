"""What signing a request in costs the server, in process: the guard with and without sign-in.

``benchmarks/security.py`` measures requests through HTTP, where the cost of signing in hides in
the noise of a whole request and a shared machine. This isolates it: one app (a DuckDB file in a
temporary directory, the small model of the tests), a server admin's and a planner's personal
access tokens, and the guards of ``server.api.guards`` called directly on a request scope, the
way FastAPI calls them — ``Public`` (no sign-in: what a request cost before sign-in existed),
``Viewer`` for the admin (token → user → groups → role, every mask open) and for a planner in a
group with element security on two dimensions (its masks too). Caches warm, as on a busy server:
the Authenticator's (token → user, 10 s), the directory's (groups, roles, masks).

    python -m benchmarks.signin_cost [--calls 20000] [--out benchmarks/results/signin_cost.json]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request

from server.api.guards import PUBLIC, VIEWER, Guard
from server.app import create_app
from server.auth import accounts
from server.context import Context
from server.services import admin
from server.workspace import Workspace

DEFAULT_OUT = "benchmarks/results/signin_cost.json"
MODEL = {
    "name": "small",
    "dimensions": [
        {
            "name": "Account",
            "elements": [{"name": "Net", "children": ["Rev", "Cost"]}, "Rev", "Cost"],
        },
        {
            "name": "Month",
            "elements": [{"name": "Q1", "children": ["Jan", "Feb", "Mar"]}, "Jan", "Feb", "Mar"],
        },
    ],
    "cubes": [{"name": "PnL", "dimensions": ["Account", "Month"]}],
}


def _request(app: Any, token: str) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/models/small/cubes/PnL/view",
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"host", b"testserver")],
        "query_string": b"",
        "path_params": {"model": "small", "cube": "PnL"},
        "app": app,
    }
    return Request(scope)


def _setup(ws: Workspace) -> tuple[str, str]:
    from server.modeldef import ModelDef
    from server.services import models

    models.load(ws, ModelDef.model_validate(MODEL), "bench")
    ctx = Context.system(ws, "small")
    boss = accounts.add_user(ws.store, "boss", server_admin=True)
    pat = accounts.add_user(ws.store, "pat")
    admin.create_group(ctx, admin.GroupCreate(name="planners"))
    admin.set_role(ctx, "planners", admin.Role.planner)
    admin.set_member(ctx, "planners", "pat", True)
    grants = {
        "Account": [("Net", "READ"), ("Rev", "WRITE")],
        "Month": [("Q1", "WRITE")],
    }
    for dim, rules in grants.items():
        admin.replace_element_rules(
            ctx,
            dim,
            [admin.ElementGrant(element=e, group="planners", access=a) for e, a in rules],  # type: ignore[arg-type]
        )
    return (
        accounts.create_token(ws.store, boss.id, "bench")[0],
        accounts.create_token(ws.store, pat.id, "bench")[0],
    )


async def _time(guard: Guard, request: Request, calls: int) -> list[float]:
    for _ in range(200):  # warm every cache
        ctx = await guard(request)
        ctx.masks  # noqa: B018 -- what the service asks for first
    out = []
    for _ in range(calls // 100):
        t0 = time.perf_counter_ns()
        for _ in range(100):
            ctx = await guard(request)
            ctx.masks  # noqa: B018
        out.append((time.perf_counter_ns() - t0) / 100 / 1000)  # µs per call
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.signin_cost", description=__doc__)
    p.add_argument("--calls", type=int, default=20_000)
    p.add_argument("--out", default=DEFAULT_OUT)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Path(tmp) / "cost.duckdb")
        ws: Workspace = app.state.workspace
        ws.start()
        try:
            boss, pat = _setup(ws)
            cases = {
                "no sign-in (Public)": (PUBLIC, boss),
                "server admin (Viewer, masks open)": (VIEWER, boss),
                "planner with element security (Viewer)": (VIEWER, pat),
            }
            results = {}
            for name, (guard, token) in cases.items():
                samples = asyncio.run(_time(guard, _request(app, token), args.calls))
                results[name] = {
                    "median_us": statistics.median(samples),
                    "p95_us": sorted(samples)[int(len(samples) * 0.95) - 1],
                }
        finally:
            ws.close()
    base = results["no sign-in (Public)"]["median_us"]
    for name, r in results.items():
        print(f"{name:<42} {r['median_us']:8.1f} µs  (+{r['median_us'] - base:6.1f} µs)")
    out = {
        "benchmark": "signin_cost",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "calls": args.calls,
        "results": results,
        "overhead_us": {n: r["median_us"] - base for n, r in results.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
