"""The SQL connector: a table in the machine's PostgreSQL (its own schema in database test,
dropped after) and in SQLite and DuckDB files, pulled in batches, incrementally, into the cube
on both stores."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pytest

from connectors import PullFailed, sql
from tests.server.helpers import load_small
from tests.server.test_connectors_rest import CONNECTORS, run, stored

ROWS = [
    ("Rev", "Jan", 100, "2026-11-01 08:00:00"),
    ("Rev", "Feb", 110, "2026-11-02 08:00:00"),
    ("Rent", "Jan", 30, "2026-11-03 08:00:00"),
]


@pytest.fixture
def pg_source(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(URL, table) of a source table in a schema of its own."""
    schema = f"src_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(
            f"CREATE TABLE {schema}.actuals (id serial PRIMARY KEY, account text, month text, "
            "amount numeric(12, 2), updated_at timestamp)"
        )
        for r in ROWS:
            conn.execute(
                f"INSERT INTO {schema}.actuals (account, month, amount, updated_at) "
                "VALUES (%s, %s, %s, %s)",
                r,
            )
    try:
        yield postgres_url, f"{schema}.actuals"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def query(table: str) -> str:
    return (
        f'SELECT account AS "Account", month AS "Month", amount AS value, updated_at '
        f"FROM {table} WHERE CAST(:watermark AS timestamp) IS NULL "
        "OR updated_at > CAST(:watermark AS timestamp) ORDER BY updated_at"
    )


def pulled(cfg: dict[str, Any], watermark: Any = None) -> tuple[pa.Table, Any, int]:
    p = sql.pull(sql.SqlConfig.model_validate(cfg), {}, watermark)
    batches = list(p.batches)
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    return table, p.watermark(), len(batches)


@pytest.mark.postgres
def test_a_postgres_query_in_batches_and_incrementally(pg_source: tuple[str, str]) -> None:
    url, table = pg_source
    cfg = {"url": url, "query": query(table), "watermark": "updated_at", "batch_rows": 2}
    t, mark, batches = pulled(cfg)
    assert t.column("Account").to_pylist() == ["Rev", "Rev", "Rent"] and batches == 2
    assert mark == "2026-11-03T08:00:00"
    t, again, _ = pulled(cfg, mark)
    assert t.num_rows == 0 and again == mark
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {table} (account, month, amount, updated_at) "
            "VALUES ('Travel', 'Mar', 7, '2026-11-04 09:30:00')"
        )
    t, mark, _ = pulled(cfg, mark)
    assert t.column("Account").to_pylist() == ["Travel"] and mark == "2026-11-04T09:30:00"


@pytest.mark.postgres
def test_the_query_is_read_only_on_postgres(pg_source: tuple[str, str]) -> None:
    url, table = pg_source
    # a SELECT that would change something (a sequence) is refused by the read-only transaction
    cfg = {"url": url, "query": f"SELECT nextval('{table}_id_seq') AS n"}
    with pytest.raises(PullFailed, match="read-only transaction"):
        pulled(cfg)
    with psycopg.connect(url) as conn:
        assert conn.execute(f"SELECT last_value FROM {table}_id_seq").fetchone() == (3,)
    with pytest.raises(PullFailed):  # and no DELETE gets through the server-side cursor
        pulled({"url": url, "query": f"DELETE FROM {table} RETURNING account"})
    with psycopg.connect(url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (3,)


def test_sqlite_and_duckdb_files(tmp_path: Path) -> None:
    lite = tmp_path / "src.db"
    with sqlite3.connect(lite) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, account TEXT, amount REAL)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(1, "Rev", 1.5), (2, "Rent", 2)])
    q = "SELECT * FROM t WHERE id > :watermark ORDER BY id"
    cfg = {"url": f"sqlite:///{lite}", "query": q, "watermark": "id", "initial_watermark": 0}
    t, mark, _ = pulled(cfg)
    assert t.column("id").to_pylist() == [1, 2] and t.column("id").type == pa.int64()
    assert mark == 2
    assert pulled(cfg, 1)[0].column("account").to_pylist() == ["Rent"]
    duck = tmp_path / "src.duckdb"
    with duckdb.connect(str(duck)) as conn:
        conn.execute(
            "CREATE TABLE t AS SELECT * FROM (VALUES (1, 'Rev', 1.5), (2, 'Rent', 2.0)) "
            "v(id, account, amount)"
        )
    t, mark, _ = pulled({**cfg, "url": f"duckdb:///{duck}"})
    assert t.column("account").to_pylist() == ["Rev", "Rent"] and mark == 2


def test_a_bad_query_fails_the_pull_naming_the_problem(tmp_path: Path) -> None:
    cfg = {"url": f"sqlite:///{tmp_path / 'empty.db'}", "query": "SELECT * FROM nowhere"}
    with pytest.raises(PullFailed, match="no such table: nowhere"):
        pulled(cfg)
    cfg = {"url": f"sqlite:///{tmp_path / 'empty.db'}", "query": "SELECT 1 AS a", "watermark": "b"}
    with pytest.raises(PullFailed, match="no column 'b'"):
        pulled(cfg)


def test_a_config_needs_one_url() -> None:
    with pytest.raises(ValueError, match="either url or url_secret"):
        sql.SqlConfig.model_validate({"query": "SELECT 1"})
    with pytest.raises(ValueError, match="SQLAlchemy URL"):
        sql.SqlConfig.model_validate({"url": "not a url", "query": "SELECT 1"})


# -- through the API, into the cube on both stores -----------------------------------------

LOAD = {"constants": {"Version": "Actual", "Measure": "Amount"}}


@pytest.mark.postgres
def test_a_sql_connector_loads_the_cube_then_only_what_is_new(
    client: Any, pg_source: tuple[str, str]
) -> None:
    url, table = pg_source
    load_small(client)
    body = {
        "name": "ledger",
        "type": "sql",
        "config": {"url": url, "query": query(table), "watermark": "updated_at"},
        "cube": "PnL",
        "load": LOAD,
    }
    r = client.post(CONNECTORS, json=body)
    assert r.status_code == 201, r.text
    first = run(client, "ledger")
    assert first["status"] == "succeeded", first["error"]
    assert (first["rows"], first["cells"], first["watermark_after"]) == (
        3,
        3,
        "2026-11-03T08:00:00",
    )
    assert stored(client) == {
        "Actual/Rev/Jan/Amount": 100,
        "Actual/Rev/Feb/Amount": 110,
        "Actual/Rent/Jan/Amount": 30,
    }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"UPDATE {table} SET amount = 111, updated_at = '2026-11-05' WHERE month = 'Feb'"
        )
    second = run(client, "ledger")
    assert (second["status"], second["rows"], second["watermark_after"]) == (
        "succeeded",
        1,
        "2026-11-05T00:00:00",
    ), second
    assert stored(client)["Actual/Rev/Feb/Amount"] == 111
    third = run(client, "ledger")
    assert (third["status"], third["rows"], third["commit"]) == ("succeeded", 0, None), third[
        "error"
    ]
