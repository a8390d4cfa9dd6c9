"""Element security on every path: a user never sees what is closed to them, and never changes
what they may only read — over HTTP and the live feed, on both stores.

The model is ``small`` (tests.server.helpers). Group ``ops`` may READ ``Net`` (and so everything
under it), not see ``Salaries`` at all (NONE, its own rule), and WRITE ``Rent``. ``Alt``, an
alternate rollup no rule reaches, takes the secured dimension's default: NONE. So an ops planner
sees Net, Rev, Cost, Rent and Travel; may write Rent only; and sees totals in full (Net and Cost
include Salaries), as TM1 does and docs/security.md says.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.helpers import VIEW, cell, error, load_small, write
from tests.signin import as_user

SALARIES = ["Actual", "Salaries", "Jan", "Amount"]
RENT = ["Actual", "Rent", "Jan", "Amount"]
REV = ["Actual", "Rev", "Jan", "Amount"]
GRANTS = [
    {"element": "Net", "group": "ops", "access": "READ"},
    {"element": "Salaries", "group": "ops", "access": "NONE"},
    {"element": "Rent", "group": "ops", "access": "WRITE"},
]
PNL = "/api/models/small/cubes/PnL"


@pytest.fixture
def secured(client: Any) -> Any:
    load_small(
        client,
        [
            [*SALARIES, 100.0],
            [*RENT, 20.0],
            [*REV, 500.0],
            ["Actual", "Travel", "Jan", "Amount", 5.0],
        ],
    )
    assert client.post("/api/admin/groups", json={"name": "ops"}).status_code == 201
    r = client.put("/api/models/small/security/elements/Account", json=GRANTS)
    assert r.status_code == 200, r.text
    return client


def ops(client: Any, role: str = "planner") -> dict[str, str]:
    return as_user(client, f"ops-{role}", "small", role, "ops")


def rows(body: dict[str, Any]) -> list[str]:
    return [h["elements"][-1] for h in body["rows"]]


def test_a_view_shows_what_the_user_may_see_and_totals_in_full(secured: Any) -> None:
    mine = secured.post(f"{PNL}/view", json=VIEW, headers=ops(secured)).json()
    assert rows(mine) == ["Net", "Rev", "Cost", "Rent", "Travel"]
    assert cell(mine, "Net", "Jan") == 500 - 125  # Salaries included: the total is the plan's
    assert cell(mine, "Cost", "Jan") == 125
    # the tree still hangs together: Rent and Travel under Cost, Cost under Net
    parents = {h["elements"][-1]: h["parent"] for h in mine["rows"]}
    assert rows(mine)[parents["Rent"]] == "Cost" and rows(mine)[parents["Cost"]] == "Net"
    editable = {
        h["elements"][-1]: bool(mine["flags"][i][1] & 2) for i, h in enumerate(mine["rows"])
    }
    assert editable == {"Net": False, "Rev": False, "Cost": False, "Rent": True, "Travel": False}
    admin = secured.post(f"{PNL}/view", json=VIEW).json()
    assert "Salaries" in rows(admin) and "Alt" not in rows(admin)  # VIEW is descendants(Net)


def test_a_hidden_element_is_not_found_wherever_it_is_named(secured: Any) -> None:
    me = ops(secured)
    spec = {**VIEW, "rows": [{"dimension": "Account", "members": ["Salaries"]}]}
    error(secured.post(f"{PNL}/view", json=spec, headers=me), 404, "element_not_found")
    r = secured.get(f"{PNL}/cells/history", params={"e": SALARIES}, headers=me)
    error(r, 404, "element_not_found")
    r = secured.get(f"{PNL}/trace", params={"e": SALARIES}, headers=me)
    error(r, 404, "element_not_found")
    r = secured.post(f"{PNL}/holds", json={"elements": SALARIES}, headers=me)
    error(r, 404, "element_not_found")
    err = error(write(secured, [(SALARIES, 1.0)], user="ops-planner"), 404, "element_not_found")
    assert err["details"]["element"] == "Salaries"
    spec = {**VIEW, "rows": [{"dimension": "Account", "members": "children(Alt)"}]}
    error(secured.post(f"{PNL}/view", json=spec, headers=me), 404, "element_not_found")


def test_read_only_cells_are_refused_whole(secured: Any) -> None:
    as_user(secured, "ops-planner", "small", "planner", "ops")
    r = write(secured, [(RENT, 30.0), (REV, 1.0)], user="ops-planner")
    err = error(r, 403, "write_forbidden")
    assert err["details"]["cells"] == [REV] and err["details"]["count"] == 1
    view = secured.post(f"{PNL}/view", json=VIEW).json()
    assert cell(view, "Rent", "Jan") == 20  # nothing was written
    ok = write(secured, [(RENT, 30.0)], user="ops-planner")
    assert ok.status_code == 200 and ok.json()["commit"]["author"] == "ops-planner"


def test_a_spread_over_cells_the_user_may_not_change_is_refused(secured: Any) -> None:
    me = ops(secured)
    body = {"elements": ["Actual", "Cost", "Jan", "Amount"], "value": 300, "method": "equal"}
    err = error(secured.post(f"{PNL}/spread", json=body, headers=me), 403, "write_forbidden")
    assert err["details"]["hidden"] == 1  # Salaries: counted, never named
    assert ["Actual", "Salaries", "Jan", "Amount"] not in err["details"]["cells"]
    assert err["details"]["cells"] == [["Actual", "Travel", "Jan", "Amount"]]
    body = {"elements": RENT, "value": 40, "method": "equal"}
    assert secured.post(f"{PNL}/spread", json=body, headers=me).status_code == 200


def test_trace_hides_closed_inputs(secured: Any) -> None:
    r = secured.get(
        f"{PNL}/trace", params={"e": ["Actual", "Cost", "Jan", "Amount"]}, headers=ops(secured)
    )
    tree = r.json()
    assert tree["value"] == 125
    kids = tree["children"]
    hidden = [k for k in kids if k.get("hidden")]
    assert len(hidden) == 1 and "value" not in hidden[0] and "elements" not in hidden[0]
    assert sorted(k["elements"][1] for k in kids if not k.get("hidden")) == ["Rent", "Travel"]


def test_commit_detail_history_and_revert(secured: Any) -> None:
    made = secured.post(
        f"{PNL}/cells",
        json={"cells": [{"elements": SALARIES, "value": 110}, {"elements": RENT, "value": 21}]},
    ).json()["commit"]["id"]
    me = ops(secured)
    detail = secured.get(f"/api/models/small/commits/{made}", headers=me).json()
    assert [c["elements"] for c in detail["changes"]] == [RENT] and detail["hidden"] == 1
    history = secured.get(f"{PNL}/cells/history", params={"e": RENT}, headers=me).json()
    assert [h["new"] for h in history] == [20.0, 21.0]
    r = secured.post(f"/api/models/small/commits/{made}/revert", json={}, headers=me)
    error(r, 403, "write_forbidden")
    assert secured.post(f"{PNL}/view", json=VIEW).json()["values"] is not None


def test_as_of_reads_and_exports_are_masked_too(secured: Any) -> None:
    head = secured.get("/api/models/small").json()["head"]
    secured.post(f"{PNL}/cells", json={"cells": [{"elements": SALARIES, "value": 999}]})
    old = secured.post(f"{PNL}/view", json={**VIEW, "as_of": head}, headers=ops(secured)).json()
    assert "Salaries" not in rows(old) and cell(old, "Cost", "Jan") == 125
    modeler = ops(secured, "modeler")
    text = secured.get(
        "/api/models/small/export", params={"format": "json", "data": True}, headers=modeler
    ).json()
    data = [row[1] for row in text["data"]["PnL"]]
    assert "Salaries" not in data and "Rent" in data
    full = secured.get("/api/models/small/export", params={"format": "json", "data": True}).json()
    assert "Salaries" in [row[1] for row in full["data"]["PnL"]]


def test_dimension_reads_leave_hidden_elements_out(secured: Any) -> None:
    me = ops(secured)
    dim = secured.get("/api/models/small/dimensions/Account", headers=me).json()
    names = [e["name"] for e in dim["elements"]]
    assert names == ["Net", "Rev", "Cost", "Rent", "Travel"]
    cost = next(e for e in dim["elements"] if e["name"] == "Cost")
    assert [c if isinstance(c, str) else c["name"] for c in cost["children"]] == ["Rent", "Travel"]
    listed = secured.get("/api/models/small/dimensions", headers=me).json()
    assert next(d for d in listed if d["name"] == "Account")["elements"] == 5


def test_the_feed_shows_each_user_their_own_view(secured: Any) -> None:
    me = ops(secured)
    with secured.websocket_connect("/api/models/small/feed", headers=me) as ws:
        ws.send_json({"op": "subscribe", "id": "v", "cube": "PnL", "view": VIEW})
        snap = ws.receive_json()
        assert snap["type"] == "snapshot" and rows(snap["view"]) == rows(
            secured.post(f"{PNL}/view", json=VIEW, headers=me).json()
        )
        secured.post(f"{PNL}/cells", json={"cells": [{"elements": SALARIES, "value": 200}]})
        msg = ws.receive_json()
        assert msg["type"] == "cells"
        net = rows(snap["view"]).index("Net")
        got = {(c["row"], c["col"]): c["value"] for c in msg["cells"]}
        assert got[(net, 1)] == 500 - 225  # the total moves; no hidden row is sent
        assert all(r < len(rows(snap["view"])) for r, _ in got)


def test_the_feed_refuses_a_socket_without_sign_in(secured: Any) -> None:
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    anonymous = TestClient(secured.app)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        anonymous.websocket_connect("/api/models/small/feed"),
    ):
        pass
    assert refused.value.code == 1008


def test_security_changes_are_audited_and_take_effect_at_once(secured: Any) -> None:
    me = ops(secured)
    assert "Rev" in rows(secured.post(f"{PNL}/view", json=VIEW, headers=me).json())
    grants = [*GRANTS, {"element": "Rev", "group": "ops", "access": "NONE"}]
    assert (
        secured.put("/api/models/small/security/elements/Account", json=grants).status_code == 200
    )
    assert "Rev" not in rows(secured.post(f"{PNL}/view", json=VIEW, headers=me).json())
    entries = secured.get("/api/admin/audit", params={"action": "security.elements"}).json()
    latest = entries[0]
    assert latest["actor_name"] == "admin" and latest["target"] == "small/Account"
    assert {"dimension": "Account", "element": "Rev", "group": "ops", "access": "NONE"} in (
        latest["after"]
    )
    assert all(g["element"] != "Rev" for g in latest["before"])


def test_cube_security_caps_and_hides_cubes(secured: Any) -> None:
    me = ops(secured)
    heads = {"name": "Heads", "dimensions": ["Version", "Month"]}
    assert secured.post("/api/models/small/cubes", json=heads).status_code == 201
    assert secured.post("/api/admin/groups", json={"name": "hr"}).status_code == 201
    r = secured.put(
        "/api/models/small/security/cubes/PnL", json=[{"group": "ops", "access": "READ"}]
    )
    assert r.status_code == 200, r.text
    r = secured.put(
        "/api/models/small/security/cubes/Heads", json=[{"group": "hr", "access": "WRITE"}]
    )
    assert r.status_code == 200, r.text
    # PnL: read, never written, whatever element security gives (Rent is WRITE there)
    mine = secured.post(f"{PNL}/view", json=VIEW, headers=me).json()
    assert not any(f & 2 for row in mine["flags"] for f in row)
    error(write(secured, [(RENT, 1.0)], user="ops-planner"), 403, "write_forbidden")
    # Heads: not there for ops
    cubes = [c["name"] for c in secured.get("/api/models/small/cubes", headers=me).json()]
    assert cubes == ["PnL"]
    assert secured.get("/api/models/small", headers=me).json()["cubes"] == ["PnL"]
    modeler = ops(secured, "modeler")
    exported = secured.get("/api/models/small/export", params={"format": "json"}, headers=modeler)
    assert [c["name"] for c in exported.json()["cubes"]] == ["PnL"]
    spec = {
        "rows": [{"dimension": "Month", "members": "Jan"}],
        "columns": [{"dimension": "Version", "members": "Actual"}],
    }
    r = secured.post("/api/models/small/cubes/Heads/view", json=spec, headers=me)
    error(r, 404, "cube_not_found")
    with secured.websocket_connect("/api/models/small/feed", headers=me) as ws:
        ws.send_json({"op": "subscribe", "id": "h", "cube": "Heads", "view": spec})
        assert ws.receive_json()["error"]["code"] == "cube_not_found"
    # opened again: Rent is ops' to write once more
    assert secured.put("/api/models/small/security/cubes/PnL", json=[]).status_code == 200
    assert write(secured, [(RENT, 1.0)], user="ops-planner").status_code == 200
    listed = secured.get("/api/models/small/security/cubes").json()
    assert listed == [{"cube": "Heads", "group": "hr", "access": "WRITE"}]


def test_a_feed_ends_when_its_token_is_revoked(secured: Any, monkeypatch: Any) -> None:
    from starlette.websockets import WebSocketDisconnect

    monkeypatch.setenv("PLANCUBE_FEED_SIGNIN_RECHECK_S", "0.2")
    made = secured.post("/api/auth/tokens", json={"name": "feed"}).json()
    with secured.websocket_connect(
        "/api/models/small/feed", headers={"Authorization": f"Bearer {made['token']}"}
    ) as ws:
        ws.send_json({"op": "subscribe", "id": "v", "cube": "PnL", "view": VIEW})
        assert ws.receive_json()["type"] == "snapshot"
        assert secured.delete(f"/api/auth/tokens/{made['id']}").status_code == 204
        err = ws.receive_json()
        assert err["type"] == "error" and err["error"]["code"] == "sign_in_required"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008
