"""API latency through real HTTP against a real ``plancube serve`` process.

For each store (a DuckDB file; a fresh PostgreSQL schema) and model size (``demo``: the demo
company; ``1m``: a synthetic P&L of 960,000 leaf cells, BENCHMARKS.md size L, every leaf cell
populated; ``100k``, size M, on request) this starts the server as a subprocess, loads the model
over the API and measures, with one keep-alive httpx client:

- ``health``: GET /api/health, the HTTP floor every request pays;
- ``view``: POST .../view of a consolidated report (a tree on rows, months, quarters and years on
  columns, page filters on consolidated elements);
- ``write``: POST .../cells of one random leaf cell with ``base_commit`` = the last head seen;
  each write is one durable commit, applied to the engine before the server answers;
- ``load``: getting the cells in through the API, in cells per second (the demo through
  POST /api/models/import, the 1m model in batches of POST .../cells);
- ``startup``: a restart on the loaded store, process start until /api/health answers (the
  engine rebuild from storage), beside the same on the empty store at the beginning.

Every view answer it checks (after the load, after the writes, after the restart) is compared
with a numpy reference of the same consolidation to a relative error of 1e-9; a run that
disagrees is marked ``"correct": false`` and is not a result.

    python -m benchmarks.api_latency [--stores duckdb,postgres] [--postgres-url URL]
        [--sizes demo,1m] [--samples N] [--warmup N] [--out benchmarks/results/api-latency.json]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import orjson

from benchmarks import signin
from server.launch import free_port
from server.modeldef import ChildRef, CubeDef, DimensionDef, ElementDef, ElementType, ModelDef, Role

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_OUT = "benchmarks/results/api-latency.json"
TARGETS = {"write_p95_ms": 20, "view_p95_ms": 50}
JSON_HEADERS = {"content-type": "application/json"}
SEED = 42


# -- the numpy reference ---------------------------------------------------------------------


def _rollup(dim: DimensionDef) -> np.ndarray:
    """(elements x leaves): the weight of every leaf inside every element, paths multiplied."""
    position = {e.name: i for i, e in enumerate(dim.elements)}
    leaves = [i for i, e in enumerate(dim.elements) if not e.children]
    column = {p: j for j, p in enumerate(leaves)}
    weights = np.zeros((len(dim.elements), len(leaves)))
    done = np.zeros(len(dim.elements), dtype=bool)

    def fill(i: int) -> np.ndarray:
        if not done[i]:
            element = dim.elements[i]
            if not element.children:
                weights[i, column[i]] = 1.0
            for child in element.children:
                weights[i] += child.weight * fill(position[child.name])
            done[i] = True
        return weights[i]

    for i in range(len(dim.elements)):
        fill(i)
    return weights


class Reference:
    """A cube's leaf cells held densely, consolidated with dense rollup matrices on demand."""

    def __init__(self, dims: list[DimensionDef]) -> None:
        self.dims = dims
        self.index = [{e.name: i for i, e in enumerate(d.elements)} for d in dims]
        self.leaves = [[e.name for e in d.elements if not e.children] for d in dims]
        self.leaf_index = [{n: j for j, n in enumerate(names)} for names in self.leaves]
        self.rollups = [_rollup(d) for d in dims]
        self.values = np.zeros([len(names) for names in self.leaves])

    @property
    def leaf_cells(self) -> int:
        return int(self.values.size)

    def set(self, elements: list[str], value: float) -> None:
        self.values[tuple(ix[n] for ix, n in zip(self.leaf_index, elements, strict=True))] = value

    def numeric_leaves(self, computed: frozenset[str] = frozenset()) -> list[list[str]]:
        """Per dimension, the leaves a numeric input can sit on (text elements and the elements
        rules compute, ``computed``, left out)."""
        out = []
        for dim, names in zip(self.dims, self.leaves, strict=True):
            text = {e.name for e in dim.elements if e.type is ElementType.text}
            out.append([n for n in names if n not in text and n not in computed])
        return out

    def grid(self, body: dict[str, Any]) -> np.ndarray:
        """The (rows x columns) values a view answer should hold, from its own headers."""
        rows, cols = body["rows"], body["columns"]
        shape = (len(rows), len(cols))
        block = self.values
        picks = []
        for axis, dim in enumerate(self.dims):
            ix = self.index[axis]
            if dim.name in body["row_dimensions"]:
                k = body["row_dimensions"].index(dim.name)
                pos = np.array([ix[h["elements"][k]] for h in rows])[:, None]
            elif dim.name in body["column_dimensions"]:
                k = body["column_dimensions"].index(dim.name)
                pos = np.array([ix[h["elements"][k]] for h in cols])[None, :]
            else:
                pos = np.array([[ix[body["filters"][dim.name]]]])
            wanted, inverse = np.unique(pos, return_inverse=True)
            block = np.tensordot(self.rollups[axis][wanted], block, axes=([1], [axis]))
            block = np.moveaxis(block, 0, axis)
            picks.append(np.broadcast_to(inverse.reshape(pos.shape), shape))
        return np.asarray(block[tuple(picks)])

    def agrees(self, body: dict[str, Any]) -> bool:
        got = np.array(body["values"], dtype=np.float64)
        want = self.grid(body)
        scale = max(1.0, float(np.abs(want).max(initial=0.0)))
        return got.shape == want.shape and bool(
            np.allclose(got, want, rtol=1e-9, atol=1e-9 * scale, equal_nan=False)
        )


