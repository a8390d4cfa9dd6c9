"""Rules through the server: stored, flagged in views, recomputed on write, pushed live."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.helpers import error
from tests.signin import signed_in

MODEL: dict[str, Any] = {
    "name": "drv",
    "dimensions": [
        {"name": "Product", "elements": [{"name": "All", "children": ["A", "B"]}, "A", "B"]},
        {
            "name": "Month",
            "role": "time",
            "elements": [{"name": "FY", "children": ["Jan", "Feb", "Mar"]}, "Jan", "Feb", "Mar"],
        },
        {
            "name": "Measure",
            "role": "measure",
            "elements": ["Units", "Price", "Revenue", "RevYTD", "Margin"],
        },
    ],
    "cubes": [
        {
            "name": "Sales",
            "dimensions": ["Product", "Month", "Measure"],
            "rules": [
                {"name": "revenue", "target": "Revenue", "formula": "=Units * Price"},
                {"name": "ytd", "target": "RevYTD", "formula": "=PREV(RevYTD) + Revenue"},
            ],
        }
    ],
    "data": {
        "Sales": [["A", m, "Units", 10.0] for m in ("Jan", "Feb", "Mar")]
        + [["A", m, "Price", 2.0] for m in ("Jan", "Feb", "Mar")]
        + [["B", "Jan", "Units", 1.0], ["B", "Jan", "Price", 5.0]]
    },
}
VIEW = {
    "rows": [{"dimension": "Product", "members": "descendants(All)"}],
    "columns": [{"dimension": "Month", "members": ["Jan", "Feb", "Mar", "FY"]}],
    "filters": {"Measure": "Revenue"},
}


@pytest.fixture
def drv(client: Any) -> Any:
    r = client.post("/api/models/import", json=MODEL)
    assert r.status_code == 201, r.text
    return client


def view(client: Any, measure: str = "Revenue", **extra: Any) -> dict[str, Any]:
    r = client.post(
        "/api/models/drv/cubes/Sales/view", json={**VIEW, "filters": {"Measure": measure}, **extra}
    )
    assert r.status_code == 200, r.text
    return r.json()


def grid(body: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {
        (r["elements"][0], c["elements"][0]): body["values"][i][j]
        for i, r in enumerate(body["rows"])
        for j, c in enumerate(body["columns"])
    }


def write(client: Any, cells: list[tuple[list[str], Any]], base: int | None = None) -> Any:
    body: dict[str, Any] = {"cells": [{"elements": e, "value": v} for e, v in cells]}
    if base is not None:
        body["base_commit"] = base
    return client.post("/api/models/drv/cubes/Sales/cells", json=body)


def test_rule_cells_are_computed_flagged_and_read_only(drv: Any) -> None:
    body = view(drv)
    g = grid(body)
    assert (g[("A", "Jan")], g[("B", "Jan")], g[("All", "FY")]) == (20.0, 5.0, 65.0)
    bits = body["flag_bits"]
    a = next(i for i, r in enumerate(body["rows"]) if r["elements"] == ["A"])
    assert body["flags"][a][0] == bits["rule"]  # a rule cell: not editable
    assert grid(view(drv, "RevYTD"))[("A", "Mar")] == 60.0
    err = error(write(drv, [(["A", "Jan", "Revenue"], 1.0)]), 422, "cell_not_writable")
    assert err["details"]["rule"] == "revenue" and err["details"]["cell"] == 0


def test_writing_an_input_recomputes_rules_and_totals(drv: Any) -> None:
    assert write(drv, [(["A", "Feb", "Units"], 20.0)]).status_code == 200
    assert grid(view(drv))[("A", "Feb")] == 40.0
    assert grid(view(drv))[("All", "FY")] == 85.0
    assert grid(view(drv, "RevYTD"))[("A", "Mar")] == 80.0


def test_live_feed_pushes_recomputed_rule_cells(drv: Any) -> None:
    with drv.websocket_connect("/api/models/drv/feed") as ws:
        ws.send_json(
            {
                "op": "subscribe",
                "id": "v",
                "cube": "Sales",
                "view": {**VIEW, "filters": {"Measure": "RevYTD"}},
            }
        )
        snap = ws.receive_json()["view"]
        write(
            drv,
            [
                (
                    [
                        "A",
                        "Jan",
                        "Price",
                    ],
                    3.0,
                )
            ],
        )
        msg = ws.receive_json()
    rows = [r["elements"][0] for r in snap["rows"]]
    cols = [c["elements"][0] for c in snap["columns"]]
    got = {(rows[c["row"]], cols[c["col"]]): c["value"] for c in msg["cells"]}
    assert got[("A", "Jan")] == 30.0 and got[("A", "Mar")] == 70.0


def test_rules_api_crud_and_bad_rules(drv: Any) -> None:
    base = "/api/models/drv/cubes/Sales/rules"
    assert [r["name"] for r in drv.get(base).json()] == ["revenue", "ytd"]
    r = drv.post(
        base, json={"name": "margin", "target": "Margin", "formula": "=IFERROR(Revenue / Units, 0)"}
    )
    assert r.status_code == 201, r.text
    assert grid(view(drv, "Margin"))[("A", "Jan")] == 2.0
    assert grid(view(drv, "Margin"))[("B", "Feb")] == 0.0  # 0/0 caught by IFERROR
    err = error(
        drv.post(base, json={"name": "bad", "target": "Margin", "formula": "=Units * Nope"}),
        422,
        "invalid_rule",
    )
    assert err["details"]["position"] == 9 and "Nope" in err["message"]
    err = error(
        drv.put(
            f"{base}/margin",
            json={"name": "margin", "target": "Margin", "formula": "=Revenue + Margin"},
        ),
        422,
        "rule_cycle",
    )
    assert "margin" in err["details"]["rules"]
    assert drv.get(f"{base}/margin").json()["formula"] == "=IFERROR(Revenue / Units, 0)"
    error(
        drv.post(base, json={"name": "margin", "target": "Margin", "formula": "=1"}),
        409,
        "already_exists",
    )
    assert drv.delete(f"{base}/margin").status_code == 204
    error(drv.get(f"{base}/margin"), 404, "rule_not_found")
    assert grid(view(drv, "Margin"))[("A", "Jan")] == 0.0


def test_a_rule_on_one_product_from_another_products_cells_of_the_same_measure(
    drv: Any,
) -> None:
    """Units of B = Units of A * 0.5: the same measure, another area, so no loop; B's cells
    become rule cells, A's stay inputs, and an edit of A reaches B."""
    base = "/api/models/drv/cubes/Sales/rules"
    rule = {
        "name": "b from a",
        "target": "Units",
        "formula": '=DB("Sales", "A", "Units") * 0.5',
        "where": {"Product": ["B"]},
    }
    assert drv.post(base, json=rule).status_code == 201
    assert grid(view(drv, "Units"))[("B", "Feb")] == 5.0
    assert write(drv, [(["A", "Feb", "Units"], 30.0)]).status_code == 200
    g = grid(view(drv, "Units"))
    assert (g[("B", "Feb")], g[("All", "Feb")]) == (15.0, 45.0)
    error(write(drv, [(["B", "Feb", "Units"], 1.0)]), 422, "cell_not_writable")
    err = error(
        drv.put(f"{base}/b from a", json={**rule, "formula": '=DB("Sales", "All", "Units")'}),
        422,
        "rule_cycle",
    )
    assert err["details"]["rules"][0] == "b from a"


