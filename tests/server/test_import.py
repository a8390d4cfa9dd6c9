"""Model import and replace are one transaction: a failure (or kill -9) leaves the database as it
was, and a replace keeps the old model's history."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from server.storage import open_store

OLD: dict[str, Any] = {
    "name": "m",
    "dimensions": [
        {"name": "Item", "elements": [{"name": "All", "children": ["a", "b"]}, "a", "b"]},
        {"name": "Measure", "role": "measure", "elements": ["Amount"]},
    ],
    "cubes": [{"name": "C", "dimensions": ["Item", "Measure"]}],
    "data": {"C": [["a", "Amount", 1.0], ["b", "Amount", 2.0]]},
}
NEW: dict[str, Any] = {
    "name": "m",
    "dimensions": [
        {"name": "Item", "elements": [{"name": "All", "children": ["a", "c"]}, "a", "c"]},
        {"name": "Measure", "role": "measure", "elements": ["Amount"]},
    ],
    "cubes": [
        {"name": "C", "dimensions": ["Item", "Measure"]},
        {"name": "D", "dimensions": ["Item", "Measure"]},
    ],
    "data": {"C": [["a", "Amount", 10.0], ["c", "Amount", 30.0]], "D": [["a", "Amount", 5.0]]},
}
VIEW = {
    "rows": [{"dimension": "Item", "members": ["All"]}],
    "columns": [{"dimension": "Measure", "members": ["Amount"]}],
}


def _total(client: Any) -> Any:
    r = client.post("/api/models/m/cubes/C/view", json=VIEW)
    return r.json()["values"][0][0] if r.status_code == 200 else r.status_code


def _state(store_url: str) -> tuple[Any, ...]:
    store = open_store(store_url)
    try:
        dims, cubes = store.load_structure("m") if store.get_model("m") else ([], [])
        return (
            [(m.name, m.head, m.created_at) for m in store.list_models()],
            [d.model_dump() for d in dims],
            [c.name for c in cubes],
            [c.id for c in store.list_commits("m")],
            sorted(store.load_cells("m", "C").to_pylist(), key=str),
        )
    finally:
        store.close()


def test_replace_keeps_the_history_and_adds_one_commit(client: Any) -> None:
    assert client.post("/api/models/import", json=OLD).status_code == 201
    first = client.get("/api/models/m/commits").json()[0]["id"]
    assert client.post("/api/models/m/snapshots", json={"name": "v1"}).status_code == 201
    r = client.post("/api/models/import", params={"replace": True}, json=NEW)
    assert r.status_code == 201, r.text
    commits = client.get("/api/models/m/commits").json()
    assert [c["message"] for c in commits] == ["replace model m", "load model m"]
    assert _total(client) == 40.0
    # the old numbers are still read: the history of a, and as of the old commit
    history = client.get(
        "/api/models/m/cubes/C/cells/history", params={"e": ["a", "Amount"]}
    ).json()
    assert len(history) == 2, history  # set by the load, then by the replace
    old = client.post("/api/models/m/cubes/C/view", json={**VIEW, "as_of": first})
    assert old.status_code == 200 and old.json()["values"][0][0] == 1.0  # b is gone from Item
    assert [s["name"] for s in client.get("/api/models/m/snapshots").json()] == ["v1"]


@pytest.mark.parametrize("fail_in", ["save_cube", "commit_many"])
def test_a_failed_replace_leaves_the_old_model(
    client: Any, store_url: str, monkeypatch: pytest.MonkeyPatch, fail_in: str
) -> None:
    assert client.post("/api/models/import", json=OLD).status_code == 201
    store = client.app.state.workspace.store

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("storage failed part-way")

    monkeypatch.setattr(store, fail_in, broken)
    with pytest.raises(RuntimeError):
        client.post("/api/models/import", params={"replace": True}, json=NEW)
    monkeypatch.undo()
    assert _total(client) == 3.0
    assert [c["message"] for c in client.get("/api/models/m/commits").json()] == ["load model m"]
    dims = client.get("/api/models/m/dimensions/Item").json()
    assert [e["name"] for e in dims["elements"]] == ["All", "a", "b"]


def test_a_failed_first_import_leaves_nothing(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = client.app.state.workspace.store

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("storage failed part-way")

    monkeypatch.setattr(store, "commit_many", broken)
    with pytest.raises(RuntimeError):
        client.post("/api/models/import", json=OLD)
    monkeypatch.undo()
    assert client.get("/api/models").json() == []
    assert client.post("/api/models/import", json=OLD).status_code == 201


KILLED = """
import os, signal, sys
from server.modeldef import ModelDef
from server.services import models
from server.workspace import Workspace
from server.storage import open_store

ws = Workspace(open_store(sys.argv[1]))
ws.start()
store = ws.store
real = store.save_cube
def killed(*args, **kwargs):
    real(*args, **kwargs)  # the first cube is written, in the open transaction: now die
    os.kill(os.getpid(), signal.SIGKILL)
store.save_cube = killed
models.load(ws, ModelDef.model_validate_json(sys.argv[2]), "ann", replace=True)
"""


def test_kill_9_in_the_middle_of_a_replace_leaves_the_old_model(
    client: Any, store_url: str, tmp_path: Path
) -> None:
    import json

    assert client.post("/api/models/import", json=OLD).status_code == 201
    client.__exit__(None, None, None)  # the DuckDB file is one process's at a time
    before = _state(store_url)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED), store_url, json.dumps(NEW)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
        env={**os.environ},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _state(store_url) == before