# -- the models ------------------------------------------------------------------------------


@dataclass
class Scenario:
    size: str
    model: ModelDef  # with data rows when loaded through /api/models/import
    cube: str
    view: dict[str, Any]
    view_label: str
    reference: Reference  # holds every cell the load puts in
    populated: int
    batches: Callable[[int], Iterator[list[dict[str, Any]]]] | None = None  # POST .../cells
    computed: frozenset[str] = frozenset()  # elements whose cells rules compute: not written


def _children(names: list[str]) -> list[ChildRef]:
    return [ChildRef(name=n) for n in names]


def _dimension(name: str, role: Role | None, tree: dict[str, list[str]], leaves: list[str]) -> Any:
    """A dimension from {parent: children} (parents in order) and its leaves."""
    elements = [ElementDef(name=p, children=_children(kids)) for p, kids in tree.items()]
    elements += [ElementDef(name=n) for n in leaves]
    return DimensionDef(name=name, role=role, elements=elements)


def _demo_module(wait_s: float) -> Any:
    """templates.demo_company, waiting a little if it is still being written."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            importlib.invalidate_caches()
            module = importlib.import_module("templates.demo_company")
            if callable(getattr(module, "build", None)):
                return module
            importlib.reload(module)
            if callable(getattr(module, "build", None)):
                return module
            problem = "templates.demo_company has no build()"
        except Exception as exc:
            problem = f"templates.demo_company does not import: {exc!r}"
        if time.monotonic() > deadline:
            raise RuntimeError(problem)
        print(f"  waiting for the demo model ({problem})", flush=True)
        time.sleep(5)


def demo_scenario(wait_s: float = 120) -> Scenario:
    model: ModelDef = _demo_module(wait_s).build()
    cube = next(c for c in model.cubes if c.name == "PnL")
    by_name = {d.name: d for d in model.dimensions}
    reference = Reference([by_name[d] for d in cube.dimensions])
    rows = model.data.get(cube.name, [])
    for row in rows:
        *elements, value = row
        if isinstance(value, int | float):
            reference.set([str(e) for e in elements], float(value))
    view = {
        "rows": [
            {
                "dimension": "Account",
                "members": ["descendants(Net Income)", "descendants(People Cost (alt))"],
            }
        ],
        "columns": [
            {
                "dimension": "Month",
                "members": ["All Years", "descendants(FY2025)", "descendants(FY2026)", "FY2027"],
            }
        ],
        "filters": {
            "Department": "Total Company",
            "Version": "Budget vs Actual",
            "Measure": "Amount",
        },
    }
    return Scenario(
        size="demo",
        model=model,
        cube=cube.name,
        view=view,
        view_label="Account tree x (years, quarters, months); Department, Version consolidated",
        reference=reference,
        populated=len(rows),
        computed=frozenset(r.target for r in cube.rules),
    )


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MEASURES = ["Units", "Price", "Revenue", "COGS", "GM", "Opex", "EBIT", "RevYTD"]


def _split(parents: list[str], leaves: list[str]) -> dict[str, list[str]]:
    """Leaves shared out over parents in order, as evenly as they go."""
    bounds = np.linspace(0, len(leaves), len(parents) + 1).round().astype(int)
    return {p: leaves[bounds[k] : bounds[k + 1]] for k, p in enumerate(parents)}


def synthetic_scenario(
    products: int = 500, families: int = 20, regions: int = 20, groups: int = 4, name: str = "1m"
) -> Scenario:
    """BENCHMARKS.md's driver-based P&L (default: size L), every leaf cell a seeded random number.

    There are no rules yet, so Revenue, COGS, ... are inputs like Units and Price, and every
    measure rolls up (the benchmark measures the API, not the calculation).
    """
    prods = [f"P{i:03d}" for i in range(1, products + 1)]
    fams = [f"F{i:02d}" for i in range(1, families + 1)]
    regs = [f"R{i:02d}" for i in range(1, regions + 1)]
    grps = [f"G{i}" for i in range(1, groups + 1)]
    product = _dimension("Product", None, {"Total Product": fams} | _split(fams, prods), prods)
    region = _dimension("Region", None, {"Total Region": grps} | _split(grps, regs), regs)
    quarters = [f"Q{q}" for q in range(1, 5)]
    month = _dimension(
        "Month",
        Role.time,
        {"FY": quarters} | {q: MONTHS[3 * k : 3 * k + 3] for k, q in enumerate(quarters)},
        MONTHS,
    )
    measure = _dimension("Measure", Role.measure, {}, MEASURES)
    dims = [product, region, month, measure]
    model = ModelDef(
        name="bench",
        description="Driver-based P&L, BENCHMARKS.md size L (no rules: every cell an input)",
        dimensions=dims,
        cubes=[CubeDef(name="PnL", dimensions=[d.name for d in dims])],
    )
    reference = Reference(dims)
    rng = np.random.default_rng(SEED)
    reference.values[...] = np.round(rng.uniform(1.0, 1000.0, reference.values.shape), 2)
    names = [np.asarray(leaves, dtype=object) for leaves in reference.leaves]

    def batches(size: int) -> Iterator[list[dict[str, Any]]]:
        flat = reference.values.reshape(-1)
        for start in range(0, flat.size, size):
            index = np.arange(start, min(start + size, flat.size))
            coords = np.unravel_index(index, reference.values.shape)
            columns = [n[c].tolist() for n, c in zip(names, coords, strict=True)]
            yield [
                {"elements": [p, r, m, x], "value": v}
                for p, r, m, x, v in zip(*columns, flat[index].tolist(), strict=True)
            ]

    shown = fams[:4]
    view = {
        "rows": [
            {
                "dimension": "Product",
                "members": ["Total Product", *(f"descendants({f})" for f in shown)],
            }
        ],
        "columns": [
            {"dimension": "Measure", "members": ["Revenue", "EBIT"]},
            {"dimension": "Month", "members": "descendants(FY)"},
        ],
        "filters": {"Region": "Total Region"},
    }
    return Scenario(
        size=name,
        model=model,
        cube="PnL",
        view=view,
        view_label="Total + 4 product families with their products x (2 measures x 17 months); "
        "Region total",
        reference=reference,
        populated=reference.leaf_cells,
        batches=batches,
    )


# -- stores and the server process -----------------------------------------------------------


def postgres_problem(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None."""
    try:
        import psycopg

        psycopg.connect(url, connect_timeout=5).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    return None


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema ``bench_<random>``, dropped afterwards."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


