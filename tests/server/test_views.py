"""Views: expressions, filters, rollups with weights and alternate parents, flags, as-of reads."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.helpers import VIEW, cell, error, load_small, view, write

DATA = [
    ["Actual", "Rev", "Jan", "Amount", 100.0],
    ["Actual", "Rev", "Feb", "Amount", 110.0],
    ["Actual", "Salaries", "Jan", "Amount", 40.0],
    ["Actual", "Rent", "Jan", "Amount", 10.0],
    ["Actual", "Travel", "Feb", "Amount", 5.0],
    ["Budget", "Rev", "Jan", "Amount", 120.0],
    ["Actual", "Rev", "Jan", "Note", "strong January"],
]


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client, DATA)
    return client


def test_rollup_with_weights_and_alternate_parent(small: Any) -> None:
    body = view(small)
    assert cell(body, "Net", "Jan") == 100 - (40 + 10)
    assert cell(body, "Net", "Q1") == 210 - (40 + 10 + 5)
    assert cell(body, "Cost", "Feb") == 5
    alt = view(small, {**VIEW, "rows": [{"dimension": "Account", "members": ["Alt", "Salaries"]}]})
    assert cell(alt, "Alt", "Q1") == 45  # Salaries 40 + Travel 5: Salaries also sits under Cost
    assert cell(alt, "Salaries", "Q1") == 40


def test_rows_form_a_tree_with_parents_and_depth(small: Any) -> None:
    rows = view(small)["rows"]
    assert [(r["elements"][0], r["depth"], r["parent"], r["consolidated"]) for r in rows] == [
        ("Net", 0, None, True),
        ("Rev", 1, 0, False),
        ("Cost", 1, 0, True),
        ("Salaries", 2, 2, False),
        ("Rent", 2, 2, False),
        ("Travel", 2, 2, False),
    ]


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ("children(Net)", ["Rev", "Cost"]),
        ("leaves(Net)", ["Rev", "Salaries", "Rent", "Travel"]),
        ("roots()", ["Net", "Alt"]),
        ("members()", ["Net", "Rev", "Cost", "Salaries", "Rent", "Travel", "Alt"]),
        (["Rev", "children(Cost)"], ["Rev", "Salaries", "Rent", "Travel"]),
        (["4000"], ["Rev"]),  # an alias names the element
    ],
)
def test_member_expressions(small: Any, members: Any, expected: list[str]) -> None:
    body = view(small, {**VIEW, "rows": [{"dimension": "Account", "members": members}]})
    assert [r["elements"][0] for r in body["rows"]] == expected


def test_two_dimensions_on_rows_nest(small: Any) -> None:
    spec = {
        "rows": [
            {"dimension": "Version", "members": "members()"},
            {"dimension": "Account", "members": "descendants(Cost)"},
        ],
        "columns": [{"dimension": "Month", "members": ["Jan"]}],
        "filters": {"Measure": "Amount"},
    }
    body = view(small, spec)
    assert [r["elements"] for r in body["rows"]][:2] == [["Actual", "Cost"], ["Actual", "Salaries"]]
    assert body["rows"][5]["parent"] == 4  # Budget/Salaries under Budget/Cost
    assert body["values"][0][0] == 50.0
    assert body["values"][4][0] == 0.0


def test_flags_mark_consolidated_editable_and_text(small: Any) -> None:
    spec = {
        **VIEW,
        "columns": [{"dimension": "Measure", "members": "members()"}],
        "filters": {"Version": "Actual", "Month": "Jan"},
    }
    body = view(small, spec)
    bits = body["flag_bits"]
    rev = next(i for i, r in enumerate(body["rows"]) if r["elements"] == ["Rev"])
    net = next(i for i, r in enumerate(body["rows"]) if r["elements"] == ["Net"])
    assert body["flags"][rev][0] == bits["editable"]
    assert body["flags"][rev][1] == bits["editable"] | bits["text"]
    assert body["values"][rev][1] == "strong January"
    assert body["flags"][net][0] == bits["consolidated"]
    assert body["flags"][net][1] == bits["consolidated"] | bits["text"]
    assert body["values"][net][1] is None


def test_default_filter_is_the_first_root(small: Any) -> None:
    body = view(small, {"rows": VIEW["rows"], "columns": VIEW["columns"]})
    assert body["filters"] == {"Version": "Actual", "Measure": "Amount"}


def test_as_of_and_snapshot_reads(small: Any) -> None:
    first = view(small)["commit"]
    write(small, [(["Actual", "Rev", "Jan", "Amount"], 500.0)])
    snap = small.post("/api/models/small/snapshots", json={"name": "after edit"})
    assert snap.status_code == 201
    write(small, [(["Actual", "Rev", "Jan", "Amount"], 900.0)])
    assert cell(view(small), "Net", "Jan") == 900 - 50
    old = view(small, as_of=first)
    assert cell(old, "Net", "Jan") == 100 - 50
    assert all(f & old["flag_bits"]["editable"] == 0 for row in old["flags"] for f in row)
    assert cell(view(small, snapshot="after edit"), "Net", "Jan") == 500 - 50


@pytest.mark.parametrize(
    ("spec", "status", "code", "named"),
    [
        ({"rows": [{"dimension": "Nope"}]}, 400, "bad_request", "Nope"),
        (
            {"rows": [{"dimension": "Account", "members": ["Rev", "Bogus"]}]},
            404,
            "element_not_found",
            "Bogus",
        ),
        (
            {"rows": [{"dimension": "Account", "members": "children(Bogus)"}]},
            404,
            "element_not_found",
            "Bogus",
        ),
        (
            {"rows": [{"dimension": "Account", "members": "roots(Net)"}]},
            422,
            "invalid_expression",
            "roots(Net)",
        ),
        (
            {"filters": {"Version": "Forecast", "Measure": "Amount"}},
            404,
            "element_not_found",
            "Forecast",
        ),
        ({"filters": {"Account": "Net"}}, 400, "bad_request", "Account"),
        ({"as_of": 999}, 404, "commit_not_found", "999"),
        ({"snapshot": "nope"}, 404, "snapshot_not_found", "nope"),
    ],
)
def test_bad_views_name_the_problem(
    small: Any, spec: dict[str, Any], status: int, code: str, named: str
) -> None:
    r = small.post("/api/models/small/cubes/PnL/view", json={**VIEW, **spec})
    err = error(r, status, code)
    assert named in err["message"]


def test_unknown_cube_and_model(small: Any) -> None:
    err = error(small.post("/api/models/small/cubes/Nope/view", json=VIEW), 404, "cube_not_found")
    assert err["details"]["cube"] == "Nope"
    err = error(small.post("/api/models/zz/cubes/PnL/view", json=VIEW), 404, "model_not_found")
    assert err["details"]["model"] == "zz"
