"""Spreading and holds over the API: one commit, holds per user, rule cells frozen, conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.helpers import cell, error, load_small, view
from tests.signin import as_user

DATA = [
    ["Actual", "Salaries", "Jan", "Amount", 10.0],
    ["Actual", "Salaries", "Feb", "Amount", 30.0],
    ["Actual", "Rent", "Jan", "Amount", 20.0],
    ["Actual", "Rent", "Feb", "Amount", 40.0],
]
COST_Q1 = ["Actual", "Cost", "Q1", "Amount"]


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client, DATA)
    return client


def spread(
    client: Any,
    elements: list[str],
    value: float,
    method: str = "proportional",
    user: str = "ann",
    **extra: Any,
) -> Any:
    return client.post(
        "/api/models/small/cubes/PnL/spread",
        json={"elements": elements, "value": value, "method": method, **extra},
        headers=as_user(client, user),
    )


def test_spread_is_one_commit_and_reaches_the_value(small: Any) -> None:
    r = spread(small, COST_Q1, 200.0)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["commit"]["source"] == "spread" and body["changed"] == 4
    v = view(small)
    assert cell(v, "Cost", "Q1") == pytest.approx(200.0)
    assert cell(v, "Salaries", "Feb") == pytest.approx(60.0)
    assert cell(v, "Travel", "Jan") == 0  # empty leaves stay empty when spreading proportionally
    history = small.get(f"/api/models/small/commits/{body['commit']['id']}").json()
    assert len(history["changes"]) == 4


def test_holds_are_per_user_and_respected(small: Any) -> None:
    r = small.post(
        "/api/models/small/cubes/PnL/holds",
        json={"elements": ["Actual", "Salaries", "Q1", "Amount"]},
        headers=as_user(small, "ann"),
    )
    assert r.status_code == 204
    held = small.get("/api/models/small/cubes/PnL/holds", headers=as_user(small, "ann"))
    assert held.json() == [{"elements": ["Actual", "Salaries", "Q1", "Amount"]}]
    assert (
        small.get("/api/models/small/cubes/PnL/holds", headers=as_user(small, "bob")).json() == []
    )
    v = small.post(
        "/api/models/small/cubes/PnL/view",
        headers=as_user(small, "ann"),
        json={
            "rows": [{"dimension": "Account", "members": ["Salaries", "Rent"]}],
            "columns": [{"dimension": "Month", "members": ["Jan"]}],
            "filters": {"Version": "Actual", "Measure": "Amount"},
        },
    ).json()
    assert v["flags"][0][0] & v["flag_bits"]["held"] and not v["flags"][1][0] & 64
    assert spread(small, COST_Q1, 160.0, "equal", user="ann").status_code == 200
    after = view(small)
    assert cell(after, "Salaries", "Q1") == 40.0  # held
    assert cell(after, "Rent", "Jan") == pytest.approx(20.0)  # (160 - 40) / 6 free leaves
    assert cell(after, "Travel", "Feb") == pytest.approx(20.0)
    # bob has no holds: his spread moves salaries too
    assert spread(small, COST_Q1, 100.0, "proportional", user="bob").status_code == 200
    assert cell(view(small), "Salaries", "Q1") == pytest.approx(25.0)
    r = small.delete(
        "/api/models/small/cubes/PnL/holds",
        params={"e": ["Actual", "Salaries", "Q1", "Amount"]},
        headers=as_user(small, "ann"),
    )
    assert r.status_code == 204
    assert (
        small.get("/api/models/small/cubes/PnL/holds", headers=as_user(small, "ann")).json() == []
    )


def test_spread_conflicts_and_errors(small: Any) -> None:
    base = view(small)["commit"]
    small.post(
        "/api/models/small/cubes/PnL/cells",
        headers=as_user(small, "bob"),
        json={"cells": [{"elements": ["Actual", "Rent", "Feb", "Amount"], "value": 1}]},
    )
    err = error(spread(small, COST_Q1, 500.0, base_commit=base), 409, "write_conflict")
    assert err["details"]["cells"][0]["author"] == "bob"
    assert cell(view(small), "Cost", "Q1") == 61.0  # nothing was written
    error(spread(small, ["Actual", "Cost", "Q1", "Note"], 1.0), 422, "cell_not_writable")
    error(spread(small, ["Actual", "Nope", "Q1", "Amount"], 1.0), 404, "element_not_found")
    error(spread(small, COST_Q1, 1.0, "sideways"), 422, "invalid")
    hold = {"elements": COST_Q1}
    small.post("/api/models/small/cubes/PnL/holds", json=hold, headers=as_user(small, "cat"))
    err = error(spread(small, COST_Q1, 1.0, user="cat"), 422, "cell_not_writable")
    assert "held" in err["message"]


def test_spread_refuses_a_base_commit_after_the_head_or_below_zero(small: Any) -> None:
    top = view(small)["commit"]
    err = error(spread(small, COST_Q1, 500.0, base_commit=top + 1), 422, "base_commit_ahead")
    assert err["details"] == {"model": "small", "base_commit": top + 1, "head": top}
    err = error(spread(small, COST_Q1, 500.0, base_commit=-3), 422, "invalid")
    assert err["details"]["problems"][0]["location"][-1] == "base_commit"
    after = view(small)
    assert after["commit"] == top and cell(after, "Cost", "Q1") == 100.0  # nothing was written
    assert spread(small, COST_Q1, 500.0, base_commit=top).status_code == 200
