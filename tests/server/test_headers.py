"""Every answer carries the security headers; CORS is closed unless origins are configured
(``server.headers``, ``server.app``)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from server.app import create_app
from server.security import Security
from tests.signin import signed_in

PREFLIGHT = {"origin": "https://addin.example", "access-control-request-method": "POST"}


def test_the_grid_the_api_and_the_docs_carry_the_headers(tmp_path: Path) -> None:
    with TestClient(
        create_app(tmp_path / "s.duckdb", security=Security(allowed_hosts=("testserver",)))
    ) as c:
        for path in ("/", "/api/health", "/api/models/none", "/docs", "/openapi.json"):
            r = c.get(path)
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["referrer-policy"] == "no-referrer", path
            assert r.headers["x-frame-options"] == "DENY", path
            assert r.headers["content-security-policy"].endswith("frame-ancestors 'none'"), path
        grid = c.get("/").headers["content-security-policy"]
        assert "script-src 'self';" in grid and "unsafe-eval" not in grid
        docs = c.get("/docs").headers["content-security-policy"]  # its own, still
        assert docs.startswith("default-src 'self' 'unsafe-inline' data: blob:;")


def test_framing_is_allowed_only_to_those_configured(tmp_path: Path) -> None:
    office = ("'self'", "https://*.officeapps.live.com")
    security = Security(allowed_hosts=("testserver",), frame_ancestors=office)
    with signed_in(create_app(tmp_path / "f.duckdb", security=security)) as c:
        r = c.get("/")
        assert r.headers["content-security-policy"].endswith(
            "frame-ancestors 'self' https://*.officeapps.live.com"
        )
        assert "x-frame-options" not in r.headers


def test_cors_is_closed_by_default_and_opens_to_configured_origins(tmp_path: Path) -> None:
    with TestClient(
        create_app(tmp_path / "c.duckdb", security=Security(allowed_hosts=("testserver",)))
    ) as c:
        r = c.options("/api/models", headers=PREFLIGHT)
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-origin" not in c.get("/api/models", headers=PREFLIGHT).headers
    security = Security(allowed_hosts=("testserver",), allowed_origins=("https://addin.example",))
    with signed_in(create_app(tmp_path / "c.duckdb", security=security)) as c:
        r = c.options(
            "/api/models", headers={**PREFLIGHT, "access-control-request-headers": "content-type"}
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://addin.example"
        r = c.post("/api/models", json={"name": "m"}, headers={"origin": "https://addin.example"})
        assert r.status_code == 201 and r.headers["access-control-allow-origin"]