def test_errors_are_cell_values(drv: Any) -> None:
    base = "/api/models/drv/cubes/Sales/rules"
    r = drv.post(base, json={"name": "m", "target": "Margin", "formula": "=Revenue / (Units - 10)"})
    assert r.status_code == 201, r.text
    g = grid(view(drv, "Margin"))
    assert g[("A", "Jan")] == "#DIV/0!" and g[("All", "Jan")] == "#DIV/0!"
    assert g[("B", "Jan")] == pytest.approx(5 / -9)


def test_rules_survive_restart_export_and_as_of(store_url: str) -> None:

    from server.app import create_app

    with signed_in(create_app(store_url)) as c:
        assert c.post("/api/models/import", json=MODEL).status_code == 201
        first = view(c)["commit"]
        write(c, [(["A", "Jan", "Units"], 100.0)])
    with signed_in(create_app(store_url)) as c:
        assert grid(view(c))[("A", "Jan")] == 200.0
        assert grid(view(c, as_of=first))[("A", "Jan")] == 20.0
        exported = c.get("/api/models/drv/export", params={"format": "json", "data": True}).json()
        assert [r["name"] for r in exported["cubes"][0]["rules"]] == ["revenue", "ytd"]
        assert all(row[2] not in ("Revenue", "RevYTD") for row in exported["data"]["Sales"])


