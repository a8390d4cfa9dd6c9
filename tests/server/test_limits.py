"""Structure changes are costed before anything is stored: a cube too large is a 422, not a brick.

Each case is the request a hostile or careless client sent, then a restart on the same store: the
refused structure must not be there and the server must start as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.errors import BadRequest
from server.limits import SETTING, Limits, default_max_cube_cells, memory_bytes
from tests.server.helpers import error
from tests.signin import signed_in

BIG = 10_000


@contextmanager
def serving(store_url: str) -> Iterator[TestClient]:
    """One server life on the store: start-up (the engine rebuilt from storage) to shutdown."""
    with signed_in(create_app(store_url)) as c:
        assert c.get("/api/health").json()["status"] == "ok"
        yield c


def flat(name: str, n: int) -> dict[str, Any]:
    return {"name": name, "elements": [f"{name}{i}" for i in range(n)]}


def test_a_cube_over_three_dimensions_of_10k_elements_is_refused_and_not_stored(
    store_url: str,
) -> None:
    with serving(store_url) as c:
        assert c.post("/api/models", json={"name": "m"}).status_code == 201
        for name in ("X", "Y", "Z"):
            assert c.post("/api/models/m/dimensions", json=flat(name, BIG)).status_code == 201
        r = c.post("/api/models/m/cubes", json={"name": "Big", "dimensions": ["X", "Y", "Z"]})
        err = error(r, 422, "cube_too_large")
        assert err["details"]["cube"] == "Big"
        assert err["details"]["addresses"] == BIG**3
        assert err["details"]["dimensions"] == {"X": BIG, "Y": BIG, "Z": BIG}
        assert err["details"]["limit"] == Limits.from_env().max_cube_cells
        assert "'Big'" in err["message"] and "1,000,000,000,000" in err["message"]
        assert SETTING in err["message"]
        assert c.get("/api/models/m/cubes").json() == []
    with serving(store_url) as c:
        assert c.get("/api/models/m/cubes").json() == []
        assert len(c.get("/api/models/m/dimensions").json()) == 3


def test_a_model_file_with_a_cube_too_large_is_refused_whole(store_url: str) -> None:
    model = {
        "name": "big",
        "dimensions": [flat(name, BIG) for name in ("X", "Y", "Z")],
        "cubes": [{"name": "Big", "dimensions": ["X", "Y", "Z"]}],
    }
    with serving(store_url) as c:
        err = error(c.post("/api/models/import", json=model), 422, "cube_too_large")
        assert err["details"]["cube"] == "Big" and err["details"]["addresses"] == BIG**3
        error(c.get("/api/models/big"), 404, "model_not_found")
    with serving(store_url) as c:
        assert c.get("/api/models").json() == []


def test_a_cube_past_64_bits_of_addresses_is_refused_in_the_one_error_shape(client: Any) -> None:
    client.post("/api/models", json={"name": "m"})
    names = [f"D{i}" for i in range(6)]
    for name in names:
        client.post("/api/models/m/dimensions", json=flat(name, 2000))
    r = client.post("/api/models/m/cubes", json={"name": "Huge", "dimensions": names})
    err = error(r, 422, "cube_too_large")
    assert err["details"]["addresses"] == pytest.approx(2000.0**6)  # past 2^63: a float


@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch) -> int:
    """A limit of 10^6 addresses for the servers this test starts."""
    monkeypatch.setenv(SETTING, "1_000_000")
    return 1_000_000


def test_growing_a_dimension_under_a_big_cube_is_refused_and_not_stored(
    store_url: str, limited: int
) -> None:
    cell = ["A0", "B0", "C0"]
    with serving(store_url) as c:
        c.post("/api/models", json={"name": "m"})
        for name, n in (("A", 100), ("B", 100), ("C", 10)):
            assert c.post("/api/models/m/dimensions", json=flat(name, n)).status_code == 201
        cube = {"name": "Cube", "dimensions": ["A", "B", "C"]}
        assert c.post("/api/models/m/cubes", json=cube).status_code == 201
        r = c.post(
            "/api/models/m/cubes/Cube/cells", json={"cells": [{"elements": cell, "value": 7}]}
        )
        assert r.status_code == 200, r.text
        # PUT the dimension grown to 1,000 elements: 10^7 addresses
        err = error(
            c.put("/api/models/m/dimensions/C", json=flat("C", 1000)), 422, "cube_too_large"
        )
        assert err["details"]["cube"] == "Cube"
        assert err["details"]["addresses"] == 10**7 and err["details"]["limit"] == limited
        assert err["details"]["dimensions"] == {"A": 100, "B": 100, "C": 1000}
        # the same through the element upsert
        grown = [{"name": f"New{i}"} for i in range(91)]
        err = error(
            c.post("/api/models/m/dimensions/C/elements", json=grown), 422, "cube_too_large"
        )
        assert err["details"]["addresses"] == 100 * 100 * 101
        assert c.get("/api/models/m/dimensions/C").json()["elements"][-1]["name"] == "C9"
        # up to the limit is fine
        fits = [{"name": f"New{i}"} for i in range(90)]
        assert c.post("/api/models/m/dimensions/C/elements", json=fits).status_code == 200
    with serving(store_url) as c:
        assert len(c.get("/api/models/m/dimensions/C").json()["elements"]) == 100
        assert c.get("/api/models/m/cubes/Cube").json()["populated_cells"] == 1


def test_the_limit_comes_from_the_environment() -> None:
    assert Limits.from_env({SETTING: "5_000"}).max_cube_cells == 5000
    assert Limits.from_env({}).max_cube_cells == default_max_cube_cells()
    for bad in ("0", "-3", "lots", "1e9"):
        with pytest.raises(BadRequest, match=SETTING):
            Limits.from_env({SETTING: bad})


def test_the_feed_limits_come_from_the_environment() -> None:
    limits = Limits.from_env({"PLANCUBE_MAX_SUBSCRIPTIONS": "3", "PLANCUBE_MAX_FEED_CELLS": "10"})
    assert (limits.max_subscriptions, limits.max_feed_cells) == (3, 10)
    assert Limits.from_env({}).max_subscriptions == 20
    assert Limits.from_env({}).max_feed_cells == 2_000_000
    with pytest.raises(BadRequest, match="PLANCUBE_MAX_SUBSCRIPTIONS"):
        Limits.from_env({"PLANCUBE_MAX_SUBSCRIPTIONS": "0"})


def test_a_bad_limit_setting_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, SETTING: "lots"}
    db = str(tmp_path / "x.duckdb")
    run = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--db", db, "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == (
        f"error [bad_request]: {SETTING} must be a positive whole number of cells, got 'lots'"
    )


def test_the_default_keeps_a_cube_within_a_sixteenth_of_memory() -> None:
    memory = memory_bytes()
    assert memory is not None  # Linux tells
    assert default_max_cube_cells() * 9 * 16 <= memory
    assert default_max_cube_cells() > 10**7  # the dense P&L at 10^7 leaf cells still fits
