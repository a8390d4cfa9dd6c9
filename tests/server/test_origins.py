"""Only the server's own pages, and those configured, may change things or open the live feed
(``server.origins``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.origins import origin_allowed
from server.security import Security
from tests.server.helpers import VIEW, error, load_small
from tests.signin import signed_in

FEED = "/api/models/small/feed"
SUBSCRIBE = {"op": "subscribe", "id": "v", "cube": "PnL", "view": VIEW}


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    security = Security(allowed_hosts=("testserver",), allowed_origins=("https://addin.example",))
    with signed_in(create_app(tmp_path / "o.duckdb", security=security)) as c:
        load_small(c, [["Actual", "Rev", "Jan", "Amount", 7.0]])
        yield c


def test_a_foreign_page_cannot_open_the_feed(small: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        small.websocket_connect(FEED, headers={"origin": "https://evil.example"}) as ws,
    ):
        ws.send_json(SUBSCRIBE)
        ws.receive_json()  # the snapshot: the whole view, had the socket been accepted
    assert refused.value.code == 1008


@pytest.mark.parametrize(
    "origin", [None, "http://testserver", "https://addin.example", "https://ADDIN.example:443"]
)
def test_the_own_page_a_configured_one_and_a_script_open_the_feed(
    small: TestClient, origin: str | None
) -> None:
    headers = {"origin": origin} if origin else {}
    with small.websocket_connect(FEED, headers=headers) as ws:
        ws.send_json(SUBSCRIBE)
        assert ws.receive_json()["type"] == "snapshot"


def test_a_foreign_page_cannot_change_anything(small: TestClient) -> None:
    evil = {"origin": "https://evil.example"}
    r = small.delete("/api/models/small", headers=evil)
    err = error(r, 403, "origin_not_allowed")
    assert err["details"] == {
        "origin": "https://evil.example",
        "setting": "PLANCUBE_ALLOWED_ORIGINS",
    }
    r = small.post("/api/models/small/commits/1/revert", headers=evil)  # no body: no type to check
    error(r, 403, "origin_not_allowed")
    assert small.get("/api/models/small", headers=evil).json()["head"] == 1  # reads: CORS's job
    r = small.post("/api/models/small/commits/1/revert", headers={"origin": "http://testserver"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://127.0.0.1:8001", "127.0.0.1:8000", False),
        ("http://localhost:8000", "127.0.0.1:8000", False),  # another origin, same machine
        ("https://plan.example.com", "plan.example.com", True),  # behind a proxy
        ("https://plan.example.com", "plan.example.com:8443", False),
        ("http://[::1]:8000", "[::1]:8000", True),
        ("null", "127.0.0.1:8000", False),
        ("https://addin.example", "127.0.0.1:8000", True),
    ],
)
def test_origin_table(origin: str, host: str, allowed: bool) -> None:
    assert origin_allowed(origin, host, ["https://addin.example"]) is allowed
