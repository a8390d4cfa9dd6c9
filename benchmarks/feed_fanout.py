"""Write latency with live feed subscribers, against a real ``plancube serve`` process.

The demo company is loaded into a fresh store; then, for each subscriber count (default 0, 100
and 1,000), a second process opens that many WebSockets to ``/api/models/demo/feed`` (offering
permessage-deflate, as browsers do), each watching one of a few distinct views of the PnL cube
(the Account tree x months for Total Company and three departments, round robin), and keeps
every grid current from the feed's messages. Meanwhile one keep-alive httpx client writes one
random leaf cell per request with ``base_commit`` (as the grid does):

- ``burst``: writes back to back, each sent as soon as the previous one answered;
- ``paced``: one write every ``--interval`` ms (a busy model: many planners typing).

It reports write latency p50/p95 per mode; ``reach``: from a write's answer until one more
subscriber of the Total Company view, in this process at normal priority and last in line, got a
message including it (the time the server took to reach every subscriber of that view); ``feed``:
the same over every message the subscribers' process received; how many messages arrived per
write (commits are coalesced when they come faster than the feed can send); and correctness:
every subscriber's grid, rebuilt from its snapshot and the cell messages, must equal a fresh view
query at the end, and each subscriber's messages must come in commit order.

The subscribers' process runs at ``nice 19`` (``--nice``): in production they run on the
planners' machines, not on the server's cores; on a busy machine their own delays show in
``feed``, not in ``reach``.

    python -m benchmarks.feed_fanout [--stores duckdb,postgres] [--subscribers 0,100,1000]
        [--samples N] [--interval MS] [--out benchmarks/results/feed-fanout.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import multiprocessing
import os
import platform
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
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
    demo_scenario,
    machine,
    ok,
    percentiles,
    postgres_problem,
    postgres_schema,
)

DEFAULT_OUT = "benchmarks/results/feed-fanout.json"
TARGET_MS = 2.0  # DESIGN.md: a write with 1,000 live subscribers within 2 ms of one with none
DEPARTMENTS = ["Total Company", "Sales & Marketing", "R&D", "Sales EMEA"]
SEED = 11


def views() -> list[dict[str, Any]]:
    return [
        {
            "rows": [{"dimension": "Account", "members": "descendants(Net Income)"}],
            "columns": [{"dimension": "Month", "members": ["descendants(FY2026)"]}],
            "filters": {"Department": d, "Version": "Budget", "Measure": "Amount"},
        }
        for d in DEPARTMENTS
    ]


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far (Linux)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def grid_hash(values: list[list[Any]]) -> str:
    return hashlib.sha256(orjson.dumps(values)).hexdigest()[:16]


# -- the subscribers' process ----------------------------------------------------------------


@dataclass
class Watcher:
    spec: int
    values: list[list[Any]]
    commit: int  # the snapshot's commit, then the last cells message's
    received: list[tuple[int, float]]  # (commit, time.monotonic()) per cells message
    out_of_order: int = 0
    snapshots: int = 0


async def _watch(
    url: str,
    headers: dict[str, str],
    spec_index: int,
    spec: dict[str, Any],
    compression: str | None,
) -> Any:
    import websockets

    socket = await websockets.connect(
        url,
        additional_headers=headers,
        max_size=2**26,
        open_timeout=120,
        ping_interval=None,
        compression=compression,
    )
    await socket.send(
        orjson.dumps({"op": "subscribe", "id": "v", "cube": "PnL", "view": spec}).decode()
    )
    first = orjson.loads(await socket.recv())
    assert first["type"] == "snapshot", first
    watcher = Watcher(spec_index, first["view"]["values"], first["view"]["commit"], [])
    return socket, watcher


async def _listen(socket: Any, w: Watcher) -> None:
    import websockets

    with contextlib.suppress(websockets.ConnectionClosed):
        async for frame in socket:
            now = time.monotonic()
            msg = orjson.loads(frame)
            if msg["type"] == "snapshot":  # a resnapshot (the subscriber fell behind)
                w.snapshots += 1
                w.values = msg["view"]["values"]
                w.commit = max(w.commit, msg["view"]["commit"])
                continue
            if msg["type"] != "cells":
                continue
            commit = msg["commit"]["id"] if msg["commit"] else w.commit
            w.out_of_order += commit < w.commit and msg["commit"] is not None
            w.commit = max(w.commit, commit)
            for c in msg["cells"]:
                w.values[c["row"]][c["col"]] = c["value"]
            w.received.append((commit, now))


async def _subscribers(
    conn: Connection,
    url: str,
    headers: dict[str, str],
    specs: list[dict[str, Any]],
    n: int,
    compression: str | None,
) -> None:
    opened: list[tuple[Any, Watcher]] = []
    for start in range(0, n, 50):  # open in groups: a burst of 1,000 handshakes times out
        batch = [
            _watch(url, headers, i % len(specs), specs[i % len(specs)], compression)
            for i in range(start, min(n, start + 50))
        ]
        opened += await asyncio.gather(*batch)
    tasks = [asyncio.create_task(_listen(s, w)) for s, w in opened]
    conn.send(("ready", n))
    await asyncio.to_thread(conn.recv)  # ("stop", None): the writes are done
    quiet_since, last = time.monotonic(), -1
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for the feed to go quiet for a second
        count = sum(len(w.received) + w.snapshots for _, w in opened)
        if count != last:
            quiet_since, last = time.monotonic(), count
        elif time.monotonic() - quiet_since > 1.0:
            break
        await asyncio.sleep(0.1)
    watchers = [w for _, w in opened]
    conn.send(
        (
            "done",
            [
                {
                    "spec": w.spec,
                    "hash": grid_hash(w.values),
                    "received": w.received,
                    "out_of_order": w.out_of_order,
                    "snapshots": w.snapshots,
                }
                for w in watchers
            ],
        )
    )
    for t in tasks:
        t.cancel()
    await asyncio.gather(*(s.close() for s, _ in opened), return_exceptions=True)


def subscribers_main(
    conn: Connection,
    url: str,
    headers: dict[str, str],
    specs: list[dict[str, Any]],
    n: int,
    compression: str | None,
    niceness: int,
) -> None:
    with contextlib.suppress(OSError):
        os.nice(niceness)
    asyncio.run(_subscribers(conn, url, headers, specs, n, compression))


# -- the writer ------------------------------------------------------------------------------


@dataclass
class Writes:
    latency_ms: list[float]
    answered: dict[int, float]  # commit id -> time.monotonic() of the answer


class Writer:
    def __init__(self, client: httpx.Client, model: str, head: int, axes: list[list[str]]) -> None:
        self.client = client
        self.path = f"/api/models/{model}/cubes/PnL/cells"
        self.head = head
        self.axes = axes
        self.rng = np.random.default_rng(SEED)

    def one(self) -> tuple[float, int]:
        elements = [a[int(self.rng.integers(len(a)))] for a in self.axes]
        value = round(float(self.rng.uniform(1.0, 1000.0)), 2)
        body = orjson.dumps(
            {"cells": [{"elements": elements, "value": value}], "base_commit": self.head}
        )
        start = time.perf_counter()
        r = self.client.post(self.path, content=body, headers=JSON_HEADERS)
        ms = (time.perf_counter() - start) * 1000
        self.head = int(ok(r)["head"])
        return ms, self.head

    def run(self, n: int, interval_ms: float = 0.0) -> Writes:
        out = Writes([], {})
        tick = time.monotonic()
        for _ in range(n):
            if interval_ms:
                tick += interval_ms / 1000
                time.sleep(max(0.0, tick - time.monotonic()))
            ms, commit = self.one()
            out.latency_ms.append(ms)
            out.answered[commit] = time.monotonic()
        return out


@dataclass
class Bench:
    """One server with the demo model, a writer, and what the subscribers watch."""

    store: str
    srv: Server
    client: httpx.Client
    writer: Writer
    feed_url: str
    view_path: str
    specs: list[dict[str, Any]]


class Probe:
    """One more subscriber, in this process at normal priority, watching the Total Company view.

    It subscribes after the others, so it comes last in each message round: the time from a
    write's answer to the probe's message is the time the server took to reach every subscriber
    of that view, without the subscribers' own (niced) process in the way.
    """

    def __init__(self, url: str, headers: dict[str, str], spec: dict[str, Any]) -> None:
        from websockets.sync.client import connect

        self.socket = connect(
            url, additional_headers=headers, max_size=2**26, proxy=None, ping_interval=None
        )
        subscribe = {"op": "subscribe", "id": "p", "cube": "PnL", "view": spec}
        self.socket.send(orjson.dumps(subscribe).decode())
        assert orjson.loads(self.socket.recv(timeout=120))["type"] == "snapshot"
        self.received: list[tuple[int, float]] = []
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        with contextlib.suppress(Exception):  # closed at the end
            for frame in self.socket:
                msg = orjson.loads(frame)
                if msg["type"] == "cells" and msg["commit"]:
                    self.received.append((int(msg["commit"]["id"]), time.monotonic()))

    def delays_ms(self, writes: Writes) -> list[float]:
        """Per write, answer until the first probe message that includes it."""
        out = []
        for commit, answered in writes.answered.items():
            seen = [t for c, t in self.received if c >= commit]
            if seen:
                out.append((min(seen) - answered) * 1000)
        return out

    def close(self, head: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(c >= head for c, _ in self.received):
            time.sleep(0.05)
        self.socket.close()
        self.thread.join(10)


def measure(b: Bench, n: int, st: argparse.Namespace) -> dict[str, Any]:
    """Write latency (burst, then paced) with ``n`` subscribers connected and reading."""
    case: dict[str, Any] = {"subscribers": n}
    proc, conn = None, None
    if n:
        ctx = multiprocessing.get_context("spawn")
        conn, child = ctx.Pipe()
        offer = None if st.compression == "none" else st.compression
        proc = ctx.Process(
            target=subscribers_main,
            args=(child, b.feed_url, b.srv.admin, b.specs, n, offer, st.nice),
        )
        proc.start()
        _expect(conn, proc, "ready")
    probe = Probe(b.feed_url, b.srv.admin, b.specs[0]) if n else None
    try:
        b.writer.run(st.warmup)
        server_pid = b.srv.proc.pid if b.srv.proc else None
        cpu = (cpu_s(server_pid), cpu_s(proc.pid if proc else None), time.monotonic())
        burst = b.writer.run(st.samples)
        paced = b.writer.run(st.samples, st.interval)
        if probe is not None:
            probe.close(b.writer.head)
            for label, w in (("burst", burst), ("paced", paced)):
                p = percentiles(probe.delays_ms(w))
                case |= {f"{label}_reach_p50_ms": p["p50"], f"{label}_reach_p95_ms": p["p95"]}
        if conn is not None:
            conn.send(("stop", None))
            reports = _expect(conn, proc, "done")
        case["server_cpu_s"] = round(cpu_s(server_pid) - cpu[0], 2)
        case["subscribers_cpu_s"] = round(cpu_s(proc.pid if proc else None) - cpu[1], 2)
        case["wall_s"] = round(time.monotonic() - cpu[2], 2)
        if conn is not None:
            fresh = [
                grid_hash(ok(b.client.post(b.view_path, json=s, headers=JSON_HEADERS))["values"])
                for s in b.specs
            ]
            case |= feed_report(reports, fresh, burst, paced)
    finally:
        if proc is not None:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
    for label, w in (("burst", burst), ("paced", paced)):
        p = percentiles(w.latency_ms)
        case |= {f"{label}_write_p50_ms": p["p50"], f"{label}_write_p95_ms": p["p95"]}
        case[f"{label}_write_ms"] = [round(x, 3) for x in w.latency_ms]
    return case


def run_store(store: str, db: str, counts: list[int], st: argparse.Namespace) -> dict[str, Any]:
    sc = demo_scenario()
    log = Path(tempfile.mkdtemp(prefix="plancube-feed-")) / f"server-{store}.log"
    out: dict[str, Any] = {"store": store, "cases": []}
    with Server(db, log) as srv, srv.client() as c:
        body = orjson.dumps(sc.model.model_dump(mode="json"))
        r = c.post("/api/models/import", content=body, headers=JSON_HEADERS)
        head = int(ok(r, 201)["head"])
        model = sc.model.name
        # leaves under the watched views: Budget, every department leaf, FY2026 months, Amount
        dims = {d.name: d for d in sc.model.dimensions}
        leaves = {d: [e.name for e in dims[d].elements if not e.children] for d in dims}
        axes = [
            ["Budget"],
            leaves["Department"],
            leaves["Account"],
            [m for m in leaves["Month"] if m.startswith("2026-")],
            ["Amount"],
        ]
        b = Bench(
            store,
            srv,
            c,
            Writer(c, model, head, axes),
            srv.url.replace("http://", "ws://") + f"/api/models/{model}/feed",
            f"/api/models/{model}/cubes/PnL/view",
            views(),
        )
        for rep in range(st.repeat):  # the counts interleaved: the machine's load drifts
            for n in counts:
                print(f"{store}: {n} subscribers (round {rep + 1} of {st.repeat})", flush=True)
                case = measure(b, n, st) | {"round": rep + 1}
                out["cases"].append(case)
                print("  " + summary_line(store, case), flush=True)
    out["pooled"] = [pooled([c for c in out["cases"] if c["subscribers"] == n]) for n in counts]
    return out


def pooled(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Every round of one subscriber count together."""
    out: dict[str, Any] = {"subscribers": cases[0]["subscribers"], "rounds": len(cases)}
    for mode in ("burst", "paced"):
        p = percentiles([x for c in cases for x in c[f"{mode}_write_ms"]])
        out |= {f"{mode}_write_p50_ms": p["p50"], f"{mode}_write_p95_ms": p["p95"]}
        out[f"{mode}_n"] = p["n"]
        for what in ("feed", "reach"):
            got = [c[f"{mode}_{what}_p50_ms"] for c in cases if f"{mode}_{what}_p50_ms" in c]
            if got:
                out[f"{mode}_{what}_p50_ms_median"] = round(float(np.median(got)), 1)
    for key in ("grids_wrong", "out_of_order", "resnapshots"):
        if key in cases[0]:
            out[key] = sum(c[key] for c in cases)
    return out


