"""The OpenAPI document says what each operation can answer; 405 and 413 answer as HTTP asks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from tests.server.helpers import error
from tests.signin import signed_in

ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def small_body_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("PLANCUBE_MAX_BODY_BYTES", "2000")
    with signed_in(create_app(tmp_path / "limits.duckdb")) as c:
        yield c


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def test_every_operation_documents_its_errors_in_the_one_shape(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["components"]["schemas"]["Error"]["properties"]) == {"error"}
    assert "HTTPValidationError" not in str(spec["paths"])  # plancube never sends that shape
    checked = 0
    for path, method, op in _operations(spec):
        if not path.startswith("/api/"):
            continue
        responses = op["responses"]
        expected = {"422"} if op.get("parameters") or op.get("requestBody") else set()
        if "{model}" in path or method in {"post", "put", "patch"}:
            expected |= {"400", "404", "409"}
        if method in {"post", "put", "patch"}:
            expected.add("413")
        assert expected <= set(responses), (method, path, sorted(responses))
        for status in expected:
            assert responses[status]["content"]["application/json"]["schema"] == ERROR
            assert responses[status]["description"]
        checked += 1
    assert checked > 30


def test_a_405_names_every_method_the_path_allows(client: Any) -> None:
    r = client.put("/api/models")
    err = error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, POST" and err["message"]
    r = client.patch("/api/models/demo/cubes/PnL/cells")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_a_body_past_the_limit_is_refused_before_it_is_read(small_body_client: Any) -> None:
    big = {"name": "x", "description": "a" * 3000}
    err = error(small_body_client.post("/api/models", json=big), 413, "body_too_large")
    assert err["details"] == {"limit": 2000, "setting": "PLANCUBE_MAX_BODY_BYTES"}
    assert "2,000 bytes" in err["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "y", "description": "'
        for _ in range(10):
            yield b"b" * 500
        yield b'"}'

    r = small_body_client.post(
        "/api/models/import", content=chunks(), headers={"content-type": "application/json"}
    )
    error(r, 413, "body_too_large")
    assert small_body_client.get("/api/models").json() == []
    assert small_body_client.post("/api/models", json={"name": "z"}).status_code == 201
