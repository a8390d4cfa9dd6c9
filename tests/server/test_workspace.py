"""Start-up isolates a model that fails to load: the others are served, the broken one is named.

A broken model is made the way a bug, an old release or a hand edit would leave one: written
into storage directly, past every check the API makes (``helpers.BREAKAGES``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from tests.server.helpers import (
    BREAKAGES,
    SMALL_MODEL,
    cell,
    error,
    load_small,
    store_broken_model,
    view,
    write,
)
from tests.signin import signed_in

JAN = ["Actual", "Rev", "Jan", "Amount"]


@contextmanager
def serving(store_url: str) -> Iterator[TestClient]:
    with signed_in(create_app(store_url)) as c:
        yield c


@pytest.fixture(params=sorted(BREAKAGES))
def broken_store(request: pytest.FixtureRequest, store_url: str) -> tuple[str, str]:
    """A store holding the good model ``small`` (with one cell) and the model ``broken``."""
    with serving(store_url) as c:
        load_small(c, [[*JAN, 42.0]])
    named = store_broken_model(store_url, BREAKAGES[request.param])
    return store_url, named


def test_start_up_serves_the_other_models_and_reports_the_broken_one(
    broken_store: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    store_url, named = broken_store
    with caplog.at_level(logging.ERROR), serving(store_url) as c:
        health = c.get("/api/health").json()
        assert health["status"] == "degraded"
        assert health["models"] == ["small"]
        [entry] = health["unavailable"]
        assert entry["name"] == "broken" and named in entry["reason"]
        # the logs say the same
        logged = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
        assert logged and named in logged[0]
        # the good model reads and writes as ever
        assert cell(view(c), "Net", "Jan") == 42.0
        assert write(c, [(JAN, 50.0)]).status_code == 200
        assert cell(view(c), "Net", "Jan") == 50.0
        assert [m["name"] for m in c.get("/api/models").json()] == ["small"]
        # the broken one says why, in the one error shape
        err = error(c.get("/api/models/broken"), 409, "model_unavailable")
        assert named in err["message"] and err["details"]["model"] == "broken"
        error(c.get("/api/models/broken/cubes"), 409, "model_unavailable")
        error(c.post("/api/models", json={"name": "broken"}), 409, "already_exists")


def test_a_broken_model_can_be_deleted(broken_store: tuple[str, str]) -> None:
    store_url, _ = broken_store
    with serving(store_url) as c:
        assert c.delete("/api/models/broken").status_code == 204
        error(c.get("/api/models/broken"), 404, "model_not_found")
        health = c.get("/api/health").json()
        assert health["status"] == "ok" and health["unavailable"] == []
    with serving(store_url) as c:
        assert c.get("/api/health").json()["unavailable"] == []
        assert cell(view(c), "Net", "Jan") == 42.0


def test_a_broken_model_can_be_replaced_by_an_import(broken_store: tuple[str, str]) -> None:
    store_url, _ = broken_store
    fixed: dict[str, Any] = {**SMALL_MODEL, "name": "broken"}
    with serving(store_url) as c:
        error(c.post("/api/models/import", json=fixed), 409, "already_exists")
        r = c.post("/api/models/import", params={"replace": True}, json=fixed)
        assert r.status_code == 201, r.text
        assert c.get("/api/health").json()["status"] == "ok"
        assert c.get("/api/models/broken/cubes").json()[0]["name"] == "PnL"
    with serving(store_url) as c:
        assert sorted(c.get("/api/health").json()["models"]) == ["broken", "small"]


def test_on_a_shared_store_a_model_broken_by_another_process_is_isolated_too(
    pg_schema_url: str,
) -> None:
    """PostgreSQL: models another process made load on first use, and may fail to."""
    from server.modeldef import parse_model
    from server.services import models
    from server.storage import open_store
    from server.workspace import Workspace

    with serving(pg_schema_url) as c:
        load_small(c)
        store_broken_model(pg_schema_url, BREAKAGES["too_large"])  # meanwhile, elsewhere
        error(c.get("/api/models/broken"), 409, "model_unavailable")
        assert c.get("/api/health").json()["unavailable"][0]["name"] == "broken"
        assert cell(view(c), "Net", "Jan") == 0.0
        # another process repairs it: this one loads the new model on its next use
        other = Workspace(open_store(pg_schema_url))
        try:
            other.start()
            models.load(other, parse_model({**SMALL_MODEL, "name": "broken"}), "admin", True)
        finally:
            other.close()
        assert c.get("/api/models/broken").json()["cubes"] == ["PnL"]
        assert c.get("/api/health").json()["status"] == "ok"
