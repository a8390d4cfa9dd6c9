"""The demo company template: its structure, determinism, and loading it through the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.modeldef import ModelDef, Role, build_hierarchy
from templates.demo_company import build
from tests.signin import signed_in

ALT_ROOT = "People Cost (alt)"


@pytest.fixture(scope="module")
def model() -> ModelDef:
    return build()


@pytest.fixture
def client(tmp_path: Path, model: ModelDef) -> Iterator[TestClient]:
    with signed_in(create_app(tmp_path / "demo.db")) as c:
        r = c.post("/api/models/import", json=model.model_dump(mode="json"))
        assert r.status_code == 201, r.text
        yield c


def view(client: TestClient, rows: str, filters: dict[str, str]) -> dict[str, list[float]]:
    """Account rows x FY2025, FY2026 of the PnL cube, by account name."""
    spec = {
        "rows": [{"dimension": "Account", "members": rows}],
        "columns": [{"dimension": "Month", "members": ["FY2025", "FY2026"]}],
        "filters": filters,
    }
    r = client.post("/api/models/demo/cubes/PnL/view", json=spec)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return {h["elements"][0]: v for h, v in zip(body["rows"], body["values"], strict=True)}


ACTUAL_TOTAL = {"Version": "Actual", "Department": "Total Company", "Measure": "Amount"}


def test_every_dimension_builds(model: ModelDef) -> None:
    dims = {d.name: d for d in model.dimensions}
    assert list(dims) == ["Version", "Department", "Account", "Month", "Measure"]
    assert model.cubes[0].name == "PnL"
    assert model.cubes[0].dimensions == list(dims)
    hierarchies = {name: build_hierarchy(d) for name, d in dims.items()}
    assert {d.role for d in model.dimensions} == {None, Role.time, Role.version, Role.measure}

    account = hierarchies["Account"]
    roots = [account.names[p] for p in account.roots()]
    assert roots[0] == "Net Income"
    assert dims["Account"].elements[-1].name == ALT_ROOT
    assert 55 <= len(dims["Account"].elements) <= 70
    salaries = account.index["Salaries & Wages"]
    assert len(account.parents[salaries]) == 2  # Personnel and the alternate root

    department = hierarchies["Department"]
    assert [department.names[p] for p in department.roots()] == ["Total Company"]
    assert int(department.is_leaf.sum()) == 19

    months = dims["Month"].elements
    names = [e.name for e in months]
    assert names[0] == "All Years"
    assert sum(1 for n in names if len(n) == 7 and n[4] == "-" and n[5:].isdigit()) == 36
    for e in months:  # every parent is listed before its children
        assert all(names.index(c.name) > names.index(e.name) for c in e.children)
    assert next(e for e in months if e.name == "2025-01").attributes["Label"] == "Jan 2025"

    versions = {e.name: e for e in dims["Version"].elements}
    assert list(versions) == ["Actual", "Budget", "Forecast", "Budget vs Actual"]
    bva = [(c.name, c.weight) for c in versions["Budget vs Actual"].children]
    assert bva == [("Budget", 1.0), ("Actual", -1.0)]


def test_same_seed_gives_the_same_model() -> None:
    assert build(7).model_dump() == build(7).model_dump()
    assert build(8).data != build(7).data


def test_cell_count_and_values(model: ModelDef) -> None:
    rows = model.data["PnL"]
    numbers = [r for r in rows if r[4] == "Amount"]
    assert 20_000 <= len(numbers) <= 40_000
    assert all(isinstance(r[5], float) and r[5] > 0 for r in numbers)
    assert {r[0] for r in numbers} == {"Actual", "Budget", "Forecast"}
    actual_months = sorted({str(r[3]) for r in numbers if r[0] == "Actual"})
    assert actual_months == [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)]


def test_there_are_text_comments(model: ModelDef, client: TestClient) -> None:
    comments = [r for r in model.data["PnL"] if r[4] == "Comment"]
    assert 3 <= len(comments) <= 5
    assert all(isinstance(r[5], str) and r[5] and r[0] == "Actual" for r in comments)
    version, department, account, month, _, text = comments[0]
    spec = {
        "rows": [{"dimension": "Account", "members": [account]}],
        "columns": [{"dimension": "Month", "members": [month]}],
        "filters": {"Version": version, "Department": department, "Measure": "Comment"},
    }
    r = client.post("/api/models/demo/cubes/PnL/view", json=spec)
    assert r.status_code == 200, r.text
    assert r.json()["values"] == [[text]]


def test_net_income_rolls_up_and_is_believable(model: ModelDef, client: TestClient) -> None:
    v = view(client, "descendants(Net Income)", ACTUAL_TOTAL)
    for year in range(2):
        net_income = v["Net Income"][year]
        expected = v["EBIT"][year] + v["Other Income/Expense"][year] - v["Income Tax"][year]
        assert net_income == pytest.approx(expected, rel=1e-9)
        ebit = v["Gross Margin"][year] - v["Operating Expenses"][year]
        ebit -= v["Depreciation & Amortization"][year]
        assert v["EBIT"][year] == pytest.approx(ebit, rel=1e-9)
        assert v["Gross Margin"][year] == pytest.approx(v["Revenue"][year] - v["COGS"][year])
        assert net_income > 0
        assert v["Revenue"][year] > v["COGS"][year] > 0
        assert 0.08 <= net_income / v["Revenue"][year] <= 0.22

    summary = client.get("/api/models/demo/cubes/PnL").json()
    assert summary["populated_cells"] == len(model.data["PnL"])


def test_alternate_root_is_the_sum_of_its_children(client: TestClient) -> None:
    v = view(client, f"descendants({ALT_ROOT})", ACTUAL_TOTAL)
    children = [name for name in v if name != ALT_ROOT]
    assert len(children) >= 3
    for year in range(2):
        total = sum(v[name][year] for name in children)
        assert v[ALT_ROOT][year] == pytest.approx(total, rel=1e-9)
        assert v[ALT_ROOT][year] > 0
    personnel = view(client, "Personnel", ACTUAL_TOTAL)["Personnel"]
    assert all(0 < a < p for a, p in zip(v[ALT_ROOT], personnel, strict=True))