def test_a_dimension_change_that_breaks_a_rule_is_refused(drv: Any) -> None:
    r = drv.post("/api/models/drv/dimensions/Measure/elements", json=[{"name": "Discount"}])
    assert r.status_code == 200, r.text
    rule = {"name": "m", "target": "Margin", "formula": "=Revenue - Discount"}
    assert drv.post("/api/models/drv/cubes/Sales/rules", json=rule).status_code == 201
    err = error(
        drv.delete("/api/models/drv/dimensions/Measure/elements/Discount"), 422, "invalid_rule"
    )
    assert "Discount" in err["message"] and err["details"]["rule"] == "m"
    assert grid(view(drv, "Margin"))[("A", "Jan")] == 20.0


def test_a_model_file_with_a_bad_rule_is_refused_whole(client: Any) -> None:
    bad = {
        **MODEL,
        "cubes": [
            {
                **MODEL["cubes"][0],
                "rules": [{"name": "r", "target": "Revenue", "formula": "=Units *"}],
            }
        ],
    }
    err = error(client.post("/api/models/import", json=bad), 422, "invalid_rule")
    assert err["details"]["rule"] == "r"
    assert client.get("/api/models").json() == []


def test_trace_endpoint(drv: Any) -> None:
    r = drv.get("/api/models/drv/cubes/Sales/trace", params={"e": ["All", "FY", "Revenue"]})
    assert r.status_code == 200, r.text
    tree = r.json()
    assert tree["kind"] == "consolidation" and tree["value"] == 65.0
    a = tree["children"][0]
    assert a["elements"] == ["A", "FY", "Revenue"] and a["weight"] == 1.0
    jan = a["children"][0]
    assert jan["kind"] == "rule" and jan["rule"] == "revenue" and jan["value"] == 20.0
    assert {c["elements"][2]: c["value"] for c in jan["children"]} == {"Units": 10.0, "Price": 2.0}
    error(
        drv.get("/api/models/drv/cubes/Sales/trace", params={"e": ["A", "Nope", "Units"]}),
        404,
        "element_not_found",
    )
    error(drv.get("/api/models/drv/cubes/Sales/trace", params={"e": ["A"]}), 422, "invalid_value")


def test_attribute_and_ytd_rules(client: Any) -> None:
    import copy

    model = copy.deepcopy(MODEL)
    model["dimensions"][0]["attributes"] = {"Factor": "number"}
    model["dimensions"][0]["elements"][1] = {"name": "A", "attributes": {"Factor": 3}}
    model["cubes"][0]["rules"] = [
        {"name": "revenue", "target": "Revenue", "formula": '=Units * ATTR("Product", "Factor")'},
        {"name": "ytd", "target": "RevYTD", "formula": "=YTD(Revenue)"},
    ]
    assert client.post("/api/models/import", json=model).status_code == 201
    g = grid(view(client, "RevYTD"))
    assert (g[("A", "Jan")], g[("A", "Mar")], g[("B", "Jan")]) == (30.0, 90.0, 0.0)
    r = client.post(
        "/api/models/drv/dimensions/Product/elements",
        json=[{"name": "B", "attributes": {"Factor": 2}}],
    )
    assert r.status_code == 200, r.text
    assert grid(view(client, "RevYTD"))[("B", "Feb")] == 2.0


