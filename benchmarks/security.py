"""What signing in and element security cost per request, through real HTTP (issue 11).

One ``plancube serve`` process holds two identical models, ``open`` (no element security) and
``secured`` (the group ``planners`` has rules on two dimensions: WRITE on each total, READ on
one of its ten groups, so every cell stays visible and some turn read-only). Each model has one
cube of 1,000 x 1,000 leaves (rows Total → 10 groups → 1,000 leaves, columns the same, one
measure), ``--populated`` of its leaf cells filled with seeded random numbers.

Two users sign in with personal access tokens (minted into the store before the server starts,
``benchmarks.signin``): ``bench-admin``, a server admin (every mask open), and ``planner``, in
``planners`` (planner role in both models). The same request is sent by each in turn — admin,
planner, planner, admin, … so the machine's drift falls on both — with caches warm (the
tokens, the groups and the masks are remembered after the first request):

- ``view``: 100 leaf rows (one row group) x 10 column groups, 1,000 cells;
- ``write``: one leaf cell the planner may write, one commit, ``base_commit`` = the last head;
- ``big view``: every leaf, 1,000 x 1,000 = 10^6 cells, on both models in turn (open, secured,
  secured, open, …), each by both users.

Reported, as wall time at the client and as the server process's CPU time (every thread's
``schedstat``: what other work on a shared machine hardly inflates): p50/p95 per user and model,
the overhead of the planner's request over the admin's — the median of the paired differences
(target ≤ 0.3 ms on the small requests) — and for the big view the ratio of medians (target
≤ 1.5x), planner over admin on the secured model and the planner's secured over open. Every
planner answer must equal the admin's.

    python -m benchmarks.security [--store duckdb|postgres] [--samples 300] [--big-samples 25]
        [--out benchmarks/results/security.json]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from benchmarks.api_latency import (
    DEFAULT_POSTGRES_URL,
    JSON_HEADERS,
    Server,
    code_fingerprint,
    machine,
    ok,
    percentiles,
    postgres_problem,
    postgres_schema,
)
from benchmarks.signin import grant

DEFAULT_OUT = "benchmarks/results/security.json"
TARGETS = {"overhead_p50_ms": 0.3, "big_view_ratio": 1.5}
LEAVES, GROUPS = 1000, 10
PLANNER, GROUP = "planner", "planners"
SEED = 11


def _dimension(name: str, prefix: str) -> dict[str, Any]:
    per = LEAVES // GROUPS
    groups = [f"{prefix}G{g:02d}" for g in range(1, GROUPS + 1)]
    leaves = [f"{prefix}{i:04d}" for i in range(LEAVES)]
    elements: list[Any] = [{"name": f"Total {name}", "children": groups}]
    elements += [
        {"name": g, "children": leaves[k * per : (k + 1) * per]} for k, g in enumerate(groups)
    ]
    return {"name": name, "elements": elements + leaves}


def model(name: str, populated: int) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    picks = rng.choice(LEAVES * LEAVES, size=populated, replace=False)
    values = np.round(rng.uniform(1.0, 1000.0, populated), 2)
    data = [
        [f"R{int(p) // LEAVES:04d}", f"C{int(p) % LEAVES:04d}", "Amount", float(v)]
        for p, v in zip(picks, values, strict=True)
    ]
    return {
        "name": name,
        "dimensions": [
            _dimension("Row", "R"),
            _dimension("Col", "C"),
            {"name": "Measure", "role": "measure", "elements": ["Amount"]},
        ],
        "cubes": [{"name": "C", "dimensions": ["Row", "Col", "Measure"]}],
        "data": {"C": data},
    }


RULES = {
    "Row": [("Total Row", "WRITE"), ("RG10", "READ")],
    "Col": [("Total Col", "WRITE"), ("CG10", "READ")],
}
SMALL_VIEW = orjson.dumps(
    {
        "rows": [{"dimension": "Row", "members": "children(RG01)"}],
        "columns": [{"dimension": "Col", "members": "children(Total Col)"}],
    }
)
BIG_VIEW = orjson.dumps(
    {
        "rows": [{"dimension": "Row", "members": "leaves(Total Row)"}],
        "columns": [{"dimension": "Col", "members": "leaves(Total Col)"}],
    }
)


def cpu_ns(pid: int) -> int:
    """CPU time the server process has run, every thread summed, in nanoseconds (each thread's
    ``schedstat``): unlike wall time, other work on a shared machine hardly changes it, and
    unlike ``/proc/PID/stat`` it is not counted in 10 ms ticks."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that has just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total


