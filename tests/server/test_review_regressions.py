"""Regressions found in review: each a small table of what must hold."""

from __future__ import annotations

import copy
from typing import Any

from tests.server.helpers import VIEW, error, load_small
from tests.server.test_rules_api import MODEL

XMODEL: dict[str, Any] = {
    "name": "x",
    "dimensions": [
        {"name": "P", "elements": [{"name": "All", "children": ["p1", "p2"]}, "p1", "p2"]},
        {"name": "M", "role": "measure", "elements": ["Units", "Price", "Revenue"]},
        {"name": "AM", "role": "measure", "elements": ["Price"]},
    ],
    "cubes": [
        {"name": "Assump", "dimensions": ["P", "AM"]},
        {
            "name": "Sales",
            "dimensions": ["P", "M"],
            "rules": [
                {"name": "rev", "target": "Revenue", "formula": '=Units * DB("Assump", "Price")'}
            ],
        },
    ],
    "data": {"Assump": [["p1", "Price", 2.0]], "Sales": [["p1", "Units", 5.0]]},
}


def test_a_cube_other_rules_read_cannot_be_deleted(client: Any) -> None:
    assert client.post("/api/models/import", json=XMODEL).status_code == 201
    err = error(client.delete("/api/models/x/cubes/Assump"), 409, "in_use")
    assert err["details"]["rules"] == ["Sales.rev"]


def test_feed_reaches_cubes_whose_rules_read_the_written_cube(client: Any) -> None:
    assert client.post("/api/models/import", json=XMODEL).status_code == 201
    spec = {
        "rows": [{"dimension": "P", "members": ["p1", "All"]}],
        "columns": [{"dimension": "M", "members": ["Revenue"]}],
    }
    with client.websocket_connect("/api/models/x/feed") as ws:
        ws.send_json({"op": "subscribe", "id": "s", "cube": "Sales", "view": spec})
        assert ws.receive_json()["view"]["values"] == [[10.0], [10.0]]
        r = client.post(
            "/api/models/x/cubes/Assump/cells",
            json={"cells": [{"elements": ["p1", "Price"], "value": 3.0}]},
        )
        assert r.status_code == 200
        msg = ws.receive_json()
    assert {(c["row"], c["col"]): c["value"] for c in msg["cells"]} == {(0, 0): 15.0, (1, 0): 15.0}


def test_feed_survives_a_view_that_stops_resolving(client: Any) -> None:
    load_small(client, [["Actual", "Rev", "Jan", "Amount", 1.0]])
    spec = {**VIEW, "rows": [{"dimension": "Account", "members": ["Travel", "Rev"]}]}
    with client.websocket_connect("/api/models/small/feed") as ws:
        ws.send_json({"op": "subscribe", "id": "gone", "cube": "PnL", "view": spec})
        ws.send_json({"op": "subscribe", "id": "ok", "cube": "PnL", "view": VIEW})
        assert ws.receive_json()["id"] == "gone" and ws.receive_json()["id"] == "ok"
        r = client.delete("/api/models/small/dimensions/Account/elements/Travel")
        assert r.status_code == 200
        client.post(
            "/api/models/small/cubes/PnL/cells",
            json={"cells": [{"elements": ["Actual", "Rev", "Jan", "Amount"], "value": 2}]},
        )
        got = [ws.receive_json(), ws.receive_json()]
        kinds = {m["id"]: m["type"] for m in got}
        assert kinds["gone"] == "error"
        assert kinds["ok"] in ("cells", "snapshot")  # the view lost a row: a fresh snapshot
        ws.send_bytes(b"\x00")
        assert ws.receive_json()["error"]["code"] == "invalid"


def test_bad_numbers_and_ids_are_4xx(client: Any) -> None:
    load_small(client, [["Actual", "Rev", "Jan", "Amount", 1e10]])
    r = client.post(
        "/api/models/small/cubes/PnL/spread",
        content=b'{"elements": ["Actual", "Net", "Q1", "Amount"], "value": NaN}',
        headers={"content-type": "application/json"},
    )
    error(r, 400, "invalid_json")
    r = client.post(
        "/api/models/small/cubes/PnL/spread",
        json={"elements": ["Actual", "Net", "Q1", "Amount"], "value": 1e308, "method": "percent"},
    )
    error(r, 422, "invalid")  # past the input limit (numeric policy)
    r = client.post(
        "/api/models/small/cubes/PnL/spread",
        json={"elements": ["Actual", "Net", "Q1", "Amount"], "value": 1e9, "method": "percent"},
    )
    error(r, 422, "invalid_value")  # 1e10 grown by 1e9 % passes it
    huge = 10**23
    error(client.get(f"/api/models/small/commits/{huge}"), 422, "invalid")
    error(client.post(f"/api/models/small/commits/{huge}/revert"), 422, "invalid")
    error(
        client.post("/api/models/small/cubes/PnL/view", json={**VIEW, "as_of": huge}),
        422,
        "invalid",
    )


def test_views_too_large_are_refused(client: Any) -> None:
    model = {
        "name": "big",
        "dimensions": [
            {"name": "A", "elements": [f"a{i}" for i in range(1500)]},
            {"name": "B", "elements": [f"b{i}" for i in range(1500)]},
        ],
        "cubes": [{"name": "C", "dimensions": ["A", "B"]}],
    }
    assert client.post("/api/models/import", json=model).status_code == 201
    r = client.post(
        "/api/models/big/cubes/C/view",
        json={
            "rows": [{"dimension": "A", "members": "members()"}],
            "columns": [{"dimension": "B", "members": "members()"}],
        },
    )
    err = error(r, 400, "bad_request")
    assert err["details"] == {"rows": 1500, "columns": 1500}


def test_a_where_naming_no_dimension_is_refused(client: Any) -> None:
    bad = copy.deepcopy(MODEL)
    bad["cubes"][0]["rules"][0]["where"] = {"Prodcut": ["A"]}
    err = error(client.post("/api/models/import", json=bad), 422, "invalid_rule")
    assert "Prodcut" in err["message"]