def test_a_consolidated_rule_through_the_api(store_url: str) -> None:

    from server.app import create_app

    avg = {
        "name": "avg price",
        "target": "Price",
        "formula": "=Revenue / Units",
        "level": "consolidated",
    }
    with signed_in(create_app(store_url)) as c:
        assert c.post("/api/models/import", json=MODEL).status_code == 201
        r = c.post("/api/models/drv/cubes/Sales/rules", json=avg)
        assert r.status_code == 201, r.text
        body = view(c, "Price")
        g, bits = grid(body), body["flag_bits"]
        assert g[("All", "Jan")] == pytest.approx(25 / 11)  # (10*2 + 1*5) / (10 + 1)
        assert g[("A", "FY")] == pytest.approx(2.0) and g[("B", "FY")] == pytest.approx(5.0)
        assert g[("B", "Feb")] == 0.0  # a leaf price: an (empty) input, not the rule
        flags = {
            (r["elements"][0], col["elements"][0]): body["flags"][i][j]
            for i, r in enumerate(body["rows"])
            for j, col in enumerate(body["columns"])
        }
        assert flags[("All", "Jan")] & bits["rule"] and flags[("A", "FY")] & bits["rule"]
        assert flags[("A", "Jan")] & bits["editable"] and not flags[("A", "Jan")] & bits["rule"]
        assert write(c, [(["B", "Jan", "Units"], 4.0)]).status_code == 200
        assert grid(view(c, "Price"))[("All", "Jan")] == pytest.approx(40 / 14)
        err = error(
            c.post(
                "/api/models/drv/cubes/Sales/spread",
                json={"elements": ["All", "Jan", "Price"], "value": 3.0, "method": "equal"},
            ),
            422,
            "cell_not_writable",
        )
        assert "avg price" in err["message"]
        bad = {**avg, "name": "bad", "target": "Margin", "level": "sometimes"}
        err = error(c.post("/api/models/drv/cubes/Sales/rules", json=bad), 422, "invalid")
        assert err["details"]["problems"][0]["location"] == ["body", "level"]
    with signed_in(create_app(store_url)) as c:  # stored with its level
        assert grid(view(c, "Price"))[("All", "Jan")] == pytest.approx(40 / 14)
        exported = c.get("/api/models/drv/export", params={"format": "json"}).json()
        rules = {r["name"]: r for r in exported["cubes"][0]["rules"]}
        assert rules["avg price"]["level"] == "consolidated"
        assert rules["revenue"].get("level", "leaf") == "leaf"


FX_MODEL: dict[str, Any] = {
    "name": "fx",
    "dimensions": [
        {
            "name": "Store",
            "attributes": {"Currency": "text"},
            "elements": [
                {"name": "All Stores", "children": ["Berlin", "Boston"]},
                {"name": "Berlin", "attributes": {"Currency": "EUR"}},
                {"name": "Boston", "attributes": {"Currency": "USD"}},
            ],
        },
        {"name": "Currency", "elements": ["EUR", "USD"]},
        {"name": "Month", "role": "time", "elements": ["Jan", "Feb"]},
        {"name": "Measure", "role": "measure", "elements": ["Amount", "Amount EUR"]},
        {"name": "Rate", "role": "measure", "elements": ["To EUR"]},
    ],
    "cubes": [
        {
            "name": "Sales",
            "dimensions": ["Store", "Month", "Measure"],
            "rules": [
                {
                    "name": "eur",
                    "target": "Amount EUR",
                    "formula": '=Amount * DB("FX", ATTR("Store", "Currency"), "To EUR")',
                }
            ],
        },
        {"name": "FX", "dimensions": ["Currency", "Month", "Rate"]},
    ],
    "data": {
        "Sales": [["Berlin", "Jan", "Amount", 100.0], ["Boston", "Jan", "Amount", 200.0]],
        "FX": [["EUR", "Jan", "To EUR", 1.0], ["USD", "Jan", "To EUR", 0.9]],
    },
}


def test_db_reads_another_cube_through_a_text_attribute(client: Any) -> None:
    assert client.post("/api/models/import", json=FX_MODEL).status_code == 201

    def eur() -> dict[tuple[str, str], Any]:
        r = client.post(
            "/api/models/fx/cubes/Sales/view",
            json={
                "rows": [{"dimension": "Store", "members": "descendants(All Stores)"}],
                "columns": [{"dimension": "Month", "members": ["Jan"]}],
                "filters": {"Measure": "Amount EUR"},
            },
        )
        assert r.status_code == 200, r.text
        return grid(r.json())

    assert eur()[("Boston", "Jan")] == pytest.approx(180.0)
    assert eur()[("All Stores", "Jan")] == pytest.approx(280.0)
    r = client.post(
        "/api/models/fx/cubes/FX/cells",
        json={"cells": [{"elements": ["USD", "Jan", "To EUR"], "value": 0.5}]},
    )
    assert r.status_code == 200, r.text
    assert eur()[("Boston", "Jan")] == pytest.approx(100.0)
    stores = "/api/models/fx/dimensions/Store/elements"
    err = error(
        client.post(stores, json=[{"name": "Boston", "attributes": {"Currency": "CHF"}}]),
        422,
        "invalid_rule",
    )
    assert "CHF" in err["message"]
    r = client.post(stores, json=[{"name": "Boston", "attributes": {"Currency": "EUR"}}])
    assert r.status_code == 200, r.text
    assert eur()[("Boston", "Jan")] == pytest.approx(200.0)