def _expect(conn: Connection, proc: Any, what: str, timeout_s: float = 600) -> Any:
    """The subscribers' next message (``what``), or an error if their process died."""
    deadline = time.monotonic() + timeout_s
    while not conn.poll(1):
        if not proc.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the subscribers' process failed before {what!r}")
    kind, payload = conn.recv()
    assert kind == what, kind
    return payload


def feed_report(
    reports: list[dict[str, Any]], fresh: list[str], burst: Writes, paced: Writes
) -> dict[str, Any]:
    answered = burst.answered | paced.answered
    delays = {"burst": [], "paced": []}  # type: dict[str, list[float]]
    for rep in reports:
        for commit, t in rep["received"]:
            mode = "burst" if commit in burst.answered else "paced"
            if commit in answered:
                delays[mode].append((t - answered[commit]) * 1000)
    wrong = sum(rep["hash"] != fresh[rep["spec"]] for rep in reports)
    out: dict[str, Any] = {
        "grids_wrong": wrong,
        "out_of_order": sum(rep["out_of_order"] for rep in reports),
        "resnapshots": sum(rep["snapshots"] for rep in reports),
        "messages": sum(len(rep["received"]) for rep in reports),
    }
    for mode, ds in delays.items():
        writes = len(burst.answered if mode == "burst" else paced.answered)
        if ds:
            p = percentiles(ds)
            out |= {f"{mode}_feed_p50_ms": p["p50"], f"{mode}_feed_p95_ms": p["p95"]}
            out[f"{mode}_feed_max_ms"] = round(max(ds), 1)
        out[f"{mode}_messages_per_subscriber_write"] = round(len(ds) / writes / len(reports), 3)
    return out


