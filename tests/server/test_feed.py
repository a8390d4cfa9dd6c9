"""The live feed: a second client sees the first one's edit and the recomputed totals."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.helpers import VIEW, load_small, write

JAN = ["Actual", "Rev", "Jan", "Amount"]


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client, [[*JAN, 100.0], ["Actual", "Rent", "Jan", "Amount", 10.0]])
    return client


def row_col(view: dict[str, Any], row: str, col: str) -> tuple[int, int]:
    r = next(i for i, h in enumerate(view["rows"]) if h["elements"][-1] == row)
    c = next(i for i, h in enumerate(view["columns"]) if h["elements"][-1] == col)
    return r, c


def test_feed_pushes_written_cell_and_recomputed_totals(small: Any) -> None:
    with small.websocket_connect("/api/models/small/feed") as ws:
        ws.send_json({"op": "subscribe", "id": "v1", "cube": "PnL", "view": VIEW})
        snap = ws.receive_json()
        assert snap["type"] == "snapshot" and snap["id"] == "v1"
        view = snap["view"]
        net_row, jan_col = row_col(view, "Net", "Jan")
        rev_row, q1_col = row_col(view, "Rev", "Q1")
        assert view["values"][net_row][jan_col] == 90.0
        write(small, [(JAN, 150.0)], user="bob")
        msg = ws.receive_json()
        assert msg["type"] == "cells" and msg["commit"]["author"] == "bob"
        got = {(c["row"], c["col"]): c["value"] for c in msg["cells"]}
        assert got[(net_row, jan_col)] == 140.0
        assert got[(rev_row, q1_col)] == 150.0
        assert got[(rev_row, jan_col)] == 150.0
        rent_row, _ = row_col(view, "Rent", "Jan")
        assert (rent_row, jan_col) not in got  # unchanged cells are not sent


def test_feed_ignores_other_cubes_and_reports_bad_requests(small: Any) -> None:
    with small.websocket_connect("/api/models/small/feed") as ws:
        ws.send_json({"op": "subscribe", "id": "bad", "cube": "Nope", "view": VIEW})
        err = ws.receive_json()
        assert err["type"] == "error" and err["error"]["code"] == "cube_not_found"
        ws.send_text("not json")
        assert ws.receive_json()["error"]["code"] == "invalid"
        ws.send_json({"op": "dance"})
        assert "unknown op" in ws.receive_json()["error"]["message"]
        spec = {**VIEW, "filters": {"Version": "Budget", "Measure": "Amount"}}
        ws.send_json({"op": "subscribe", "id": "budget", "cube": "PnL", "view": spec})
        assert ws.receive_json()["type"] == "snapshot"
        write(small, [(JAN, 1.0)])  # Actual: nothing in the Budget view changes
        write(small, [(["Budget", "Rev", "Jan", "Amount"], 7.0)])
        msg = ws.receive_json()
        assert msg["type"] == "cells" and msg["id"] == "budget"
        assert 7.0 in {c["value"] for c in msg["cells"]}


def test_feed_for_unknown_model_closes(small: Any) -> None:
    with small.websocket_connect("/api/models/none/feed") as ws:
        msg = ws.receive_json()
        assert msg["error"]["code"] == "model_not_found"
