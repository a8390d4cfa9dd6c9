"""kill -9 in the middle of a big operation: after a restart it happened whole or not at all.

A model import with 120,000 cells, a spread onto their total and the revert of the import are
each sent to a real server process, which is killed with SIGKILL while the request is in flight
(0.8 s in: measured on the 2-core CI machine, each is then still running). The restarted server
must show either everything the operation does or nothing of it, on both stores. The client signs
in with a server admin's token minted into the store before the first start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.launch import launched
from tests.server.remote import headers_of
from tests.signin import ADMIN, as_user

pytestmark = pytest.mark.slow

LEAVES = 1_200
MONTHS = 100
TOTAL = float(LEAVES * MONTHS)  # every cell holds 1.0
MODEL: dict[str, Any] = {
    "name": "big",
    "dimensions": [
        {
            "name": "Item",
            "elements": [{"name": "All", "children": [f"i{n}" for n in range(LEAVES)]}]
            + [f"i{n}" for n in range(LEAVES)],
        },
        {
            "name": "Month",
            "elements": [{"name": "Year", "children": [f"m{n}" for n in range(MONTHS)]}]
            + [f"m{n}" for n in range(MONTHS)],
        },
    ],
    "cubes": [{"name": "C", "dimensions": ["Item", "Month"]}],
    "data": {"C": [[f"i{i}", f"m{m}", 1.0] for i in range(LEAVES) for m in range(MONTHS)]},
}
VIEW = {
    "rows": [{"dimension": "Item", "members": ["All"]}],
    "columns": [{"dimension": "Month", "members": ["Year"]}],
}


def _admin(url: str, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=url, headers=headers, timeout=120)


def _total(c: httpx.Client) -> float | None:
    r = c.get("/api/models")
    if "big" not in [m["name"] for m in r.json()]:
        return None
    body = c.post("/api/models/big/cubes/C/view", json=VIEW).json()
    value = body["values"][0][0]
    return float(value) if value is not None else 0.0


def _killed_during(
    db: str, log: Path, admin: dict[str, str], send: Callable[[httpx.Client], Any], after_s: float
) -> bool:
    """Start ``send`` against a fresh server process and SIGKILL it ``after_s`` seconds in;
    whether the kill came while the request was still in flight (no answer)."""
    answered: list[bool] = []

    def call(url: str) -> None:
        try:
            with _admin(url, admin) as c:
                send(c)
            answered.append(True)
        except httpx.HTTPError:
            answered.append(False)  # the server died under it: that is the point

    with launched(["serve", "--db", db], log) as server:
        worker = threading.Thread(target=call, args=(server.url,), daemon=True)
        worker.start()
        time.sleep(after_s)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(30)
        worker.join(60)
    return answered == [False]


def _import(c: httpx.Client) -> Any:
    return c.post("/api/models/import", json=MODEL)


def test_kill_9_during_an_import_spread_and_revert_is_all_or_nothing(
    store_url: str, tmp_path: Path
) -> None:
    after_s = 0.8
    log = tmp_path / "server.log"
    admin = headers_of(store_url, ADMIN)[ADMIN]
    in_flight = [_killed_during(store_url, log, admin, _import, after_s)]
    with launched(["serve", "--db", store_url], log) as server, _admin(server.url, admin) as c:
        assert _total(c) in (None, TOTAL)
        if _total(c) is None:
            assert _import(c).status_code == 201
        head = c.get("/api/models/big").json()["head"]

    def spread(c: httpx.Client) -> Any:
        body = {"elements": ["All", "Year"], "value": 2 * TOTAL, "method": "proportional"}
        return c.post("/api/models/big/cubes/C/spread", json=body)

    in_flight.append(_killed_during(store_url, log, admin, spread, after_s))
    with launched(["serve", "--db", store_url], log) as server, _admin(server.url, admin) as c:
        total = _total(c)
        assert total in (TOTAL, 2 * TOTAL), total
        commits = c.get("/api/models/big/commits").json()
        assert len(commits) == (1 if total == TOTAL else 2)
        first = commits[-1]["id"]
        assert head >= first

    def revert(c: httpx.Client) -> Any:
        body = {"message": "undo the load", "force": True}
        return c.post(f"/api/models/big/commits/{first}/revert", json=body)

    before = total
    in_flight.append(_killed_during(store_url, log, admin, revert, after_s))
    with launched(["serve", "--db", store_url], log) as server, _admin(server.url, admin) as c:
        after = _total(c)
        # reverted whole (every cell back to empty) or not at all
        assert after in (before, 0.0), (before, after)
        history = c.get("/api/models/big/cubes/C/cells/history", params={"e": ["i7", "m3"]}).json()
        # the import, the spread if it happened, the revert if it happened
        assert len(history) == 1 + (before != TOTAL) + (after == 0.0)
    # a kill after the answer proves nothing: at least one must have landed mid-operation
    assert any(in_flight), "every operation finished before the kill: make the model bigger"


# -- DuckDB: a file the server cannot write, a disk with no room --------------------------------

SMALL = {
    "name": "m",
    "dimensions": [
        {"name": "Item", "elements": [{"name": "All", "children": ["a", "b", "c"]}, "a", "b", "c"]},
        {"name": "Measure", "role": "measure", "elements": ["Amount"]},
    ],
    "cubes": [{"name": "C", "dimensions": ["Item", "Measure"]}],
}
SMALL_VIEW = {
    "rows": [{"dimension": "Item", "members": ["All", "a", "b", "c"]}],
    "columns": [{"dimension": "Measure", "members": ["Amount"]}],
}


def _mounted(path: Path, size: str) -> bool:
    """A tmpfs of ``size`` at ``path``, if this process may mount (root, with the capability)."""
    path.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


def _unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a small file system of its own (a tmpfs), or a plain one if mounting is
    not allowed: the tests then stand in for a full disk with RLIMIT_FSIZE."""
    path = tmp_path / "disk"
    mounted = _mounted(path, "16m")
    yield path
    if mounted:
        _unmount(path)


