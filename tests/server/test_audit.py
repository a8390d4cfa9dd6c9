"""Operations that destroy data are written to the audit log: who, what, when (``server.audit``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from tests.server.helpers import SMALL_MODEL, load_small, write
from tests.signin import as_user, signed_in


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    with signed_in(create_app(tmp_path / "a.duckdb")) as c:
        load_small(c, [["Actual", "Rev", "Jan", "Amount", 1.0]])
        yield c


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(r.getMessage().removeprefix("audit "))
        for r in caplog.records
        if r.name == "plancube.audit"
    ]


def test_delete_replace_and_forced_revert_are_audited(
    small: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="plancube.audit")
    ann = as_user(small, "ann")  # a planner: none of these is hers to do
    write(small, [(["Actual", "Rev", "Jan", "Amount"], 2.0)])
    forced = {"force": True}
    assert (
        small.post("/api/models/small/commits/1/revert", json=forced, headers=ann).status_code
        == 403
    )
    r = small.post("/api/models/import?replace=true", json=SMALL_MODEL, headers=ann)
    assert r.status_code == 403
    assert small.delete("/api/models/small", headers=ann).status_code == 403
    small.post("/api/models/small/commits/1/revert", json={})  # a conflict: refused
    r = small.post("/api/models/small/commits/1/revert", json=forced)
    assert r.status_code == 200, r.text
    r = small.post("/api/models/import?replace=true", json=SMALL_MODEL)
    assert r.status_code == 201, r.text
    small.post("/api/models/import?replace=true", json={**SMALL_MODEL, "name": "new"})  # none
    assert small.delete("/api/models/small").status_code == 204
    got = lines(caplog)
    assert [(g["user"], g["action"], g["model"]) for g in got] == [
        ("admin", "commit.revert_forced", "small"),
        ("admin", "model.replace", "small"),
        ("admin", "model.delete", "small"),
    ]
    stored = small.get("/api/admin/audit").json()
    actions = [e["action"] for e in stored]
    for action in ("commit.revert_forced", "model.replace", "model.delete"):
        assert action in actions
    assert got[0]["reverted"] == 1 and got[0]["commit"] == 3 and got[0]["changed"] == 1
    assert all(g["time"].endswith("Z") for g in got)
