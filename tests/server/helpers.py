"""Small model builders and assertions for server tests (tables, not fixtures)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.modeldef import ChildRef, CubeDef, DimensionDef, ElementDef, Role, RuleSpec
from server.storage import Store, open_store
from tests.signin import as_user

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
    headers = dict(as_user(client, user))
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


# -- broken models: written into storage directly, past every check the API makes ----------


def _too_large(store: Store) -> str:
    """A cube over three dimensions of 10,000 elements (what the API used to store)."""
    for name in ("X", "Y", "Z"):
        elements = [ElementDef(name=f"{name}{i}") for i in range(10_000)]
        store.save_dimension("broken", DimensionDef(name=name, elements=elements))
    store.save_cube("broken", CubeDef(name="Big", dimensions=["X", "Y", "Z"]))
    return "cube_too_large"


def _ghost_child(store: Store) -> str:
    """An edge to an element that is not there."""
    total = ElementDef(name="Total", children=[ChildRef(name="Ghost")])
    store.save_dimension("broken", DimensionDef(name="D", elements=[total]))
    return "Ghost"


def _bad_rule(store: Store) -> str:
    """A rule naming a measure element the dimension does not have."""
    store.save_dimension(
        "broken", DimensionDef(name="M", role=Role.measure, elements=[ElementDef(name="A")])
    )
    rule = RuleSpec(name="r", target="A", formula="=Ghost*2")
    store.save_cube("broken", CubeDef(name="C", dimensions=["M"], rules=[rule]))
    return "invalid_rule"


BREAKAGES: dict[str, Callable[[Store], str]] = {
    "too_large": _too_large,
    "ghost_child": _ghost_child,
    "bad_rule": _bad_rule,
}


def store_broken_model(store_url: str, breakage: Callable[[Store], str]) -> str:
    """Write model ``broken`` straight into storage; return a word its load failure names."""
    store = open_store(store_url)
    try:
        store.create_model("broken", "written past the API")
        return breakage(store)
    finally:
        store.close()
