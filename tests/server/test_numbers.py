"""The numeric policy over the API: bounded inputs, overflow as #NUM!, totals that recover.

The three reported cases come first, as a planner would send them; then the same policy at the
other doors a number comes in by (spreading, model files, weights, rule literals).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from calc_engine import MAX_INPUT
from tests.server.helpers import SMALL_MODEL, cell, error, load_small, view, write

SAL = ["Actual", "Salaries", "Jan", "Amount"]
RENT = ["Actual", "Rent", "Jan", "Amount"]
TRAVEL = ["Actual", "Travel", "Jan", "Amount"]


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client)
    return client


def test_reported_two_huge_leaves_are_refused_naming_the_cell(small: Any) -> None:
    write(small, [(TRAVEL, 7)])
    err = error(write(small, [(SAL, 1.0), (RENT, 1.7e308)]), 422, "invalid_value")
    assert err["details"]["cell"] == 1 and err["details"]["elements"] == RENT
    assert err["details"]["limit"] == MAX_INPUT
    assert "1e+15" in err["message"] or "1,000,000,000,000,000" in err["message"]
    body = view(small)  # nothing was written, the total is a number
    assert cell(body, "Cost", "Jan") == 7 and cell(body, "Salaries", "Jan") == 0


def test_reported_totals_follow_leaves_after_big_values_are_cleared(small: Any) -> None:
    big = MAX_INPUT  # the largest accepted input, twice under one total
    assert write(small, [(SAL, big), (RENT, -big), (TRAVEL, 0.3)]).status_code == 200
    assert cell(view(small), "Cost", "Jan") == 0.3
    assert write(small, [(SAL, big)]).status_code == 200
    assert write(small, [(RENT, None)]).status_code == 200
    assert write(small, [(SAL, 100)]).status_code == 200
    body = view(small)
    assert cell(body, "Salaries", "Jan") == 100 and cell(body, "Rent", "Jan") == 0
    assert cell(body, "Travel", "Jan") == 0.3
    assert cell(body, "Cost", "Jan") == 100.3  # exact: no rounding left from the big values
    assert cell(body, "Net", "Jan") == -100.3


def test_reported_spread_of_a_huge_value_is_refused_and_changes_nothing(small: Any) -> None:
    write(small, [(SAL, 10), (RENT, 20)])
    r = small.post(
        "/api/models/small/cubes/PnL/spread",
        json={"elements": ["Actual", "Cost", "Jan", "Amount"], "value": 1e308},
    )
    err = error(r, 422, "invalid")
    assert err["details"]["problems"][0]["location"] == ["body", "value"]
    body = view(small)
    assert cell(body, "Salaries", "Jan") == 10 and cell(body, "Rent", "Jan") == 20


def test_a_spread_whose_leaves_would_pass_the_limit_names_a_leaf(small: Any) -> None:
    write(small, [(SAL, 1e-3), (RENT, MAX_INPUT / 2)])
    r = small.post(
        "/api/models/small/cubes/PnL/spread",
        json={"elements": ["Actual", "Cost", "Jan", "Amount"], "value": 1e6, "method": "percent"},
    )
    err = error(r, 422, "invalid_value")
    assert err["details"]["elements"] == RENT and err["details"]["limit"] == MAX_INPUT
    assert cell(view(small), "Rent", "Jan") == MAX_INPUT / 2


def test_model_files_are_held_to_the_same_limits(client: Any) -> None:
    model = {**SMALL_MODEL, "data": {"PnL": [[*SAL, 10.0], [*RENT, -2e15]]}}
    err = error(client.post("/api/models/import", json=model), 422, "invalid_model")
    assert err["details"]["elements"] == RENT
    yaml_body = (
        "name: y\ndimensions:\n  - name: A\n    elements: [a]\n"
        "  - {name: M, role: measure, elements: [x]}\n"
        "cubes: [{name: C, dimensions: [A, M]}]\ndata: {C: [[a, x, .inf]]}\n"
    )
    r = client.post(
        "/api/models/import", content=yaml_body, headers={"content-type": "application/yaml"}
    )
    error(r, 422, "invalid_model")
    assert client.get("/api/models/y").status_code == 404


def _chain(weight: float, depth: int) -> dict[str, Any]:
    """A dimension L0 > L1 > ... > leaf, each edge with ``weight``."""
    names = [f"L{i}" for i in range(depth)] + ["leaf"]
    return {
        "name": "Chain",
        "elements": [
            {"name": p, "children": [{"name": c, "weight": weight}]}
            for p, c in itertools.pairwise(names)
        ]
        + ["leaf"],
    }


def test_weights_are_finite_and_bounded_alone_and_along_a_path(client: Any) -> None:
    assert client.post("/api/models", json={"name": "w"}).status_code == 201
    err = error(client.post("/api/models/w/dimensions", json=_chain(1e7, 1)), 422, "invalid")
    assert err["details"]["problems"][0]["location"][-1] == "weight"
    # each edge within the limit, their product along the path not
    err = error(client.post("/api/models/w/dimensions", json=_chain(1e3, 3)), 422, "invalid_model")
    assert err["details"]["element"] == "L0" and err["details"]["weight"] == pytest.approx(1e9)
    assert client.post("/api/models/w/dimensions", json=_chain(-1e3, 2)).status_code == 201


RULE_MODEL: dict[str, Any] = {
    "name": "r",
    "dimensions": [
        {"name": "P", "elements": [{"name": "All", "children": ["a", "b"]}, "a", "b"]},
        {"name": "M", "role": "measure", "elements": ["Amount", "Big", "Huge"]},
    ],
    "cubes": [
        {
            "name": "C",
            "dimensions": ["P", "M"],
            "rules": [
                {"name": "big", "target": "Big", "formula": "=Amount * 1e293"},
                {"name": "huge", "target": "Huge", "formula": "=IFERROR(Big * 10, -1)"},
            ],
        }
    ],
}
RULE_VIEW = {
    "rows": [{"dimension": "P", "members": ["a", "b", "All"]}],
    "columns": [{"dimension": "M", "members": ["Amount", "Big", "Huge"]}],
}


def test_overflow_is_the_error_num_never_empty_and_totals_recover(client: Any) -> None:
    assert client.post("/api/models/import", json=RULE_MODEL).status_code == 201

    def grid() -> list[list[Any]]:
        r = client.post("/api/models/r/cubes/C/view", json=RULE_VIEW)
        assert r.status_code == 200, r.text
        values: list[list[Any]] = r.json()["values"]
        return values

    def put(p: str, v: float | None) -> None:
        body = {"cells": [{"elements": [p, "Amount"], "value": v}]}
        r = client.post("/api/models/r/cubes/C/cells", json=body)
        assert r.status_code == 200, r.text

    put("a", 1e15)
    put("b", 1e15)
    # Big: 1e308 at each leaf, their total overflows; Huge: Big * 10 overflows inside the
    # formula, which IFERROR catches as Excel does
    assert grid() == [[1e15, 1e308, -1], [1e15, 1e308, -1], [2e15, "#NUM!", -2]]
    put("b", None)
    put("a", 100)
    assert grid() == [[100, 1e295, 1e296], [0, 0, 0], [100, 1e295, 1e296]]
    trace = client.get("/api/models/r/cubes/C/trace", params={"e": ["All", "Big"]}).json()
    assert trace["value"] == 1e295
    put("b", 1e15)
    put("a", 1e15)
    trace = client.get("/api/models/r/cubes/C/trace", params={"e": ["All", "Big"]}).json()
    assert trace["value"] == "#NUM!"


def test_a_rule_literal_that_overflows_is_refused(client: Any) -> None:
    assert client.post("/api/models/import", json=RULE_MODEL).status_code == 201
    r = client.post(
        "/api/models/r/cubes/C/rules", json={"name": "x", "target": "Amount", "formula": "=1e400"}
    )
    err = error(r, 422, "invalid_rule")
    assert err["details"]["position"] == 1
