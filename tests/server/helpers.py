"""Small model builders and assertions for server tests (tables, not fixtures)."""

from __future__ import annotations

from typing import Any

# A tiny but complete model: weights of -1, an alternate parent, a text measure.
#   Net = Rev - Cost ; Cost = Salaries + Rent ; Alt (alternate rollup) = Salaries + Travel
SMALL_MODEL: dict[str, Any] = {
    "name": "small",
    "dimensions": [
        {
            "name": "Account",
            "attributes": {"Code": "alias"},
            "elements": [
                {"name": "Net", "children": ["Rev", {"name": "Cost", "weight": -1}]},
                {"name": "Rev", "attributes": {"Code": "4000"}},
                {"name": "Cost", "children": ["Salaries", "Rent", "Travel"]},
                "Salaries",
                "Rent",
                "Travel",
                {"name": "Alt", "children": ["Salaries", "Travel"]},
            ],
        },
        {
            "name": "Month",
            "role": "time",
            "elements": [{"name": "Q1", "children": ["Jan", "Feb", "Mar"]}, "Jan", "Feb", "Mar"],
        },
        {"name": "Version", "role": "version", "elements": ["Actual", "Budget"]},
        {
            "name": "Measure",
            "role": "measure",
            "elements": ["Amount", {"name": "Note", "type": "text"}],
        },
    ],
    "cubes": [{"name": "PnL", "dimensions": ["Version", "Account", "Month", "Measure"]}],
}

VIEW = {
    "rows": [{"dimension": "Account", "members": "descendants(Net)"}],
    "columns": [{"dimension": "Month", "members": "descendants(Q1)"}],
    "filters": {"Version": "Actual", "Measure": "Amount"},
}


def load_small(client: Any, data: list[list[Any]] | None = None) -> dict[str, Any]:
    model = dict(SMALL_MODEL)
    if data:
        model["data"] = {"PnL": data}
    r = client.post("/api/models/import", json=model)
    assert r.status_code == 201, r.text
    return r.json()


def write(
    client: Any,
    cells: list[tuple[list[str], Any]],
    user: str = "ann",
    base: int | None = None,
    cube: str = "PnL",
    session: str | None = None,
) -> Any:
    body: dict[str, Any] = {"cells": [{"elements": e, "value": v} for e, v in cells]}
    if base is not None:
        body["base_commit"] = base
    headers = {"X-Plancube-User": user}
    if session is not None:
        headers["X-Plancube-Session"] = session
    return client.post(f"/api/models/small/cubes/{cube}/cells", json=body, headers=headers)


def view(client: Any, spec: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    r = client.post("/api/models/small/cubes/PnL/view", json={**(spec or VIEW), **extra})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def cell(body: dict[str, Any], row: str, col: str) -> Any:
    """The value at the row and column headed by these (innermost) element names."""
    r = next(i for i, h in enumerate(body["rows"]) if h["elements"][-1] == row)
    c = next(i for i, h in enumerate(body["columns"]) if h["elements"][-1] == col)
    return body["values"][r][c]


def error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == code, err
    return err
