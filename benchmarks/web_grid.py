"""The web grid in a real browser at 5,000 rows x 36 columns.

A ``plancube serve`` process on a fresh DuckDB file gets a model ``bench`` with one cube ``Plan``
over ``Item`` (Total > 50 groups > 4,950 items: 5,001 rows as a tree) and ``Month`` (3 years >
quarters > 36 months), every leaf cell populated. Debian's Chromium (through Playwright) opens
the grid on ``rows = descendants(Total)``, ``columns = leaves(All Years)`` and measures:

- ``first render``: navigation start until the grid shows the view's numbers (a rAF loop in the
  page watches a visible cell); the app's ``plancube:snapshot`` performance mark splits it into
  page load + view query + transfer, and the browser's own work;
- ``full recalculation push``: the page POSTs a write of all 178,200 leaf cells (new values, so
  every one of the 180,036 cells in view changes, totals included); timed from the request until
  the grid shows the new numbers, split at the write's response and at the arrival of the feed's
  message (``plancube:feed``);
- ``scroll``: mouse-wheel scrolling from top to bottom, frame intervals from a rAF loop.

Headless Chromium renders in software here (no GPU); medians of a few samples, on a shared and
noisy machine — compare ratios within one run rather than absolute times across machines.

Every request signs in: before the server starts, a server admin ``bench`` is made in the fresh
file with a password and a personal access token. The model is imported with the token; the
browser signs in once through the grid's form, and each measured page starts with that session
cookie (a page load now asks GET /api/auth/me first, which the first render includes); the
page's write sends the session's CSRF token.

    python -m benchmarks.web_grid [--samples N] [--out benchmarks/results/web-grid.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np

from server.launch import launched

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
GROUPS, PER_GROUP = 50, 99
YEARS = (2025, 2026, 2027)
VIEWPORT = {"width": 1600, "height": 1000}
SEED = 7
USER, PASSWORD = "bench", "bench-password-long"

# In the page: resolve once `selector` shows `text`, with performance.now() at that frame.
WAIT_FOR_TEXT = """([selector, text]) => new Promise((done) => {
  const look = () => {
    const cell = document.querySelector(selector);
    if (cell && cell.textContent === text) done(performance.now());
    else requestAnimationFrame(look);
  };
  look();
})"""

# In the page: POST the write, then wait until two watched cells show their new text.
PUSH = """async ([url, body, watched, csrf]) => {
  const seen = (selector, text) => new Promise((done) => {
    const look = () => {
      const cell = document.querySelector(selector);
      if (cell && cell.textContent === text) done(performance.now());
      else requestAnimationFrame(look);
    };
    look();
  });
  const start = performance.now();
  const shown = Promise.all(watched.map(([selector, text]) => seen(selector, text)));
  const response = await fetch(url, {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-Plancube-CSRF": csrf},
    body,
  });
  const answered = performance.now();
  const result = await response.json();
  const times = await shown;
  const feed = performance.getEntriesByName("plancube:feed").at(-1);
  return {start, answered, shown: Math.max(...times), feed: feed ? feed.startTime : null,
          status: response.status, changed: result.changed};
}"""

# In the page: record frame intervals while Python scrolls the grid.
FRAMES = """() => {
  window.__frames = [];
  let last = performance.now();
  const loop = (now) => {
    window.__frames.push(now - last);
    last = now;
    if (window.__frames !== null) requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
}"""


def model() -> dict[str, Any]:
    groups = {f"G{g:02d}": [f"I{g:02d}-{i:03d}" for i in range(PER_GROUP)] for g in range(GROUPS)}
    items: list[Any] = [{"name": "Total", "children": list(groups)}]
    items += [{"name": g, "children": leaves} for g, leaves in groups.items()]
    items += [leaf for leaves in groups.values() for leaf in leaves]
    months: list[Any] = [{"name": "All Years", "children": [f"FY{y}" for y in YEARS]}]
    for y in YEARS:
        quarters = [f"{y}-Q{q}" for q in range(1, 5)]
        months.append({"name": f"FY{y}", "children": quarters})
        for q, quarter in enumerate(quarters):
            months.append(
                {"name": quarter, "children": [f"{y}-{3 * q + m:02d}" for m in range(1, 4)]}
            )
    months += [f"{y}-{m:02d}" for y in YEARS for m in range(1, 13)]
    return {
        "plancube": 1,
        "name": "bench",
        "dimensions": [
            {"name": "Item", "elements": items},
            {"name": "Month", "role": "time", "elements": months},
        ],
        "cubes": [{"name": "Plan", "dimensions": ["Item", "Month"]}],
    }


def leaves() -> tuple[list[str], list[str]]:
    items = [f"I{g:02d}-{i:03d}" for g in range(GROUPS) for i in range(PER_GROUP)]
    months = [f"{y}-{m:02d}" for y in YEARS for m in range(1, 13)]
    return items, months


def shown(value: float) -> str:
    """A whole number as the grid displays it."""
    return "" if value == 0 else f"({-value:,.0f})" if value < 0 else f"{value:,.0f}"


def make_admin(db: str) -> str:
    """Make the server admin in the (not yet served) file; its personal access token."""
    from server.auth import accounts
    from server.storage import open_store
    from server.workspace import Workspace

    ws = Workspace(open_store(db))
    try:
        ws.start()
        user = accounts.add_user(ws.store, USER, password=PASSWORD, server_admin=True)
        token, _ = accounts.create_token(ws.store, user.id, "web grid benchmark")
    finally:
        ws.close()
    return token


@contextmanager
def server(db: str, log: Path) -> Iterator[str]:
    with launched(["serve", "--db", db], log, cwd=ROOT) as p:
        yield p.url


def sign_in(browser: Any, url: str) -> dict[str, Any]:
    """Sign in through the grid's form once; the browser state (the session cookie) to start
    each measured page with."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{url}/")
    page.fill("#signin input[name=username]", USER)
    page.fill("#signin input[name=password]", PASSWORD)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#who", state="visible")
    state: dict[str, Any] = context.storage_state()
    context.close()
    return state


