"""The live feed: a second client sees the first one's edit and the recomputed totals."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.services import views
from tests.server.helpers import VIEW, load_small, view, write
from tests.signin import admin_headers, signed_in

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


def receive(ws: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The socket's next message, or a failure instead of a test that hangs."""
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.append(ws.receive_json()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert got, f"no feed message within {timeout} s"
    message: dict[str, Any] = got[0]
    return message


class Grid:
    """A subscriber's copy of its view, kept as the grid keeps it: snapshot, then cells."""

    def __init__(self, ws: Any, spec: dict[str, Any], sid: str = "v") -> None:
        self.ws, self.commit, self.commits = ws, 0, []  # type: list[int]
        ws.send_json({"op": "subscribe", "id": sid, "cube": "PnL", "view": spec})

    def take(self, message: dict[str, Any]) -> None:
        if message["type"] == "snapshot":
            self.values = message["view"]["values"]
            self.commit = max(self.commit, message["view"]["commit"])
            return
        assert message["type"] == "cells", message
        self.commits.append(message["commit"]["id"])
        assert message["commit"]["id"] >= self.commit  # in commit order
        self.commit = message["commit"]["id"]
        for c in message["cells"]:
            self.values[c["row"]][c["col"]] = c["value"]

    def until(self, commit: int) -> None:
        while self.commit < commit:
            self.take(receive(self.ws))


BUDGET_VIEW = {**VIEW, "filters": {"Version": "Budget", "Measure": "Amount"}}
BUDGET_JAN = ["Budget", "Rev", "Jan", "Amount"]


def test_every_subscriber_of_every_view_gets_every_change(small: Any) -> None:
    with contextlib.ExitStack() as stack:
        grids = [
            Grid(stack.enter_context(small.websocket_connect("/api/models/small/feed")), spec)
            for spec in [VIEW, VIEW, VIEW, BUDGET_VIEW, BUDGET_VIEW]
        ]
        for g in grids:
            g.take(receive(g.ws))
        heads = [
            write(small, cells, user=user).json()["head"]
            for cells, user in [
                ([(JAN, 1.0)], "ann"),
                ([(BUDGET_JAN, 2.0), (["Actual", "Rent", "Feb", "Amount"], 3.0)], "bob"),
                ([(["Budget", "Salaries", "Mar", "Amount"], 4.0)], "cat"),
                ([(JAN, 5.0), (BUDGET_JAN, 6.0)], "ann"),  # both views: the last message
            ]
        ]
        for g in grids:
            g.until(heads[-1])
        actual, budget = view(small)["values"], view(small, BUDGET_VIEW)["values"]
        assert [g.values for g in grids] == [actual] * 3 + [budget] * 2
        assert grids[0].commits[-1] == grids[3].commits[-1] == heads[-1]


def test_each_distinct_view_is_read_once_per_commit(small: Any, monkeypatch: Any) -> None:
    """Before: every subscriber re-read its own view after every commit."""
    reads: list[int] = []
    real = views.values
    monkeypatch.setattr(views, "values", lambda *a: reads.append(1) or real(*a))
    with contextlib.ExitStack() as stack:
        grids = [
            Grid(stack.enter_context(small.websocket_connect("/api/models/small/feed")), spec)
            for spec in [VIEW] * 4 + [BUDGET_VIEW] * 3
        ]
        for g in grids:
            g.take(receive(g.ws))
        reads.clear()
        head = write(small, [(JAN, 150.0), (BUDGET_JAN, 7.0)]).json()["head"]
        for g in grids:
            g.until(head)
        assert len(reads) == 2
        net, jan = row_col(view(small), "Net", "Jan")
        assert [g.values[net][jan] for g in grids] == [140.0] * 4 + [7.0] * 3


def test_a_feed_stuck_reading_views_never_holds_up_a_write(small: Any, monkeypatch: Any) -> None:
    """Before: each subscriber re-read its view in the request thread pool after a commit, so
    40 slow reads left no thread to answer the next write. Now writes only announce commits."""
    gate, stuck = threading.Event(), threading.Event()
    real = views.values

    def slow(*args: Any) -> Any:
        if stuck.is_set():
            gate.wait(60)
        return real(*args)

    monkeypatch.setattr(views, "values", slow)
    with contextlib.ExitStack() as stack:
        grids = [
            Grid(stack.enter_context(small.websocket_connect("/api/models/small/feed")), VIEW)
            for _ in range(45)
        ]
        for g in grids:
            g.take(receive(g.ws))
        stuck.set()
        answers: list[int] = []
        try:
            writer = threading.Thread(
                target=lambda: answers.extend(
                    write(small, [(JAN, v)]).status_code for v in (1.0, 2.0, 3.0)
                ),
                daemon=True,
            )
            writer.start()
            writer.join(30)
            assert answers == [200, 200, 200]
        finally:
            gate.set()
        head = view(small)["commit"]
        net, jan = row_col(view(small), "Net", "Jan")
        for g in grids:
            g.until(head)
            assert g.values[net][jan] == -7.0  # 3 - 10 rent


ITEMS = [f"i{k:03d}" for k in range(300)]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
WIDE_MODEL = {
    "name": "wide",
    "dimensions": [
        {"name": "Item", "elements": [{"name": "Total", "children": ITEMS}, *ITEMS]},
        {"name": "Month", "elements": [{"name": "Year", "children": MONTHS}, *MONTHS]},
    ],
    "cubes": [{"name": "Plan", "dimensions": ["Item", "Month"]}],
}
WIDE_VIEW = {
    "rows": [{"dimension": "Item", "members": "descendants(Total)"}],
    "columns": [{"dimension": "Month", "members": "descendants(Year)"}],
}


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """The app behind a real uvicorn on a real socket, with small kernel send buffers."""
    import socket

    import uvicorn

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)  # accepted sockets inherit it
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            time.sleep(0.01)
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()