def summary_line(store: str, c: dict[str, Any]) -> str:
    feed = "-"
    if "paced_reach_p50_ms" in c:
        feed = f"{c['burst_reach_p50_ms']:.0f} / {c['paced_reach_p50_ms']:.0f}"
    msgs = "-"
    if "paced_messages_per_subscriber_write" in c:
        msgs = (
            f"{c['burst_messages_per_subscriber_write']:.2f} / "
            f"{c['paced_messages_per_subscriber_write']:.2f}"
        )
    okay = "-" if "grids_wrong" not in c else str(c["grids_wrong"] == 0 and not c["out_of_order"])
    return (
        f"{store:<9}{c['subscribers']:>6}"
        f"{c['burst_write_p50_ms']:>9.2f} / {c['burst_write_p95_ms']:<7.2f}"
        f"{c['paced_write_p50_ms']:>9.2f} / {c['paced_write_p95_ms']:<7.2f}"
        f"{feed:>22}{msgs:>16}  {okay}"
    )


def table(results: list[dict[str, Any]], interval: float) -> str:
    head = (
        f"{'store':<9}{'subs':>6}{'burst p50/p95 ms':>19}{'paced p50/p95 ms':>19}"
        f"{'reach all p50 ms b/p':>22}{'msgs/sub/write':>16}  correct"
    )
    lines = ["each round:", head]
    lines += [summary_line(r["store"], c) for r in results for c in r["cases"]]
    lines += ["", "pooled over the rounds (write latency):", head[:53]]
    for r in results:
        for c in r["pooled"]:
            lines.append(
                f"{r['store']:<9}{c['subscribers']:>6}"
                f"{c['burst_write_p50_ms']:>9.2f} / {c['burst_write_p95_ms']:<7.2f}"
                f"{c['paced_write_p50_ms']:>9.2f} / {c['paced_write_p95_ms']:<7.2f}"
            )
    lines.append(f"(paced: one write every {interval:g} ms; b/p: burst / paced)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.feed_fanout", description=__doc__)
    p.add_argument("--stores", default="duckdb", help="comma list of duckdb, postgres")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("PLANCUBE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    p.add_argument("--subscribers", default="0,100,1000", help="comma list of counts")
    p.add_argument("--samples", type=int, default=100, help="measured writes per mode")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--interval", type=float, default=100.0, help="ms between paced writes")
    p.add_argument("--repeat", type=int, default=1, help="rounds over the counts, interleaved")
    p.add_argument(
        "--compression",
        default="deflate",
        choices=["deflate", "none"],
        help="what the subscribers offer (browsers offer permessage-deflate)",
    )
    p.add_argument("--nice", type=int, default=19, help="the subscribers' process's niceness")
    p.add_argument("--out", default=DEFAULT_OUT)
    args = p.parse_args(argv)
    stores = [s for s in args.stores.split(",") if s]
    counts = [int(x) for x in args.subscribers.split(",") if x]
    notes: list[str] = []
    if "postgres" in stores and (problem := postgres_problem(args.postgres_url)):
        notes.append(f"PostgreSQL skipped: {problem}")
        stores.remove("postgres")
    code = code_fingerprint()
    results = []
    for store in stores:
        if store == "duckdb":
            with tempfile.TemporaryDirectory() as tmp:
                results.append(run_store(store, str(Path(tmp) / "feed.duckdb"), counts, args))
        else:
            with postgres_schema(args.postgres_url) as url:
                results.append(run_store(store, url, counts, args))
    print()
    print(table(results, args.interval))
    report = {
        "benchmark": "feed-fanout",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "python": platform.python_version(),
        "code": code,
        "settings": {
            "samples": args.samples,
            "warmup": args.warmup,
            "interval_ms": args.interval,
            "repeat": args.repeat,
            "compression": args.compression,
            "subscribers_nice": args.nice,
            "views": views(),
            "write": "one random Budget FY2026 leaf cell per request, base_commit = last head",
        },
        "target_ms": TARGET_MS,
        "results": results,
        "notes": notes,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nwrote {out}")
    bad = any(c.get("grids_wrong") or c.get("out_of_order") for r in results for c in r["cases"])
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
