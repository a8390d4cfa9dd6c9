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
from tests.signin import signed_in

ANN = {"x-plancube-user": "ann"}


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
    write(small, [(["Actual", "Rev", "Jan", "Amount"], 2.0)])
    small.post("/api/models/small/commits/1/revert", json={}, headers=ANN)  # a conflict: refused
    r = small.post("/api/models/small/commits/1/revert", json={"force": True}, headers=ANN)
    assert r.status_code == 200, r.text
    r = small.post("/api/models/import?replace=true", json=SMALL_MODEL, headers=ANN)
    assert r.status_code == 201, r.text
    small.post("/api/models/import?replace=true", json={**SMALL_MODEL, "name": "new"})  # none
    assert small.delete("/api/models/small", headers=ANN).status_code == 204
    got = lines(caplog)
    assert [(g["user"], g["action"], g["model"]) for g in got] == [
        ("ann", "commit.revert_forced", "small"),
        ("ann", "model.replace", "small"),
        ("ann", "model.delete", "small"),
    ]
    assert got[0]["reverted"] == 1 and got[0]["commit"] == 3 and got[0]["changed"] == 1
    assert all(g["time"].endswith("Z") for g in got)