class RawSubscriber:
    """A feed client on a plain socket with a tiny receive buffer that reads only when asked:
    while it does not, the server's sends to it block once a message or two is in flight."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        import socket

        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        uri = parse_uri(url)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((uri.host, uri.port))
        self.sock.settimeout(3)
        self.protocol = ClientProtocol(uri, max_size=None)
        request = self.protocol.connect()
        for name, value in headers.items():
            request.headers[name] = value
        self.protocol.send_request(request)
        self._flush()
        while self.protocol.state.name == "CONNECTING":
            self.protocol.receive_data(self.sock.recv(65536))
        self.protocol.events_received()  # the handshake response

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            self.sock.sendall(data)

    def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()

    def read_all(self) -> list[dict[str, Any]]:
        """Every message until the server has been quiet for the socket's timeout."""
        got: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            while True:
                self.protocol.receive_data(self.sock.recv(65536))
                got += [json.loads(f.data) for f in self.protocol.events_received()]
        return got


def test_a_stuck_subscriber_holds_up_nobody_and_gets_a_fresh_snapshot(tmp_path: Path) -> None:
    """One socket stops reading: writes and the other subscriber go on; the stuck one's queue
    stays bounded (it loses messages) and, reading again, it gets a snapshot of the present."""
    import httpx
    from websockets.sync.client import connect

    from server.app import create_app

    db = str(tmp_path / "wide.duckdb")
    admin = admin_headers(db)
    app = create_app(db)
    with (
        served(app) as host,
        httpx.Client(base_url=f"http://{host}", timeout=60, headers=admin) as http,
    ):
        assert http.post("/api/models/import", json=WIDE_MODEL).status_code == 201
        app.state.workspace.feed.limit = 2  # messages queued per socket before a resnapshot
        url = f"ws://{host}/api/models/wide/feed"
        subscribe = {"op": "subscribe", "id": "w", "cube": "Plan", "view": WIDE_VIEW}
        stuck = RawSubscriber(url, admin)
        stuck.send(subscribe)
        with connect(
            url, compression=None, proxy=None, ping_interval=None, additional_headers=admin
        ) as healthy:
            healthy.send(json.dumps(subscribe))
            grid = json.loads(healthy.recv(timeout=30))["view"]["values"]
            for value in range(1, 11):  # every cell of the view changes: ~100 KB a message
                cells = [{"elements": [i, m], "value": value} for i in ITEMS for m in MONTHS]
                r = http.post("/api/models/wide/cubes/Plan/cells", json={"cells": cells})
                assert r.status_code == 200, r.text
                msg = json.loads(healthy.recv(timeout=30))
                assert msg["type"] == "cells" and msg["commit"]["id"] == r.json()["head"]
                for c in msg["cells"]:
                    grid[c["row"]][c["col"]] = c["value"]
            fresh = http.post("/api/models/wide/cubes/Plan/view", json=WIDE_VIEW).json()
            assert grid == fresh["values"] and grid[0][0] == 10 * 300 * 12
        got = stuck.read_all()
        stuck.sock.close()
    kinds = [m["type"] for m in got]
    assert kinds[0] == "snapshot" and "snapshot" in kinds[1:], kinds  # resnapshotted
    assert len(got) < 11  # it was not sent every message it missed
    last = kinds[::-1].index("snapshot")
    stuck_grid = got[-1 - last]["view"]["values"]
    for m in got[len(got) - last :]:
        for c in m["cells"]:
            stuck_grid[c["row"]][c["col"]] = c["value"]
    assert stuck_grid == fresh["values"]