class Server:
    """``python -m server.cli serve`` as a subprocess; ``startup_s`` = start to /api/health.

    Before it starts, ``admin`` (a server admin's headers) and ``people`` (the headers of each
    local user named in ``users``, made without a role) are minted into its store
    (``benchmarks.signin``); a client of the server sends one of them with every request."""

    def __init__(
        self, db: str, log: Path, timeout_s: float = 600, users: Sequence[str] = ()
    ) -> None:
        self.db = db
        self.log = log
        self.timeout_s = timeout_s
        self.users = list(users)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_s = 0.0
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin: signin.Headers = {}
        self.people: dict[str, signin.Headers] = {}

    def client(self, headers: signin.Headers | None = None, **kwargs: Any) -> httpx.Client:
        """A keep-alive client of this server, signed in as ``headers`` (default: the admin)."""
        kwargs.setdefault("timeout", 900)
        return httpx.Client(
            base_url=self.url, headers=headers or self.admin, trust_env=False, **kwargs
        )

    def __enter__(self) -> Server:
        self.admin = signin.mint_admin(self.db)
        self.people = signin.mint(self.db, self.users) if self.users else {}
        command = [sys.executable, "-m", "server.cli", "serve", "--db", self.db]
        command += ["--port", str(self.port)]
        with self.log.open("ab") as log:
            start = time.perf_counter()
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            with httpx.Client(trust_env=False, timeout=2) as probe:
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if probe.get(f"{self.url}/api/health").status_code == 200:
                            break
                    if self.proc.poll() is not None:
                        raise RuntimeError(f"the server exited: {self.tail()}")
                    if time.perf_counter() - start > self.timeout_s:
                        raise RuntimeError(f"the server did not answer: {self.tail()}")
                    time.sleep(0.01)
            self.startup_s = time.perf_counter() - start
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def cpu_s(self) -> float | None:
        """CPU seconds (user + system) the server process has used: a cost that, unlike wall
        time, other work on a shared machine does not inflate."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float | None:
        if self.proc is None:
            return None
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), None)
        return round(int(line.split()[1]) / 1024, 1) if line else None


# -- measuring -------------------------------------------------------------------------------


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON of an expected answer; anything else raises with the server's error."""
    if response.status_code != status:
        try:
            error = response.json()["error"]
            detail = f"{error['code']}: {error['message']}"
        except Exception:
            detail = response.text[:500]
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {detail}"
        )
    return response.json()


