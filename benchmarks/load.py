"""Many planners at once, through real HTTP against a real ``plancube serve`` process.

The demo company plan is loaded into a fresh store (a DuckDB file; a fresh PostgreSQL schema) and
served. ``--planners`` planners — local accounts, each signed in with a personal access token
of their own and in one group with the planner role and WRITE on every department
(``benchmarks.signin``) — then work for ``--seconds`` seconds, all at once, each in a loop
of what a planner at the grid does:

- ``view``: POST .../view of their department's budget (the P&L tree by month, FY2027);
- ``write``: ``--writes`` single-cell writes, each with ``base_commit`` = the last head the
  planner saw, to leaf cells of their own department (a few planners share a department, so
  real conflicts happen and are counted: a 409 is an answer, not an error);
- ``read``: the view again, to read their writes back (every acknowledged value must show).

Beside them, ``--subscribers`` live-feed WebSockets (run in a process of their own, so the
client side does not eat the planners' event loop) watch the departments' views, spread over
as many distinct views as there are departments.

At the end every acknowledged write is checked against storage: each written cell's history
must hold exactly the values acknowledged for it, each once, under the commit id the server
answered (nothing lost, nothing duplicated), and each cell's stored value must be the last
acknowledged one. A run that fails the check is marked ``"correct": false``.

    python -m benchmarks.load [--stores duckdb,postgres] [--planners 50] [--seconds 20]
        [--writes 3] [--subscribers 0,100,1000] [--writes-only] [--out benchmarks/results/load.json]

``--writes-only`` measures the commit path's capacity: the planners only write, each with the
head its last write answered as its base (a view first, and again after a 409).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.api_latency import (
    DEFAULT_POSTGRES_URL,
    ROOT,
    Server,
    code_fingerprint,
    machine,
    percentiles,
    postgres_problem,
    postgres_schema,
    postgres_version,
)
from benchmarks.signin import grant

DEFAULT_OUT = "benchmarks/results/load.json"
TARGETS = {"view_p95_ms": 200, "write_p95_ms": 200, "writes_per_s": 500}
CUBE = "/api/models/demo/cubes/PnL"
DEPARTMENTS = [
    "Sales North America", "Sales EMEA", "Sales APAC", "Inside Sales", "Marketing",
    "Customer Success", "Product Management", "Platform Engineering", "Application Engineering",
    "Quality Assurance", "Data Science", "Manufacturing", "Supply Chain", "Customer Support",
    "Facilities Management", "Finance", "Human Resources", "Legal", "Information Technology",
]  # fmt: skip
ACCOUNTS = ["Rent", "Utilities", "Training", "Airfare", "Lodging", "Office Supplies"]
MONTHS = [f"2027-{m:02d}" for m in range(1, 13)]
PLANNERS = "load-planners"  # their group: planner, WRITE on every department
ALL_DEPARTMENTS = [("Total Company", "WRITE")]


def view_spec(department: str) -> dict[str, Any]:
    return {
        "rows": [{"dimension": "Account", "members": "descendants(Net Income)"}],
        "columns": [{"dimension": "Month", "members": "descendants(FY2027)"}],
        "filters": {"Version": "Budget", "Department": department, "Measure": "Amount"},
    }


# -- planners ---------------------------------------------------------------------------------


@dataclass
class Tally:
    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    # cell (department, account, month) -> [(commit id, value)] acknowledged
    acked: dict[tuple[str, str, str], list[tuple[int, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # every value sent to a cell, answered or not yet: a read can show another planner's write
    # that is committed before the client has handled its answer
    sent: dict[tuple[str, str, str], set[float]] = field(default_factory=lambda: defaultdict(set))
    unseen: int = 0  # acknowledged values a read-back did not show


async def planner(
    client: httpx.AsyncClient,
    user: dict[str, str],
    n: int,
    deadline: float,
    writes: int,
    tally: Tally,
    writes_only: bool = False,
) -> None:
    department = DEPARTMENTS[n % len(DEPARTMENTS)]
    spec = view_spec(department)
    rng = random.Random(n)
    seq = 0

    async def timed(op: str, method: str, path: str, body: Any) -> httpx.Response:
        start = time.perf_counter()
        r = await client.request(method, path, json=body, headers=user)
        tally.ms[op].append((time.perf_counter() - start) * 1000)
        return r

    head = None
    while time.perf_counter() < deadline:
        if head is None or not writes_only:
            r = await timed("view", "POST", f"{CUBE}/view", spec)
            if r.status_code != 200:
                tally.errors.append(f"view {r.status_code}: {r.text[:200]}")
                continue
            head = r.json()["commit"]
        mine: dict[tuple[str, str], tuple[float, int]] = {}  # (value, its commit)
        for _ in range(writes):
            account, month = rng.choice(ACCOUNTS), rng.choice(MONTHS)
            seq += 1
            value = float(n * 1_000_000 + seq)  # unique: every write is recognizable
            tally.sent[department, account, month].add(value)
            body = {
                "base_commit": head,
                "source": "api",
                "message": f"load {n}.{seq}",
                "cells": [
                    {"elements": ["Budget", department, account, month, "Amount"], "value": value}
                ],
            }
            r = await timed("write", "POST", f"{CUBE}/cells", body)
            if r.status_code == 200:
                answer = r.json()
                head = answer["head"]
                if answer["commit"] is not None:
                    tally.acked[department, account, month].append((answer["commit"]["id"], value))
                    mine[account, month] = (value, answer["commit"]["id"])
            elif r.status_code == 409:
                tally.conflicts += 1
                if writes_only:  # read again before the next write
                    head = None
                    break
            else:
                tally.errors.append(f"write {r.status_code}: {r.text[:200]}")
        if writes_only:
            continue
        r = await timed("read", "POST", f"{CUBE}/view", spec)
        if r.status_code != 200:
            tally.errors.append(f"read {r.status_code}: {r.text[:200]}")
            continue
        body = r.json()
        rows = {h["elements"][0]: i for i, h in enumerate(body["rows"])}
        cols = {h["elements"][0]: j for j, h in enumerate(body["columns"])}
        for (account, month), (value, commit) in mine.items():
            shown = body["values"][rows[account]][cols[month]]
            # another planner of the department may have written the cell since: only count a
            # value that is neither ours nor a later write (acknowledged after ours, or sent and
            # not answered yet)
            key = (department, account, month)
            acked = {v: c for c, v in tally.acked[key]}
            later = shown in acked and acked[shown] > commit
            in_flight = shown in tally.sent[key] and shown not in acked
            if shown != value and not later and not in_flight:
                tally.unseen += 1


async def planners(
    url: str,
    people: list[dict[str, str]],
    seconds: float,
    writes: int,
    writes_only: bool = False,
) -> Tally:
    tally = Tally()
    count = len(people)
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60, trust_env=False) as c:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(planner(c, people[n], n, deadline, writes, tally, writes_only) for n in range(count))
        )
    return tally


# -- live subscribers (a process of their own) -----------------------------------------------


def _subscribe(
    url: str, headers: dict[str, str], count: int, ready: Any, stop: Any, received: Any
) -> None:
    import websockets

    async def one(n: int, started: asyncio.Event, counter: list[int]) -> None:
        async with websockets.connect(
            url.replace("http", "ws") + "/api/models/demo/feed",
            additional_headers=headers,
            max_size=None,
        ) as ws:
            message = {
                "op": "subscribe",
                "id": "v",
                "cube": "PnL",
                "view": view_spec(DEPARTMENTS[n % len(DEPARTMENTS)]),
            }
            await ws.send(json.dumps(message))
            await ws.recv()  # the snapshot
            counter[0] += 1
            if counter[0] == count:
                started.set()
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.5)
                    with received.get_lock():
                        received.value += 1

    async def main() -> None:
        started = asyncio.Event()
        counter = [0]
        tasks = [asyncio.create_task(one(n, started, counter)) for n in range(count)]
        await started.wait()
        ready.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


@contextlib.contextmanager
def subscribers(url: str, headers: dict[str, str], count: int, timeout_s: float = 300) -> Any:
    """``count`` WebSockets watching views; yields a function answering messages received."""
    if count == 0:
        yield lambda: 0
        return
    ctx = multiprocessing.get_context("spawn")
    ready, stop, received = ctx.Event(), ctx.Event(), ctx.Value("q", 0)
    proc = ctx.Process(target=_subscribe, args=(url, headers, count, ready, stop, received))
    proc.start()
    try:
        if not ready.wait(timeout_s):
            raise RuntimeError(f"{count} subscribers did not get their snapshots in {timeout_s} s")
        yield lambda: received.value
    finally:
        stop.set()
        proc.join(30)
        if proc.is_alive():
            proc.kill()


# -- the check --------------------------------------------------------------------------------


def check(server: Server, tally: Tally, start_head: int) -> list[str]:
    """Every acknowledged write in storage, once, under its commit; each cell at its last."""
    problems = []
    with server.client(timeout=60) as client:
        for (department, account, month), acked in tally.acked.items():
            elements = ["Budget", department, account, month, "Amount"]
            r = client.get(f"{CUBE}/cells/history", params={"e": elements})
            history = [
                (h["commit"]["id"], h["new"]) for h in r.json() if h["commit"]["id"] > start_head
            ]
            if sorted(history) != sorted(acked):
                lost = set(acked) - set(history)
                extra = [h for h in history if h not in set(acked) or history.count(h) > 1]
                problems.append(f"{elements}: lost {sorted(lost)[:3]}, unexpected {extra[:3]}")
            last = max(acked)[1]
            body = client.post(
                f"{CUBE}/view",
                json={
                    "rows": [{"dimension": "Account", "members": [account]}],
                    "columns": [{"dimension": "Month", "members": [month]}],
                    "filters": {"Version": "Budget", "Department": department, "Measure": "Amount"},
                },
            ).json()
            if body["values"][0][0] != last:
                problems.append(f"{elements}: stored {body['values'][0][0]}, last acked {last}")
    return problems


# -- one run ----------------------------------------------------------------------------------


def run(store: str, db: str, args: argparse.Namespace, subs: int, log: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"store": store, "planners": args.planners, "subscribers": subs}
    names = [f"planner{n}" for n in range(args.planners)]
    with Server(db, log, users=names) as server:
        with server.client(timeout=60) as admin:
            head = admin.get("/api/models/demo").json()["head"]
            # the demo secures Department (server.demo_users): the planners may write all of it
            grant(admin, "demo", PLANNERS, "planner", names, {"Department": ALL_DEPARTMENTS})
        people = [server.people[name] for name in names]
        with subscribers(server.url, server.admin, subs) as received:
            start, cpu = time.perf_counter(), server.cpu_s()
            tally = asyncio.run(
                planners(server.url, people, args.seconds, args.writes, args.writes_only)
            )
            elapsed = time.perf_counter() - start
            cpu_used = (server.cpu_s() or 0) - (cpu or 0)
            time.sleep(1)  # let the last feed messages arrive
            result["feed_messages"] = received()
        problems = check(server, tally, head)
        acked = sum(len(v) for v in tally.acked.values())
        result.update(
            {
                "seconds": round(elapsed, 2),
                **{f"{op}_ms": percentiles(ms) for op, ms in sorted(tally.ms.items())},
                "writes_acked": acked,
                "writes_per_s": round(acked / elapsed, 1),
                # the server's CPU per request: comparable across runs on a busy machine
                "server_cpu_ms_per_request": round(
                    cpu_used * 1000 / max(1, sum(len(ms) for ms in tally.ms.values())), 2
                ),
                "conflicts_409": tally.conflicts,
                "errors": len(tally.errors),
                "first_errors": tally.errors[:3],
                "unseen_on_read_back": tally.unseen,
                "correct": not problems and not tally.errors and tally.unseen == 0,
                "problems": problems[:10],
                "rss_mb": server.rss_mb(),
            }
        )
    return result


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'store':<9}{'subs':>6}{'view p50/p95':>16}{'write p50/p95':>17}{'read p50/p95':>16}"
        f"{'writes/s':>10}{'cpu ms/req':>12}{'409s':>7}{'errors':>8}  correct"
    )
    lines = [head]
    for r in results:
        if "error" in r:
            lines.append(f"{r['store']:<9}{r['subscribers']:>6}  FAILED: {r['error']}")
            continue

        def pp(op: str, r: dict[str, Any] = r) -> str:
            p = r.get(f"{op}_ms", {"p50": 0, "p95": 0})
            return f"{p['p50']:.0f} / {p['p95']:.0f}"

        lines.append(
            f"{r['store']:<9}{r['subscribers']:>6}{pp('view'):>16}{pp('write'):>17}"
            f"{pp('read'):>16}{r['writes_per_s']:>10}{r['server_cpu_ms_per_request']:>12}"
            f"{r['conflicts_409']:>7}{r['errors']:>8}"
            f"  {r['correct']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.load", description=__doc__.split("\n")[0]
    )
    p.add_argument("--stores", default="duckdb,postgres")
    p.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    p.add_argument("--planners", type=int, default=50)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--writes", type=int, default=3, help="single-cell writes per loop")
    p.add_argument("--subscribers", default="0", help="comma-separated, e.g. 0,100,1000")
    p.add_argument(
        "--writes-only",
        action="store_true",
        help="planners only write (a view first and after a 409): the commit path's capacity",
    )
    p.add_argument("--out", default=DEFAULT_OUT)
    args = p.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory(prefix="plancube-load-") as tmp:
        work = Path(tmp)
        for store in args.stores.split(","):
            for subs in (int(s) for s in args.subscribers.split(",")):
                log = work / f"{store}-{subs}.log"
                try:
                    with contextlib.ExitStack() as stack:
                        if store == "duckdb":
                            db = str(work / f"load-{subs}.duckdb")
                        else:
                            problem = postgres_problem(args.postgres_url)
                            if problem:
                                raise RuntimeError(f"PostgreSQL unavailable: {problem}")
                            db = stack.enter_context(postgres_schema(args.postgres_url))
                        demo = [
                            sys.executable,
                            "-m",
                            "server.cli",
                            "demo",
                            "--no-serve",
                            "--db",
                            db,
                        ]
                        subprocess.run(demo, cwd=ROOT, check=True, capture_output=True)
                        results.append(run(store, db, args, subs, log))
                except Exception as exc:
                    tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                    error = f"{type(exc).__name__}: {exc} {tail}"
                    results.append({"store": store, "subscribers": subs, "error": error})
                print(table(results[-1:]).splitlines()[-1], flush=True)
    report = {
        "benchmark": "load",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "code": code_fingerprint(),
        "postgres": postgres_version(args.postgres_url)
        if "postgres" in args.stores and not postgres_problem(args.postgres_url)
        else None,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "targets": TARGETS,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    print(f"wrote {args.out}")
    return 0 if all(r.get("correct") for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