def test_a_view_as_of_a_commit_gets_its_snapshot_and_no_changes(small: Any) -> None:
    base = view(small)["commit"]
    write(small, [(JAN, 120.0)])
    with small.websocket_connect("/api/models/small/feed") as ws:
        old = Grid(ws, {**VIEW, "as_of": base}, sid="old")
        old.take(receive(ws))
        now = Grid(ws, VIEW, sid="now")
        now.take(receive(ws))
        net, jan = row_col(view(small), "Net", "Jan")
        assert (old.values[net][jan], now.values[net][jan]) == (90.0, 110.0)
        head = write(small, [(JAN, 130.0)]).json()["head"]
        msg = receive(ws)
        assert (msg["id"], msg["type"], msg["commit"]["id"]) == ("now", "cells", head)


@contextlib.contextmanager
def feed_with(monkeypatch: Any, store_url: str, **settings: str) -> Iterator[Any]:
    """A client of an app started with these settings in the environment, the small model in it."""

    from server.app import create_app

    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with signed_in(create_app(store_url)) as c:
        load_small(c)
        yield c


def test_a_socket_watches_at_most_20_views(client: Any) -> None:
    load_small(client)
    with client.websocket_connect("/api/models/small/feed") as ws:
        for i in range(20):
            ws.send_json({"op": "subscribe", "id": f"v{i}", "cube": "PnL", "view": VIEW})
            assert receive(ws)["type"] == "snapshot"
        ws.send_json({"op": "subscribe", "id": "one more", "cube": "PnL", "view": VIEW})
        err = receive(ws)
        assert err["type"] == "error" and err["id"] == "one more"
        assert err["error"]["code"] == "feed_limit"
        assert err["error"]["details"] == {
            "subscriptions": 20,
            "limit": 20,
            "setting": "PLANCUBE_MAX_SUBSCRIPTIONS",
        }
        assert "PLANCUBE_MAX_SUBSCRIPTIONS" in err["error"]["message"]
        ws.send_json({"op": "subscribe", "id": "v3", "cube": "PnL", "view": VIEW})  # replaces v3
        assert receive(ws)["id"] == "v3"
        ws.send_json({"op": "unsubscribe", "id": "v0"})
        ws.send_json({"op": "subscribe", "id": "one more", "cube": "PnL", "view": VIEW})
        assert receive(ws) | {"view": None} == {"type": "snapshot", "id": "one more", "view": None}


def test_a_socket_watches_at_most_its_cells(monkeypatch: Any, store_url: str) -> None:
    with (
        feed_with(monkeypatch, store_url, PLANCUBE_MAX_FEED_CELLS="30") as c,
        c.websocket_connect("/api/models/small/feed") as ws,
    ):
        ws.send_json({"op": "subscribe", "id": "a", "cube": "PnL", "view": VIEW})
        first = receive(ws)
        cells = sum(len(row) for row in first["view"]["values"])
        assert first["type"] == "snapshot" and cells == 24
        ws.send_json({"op": "subscribe", "id": "b", "cube": "PnL", "view": VIEW})
        err = receive(ws)
        assert err["type"] == "error" and err["id"] == "b"
        assert err["error"]["code"] == "feed_limit"
        assert err["error"]["details"] == {
            "cells": 24,
            "held": 24,
            "limit": 30,
            "setting": "PLANCUBE_MAX_FEED_CELLS",
        }
        write(c, [(JAN, 5.0)])
        assert receive(ws)["id"] == "a"  # and nothing for b
        ws.send_json({"op": "unsubscribe", "id": "a"})
        ws.send_json({"op": "subscribe", "id": "b", "cube": "PnL", "view": VIEW})
        assert receive(ws)["type"] == "snapshot"