def post(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    return client.post(path, content=orjson.dumps(body), headers=JSON_HEADERS)


def timed(call: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    """(milliseconds until the whole response was read, the response)."""
    start = time.perf_counter()
    response = call()
    return (time.perf_counter() - start) * 1000, response


def timed_post(client: httpx.Client, path: str, content: bytes) -> tuple[float, httpx.Response]:
    """A POST of an already encoded JSON body, timed (the encoding is not)."""
    start = time.perf_counter()
    response = client.post(path, content=content, headers=JSON_HEADERS)
    return (time.perf_counter() - start) * 1000, response


def percentiles(ms: list[float]) -> dict[str, float | int]:
    a = np.asarray(ms)
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "n": len(ms),
    }


@dataclass
class Settings:
    samples: int
    warmup: int
    batch: int
    log_dir: Path


def load(client: httpx.Client, sc: Scenario, batch: int) -> tuple[int, float, str]:
    """Put the model in; (head, seconds spent in requests, how)."""
    if sc.batches is None:
        body = orjson.dumps(sc.model.model_dump(mode="json"))
        ms, r = timed_post(client, "/api/models/import", body)
        return int(ok(r, 201)["head"]), ms / 1000, "POST /api/models/import (structure and data)"
    structure = sc.model.model_dump(mode="json")
    ok(post(client, "/api/models/import", structure), 201)
    head, seconds = 0, 0.0
    path = f"/api/models/{sc.model.name}/cubes/{sc.cube}/cells"
    for cells in sc.batches(batch):
        body = orjson.dumps({"cells": cells, "source": "import", "message": "benchmark load"})
        ms, r = timed_post(client, path, body)
        head = int(ok(r)["head"])
        seconds += ms / 1000
    return head, seconds, f"POST .../cells in batches of {batch:,}"


def run_case(store: str, db: str, sc: Scenario, st: Settings) -> dict[str, Any]:
    ref = sc.reference
    model, n = sc.model.name, st.warmup + st.samples
    view_path = f"/api/models/{model}/cubes/{sc.cube}/view"
    write_path = f"/api/models/{model}/cubes/{sc.cube}/cells"
    log = st.log_dir / f"server-{store}-{sc.size}.log"
    out: dict[str, Any] = {
        "store": store,
        "size": sc.size,
        "leaf_cells": ref.leaf_cells,
        "populated_cells": sc.populated,
        "code": code_fingerprint(),
    }
    checks: list[bool] = []

    def view(client: httpx.Client) -> dict[str, Any]:
        body: dict[str, Any] = ok(post(client, view_path, sc.view))
        return body

    with Server(db, log) as srv, srv.client() as c:
        out["startup_empty_s"] = round(srv.startup_s, 3)
        health = [timed(lambda: c.get("/api/health"))[0] for _ in range(n)][st.warmup :]

        print(f"  loading {sc.populated:,} cells ...", flush=True)
        head, load_s, how = load(c, sc, st.batch)
        out |= {"load_s": round(load_s, 3), "load_cells_per_s": round(sc.populated / load_s)}
        out["load_via"] = how
        out["server_rss_mb_loaded"] = srv.rss_mb()

        first = view(c)
        checks.append(ref.agrees(first))
        out |= {"view_rows": len(first["rows"]), "view_columns": len(first["columns"])}
        out["view"] = sc.view_label
        print(f"  view {len(first['rows'])} x {len(first['columns'])}, {n} requests", flush=True)
        spec = orjson.dumps(sc.view)
        views = [timed_post(c, view_path, spec) for _ in range(n)]
        for _, r in views:
            ok(r)
        view_ms = [ms for ms, _ in views][st.warmup :]

        print(f"  writes: {n} single-cell commits", flush=True)
        rng = np.random.default_rng(SEED + 1)
        axes = ref.numeric_leaves(sc.computed)
        picks = rng.choice(int(np.prod([len(a) for a in axes])), size=n, replace=False)
        coords = np.unravel_index(picks, [len(a) for a in axes])
        write_ms, noop = [], 0
        for i in range(n):
            elements = [a[int(k[i])] for a, k in zip(axes, coords, strict=True)]
            value = round(float(rng.uniform(1.0, 1000.0)), 2)
            body = {"cells": [{"elements": elements, "value": value}], "base_commit": head}
            ms, r = timed_post(c, write_path, orjson.dumps(body))
            answer = ok(r)
            head = int(answer["head"])
            noop += answer["changed"] == 0
            ref.set(elements, value)
            if i >= st.warmup:
                write_ms.append(ms)
        checks.append(ref.agrees(view(c)))
        out["writes_without_change"] = noop
        out["server_rss_mb_end"] = srv.rss_mb()

    print("  restart on the loaded store ...", flush=True)
    with Server(db, log) as srv, srv.client() as c:
        out["startup_s"] = round(srv.startup_s, 3)
        after = view(c)
        checks.append(ref.agrees(after) and after["commit"] == head)

    h, v, w = percentiles(health), percentiles(view_ms), percentiles(write_ms)
    out |= {"health_p50_ms": h["p50"], "health_p95_ms": h["p95"]}
    out |= {"view_p50_ms": v["p50"], "view_p95_ms": v["p95"], "view_n": v["n"]}
    out |= {"write_p50_ms": w["p50"], "write_p95_ms": w["p95"], "write_n": w["n"]}
    out["correct"] = all(checks)
    out["checks"] = {"after_load": checks[0], "after_writes": checks[1], "after_restart": checks[2]}
    return out


# -- reporting -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "cpu": cpu,
        "os": platform.platform(),
    }


