"""The server serves the built grid at "/" without shadowing the API or its documentation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.web import DIST
from tests.signin import signed_in


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    with signed_in(create_app(str(tmp_path / "plancube.duckdb"))) as c:
        yield c


def test_the_grid_is_served_at_the_root(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert '<div id="grid">' in page.text
    assets = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        answer = client.get(f"/{asset}")
        assert answer.status_code == 200, asset
        assert answer.content == (DIST / asset).read_bytes()


def test_nothing_is_loaded_from_another_host() -> None:
    for path in DIST.rglob("*"):
        if path.suffix in (".html", ".css"):
            assert not re.search(r"(src|href)=\"(https?:)?//", path.read_text()), path
            assert "@import url(http" not in path.read_text(), path


def test_the_api_and_its_documentation_are_untouched(client: Any) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/" not in schema["paths"]
    assert client.get("/api/health").json()["status"] == "ok"
    missing = client.get("/api/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert client.get("/assets/nothing.js").status_code == 404
