"""Real server processes: kill -9 after an acknowledged write loses nothing; the feed over TCP.

Each test mints a server admin's token into its store before the first launch
(``tests.server.remote``); the token lives in the store, so it signs in after restarts too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from server.launch import launched
from tests.server.helpers import BREAKAGES, SMALL_MODEL, VIEW, store_broken_model
from tests.server.remote import grant, headers_of
from tests.signin import ADMIN

pytestmark = pytest.mark.slow
JAN = ["Actual", "Rev", "Jan", "Amount"]


@contextmanager
def server(db: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        launched(["serve", "--db", db], Path(tmp) / "log") as p,
    ):
        yield p.url, p.process


def net_jan(url: str, headers: dict[str, str]) -> float:
    body = httpx.post(f"{url}/api/models/small/cubes/PnL/view", json=VIEW, headers=headers).json()
    r = next(i for i, h in enumerate(body["rows"]) if h["elements"] == ["Net"])
    c = next(i for i, h in enumerate(body["columns"]) if h["elements"] == ["Jan"])
    return float(body["values"][r][c])


def test_kill_9_after_acknowledged_writes_loses_nothing(store_url: str) -> None:
    admin = headers_of(store_url, ADMIN)[ADMIN]
    with server(store_url) as (url, proc):
        r = httpx.post(f"{url}/api/models/import", json=SMALL_MODEL, headers=admin)
        assert r.status_code == 201
        for i in range(1, 21):
            r = httpx.post(
                f"{url}/api/models/small/cubes/PnL/cells",
                json={"cells": [{"elements": JAN, "value": float(i)}]},
                headers=admin,
            )
            assert r.status_code == 200
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with server(store_url) as (url, _):
        assert net_jan(url, admin) == 20.0
        history = httpx.get(
            f"{url}/api/models/small/cubes/PnL/cells/history", params={"e": JAN}, headers=admin
        ).json()
        assert len(history) == 20


def test_feed_delivers_a_recomputed_total_to_a_second_client(tmp_path: Path) -> None:
    db = str(tmp_path / "feed.duckdb")
    people = headers_of(db, ADMIN, "other")
    with server(db) as (url, _):
        r = httpx.post(f"{url}/api/models/import", json=SMALL_MODEL, headers=people[ADMIN])
        assert r.status_code == 201
        grant(url, people[ADMIN], "small", "planner", "other")
        ws_url = url.replace("http", "ws") + "/api/models/small/feed"
        with connect(ws_url, additional_headers=people[ADMIN]) as ws:
            ws.send(json.dumps({"op": "subscribe", "id": "a", "cube": "PnL", "view": VIEW}))
            snap = json.loads(ws.recv(timeout=10))
            rows = [h["elements"][0] for h in snap["view"]["rows"]]
            cols = [h["elements"][0] for h in snap["view"]["columns"]]
            httpx.post(
                f"{url}/api/models/small/cubes/PnL/cells",
                json={
                    "cells": [
                        {"elements": JAN, "value": 12.0},
                        {"elements": ["Actual", "Rent", "Jan", "Amount"], "value": 2.0},
                    ]
                },
                headers=people["other"],
            ).raise_for_status()
            msg = json.loads(ws.recv(timeout=10))
        got = {(rows[c["row"]], cols[c["col"]]): c["value"] for c in msg["cells"]}
        assert got[("Net", "Jan")] == 10.0
        assert got[("Net", "Q1")] == 10.0
        assert got[("Cost", "Jan")] == 2.0
        assert msg["commit"]["author"] == "other"


def test_a_model_that_cannot_load_does_not_stop_the_server(store_url: str, tmp_path: Path) -> None:
    admin = headers_of(store_url, ADMIN)[ADMIN]
    with server(store_url) as (url, _):
        r = httpx.post(f"{url}/api/models/import", json=SMALL_MODEL, headers=admin)
        assert r.status_code == 201
    store_broken_model(store_url, BREAKAGES["too_large"])
    log = tmp_path / "log"
    with launched(["serve", "--db", store_url], log) as p:
        health = httpx.get(f"{p.url}/api/health").json()
        assert health["status"] == "degraded" and health["models"] == ["small"]
        assert health["unavailable"][0]["name"] == "broken"
        assert net_jan(p.url, admin) == 0.0
        assert httpx.delete(f"{p.url}/api/models/broken", headers=admin).status_code == 204
    text = log.read_text()
    assert "'broken' could not be loaded" in text and "cube_too_large" in text


def big_model_yaml(n: int = 250) -> bytes:
    """A legal model file of n x n data rows (about 2 MB of YAML, a few seconds to parse)."""
    lines = [
        "name: big",
        "dimensions:",
        f"  - {{name: A, elements: [{', '.join(f'a{i}' for i in range(n))}]}}",
        f"  - {{name: B, elements: [{', '.join(f'b{i}' for i in range(n))}]}}",
        "  - {name: Measure, role: measure, elements: [Amount]}",
        "cubes:",
        "  - {name: C, dimensions: [A, B, Measure]}",
        "data:",
        "  C:",
        *(f"    - [a{i}, b{j}, Amount, {i * n + j}.5]" for i in range(n) for j in range(n)),
    ]
    return ("\n".join(lines) + "\n").encode()


def test_health_answers_while_a_big_model_file_is_parsed(tmp_path: Path) -> None:
    """Parsing and validating a model file runs off the event loop (it stalled /api/health for
    as long as the parse took: seconds for a few MB)."""
    body = big_model_yaml()
    db = str(tmp_path / "plancube.duckdb")
    admin = headers_of(db, ADMIN)[ADMIN]
    with server(db) as (url, _):
        done = threading.Event()
        answer: list[httpx.Response] = []

        def post() -> None:
            try:
                answer.append(
                    httpx.post(
                        f"{url}/api/models/import",
                        content=body,
                        headers={"Content-Type": "application/yaml", **admin},
                        timeout=300,
                    )
                )
            finally:
                done.set()

        importer = threading.Thread(target=post)
        importer.start()
        waits = []
        with httpx.Client(timeout=60) as client:
            while not done.is_set():
                started = time.perf_counter()
                assert client.get(f"{url}/api/health").status_code == 200
                waits.append(time.perf_counter() - started)
                time.sleep(0.02)
        importer.join()
        assert answer[0].status_code == 201, answer[0].text
        head = answer[0].json()["head"]
        commit = httpx.get(f"{url}/api/models/big/commits/{head}", headers=admin).json()
        assert commit["cells"] == 250 * 250
        assert len(waits) >= 10, waits  # the import took a while: health was asked meanwhile
        assert max(waits) < 1.0, max(waits)
        print(f"import {len(body):,} bytes: {len(waits)} health checks, longest {max(waits):.3f} s")