def code_fingerprint() -> str:
    """A hash of the server, engine and template sources: which code a result belongs to."""
    digest = hashlib.sha256()
    for package in ("server", "calc_engine", "templates"):
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"{'store':<9}{'size':<6}{'operation':<34}{'p50 ms':>9}{'p95 ms':>9}{'n':>6}  target p95",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"{r['store']:<9}{r['size']:<6}FAILED: {r['error']}")
            continue
        shape = f"{r['view_rows']}x{r['view_columns']}"
        ops = [
            ("health (HTTP floor)", "health", r["view_n"], None),
            (f"view {shape}", "view", r["view_n"], TARGETS["view_p95_ms"]),
            ("write 1 cell (1 commit)", "write", r["write_n"], TARGETS["write_p95_ms"]),
        ]
        for label, key, n, target in ops:
            p95 = r[f"{key}_p95_ms"]
            verdict = "" if target is None else f"{target} ms {'ok' if p95 <= target else 'MISSED'}"
            lines.append(
                f"{r['store']:<9}{r['size']:<6}{label:<34}{r[f'{key}_p50_ms']:>9.2f}"
                f"{p95:>9.2f}{n:>6}  {verdict}"
            )
    lines.append("")
    lines.append(
        f"{'store':<9}{'size':<6}{'leaf cells':>11}{'populated':>11}{'load cells/s':>14}"
        f"{'startup s':>11}{'(empty)':>9}{'RSS MB':>8}  correct"
    )
    for r in results:
        if "error" in r:
            continue
        lines.append(
            f"{r['store']:<9}{r['size']:<6}{r['leaf_cells']:>11,}{r['populated_cells']:>11,}"
            f"{r['load_cells_per_s']:>14,}{r['startup_s']:>11.2f}{r['startup_empty_s']:>9.2f}"
            f"{r['server_rss_mb_end'] or 0:>8.0f}  {r['correct']}"
        )
    ratios = []
    for size in dict.fromkeys(r["size"] for r in results):
        pair = {r["store"]: r for r in results if r["size"] == size and "error" not in r}
        if {"duckdb", "postgres"} <= set(pair):
            d, p = pair["duckdb"], pair["postgres"]
            ratios.append(
                f"{size:<6}postgres/duckdb p50: view {p['view_p50_ms'] / d['view_p50_ms']:.2f}x, "
                f"write {p['write_p50_ms'] / d['write_p50_ms']:.2f}x, "
                f"startup {p['startup_s'] / d['startup_s']:.2f}x, "
                f"load rate {p['load_cells_per_s'] / d['load_cells_per_s']:.2f}x"
            )
    if ratios:
        lines += ["", *ratios]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.api_latency", description=__doc__)
    p.add_argument("--stores", default="duckdb,postgres", help="comma list of duckdb, postgres")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("PLANCUBE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server (default: $PLANCUBE_BENCH_POSTGRES_URL or %(default)s)",
    )
    p.add_argument(
        "--sizes",
        default="demo,1m",
        help="comma list of demo, 100k (BENCHMARKS.md size M: 96,000 cells), 1m (size L)",
    )
    p.add_argument("--samples", type=int, default=200, help="measured requests per operation")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured requests before them")
    p.add_argument("--batch", type=int, default=100_000, help="cells per load request (1m)")
    p.add_argument("--out", default=DEFAULT_OUT, help="result JSON file")
    args = p.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = (set(stores) - {"duckdb", "postgres"}) | (set(sizes) - {"demo", "100k", "1m"})
    if unknown:
        p.error(f"unknown store or size: {sorted(unknown)}")

    notes: list[str] = []
    versions: dict[str, str] = {"duckdb": importlib.import_module("duckdb").__version__}
    if "postgres" in stores:
        problem = postgres_problem(args.postgres_url)
        if problem:
            note = f"PostgreSQL skipped: {args.postgres_url} is unreachable ({problem})"
            print(note)
            notes.append(note)
            stores.remove("postgres")
        else:
            versions["postgres"] = postgres_version(args.postgres_url)

    code = code_fingerprint()
    builders: dict[str, Callable[[], Scenario]] = {
        "demo": demo_scenario,
        "100k": lambda: synthetic_scenario(100, 10, 10, 3, name="100k"),
        "1m": synthetic_scenario,
    }
    tmp = Path(tempfile.mkdtemp(prefix="plancube-bench-"))
    st = Settings(args.samples, args.warmup, args.batch, tmp)
    results: list[dict[str, Any]] = []
    try:
        for size in sizes:
            for store in stores:
                print(f"{store} / {size}", flush=True)
                try:
                    sc = builders[size]()  # fresh: the writes change the reference
                    if store == "duckdb":
                        results.append(run_case(store, str(tmp / f"{size}.duckdb"), sc, st))
                    else:
                        with postgres_schema(args.postgres_url) as url:
                            results.append(run_case(store, url, sc, st))
                except Exception as exc:
                    print(f"  FAILED: {exc}", flush=True)
                    results.append({"store": store, "size": size, "error": str(exc)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if code_fingerprint() != code:
        note = "the server/engine source changed during the run: the results mix code versions"
        print(f"WARNING: {note}")
        notes.append(note)
    print()
    print(table(results))
    report = {
        "benchmark": "api-latency",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "python": platform.python_version(),
        "versions": versions,
        "code": code,
        "settings": {
            "samples": args.samples,
            "warmup": args.warmup,
            "load_batch": args.batch,
            "client": "one httpx.Client, keep-alive, time until the response is read",
            "write": "one random leaf cell per request, base_commit = last head seen",
        },
        "results": results,
        "targets": TARGETS,
        "notes": notes,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nwrote {out}")
    return 1 if any("error" in r or not r.get("correct") for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
