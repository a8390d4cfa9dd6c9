"""Every error in the one JSON shape with a stable code, also for inputs that used to crash.

The reported 500s come first: a formula with an unmatched ``)``, bodies nested 100,000 deep,
lone surrogates sent as JSON escapes. Then the last-resort handler: an unexpected exception is
a 500 in the same shape, logged with an incident id, with nothing of the exception in the body.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from fastapi.routing import APIRoute

from server.api.route import StrictJsonRoute
from server.app import create_app
from tests.server.helpers import SMALL_MODEL, error, load_small
from tests.server.test_rules_api import MODEL as RULES_MODEL
from tests.signin import signed_in

RULES = "/api/models/drv/cubes/Sales/rules"
CELLS = "/api/models/small/cubes/PnL/cells"
JSON = {"content-type": "application/json"}
YAML = {"content-type": "application/yaml"}


def shape(r: Any, status: int, code: str) -> dict[str, Any]:
    """The one error shape: exactly error.code, error.message, error.details."""
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return error(r, status, code)


@pytest.mark.parametrize(
    ("formula", "position"),
    [("=1)", 2), ("=)", 1), ("=SUM(1))+2", 7), ("=(1)) * (2", 4), ("1)", 1), ("=1}", 2)],
)
def test_an_unmatched_closer_is_invalid_rule_at_its_position(
    client: Any, formula: str, position: int
) -> None:
    assert client.post("/api/models/import", json=RULES_MODEL).status_code == 201
    body = {"name": "x", "target": "Margin", "formula": formula}
    err = shape(client.post(RULES, json=body), 422, "invalid_rule")
    assert err["details"]["position"] == position and err["details"]["formula"] == formula
    err = shape(client.put(RULES, json=[body]), 422, "invalid_rule")
    assert err["details"]["position"] == position
    assert [r["name"] for r in client.get(RULES).json()] == ["revenue", "ytd"]


def test_an_unmatched_closer_in_a_model_file_is_invalid_rule(client: Any) -> None:
    model = copy.deepcopy(RULES_MODEL)
    model["name"] = "bad"
    model["cubes"][0]["rules"].append({"name": "x", "target": "Margin", "formula": "=1)"})
    err = shape(client.post("/api/models/import", json=model), 422, "invalid_rule")
    assert err["details"]["rule"] == "x" and err["details"]["position"] == 2
    text = "name: bad\n" + "\n".join(
        line
        for line in (
            "dimensions: [{name: M, role: measure, elements: [a, b]}]",
            "cubes: [{name: C, dimensions: [M], rules: [{name: x, target: b, formula: '=a)'}]}]",
        )
    )
    err = shape(client.post("/api/models/import", content=text, headers=YAML), 422, "invalid_rule")
    assert err["details"]["position"] == 2
    assert client.get("/api/models/bad").status_code == 404


def test_a_formula_nested_too_deep_is_invalid_rule(client: Any) -> None:
    assert client.post("/api/models/import", json=RULES_MODEL).status_code == 201
    for formula in ["=" + "(" * 500 + "1" + ")" * 500, "=" + "-" * 3000 + "1", "=1" + "%" * 3000]:
        body = {"name": "x", "target": "Margin", "formula": formula}
        err = shape(client.post(RULES, json=body), 422, "invalid_rule")
        assert "nest" in err["message"]
    # a long flat chain is no nesting: it is accepted and computes
    chain = "=" + "+".join(["Units"] * 1500)  # 9,000 characters
    r = client.post(RULES, json={"name": "x", "target": "Margin", "formula": chain})
    assert r.status_code == 201, r.text
    view = {
        "rows": [{"dimension": "Product", "members": ["A"]}],
        "columns": [{"dimension": "Month", "members": ["Jan"]}],
        "filters": {"Measure": "Margin"},
    }
    assert client.post("/api/models/drv/cubes/Sales/view", json=view).json()["values"] == [
        [15000.0]
    ]


DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


@pytest.mark.parametrize("body", [DEEP_JSON, DEEP_OBJECT])
def test_json_nested_100000_deep_is_invalid_json(client: Any, body: bytes) -> None:
    load_small(client)
    for url in (CELLS, "/api/models/import", "/api/models/small/cubes/PnL/view", "/api/models"):
        err = shape(client.post(url, content=body, headers=JSON), 400, "invalid_json")
        assert "depth" in err["message"]


def test_yaml_nested_100000_deep_is_invalid_yaml(client: Any) -> None:
    for text in (
        "[" * 100_000 + "]" * 100_000,
        "name: m\ndata: " + "{a: " * 100_000 + "}" * 100_000,
    ):
        r = client.post("/api/models/import", content=text, headers=YAML)
        err = shape(r, 400, "invalid_yaml")
        assert "nest" in err["message"]


def test_lone_surrogates_are_refused_before_anything_is_stored(client: Any) -> None:
    load_small(client)
    text_cell = b'{"cells": [{"elements": ["Actual", "Rev", "Jan", "Note"], "value": "m\\ud800"}]}'
    message = (
        b'{"cells": [{"elements": ["Actual", "Rev", "Jan", "Amount"], "value": 5}],'
        b' "message": "m\\ud800"}'
    )
    for body in (text_cell, message, b'{"name": "snap\\udfff"}'):
        url = CELLS if b"cells" in body else "/api/models/small/snapshots"
        err = shape(client.post(url, content=body, headers=JSON), 400, "invalid_json")
        assert "surrogate" in err["message"]
    assert client.get("/api/models/small").json()["head"] == 0
    # a pair is one character, and fine
    pair = b'{"cells": [{"elements": ["Actual", "Rev", "Jan", "Note"], "value": "\\ud83d\\ude00"}]}'
    assert client.post(CELLS, content=pair, headers=JSON).status_code == 200


def test_nul_characters_are_refused_before_anything_is_stored(client: Any) -> None:
    """PostgreSQL text cannot hold NUL: a NUL in any text was a 500 there, stored on DuckDB."""
    load_small(client)
    note = b'{"cells": [{"elements": ["Actual", "Rev", "Jan", "Note"], "value": "a\\u0000b"}]}'
    message = (
        b'{"cells": [{"elements": ["Actual", "Rev", "Jan", "Amount"], "value": 5},'
        b' {"elements": ["Actual", "Rev", "Jan", "Note"], "value": "x"}], "message": "\\u0000"}'
    )
    snapshot = b'{"name": "s", "description": "a\\\\\\u0000"}'
    element = b'[{"name": "Air\\u0000fare"}]'
    for url, body in (
        (CELLS, note),
        (CELLS, message),
        ("/api/models/small/snapshots", snapshot),
        ("/api/models/small/dimensions/Account/elements", element),
    ):
        err = shape(client.post(url, content=body, headers=JSON), 400, "invalid_json")
        assert "NUL" in err["message"] and err["details"]["position"] == body.index(b"\\u0000")
    assert client.get("/api/models/small").json()["head"] == 0
    assert client.get("/api/models/small/snapshots").json() == []
    elements = client.get("/api/models/small/dimensions/Account").json()["elements"]
    assert not any("\x00" in e["name"] for e in elements)
    # a backslash followed by "u0000" is just text
    text = b'{"cells": [{"elements": ["Actual", "Rev", "Jan", "Note"], "value": "a\\\\u0000"}]}'
    assert client.post(CELLS, content=text, headers=JSON).status_code == 200
    r = client.get(f"{CELLS}/history", params={"e": ["Actual", "Rev", "Jan", "Note"]})
    assert r.json()[0]["new"] == "a\\u0000"
    yaml_text = 'name: "m"\ndescription: "a\\0b"\n'
    err = shape(
        client.post("/api/models/import", content=yaml_text, headers=YAML), 400, "invalid_yaml"
    )
    assert "NUL" in err["message"] and client.get("/api/models/m").status_code == 404


def test_lone_surrogates_in_a_yaml_model_file_are_refused(client: Any) -> None:
    text = 'name: "m\\ud800"\n'
    err = shape(client.post("/api/models/import", content=text, headers=YAML), 400, "invalid_yaml")
    assert "surrogate" in err["message"]
    assert client.get("/api/models").json() == []


def test_malformed_bodies_name_the_problem(client: Any) -> None:
    load_small(client)
    for body, words in [
        (b'{"cells": [', "end of data"),
        (b'{"cells": [{"elements": [], "value": NaN}]}', "unexpected character"),
        (b'{"cells": [{"elements": [], "value": 1e999}]}', "infinity"),
    ]:
        err = shape(client.post(CELLS, content=body, headers=JSON), 400, "invalid_json")
        assert words in err["message"], err
    err = shape(
        client.post("/api/models/import", content=b"name: [", headers=YAML), 400, "invalid_yaml"
    )
    err = shape(client.post("/api/models/import", content=b"{", headers=JSON), 400, "invalid_json")
    model = {**SMALL_MODEL, "name": "fine"}
    assert client.post("/api/models/import", json=model).status_code == 201


def test_every_route_parses_bodies_strictly(client: Any) -> None:
    routes = [r for r in client.app.routes if isinstance(r, APIRoute)]
    assert routes
    assert [r.path for r in routes if not isinstance(r, StrictJsonRoute)] == []


def test_an_unexpected_exception_is_a_500_in_the_one_shape(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(tmp_path / "x.duckdb")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    with (
        signed_in(app, raise_server_exceptions=False) as c,
        caplog.at_level(logging.ERROR, logger="plancube"),
    ):
        r = c.get("/boom")
    err = shape(r, 500, "internal_error")
    assert "secret" not in r.text and "RuntimeError" not in r.text
    incident = err["details"]["incident"]
    logged = [rec for rec in caplog.records if incident in rec.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "secret internals" in str(logged[0].exc_info[1])
