"""The server answers only to its own names (``server.hosts``): DNS rebinding is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.hosts import host_allowed
from server.security import Security
from tests.server.helpers import error
from tests.signin import signed_in


def test_a_rebound_name_is_refused_in_the_error_shape(tmp_path: Path) -> None:
    security = Security(public_url="https://plan.example.com")
    with signed_in(create_app(tmp_path / "h.duckdb", security=security)) as c:
        for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "plan.example.com"):
            assert c.get("/api/health", headers={"host": host}).status_code == 200, host
        r = c.get("/api/models", headers={"host": "evil.example:8000"})
        err = error(r, 400, "host_not_allowed")
        assert err["details"] == {"host": "evil.example", "setting": "PLANCUBE_ALLOWED_HOSTS"}
        assert r.headers["x-content-type-options"] == "nosniff"
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            c.websocket_connect("/api/models/x/feed", headers={"host": "evil.example"}),
        ):
            pass
        assert refused.value.code == 1008


@pytest.mark.parametrize(
    ("host", "names", "allowed"),
    [
        ("Plan.Example.com:443", ["plan.example.com"], True),
        ("a.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("evilexample.com", ["*.example.com"], False),
        ("anything", ["*"], True),
        ("", ["localhost"], False),
        ("localhost:x", ["localhost"], False),
    ],
)
def test_host_table(host: str, names: list[str], allowed: bool) -> None:
    assert host_allowed(host, names) is allowed
