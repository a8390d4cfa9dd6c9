"""SQL views over the store: one per cube, plain SQL on DuckDB and PostgreSQL, kept in step
with the cubes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from server.cli import main
from server.modeldef import CubeDef, DimensionDef, ElementDef
from server.storage import open_store
from tests.server.helpers import load_small


def sql(client: Any, query: str) -> list[tuple[Any, ...]]:
    store = client.app.state.workspace.store
    with store._transaction() as cur:
        cur.execute(query)
        return [tuple(r) for r in cur.fetchall()]


def test_a_cube_has_a_view_with_a_column_per_dimension(client: Any) -> None:
    load_small(
        client,
        [
            ["Actual", "Rev", "Jan", "Amount", 500.0],
            ["Actual", "Rent", "Feb", "Amount", -20.0],
            ["Actual", "Rent", "Jan", "Note", "it's 'quoted'"],
        ],
    )
    rows = sql(
        client,
        'SELECT "Version", "Account", "Month", "Measure", num, txt FROM "small.PnL" '
        'ORDER BY "Account", "Month", "Measure"',
    )
    assert rows == [
        ("Actual", "Rent", "Feb", "Amount", -20.0, None),
        ("Actual", "Rent", "Jan", "Note", None, "it's 'quoted'"),
        ("Actual", "Rev", "Jan", "Amount", 500.0, None),
    ]
    total = sql(client, 'SELECT SUM(num) FROM "small.PnL" WHERE "Measure" = \'Amount\'')
    assert total == [(480.0,)]


def test_the_views_follow_the_cubes(client: Any) -> None:
    load_small(client, [["Actual", "Rev", "Jan", "Amount", 1.0]])
    cube = {"name": 'Odd ? "cube"', "dimensions": ["Account", "Month"]}
    assert client.post("/api/models/small/cubes", json=cube).status_code == 201
    assert sql(client, 'SELECT COUNT(*) FROM "small.Odd ? ""cube"""') == [(0,)]
    assert (
        client.delete(f"/api/models/small/cubes/{quote(cube['name'], safe='')}").status_code == 204
    )
    names = sql(client, "SELECT table_name FROM information_schema.views")
    assert ('small.Odd ? "cube"',) not in names and ("small.PnL",) in names
    store = client.app.state.workspace.store
    assert store.refresh_sql_views() == ["small.PnL"]
    assert client.delete("/api/models/small").status_code == 204
    assert ("small.PnL",) not in sql(client, "SELECT table_name FROM information_schema.views")


def test_the_cli_creates_every_view_again(tmp_path: Any, capsys: Any) -> None:
    db = tmp_path / "p.duckdb"
    store = open_store(db)
    store.create_model("m", "")
    store.save_dimension("m", DimensionDef(name="D", elements=[ElementDef(name="a")]))
    store.save_cube("m", CubeDef(name="C", dimensions=["D"]))
    with store._transaction() as cur:
        cur.execute('DROP VIEW "m.C"')
    store.close()
    assert main(["sql-views", "--db", str(db)]) == 0
    assert capsys.readouterr().out.split() == ["m.C"]
    store = open_store(db)
    with store._transaction() as cur:
        assert cur.execute('SELECT COUNT(*) FROM "m.C"').fetchall() == [(0,)]
    store.close()
