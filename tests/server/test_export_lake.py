"""``plancube export --parquet DIR --model M``: a model and its history as Parquet, read back with
pyarrow and DuckDB; history rows match the commits made; the manifest counts right. Both
stores."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from server.app import create_app
from server.cli import main
from tests.server.helpers import load_small, write
from tests.signin import signed_in

DATA = [
    ["Actual", "Rev", "Jan", "Amount", 500.0],
    ["Actual", "Rent", "Jan", "Amount", -20.0],
    ["Actual", "Rev", "Jan", "Note", "=risky text"],
]


@pytest.fixture
def planned(store_url: str) -> dict[str, Any]:
    """The small model, then three more commits by two planners; the server then stops."""
    with signed_in(create_app(store_url)) as c:
        load_small(c, DATA)
        steps = [
            ("ann", [(["Actual", "Rev", "Jan", "Amount"], 600.0)]),
            (
                "bob",
                [
                    (["Actual", "Rent", "Feb", "Amount"], 7.5),
                    (["Budget", "Rev", "Mar", "Amount"], 1.0),
                ],
            ),
            (
                "ann",
                [
                    (["Actual", "Rent", "Jan", "Amount"], None),
                    (["Actual", "Rev", "Jan", "Note"], "ok"),
                ],
            ),
        ]
        commits = []
        for user, cells in steps:
            r = write(c, cells, user=user)
            assert r.status_code == 200, r.text
            commits.append((r.json()["commit"], user, cells))
        head = c.get("/api/models/small").json()["head"]
    return {"db": store_url, "commits": commits, "head": head}


def test_a_model_and_its_history_round_trip(
    planned: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lake"
    assert main(["export", "--parquet", str(out), "--model", "small", "--db", planned["db"]]) == 0
    assert "wrote 7 files" in capsys.readouterr().out
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["model"] == "small" and manifest["head"] == planned["head"]
    assert manifest["plancube"]
    for f in manifest["files"]:  # every count is the file's
        assert pq.read_metadata(out / f["path"]).num_rows == f["rows"], f
    kinds = {(f["kind"], f.get("name")): f["path"] for f in manifest["files"]}
    assert set(kinds) == {
        ("commits", None),
        ("cells", "PnL"),
        ("history", "PnL"),
        *(("dimension", d) for d in ["Account", "Month", "Version", "Measure"]),
    }

    cells = pq.read_table(out / kinds[("cells", "PnL")]).to_pylist()
    assert {
        (x["Version"], x["Account"], x["Month"], x["Measure"]): (x["num"], x["txt"]) for x in cells
    } == {
        ("Actual", "Rev", "Jan", "Amount"): (600.0, None),
        ("Actual", "Rent", "Feb", "Amount"): (7.5, None),
        ("Budget", "Rev", "Mar", "Amount"): (1.0, None),
        ("Actual", "Rev", "Jan", "Note"): (None, "ok"),
    }  # the cleared cell is gone, text is kept as it is

    history = pq.read_table(out / kinds[("history", "PnL")]).to_pylist()
    load, *made = sorted({h["commit_id"] for h in history})
    assert len([h for h in history if h["commit_id"] == load]) == len(DATA)
    assert made == [commit["id"] for commit, _, _ in planned["commits"]]
    for commit, user, changes in planned["commits"]:
        rows = [h for h in history if h["commit_id"] == commit["id"]]
        assert {h["author"] for h in rows} == {user} and len(rows) == len(changes)
        assert {(h["source"], h["created_at"]) for h in rows} == {
            (commit["source"], commit["time"])
        }
        for elements, value in changes:
            (row,) = [
                h
                for h in rows
                if [h[d] for d in ["Version", "Account", "Month", "Measure"]] == elements
            ]
            assert (row["new_txt"] if isinstance(value, str) else row["new_num"]) == value
    (cleared,) = [h for h in history if h["commit_id"] == made[-1] and h["Account"] == "Rent"]
    assert (cleared["old_num"], cleared["new_num"], cleared["new_txt"]) == (-20.0, None, None)
    (first,) = [h for h in history if h["commit_id"] == made[0]]
    assert (first["old_num"], first["new_num"]) == (500.0, 600.0)

    commits = pq.read_table(out / "commits.parquet").to_pylist()
    assert [c["id"] for c in commits] == [load, *made]
    assert [c["author"] for c in commits[1:]] == ["ann", "bob", "ann"]
    assert [c["cells"] for c in commits[1:]] == [1, 2, 2]

    account = pq.read_table(out / "dimensions/Account.parquet").to_pylist()
    edges = {(a["element"], a["parent"]): (a["weight"], a["level"]) for a in account}
    assert edges[("Net", None)] == (None, 2) and edges[("Cost", "Net")] == (-1.0, 1)
    assert edges[("Salaries", "Cost")] == (1.0, 0) and ("Salaries", "Alt") in edges
    assert {a["element"]: a["Code"] for a in account}["Rev"] == "4000"

    # as docs/exports.md shows: DuckDB reads the files with plain SQL
    con = duckdb.connect()
    total = con.execute(
        f"SELECT sum(num) FROM '{out}/cubes/PnL.parquet' WHERE Measure = 'Amount'"
    ).fetchall()
    assert total == [(608.5,)]
    by_author = con.execute(
        f"SELECT author, count(*) FROM '{out}/history/*.parquet' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert dict(by_author)["ann"] == 3 and dict(by_author)["bob"] == 2


def test_an_unknown_model_is_an_error_naming_the_models_there(
    planned: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lake"
    assert main(["export", "--parquet", str(out), "--model", "nope", "--db", planned["db"]]) == 2
    err = capsys.readouterr().err
    assert "model_not_found" in err and "'nope'" in err and "small" in err
    assert not (out / "_manifest.json").exists()


def test_no_database_is_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "none.duckdb"
    assert main(["export", "--parquet", str(tmp_path / "x"), "--model", "m", "--db", str(db)]) == 2
    assert not db.exists() and "store_not_found" in capsys.readouterr().err


def test_the_history_is_read_a_page_at_a_time(
    planned: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With pages of two changed cells the history comes in several reads, and the file is the
    same as read whole."""
    from server import cli_export
    from server.storage import open_store

    whole, paged = tmp_path / "whole", tmp_path / "paged"
    assert main(["export", "--parquet", str(whole), "--model", "small", "--db", planned["db"]]) == 0
    store = open_store(planned["db"], create=False)
    reads: list[tuple[int, int]] = []
    history_table = store.history_table

    def spy(model: str, cube: str, upto: int, after: int = -1) -> Any:
        reads.append((after, upto))
        return history_table(model, cube, upto, after)

    monkeypatch.setattr(store, "history_table", spy)
    monkeypatch.setattr(cli_export, "HISTORY_PAGE", 2)
    try:
        manifest = cli_export.export(store, "small", paged)
    finally:
        store.close()
    ids = [c["id"] for c in pq.read_table(whole / "commits.parquet").to_pylist()]
    # commits of 3, 1, 2 and 2 cells: each its own read (a page holds 2; the 3 is one commit)
    assert reads[0][0] == -1 and reads[-1][1] == ids[-1] and len(reads) == 4
    assert all(a == b for (_, b), (a, _) in itertools.pairwise(reads))
    assert pq.read_table(paged / "history/PnL.parquet").equals(
        pq.read_table(whole / "history/PnL.parquet")
    )
    assert {f["path"]: f["rows"] for f in manifest["files"]}["history/PnL.parquet"] == 8