@dataclass
class Timing:
    ms: float  # wall time at the client, until the answer is read
    cpu_ms: float  # the server's CPU time meanwhile
    answer: Any


def _timed(c: httpx.Client, pid: int, path: str, body: bytes, headers: dict[str, str]) -> Timing:
    cpu, start = cpu_ns(pid), time.perf_counter()
    r = c.post(path, content=body, headers={**JSON_HEADERS, **headers})
    ms = (time.perf_counter() - start) * 1000
    return Timing(ms, (cpu_ns(pid) - cpu) / 1e6, ok(r))


class Pairs:
    """Admin and planner timings of the same requests, sent in turn."""

    def __init__(self) -> None:
        self.admin: list[Timing] = []
        self.planner: list[Timing] = []
        self.same = True
        self.shape: list[int] = []

    def add(self, admin: Timing, planner: Timing) -> None:
        self.admin.append(admin)
        self.planner.append(planner)

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, label in (("ms", ""), ("cpu_ms", "server_cpu_")):
            a = [getattr(t, key) for t in self.admin]
            p = [getattr(t, key) for t in self.planner]
            diffs = [y - x for x, y in zip(a, p, strict=True)]
            out[f"admin_{label}ms"] = percentiles(a)
            out[f"planner_{label}ms"] = percentiles(p)
            # the median of paired differences: each pair ran back to back, under the same load
            out[f"{label}overhead_p50_ms"] = round(statistics.median(diffs), 3)
            out[f"{label}ratio_p50"] = round(statistics.median(p) / statistics.median(a), 3)
        out["same_answers"] = self.same
        if self.shape:
            out["rows_x_columns"] = self.shape
        return out