def _is_mount(path: Path) -> bool:
    return os.path.ismount(path)


def test_a_database_the_server_cannot_write_stops_start_up_in_one_line(disk: Path) -> None:
    db = disk / "plan.duckdb"
    admin = headers_of(str(db), ADMIN)[ADMIN]
    with (
        launched(["serve", "--db", str(db)], disk.parent / "first.log") as server,
        _admin(server.url, admin) as c,
    ):
        assert c.post("/api/models/import", json=SMALL).status_code == 201
    if _is_mount(disk):  # root ignores file modes: make the file system read-only
        assert subprocess.run(["mount", "-o", "remount,ro", str(disk)]).returncode == 0
        problem = "Read-only file system"
    else:
        db.chmod(0o444)
        disk.chmod(0o555)
        problem = "Permission denied"
    try:
        for target in (db, disk / "new" / "plan.duckdb"):
            done = subprocess.run(
                [sys.executable, "-m", "server.cli", "serve", "--db", str(target), "--port", "1"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode != 0
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, done.stderr
            assert str(target) in lines[0] and problem in lines[0], lines[0]
            assert lines[0].startswith("error [storage_unavailable]: ")
    finally:
        if _is_mount(disk):
            subprocess.run(["mount", "-o", "remount,rw", str(disk)])
        else:
            disk.chmod(0o755)
            db.chmod(0o644)


def _fill(disk: Path, pid: int) -> Callable[[], None]:
    """Leave no room to write on ``disk`` (for the process ``pid``); returns how to undo it."""
    if _is_mount(disk):
        filler = disk / "filler"
        with filler.open("wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        return lambda: filler.unlink()
    # no mount allowed: a file size limit on the server process, at the size its files have now
    # (a write past it fails with EFBIG, which the server answers like ENOSPC)
    import resource

    largest = max(p.stat().st_size for p in disk.iterdir())
    old = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (largest, old[1]))  # the soft limit only
    return lambda: resource.prlimit(pid, resource.RLIMIT_FSIZE, old)


def _view(c: httpx.Client) -> list[Any]:
    r = c.post("/api/models/m/cubes/C/view", json=SMALL_VIEW)
    assert r.status_code == 200, r.text
    return [row[0] for row in r.json()["values"]]


def test_a_full_disk_refuses_the_write_whole_and_the_engine_keeps_what_is_stored(
    disk: Path,
) -> None:
    db = str(disk / "plan.duckdb")
    log = disk.parent / "server.log"
    acked: dict[str, float] = {}
    admin = headers_of(db, ADMIN)[ADMIN]
    with launched(["serve", "--db", db], log) as server, _admin(server.url, admin) as c:
        assert c.post("/api/models/import", json=SMALL).status_code == 201
        # one acknowledged write before the disk fills: the refused one must not replace it
        first = {"cells": [{"elements": [e, "Amount"], "value": 1.0} for e in "abc"]}
        assert c.post("/api/models/m/cubes/C/cells", json=first).status_code == 200
        acked = dict.fromkeys("abc", 1.0)
        free = _fill(disk, server.process.pid)
        refused = None
        for n in range(1, 300):
            body = {"cells": [{"elements": [e, "Amount"], "value": n * 1000.0} for e in "abc"]}
            r = c.post("/api/models/m/cubes/C/cells", json=body)
            if r.status_code == 200:
                acked = {e: n * 1000.0 for e in "abc"}
                continue
            refused = r
            break
        assert refused is not None, "the disk never filled up"
        assert refused.status_code == 507, refused.text
        error = refused.json()["error"]
        assert error["code"] == "storage_full"
        assert db in error["message"] and error["details"]["reason"] in error["message"]
        # nothing of the refused batch shows: the engine holds what storage holds
        expected = [sum(acked.values()), *(acked[e] for e in "abc")]
        assert _view(c) == expected
        assert c.get("/api/health").json()["status"] == "ok"  # it still reads
        free()
        body = {"cells": [{"elements": ["a", "Amount"], "value": 7.0}]}
        r = c.post("/api/models/m/cubes/C/cells", json=body)
        assert r.status_code == 200, r.text  # room again: writes work, no restart needed
        acked["a"] = 7.0
        expected = [sum(acked.values()), *(acked.get(e) for e in "abc")]
        assert _view(c) == expected
    with launched(["serve", "--db", db], log) as server, _admin(server.url, admin) as c:
        assert _view(c) == expected  # and storage holds exactly that
        commits = c.get("/api/models/m/commits").json()
        assert commits[0]["cells"] == 1 and all(c["cells"] in (1, 3) for c in commits)


# -- a commit that fails in storage: neither storage nor the engine changes ----------------------


def _write(
    client: Any, cells: dict[str, float], session: str | None = "tab-1", **extra: Any
) -> Any:
    """Ann (a planner of ``m``) writes, from her browser tab ``session``."""
    body = {"cells": [{"elements": [e, "Amount"], "value": v} for e, v in cells.items()], **extra}
    headers = as_user(client, "ann", "m")
    if session is not None:
        headers = {**headers, "X-Plancube-Session": session}
    return client.post("/api/models/m/cubes/C/cells", json=body, headers=headers)


def _cells(client: Any) -> list[Any]:
    r = client.post("/api/models/m/cubes/C/view", json=SMALL_VIEW)
    return [row[0] for row in r.json()["values"]]


def test_a_commit_that_fails_in_storage_changes_neither_storage_nor_the_engine(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb
    import psycopg

    assert client.post("/api/models/import", json=SMALL).status_code == 201
    assert _write(client, {"a": 1.0}).status_code == 200
    store = client.app.state.workspace.store
    head, before = store.head("m"), _cells(client)
    real = store._exec

    def failing(cur: Any, text: str, params: Any = ()) -> Any:
        # half-way through the transaction: the commit row and history are in, the cells not
        if text.startswith(("UPDATE cells", "INSERT INTO cells")):
            if store.shared:
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            raise duckdb.IOException('IO Error: Could not write "x.wal": No space left on device')
        return real(cur, text, params)

    monkeypatch.setattr(store, "_exec", failing)
    r = _write(client, {"a": 2.0, "b": 5.0})
    monkeypatch.undo()
    if store.shared:
        assert r.status_code == 503 and r.headers["Retry-After"], r.text
        assert r.json()["error"]["code"] == "storage_unavailable"
        assert r.json()["error"]["details"]["written"] is False
    else:
        assert r.status_code == 507, r.text
        assert r.json()["error"]["code"] == "storage_full"
    assert _cells(client) == before  # the engine: as before
    assert store.head("m") == head  # storage: as before
    assert len(client.get("/api/models/m/commits").json()) == 1  # the first write only
    history = client.get("/api/models/m/cubes/C/cells/history", params={"e": ["a", "Amount"]})
    assert [h["new"] for h in history.json()] == [1.0]
    assert _write(client, {"a": 2.0, "b": 5.0}).status_code == 200  # and it can be sent again
    assert _cells(client)[:3] == [7.0, 2.0, 5.0]


def test_a_write_sent_again_after_a_lost_answer_is_applied_once(client: Any) -> None:
    """What a client does with 503 ``written: null``: send the same write again. Values are
    absolute, so the second one changes nothing; with the same base and session it is answered
    200 with no commit, without a session 409 naming the writer's own commit."""
    assert client.post("/api/models/import", json=SMALL).status_code == 201
    base = client.get("/api/models/m").json()["head"]
    first = _write(client, {"a": 3.0}, base_commit=base)  # stored; say its answer was lost
    assert first.status_code == 200
    again = _write(client, {"a": 3.0}, base_commit=base)
    assert again.status_code == 200, again.text
    assert again.json()["commit"] is None and again.json()["head"] == first.json()["head"]
    other = _write(client, {"a": 3.0}, session=None, base_commit=base)
    assert other.status_code == 409
    assert other.json()["error"]["details"]["cells"][0]["value"] == 3.0
    assert len(client.get("/api/models/m/commits").json()) == 1