def machine(browser_version: str) -> dict[str, Any]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "os": platform.platform(),
        "browser": f"Chromium {browser_version} (headless, software rendering)",
    }


def grid_url(url: str) -> str:
    query = {
        "model": "bench",
        "cube": "Plan",
        "rows": "Item:descendants(Total)",
        "columns": "Month:leaves(All Years)",
    }
    return f"{url}/?{urlencode(query)}"


def first_render(browser: Any, url: str, expected: str, state: Any) -> dict[str, float]:
    page = browser.new_context(viewport=VIEWPORT, storage_state=state).new_page()
    page.goto(grid_url(url), wait_until="commit")
    painted = page.evaluate(WAIT_FOR_TEXT, ['[data-cell="2:0"]', expected])
    marks = page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('mark')"
        ".map((m) => [m.name, m.startTime]))"
    )
    page.context.close()
    return {"shown_ms": painted, "snapshot_ms": marks["plancube:snapshot"]}


def push(page: Any, url: str, values: np.ndarray) -> dict[str, float]:
    items, months = leaves()
    cells = [
        {"elements": [item, month], "value": float(values[i, j])}
        for i, item in enumerate(items)
        for j, month in enumerate(months)
    ]
    body = json.dumps({"cells": cells, "source": "api", "message": "bench: replace everything"})
    # Row 0 is Total, row 1 G00, row 2 its first item: a total and a leaf, both on screen.
    watched = [
        ['[data-cell="0:0"]', shown(float(values[:, 0].sum()))],
        ['[data-cell="2:0"]', shown(float(values[0, 0]))],
    ]
    csrf = page.evaluate("fetch('/api/auth/me').then((r) => r.json()).then((me) => me.csrf_token)")
    result = page.evaluate(PUSH, [f"{url}/api/models/bench/cubes/Plan/cells", body, watched, csrf])
    if result["status"] != 200:
        raise RuntimeError(f"the write failed: {result}")
    start = result["start"]
    return {
        "changed": result["changed"],
        "write_ms": result["answered"] - start,
        "feed_ms": (result["feed"] or float("nan")) - start,
        "shown_ms": result["shown"] - start,
        "browser_ms": result["shown"] - (result["feed"] or float("nan")),
    }


def scroll(page: Any, last_row: int) -> dict[str, float]:
    """Wheel down in steps of 1,000 px until the last row shows; frame intervals meanwhile."""
    page.mouse.move(800, 500)
    page.evaluate(FRAMES)
    start = time.perf_counter()
    last = page.locator(f'[data-row="{last_row}"]')
    steps = 0
    while steps < 400 and last.count() == 0:
        page.mouse.wheel(0, 1000)
        page.wait_for_timeout(16)
        steps += 1
    seconds = time.perf_counter() - start
    frames = page.evaluate("() => { const f = window.__frames; window.__frames = null; return f; }")
    intervals = np.asarray(frames[1:])
    return {
        "wheel_steps": steps,
        "seconds": seconds,
        "frames": len(frames),
        "frame_p50_ms": float(np.percentile(intervals, 50)),
        "frame_p95_ms": float(np.percentile(intervals, 95)),
        "frame_max_ms": float(intervals.max()),
        "reached_last_row": last.count() > 0,
    }


def median(samples: list[dict[str, float]], key: str) -> float:
    return float(statistics.median(s[key] for s in samples))