def run_views(
    c: httpx.Client,
    pid: int,
    paths: list[str],
    body: bytes,
    people: dict[str, Any],
    n: int,
    warmup: int,
) -> list[Pairs]:
    """The view at each of ``paths`` (models), by the admin and by the planner; the paths and
    the users take turns going first, so the machine's drift falls on all alike."""
    out = [Pairs() for _ in paths]
    for i in range(warmup + n):
        turn = list(enumerate(paths))
        for k, path in turn[i % len(turn) :] + turn[: i % len(turn)]:
            order = ("admin", PLANNER) if (i // len(turn)) % 2 == 0 else (PLANNER, "admin")
            got = {who: _timed(c, pid, path, body, people[who]) for who in order}
            answer, pairs = got[PLANNER].answer, out[k]
            pairs.shape = [len(answer["rows"]), len(answer["columns"])]
            if got["admin"].answer["values"] != answer["values"]:
                pairs.same = False
            if i >= warmup:
                pairs.add(got["admin"], got[PLANNER])
    return out


def run_writes(
    c: httpx.Client, pid: int, model: str, people: dict[str, Any], n: int, warmup: int
) -> tuple[Pairs, int]:
    """One-cell writes inside RG01 x CG01 (WRITE for the planner), alternating users."""
    path = f"/api/models/{model}/cubes/C/cells"
    head = int(ok(c.get(f"/api/models/{model}", headers=people["admin"]))["head"])
    rng = np.random.default_rng(SEED + 1)
    pairs, unchanged = Pairs(), 0
    for i in range(warmup + n):
        order = ("admin", PLANNER) if i % 2 == 0 else (PLANNER, "admin")
        got: dict[str, Timing] = {}
        for who in order:
            cell = [f"R{int(rng.integers(100)):04d}", f"C{int(rng.integers(100)):04d}", "Amount"]
            body = {"cells": [{"elements": cell, "value": float(rng.uniform(1, 1000))}]}
            t = _timed(c, pid, path, orjson.dumps({**body, "base_commit": head}), people[who])
            head = int(t.answer["head"])
            unchanged += t.answer["changed"] == 0
            got[who] = t
        if i >= warmup:
            pairs.add(got["admin"], got[PLANNER])
    return pairs, unchanged


def run(db: str, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with Server(db, log, users=[PLANNER]) as srv, srv.client() as c:
        people = {"admin": srv.admin, PLANNER: srv.people[PLANNER]}
        assert srv.proc is not None
        pid = srv.proc.pid
        for name in ("open", "secured"):
            print(f"  loading model {name!r} ({args.populated:,} cells) ...", flush=True)
            body = orjson.dumps(model(name, args.populated))
            ok(c.post("/api/models/import", content=body, headers=JSON_HEADERS), 201)
            grant(c, name, GROUP, "planner", [PLANNER], RULES if name == "secured" else None)
        for name in ("open", "secured"):
            view = f"/api/models/{name}/cubes/C/view"
            print(f"  {name}: view 100 x 10, {args.samples} pairs", flush=True)
            [small] = run_views(c, pid, [view], SMALL_VIEW, people, args.samples, args.warmup)
            print(f"  {name}: write 1 cell, {args.samples} pairs", flush=True)
            writes, unchanged = run_writes(c, pid, name, people, args.samples, args.warmup)
            out[name] = {
                "view": small.report(),
                "write": writes.report() | {"writes_without_change": unchanged},
            }
        print(f"  both: view 1000 x 1000, {args.big_samples} pairs each, in turn", flush=True)
        paths = [f"/api/models/{name}/cubes/C/view" for name in ("open", "secured")]
        big = run_views(c, pid, paths, BIG_VIEW, people, args.big_samples, 2)
        for name, pairs in zip(("open", "secured"), big, strict=True):
            out[name]["big_view"] = pairs.report()
        out["server_rss_mb"] = srv.rss_mb()
    for key in ("ms", "server_cpu_ms"):
        open_big = out["open"]["big_view"][f"planner_{key}"]["p50"]
        secured_big = out["secured"]["big_view"][f"planner_{key}"]["p50"]
        out[f"big_view_secured_vs_open_{key}"] = round(secured_big / open_big, 3)
    out["correct"] = all(
        out[m][op]["same_answers"] for m in ("open", "secured") for op in ("view", "big_view")
    )
    return out


OPERATIONS = [("view", "view 1k cells"), ("write", "write 1 cell"), ("big_view", "view 10^6")]


def table(r: dict[str, Any]) -> str:
    lines = [
        f"{'model':<9}{'request':<14}{'admin p50/p95 ms':>20}{'planner p50/p95 ms':>22}"
        f"{'overhead p50':>14}{'ratio':>8}{'server CPU ms admin/planner':>30}{'overhead':>10}"
    ]
    for m in ("open", "secured"):
        for op, label in OPERATIONS:
            x = r[m][op]
            a, p = x["admin_ms"], x["planner_ms"]
            ca, cp = x["admin_server_cpu_ms"], x["planner_server_cpu_ms"]
            lines.append(
                f"{m:<9}{label:<14}{a['p50']:>11.2f} / {a['p95']:<7.2f}{p['p50']:>12.2f} / "
                f"{p['p95']:<8.2f}{x['overhead_p50_ms']:>11.3f} ms{x['ratio_p50']:>7.2f}x"
                f"{ca['p50']:>20.3f} / {cp['p50']:<8.3f}{x['server_cpu_overhead_p50_ms']:>7.3f} ms"
            )
    lines.append(
        f"\nview 10^6, planner, secured / open: {r['big_view_secured_vs_open_ms']:.2f}x wall, "
        f"{r['big_view_secured_vs_open_server_cpu_ms']:.2f}x server CPU "
        f"(target <= {TARGETS['big_view_ratio']}x); answers the same: {r['correct']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.security", description=__doc__)
    p.add_argument("--store", choices=["duckdb", "postgres"], default="duckdb")
    p.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    p.add_argument("--samples", type=int, default=300, help="request pairs per small operation")
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--big-samples", type=int, default=25, help="pairs of 10^6-cell views")
    p.add_argument("--populated", type=int, default=100_000, help="leaf cells per model")
    p.add_argument("--out", default=DEFAULT_OUT)
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="plancube-security-"))
    try:
        with contextlib.ExitStack() as stack:
            if args.store == "duckdb":
                db = str(tmp / "security.duckdb")
            else:
                problem = postgres_problem(args.postgres_url)
                if problem:
                    raise SystemExit(f"PostgreSQL at {args.postgres_url}: {problem}")
                db = stack.enter_context(postgres_schema(args.postgres_url))
            print(f"{args.store}:", flush=True)
            result = run(db, args, tmp / "server.log")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(table(result))
    report = {
        "benchmark": "security",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "python": platform.python_version(),
        "code": code_fingerprint(),
        "store": args.store,
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "postgres_url")},
        "rules": {d: [list(g) for g in grants] for d, grants in RULES.items()},
        "targets": TARGETS,
        "result": result,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nwrote {out}")
    return 0 if result["correct"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
