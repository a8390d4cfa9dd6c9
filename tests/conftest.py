"""Shared fixtures: one store per backend, so the same tests vouch for DuckDB and PostgreSQL.

PostgreSQL comes from ``PLANCUBE_TEST_POSTGRES_URL`` when set (CI sets it); otherwise a throwaway
cluster is started when ``initdb`` is on PATH (and we are not root); otherwise the PostgreSQL
tests skip with the reason. With ``PLANCUBE_REQUIRE_ALL=1`` such a skip is a failure instead.
Each test gets its own schema (DuckDB: its own file), dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from server.launch import free_port

REQUIRE_ALL = os.environ.get("PLANCUBE_REQUIRE_ALL") == "1"
# Starlette's TestClient sends ``Host: testserver``: a name the apps of these tests answer to
# (server.hosts); tests of the host check build their settings themselves
os.environ["PLANCUBE_ALLOWED_HOSTS"] = " ".join(
    (os.environ.get("PLANCUBE_ALLOWED_HOSTS", ""), "testserver")
).strip()


def unavailable(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"PLANCUBE_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get("PLANCUBE_TEST_POSTGRES_URL")
    if url:
        try:
            psycopg.connect(url, connect_timeout=5).close()
        except psycopg.Error as exc:
            unavailable(f"PLANCUBE_TEST_POSTGRES_URL={url} does not connect: {exc}")
        yield url
        return
    if shutil.which("initdb") is None:
        unavailable("PostgreSQL tests need PLANCUBE_TEST_POSTGRES_URL or initdb on PATH")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        unavailable("initdb refuses to run as root; set PLANCUBE_TEST_POSTGRES_URL")
    base = Path(tempfile.mkdtemp(prefix="plancube-pg-"))
    port = free_port()
    subprocess.run(
        ["initdb", "-D", str(base / "data"), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "pg_ctl",
            "-D",
            str(base / "data"),
            "-l",
            str(base / "log"),
            "-w",
            "start",
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            ["pg_ctl", "-D", str(base / "data"), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh, private schema."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each kind."""
    if request.param == "duckdb":
        return str(tmp_path / "plancube.duckdb")
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def client(store_url: str) -> Iterator[Any]:
    from server.app import create_app
    from tests.signin import signed_in

    with signed_in(create_app(store_url)) as c:  # a server admin (tests.signin)
        yield c
