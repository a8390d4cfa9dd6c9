"""Bodies are read only in the content types their operation declares (``server.api.route``).

A browser sends ``text/plain`` (or no type at all) to another site without asking first, so a
route that read such a body as JSON could be driven by any page a planner visits: this one
imported over the demo with ``replace`` and wiped its history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from server.api import commits, cubes, dimensions, models, rules
from server.api.route import accepted_media_types
from server.app import create_app
from tests.server.helpers import SMALL_MODEL, error, load_small
from tests.signin import signed_in

CELL = {"cells": [{"elements": ["Actual", "Rev", "Jan", "Amount"], "value": 5.0}]}
SPREAD = {"elements": ["Actual", "Net", "Q1", "Amount"], "value": 30.0, "method": "equal"}


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    with signed_in(create_app(tmp_path / "route.duckdb")) as c:
        load_small(c, [["Actual", "Rev", "Jan", "Amount", 1.0]])
        yield c


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/models/import?replace=true", SMALL_MODEL),  # reads its body itself
        ("/api/models/small/cubes/PnL/cells", CELL),  # reads its body itself (parse_body)
        ("/api/models/small/cubes/PnL/spread", SPREAD),  # a declared body
        ("/api/models/small/commits/1/revert", {"force": True}),  # an optional declared body
    ],
)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None],
)
def test_a_body_the_browser_may_send_cross_site_is_refused(
    small: TestClient, path: str, body: Any, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    client: Any = small
    if content_type is None:  # httpx names no type for raw content
        r = client.post(path, content=json.dumps(body).encode())
        assert "content-type" not in r.request.headers
    else:
        r = client.post(path, content=json.dumps(body), headers=headers)
    err = error(r, 415, "unsupported_media_type")
    assert "application/json" in err["message"] and "application/json" in err["details"]["accepted"]
    assert small.get("/api/models/small").json()["head"] == 1  # nothing happened


def test_the_model_import_names_yaml_too(small: TestClient) -> None:
    r = small.post("/api/models/import", content="name: x", headers={"content-type": "text/yaml"})
    err = error(r, 415, "unsupported_media_type")
    assert err["details"]["accepted"] == ["application/json", "application/yaml"]
    assert err["details"]["received"] == "text/yaml"


def test_json_with_parameters_and_empty_optional_bodies_are_read(small: TestClient) -> None:
    r = small.post(
        "/api/models/small/cubes/PnL/cells",
        content=json.dumps(CELL),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200, r.text
    assert small.post("/api/models/small/commits/2/revert").status_code == 200  # no body at all


def test_every_route_with_a_body_reads_json() -> None:
    routers = (models, dimensions, cubes, rules, commits)
    routes = [r for m in routers for r in m.router.routes if isinstance(r, APIRoute)]
    assert routes
    for route in routes:
        if route.body_field is not None or route.openapi_extra:
            assert accepted_media_types(route)[0] == "application/json", route.path
    bodies = {r.path for r in routes if accepted_media_types(r)}
    assert {"/api/models/import", "/api/models/{model}/cubes/{cube}/cells"} <= bodies