def load(url: str, token: str, values: np.ndarray) -> tuple[float, dict[str, Any]]:
    """Import the model with every leaf cell; the seconds it took, and the view's size and the
    time the view query takes through HTTP (median of 3), for comparison with the browser."""
    items, months = leaves()
    body = model()
    body["data"] = {
        "Plan": [
            [item, month, float(values[i, j])]
            for i, item in enumerate(items)
            for j, month in enumerate(months)
        ]
    }
    auth = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    httpx.post(f"{url}/api/models/import", json=body, headers=auth, timeout=600).raise_for_status()
    load_s = time.perf_counter() - started
    spec = {
        "rows": [{"dimension": "Item", "members": "descendants(Total)"}],
        "columns": [{"dimension": "Month", "members": "leaves(All Years)"}],
    }
    times = []
    for _ in range(3):
        started = time.perf_counter()
        view = httpx.post(
            f"{url}/api/models/bench/cubes/Plan/view", json=spec, headers=auth, timeout=60
        ).json()
        times.append((time.perf_counter() - started) * 1000)
    rows, cols = len(view["rows"]), len(view["columns"])
    return load_s, {
        "rows": rows,
        "columns": cols,
        "cells": rows * cols,
        "http_view_query_ms": statistics.median(times),
    }


def measure(browser: Any, url: str, values: np.ndarray, samples: int) -> dict[str, Any]:
    first_leaf = shown(float(values[0, 0]))
    state = sign_in(browser, url)
    renders = [first_render(browser, url, first_leaf, state) for _ in range(samples)]
    page = browser.new_context(viewport=VIEWPORT, storage_state=state).new_page()
    page.goto(grid_url(url))
    page.evaluate(WAIT_FOR_TEXT, ['[data-cell="2:0"]', first_leaf])
    pushes = []
    for round_ in range(samples):
        values = values + (round_ + 1)
        pushes.append(push(page, url, values))
    scrolled = scroll(page, last_row=len(leaves()[0]) + GROUPS)
    page.context.close()
    return {
        "first_render": {key: median(renders, key) for key in ("shown_ms", "snapshot_ms")},
        "full_recalc_push": {
            "changed_leaf_cells": pushes[0]["changed"],
            **{
                key: median(pushes, key)
                for key in ("write_ms", "feed_ms", "shown_ms", "browser_ms")
            },
        },
        "scroll": scrolled,
        "samples": {"first_render": renders, "full_recalc_push": pushes},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5, help="samples per measurement")
    parser.add_argument("--out", default="benchmarks/results/web-grid.json")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"needs Chromium at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    items, months = leaves()
    values = np.random.default_rng(SEED).integers(1, 10_000, (len(items), len(months))) * 1.0
    with tempfile.TemporaryDirectory(prefix="plancube-bench-") as tmp:
        token = make_admin(f"{tmp}/bench.duckdb")
        with (
            server(f"{tmp}/bench.duckdb", Path(tmp) / "server.log") as url,
            sync_playwright() as playwright,
        ):
            result = run(playwright, url, token, values, args.samples)
    report(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def run(playwright: Any, url: str, token: str, values: np.ndarray, samples: int) -> dict[str, Any]:
    load_s, view = load(url, token, values)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    result = {
        "benchmark": "web-grid",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(browser.version),
        "view": view,
        "load_s": load_s,
        **measure(browser, url, values, samples),
    }
    browser.close()
    return result


def report(result: dict[str, Any]) -> None:
    view, first, push_, scroll_ = (
        result["view"],
        result["first_render"],
        result["full_recalc_push"],
        result["scroll"],
    )
    machine_ = result["machine"]
    print(
        f"web grid, {view['rows']:,} rows x {view['columns']} columns ({view['cells']:,} cells); "
        f"{machine_['cores']} cores, {machine_['memory_gb']} GB; {machine_['browser']}"
    )
    lines = [
        ("first render: navigation -> numbers shown", first["shown_ms"]),
        ("  of which: navigation -> view snapshot arrived", first["snapshot_ms"]),
        ("  (the same view through HTTP, for comparison)", view["http_view_query_ms"]),
        (f"full recalc push ({view['cells']:,} cells): write -> shown", push_["shown_ms"]),
        (f"  of which: write of {push_['changed_leaf_cells']:,} leaves", push_["write_ms"]),
        ("  of which: feed message arrived and parsed", push_["feed_ms"]),
        ("  of which: feed message -> shown (browser)", push_["browser_ms"]),
        ("scroll: frame interval p50", scroll_["frame_p50_ms"]),
        ("scroll: frame interval p95", scroll_["frame_p95_ms"]),
    ]
    width = max(len(name) for name, _ in lines)
    for name, ms in lines:
        print(f"{name:<{width}}  {ms:9.1f} ms")
    reached = "reached" if scroll_["reached_last_row"] else "did NOT reach"
    steps, frames, seconds = scroll_["wheel_steps"], scroll_["frames"], scroll_["seconds"]
    print(
        f"scroll: {steps} wheel steps, {frames} frames in {seconds:.1f} s; {reached} the last row"
    )


if __name__ == "__main__":
    raise SystemExit(main())
