"""Area exports: one record per cell, read back with csv, openpyxl, calamine and pyarrow; stored
or computed cells; element security; formula injection; unknown names and the limit; as of a
commit; a 200,000-row XLSX and Parquet; temporary files removed. Both stores."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pytest
from python_calamine import CalamineWorkbook

from server.app import create_app
from server.exports import long
from tests.server.helpers import error, load_small, write
from tests.signin import as_user, signed_in

URL = "/api/models/small/cubes/PnL/area/export"
DIMS = ["Version", "Account", "Month", "Measure"]
EVIL = '=HYPERLINK("http://evil.example","click")'
DATA = [
    ["Actual", "Rev", "Jan", "Amount", 500.0],
    ["Actual", "Salaries", "Jan", "Amount", 100.0],
    ["Actual", "Rent", "Jan", "Amount", -20.0],
    ["Actual", "Rev", "Feb", "Amount", 0.1],
    ["Budget", "Travel", "Mar", "Amount", 1234567.25],
    ["Actual", "Rev", "Jan", "Note", EVIL],
    ["Actual", "Rent", "Jan", "Note", "+1"],
    ["Actual", "Travel", "Feb", "Note", "-2+3"],
    ["Actual", "Salaries", "Jan", "Note", "@SUM(A1:A9)"],
    ["Actual", "Rev", "Feb", "Note", "\tx"],
    ["Budget", "Rent", "Feb", "Note", "plain"],
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client, DATA)
    return client


def export(client: Any, fmt: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
    r = client.post(URL, params={"format": fmt}, json=body or {}, **kw)
    assert r.status_code == 200, r.text
    return r


def safe(text: Any) -> Any:
    return "'" + text if isinstance(text, str) and text.startswith(FORMULA_STARTS) else text


def csv_cells(r: Any) -> tuple[list[str], dict[tuple[str, ...], str]]:
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    return lines[0], {tuple(line[:-1]): line[-1] for line in lines[1:]}


def xlsx_cells(r: Any) -> tuple[openpyxl.Workbook, dict[tuple[str, ...], Any]]:
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    return wb, {tuple(row[:-1]): row[-1] for row in rows[1:]}


def parquet_cells(r: Any) -> dict[tuple[str, ...], tuple[Any, Any]]:
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column_names == [*DIMS, "num", "txt"]
    return {tuple(x[d] for d in DIMS): (x["num"], x["txt"]) for x in table.to_pylist()}


def number_text(v: float) -> str:
    return str(int(v)) if v.is_integer() else repr(v)


def test_every_format_holds_exactly_the_cells_written(small: Any) -> None:
    written = {tuple(row[:4]): row[4] for row in DATA}
    r = export(small, "csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="PnL.csv"')
    assert int(r.headers["x-plancube-commit"]) >= 1
    header, got = csv_cells(r)
    assert header == [*DIMS, "value"]
    assert got == {k: safe(v) if isinstance(v, str) else number_text(v) for k, v in written.items()}
    assert next(iter(got)) == ("Actual", "Rev", "Jan", "Amount")  # cube order: Version outermost

    r = export(small, "xlsx")
    wb, cells = xlsx_cells(r)
    ws = wb.worksheets[0]
    assert ws.title == "PnL" and ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]] == [*DIMS, "value"] and all(c.font.b for c in ws[1])
    assert cells == {k: safe(v) for k, v in written.items()}
    for row in ws.iter_rows(min_row=2):
        if isinstance(row[-1].value, float | int):
            assert row[-1].data_type == "n" and row[-1].number_format == "#,##0.00"
        else:
            assert row[-1].data_type == "s"  # never a formula

    got_pq = parquet_cells(export(small, "parquet"))
    assert got_pq == {
        k: (None, v) if isinstance(v, str) else (v, None) for k, v in written.items()
    }  # text kept as it is


def test_pyarrow_and_calamine_read_the_same(small: Any) -> None:
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(io.BytesIO(export(small, "csv").content))
    assert table.column_names == [*DIMS, "value"] and table.num_rows == len(DATA)
    book = CalamineWorkbook.from_filelike(io.BytesIO(export(small, "xlsx").content))
    rows = book.get_sheet_by_name("PnL").to_python()
    assert len(rows) == len(DATA) + 1
    assert ["Budget", "Travel", "Mar", "Amount", 1234567.25] in rows


def test_a_consolidated_element_means_its_leaves_unless_computed(small: Any) -> None:
    body = {"elements": {"Account": "Cost", "Measure": "Amount", "Version": "Actual"}}
    got = parquet_cells(export(small, "parquet", body))
    assert got == {
        ("Actual", "Salaries", "Jan", "Amount"): (100.0, None),
        ("Actual", "Rent", "Jan", "Amount"): (-20.0, None),
    }
    body = {
        "elements": {"Account": "descendants(Net)", "Month": "Q1", "Version": "Actual"},
        "computed": True,
    }
    got = parquet_cells(export(small, "parquet", body))
    assert got[("Actual", "Net", "Q1", "Amount")] == (420.1, None)
    assert got[("Actual", "Cost", "Q1", "Amount")] == (80.0, None)
    assert got[("Actual", "Rev", "Q1", "Amount")] == (500.1, None)
    assert {k[2] for k in got} == {"Q1"}  # a consolidated element named is itself
    assert ("Actual", "Travel", "Q1", "Amount") not in got  # zero: suppressed


def test_without_suppression_every_address_is_a_record(small: Any) -> None:
    body = {"elements": {"Version": "Budget", "Month": "Mar"}, "suppress_zeros": False}
    got = parquet_cells(export(small, "parquet", body))
    assert len(got) == 1 * 4 * 1 * 2  # leaves: 4 accounts (Rev, Salaries, Rent, Travel), 2 measures
    assert got[("Budget", "Travel", "Mar", "Amount")] == (1234567.25, None)
    assert got[("Budget", "Rev", "Mar", "Amount")] == (0.0, None)
    assert got[("Budget", "Rev", "Mar", "Note")] == (None, None)  # a text cell without text
    _, lines = csv_cells(export(small, "csv", body))
    assert lines[("Budget", "Rev", "Mar", "Amount")] == "0"
    assert lines[("Budget", "Rev", "Mar", "Note")] == ""


def test_rule_cells_are_computed_not_stored(client: Any) -> None:
    model = {
        "name": "ruled",
        "dimensions": [
            {"name": "Item", "elements": [{"name": "All", "children": ["a", "b"]}, "a", "b"]},
            {"name": "M", "role": "measure", "elements": ["Units", "Price", "Sales"]},
        ],
        "cubes": [
            {
                "name": "C",
                "dimensions": ["Item", "M"],
                "rules": [{"name": "sales", "target": "Sales", "formula": "=Units*Price"}],
            }
        ],
        "data": {"C": [["a", "Units", 2.0], ["a", "Price", 5.0], ["b", "Units", 3.0]]},
    }
    r = client.post("/api/models/import", json=model)
    assert r.status_code == 201, r.text
    url = "/api/models/ruled/cubes/C/area/export?format=parquet"
    stored = pq.read_table(io.BytesIO(client.post(url, json={}).content)).to_pylist()
    assert {(x["Item"], x["M"]) for x in stored} == {("a", "Units"), ("a", "Price"), ("b", "Units")}
    r = client.post(url, json={"computed": True})
    computed = {
        (x["Item"], x["M"]): x["num"] for x in pq.read_table(io.BytesIO(r.content)).to_pylist()
    }
    assert computed[("a", "Sales")] == 10.0 and computed[("All", "Units")] == 5.0


GRANTS = [
    {"element": "Net", "group": "ops", "access": "READ"},
    {"element": "Salaries", "group": "ops", "access": "NONE"},
]


def test_element_security_hides_what_it_must(small: Any) -> None:
    assert small.post("/api/admin/groups", json={"name": "ops"}).status_code == 201
    r = small.put("/api/models/small/security/elements/Account", json=GRANTS)
    assert r.status_code == 200, r.text
    viewer = as_user(small, "ops-viewer", "small", "viewer", "ops")
    for fmt in ("csv", "xlsx", "parquet"):
        text = export(small, fmt, headers=viewer).content
        assert b"Salaries" not in text and b"@SUM" not in text, fmt
    got = parquet_cells(export(small, "parquet", headers=viewer))
    assert {k[1] for k in got} == {"Rev", "Rent", "Travel"}
    # a visible total stands for its visible leaves only
    body = {"elements": {"Account": "Cost", "Measure": "Amount"}}
    got = parquet_cells(export(small, "parquet", body, headers=viewer))
    assert {k[1] for k in got} == {"Rent", "Travel"}
    # computed totals are the plan's, as in a view (Salaries counted in Cost)
    body = {"elements": {"Account": "Cost", "Month": "Jan", "Version": "Actual"}, "computed": True}
    got = parquet_cells(export(small, "parquet", body, headers=viewer))
    assert got[("Actual", "Cost", "Jan", "Amount")] == (80.0, None)
    # named, a hidden element is not found, exactly like a typo
    r = small.post(URL, json={"elements": {"Account": ["Salaries"]}}, headers=viewer)
    err = error(r, 404, "element_not_found")
    assert err["details"] == {"dimension": "Account", "element": "Salaries"}


def test_element_names_are_neutralised_in_csv_and_xlsx(client: Any) -> None:
    model = {
        "name": "odd",
        "dimensions": [
            {"name": "=Row", "elements": [{"name": "=1+2", "children": ["@x", "-y"]}, "@x", "-y"]},
            {"name": "Col", "elements": ["+Jan", "Feb"]},
        ],
        "cubes": [{"name": "C", "dimensions": ["=Row", "Col"]}],
        "data": {"C": [["-y", "+Jan", -3.0], ["@x", "Feb", 4.0]]},
    }
    assert client.post("/api/models/import", json=model).status_code == 201
    url = "/api/models/odd/cubes/C/area/export"
    r = client.post(url, json={})
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines == [["'=Row", "Col", "value"], ["'@x", "Feb", "4"], ["'-y", "'+Jan", "-3"]]
    r = client.post(url + "?format=xlsx", json={})
    ws = openpyxl.load_workbook(io.BytesIO(r.content))["C"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows == [["'=Row", "Col", "value"], ["'@x", "Feb", 4], ["'-y", "'+Jan", -3]]
    assert all(c.data_type == "s" for c in ws["A"])
    r = client.post(url + "?format=parquet", json={})
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column("=Row").to_pylist() == ["@x", "-y"]  # Parquet keeps names as they are


def test_unknown_names_are_404_naming_them(small: Any) -> None:
    r = small.post(URL, json={"elements": {"Account": ["Rev", "Revenue"]}})
    err = error(r, 404, "element_not_found")
    assert err["details"] == {"dimension": "Account", "element": "Revenue"}
    assert "Revenue" in err["message"]
    r = small.post("/api/models/small/cubes/Nope/area/export", json={})
    assert error(r, 404, "cube_not_found")["details"]["cube"] == "Nope"
    r = small.post("/api/models/nope/cubes/PnL/area/export", json={})
    assert error(r, 404, "model_not_found")["details"]["model"] == "nope"
    r = small.post(URL, json={"elements": {"Region": "x"}})
    assert error(r, 400, "bad_request")["details"]["dimension"] == "Region"
    r = small.post(URL, json={"as_of": 999})
    assert error(r, 404, "commit_not_found")["details"]["commit"] == 999
    r = small.post(URL, json={"elements": {"Account": "leaves(Nope)"}})
    assert error(r, 404, "element_not_found")["details"]["element"] == "Nope"


def test_as_of_a_commit_and_a_snapshot(small: Any) -> None:
    head = int(export(small, "csv").headers["x-plancube-commit"])
    r = write(small, [(["Actual", "Rev", "Jan", "Amount"], 999.0)])
    assert r.status_code == 200, r.text
    body = {"elements": {"Account": "Rev", "Month": "Jan", "Measure": "Amount"}}
    now = export(small, "parquet", body)
    assert int(now.headers["x-plancube-commit"]) == head + 1
    assert parquet_cells(now)[("Actual", "Rev", "Jan", "Amount")] == (999.0, None)
    then = export(small, "parquet", {**body, "as_of": head})
    assert then.headers["x-plancube-commit"] == str(head)
    assert parquet_cells(then)[("Actual", "Rev", "Jan", "Amount")] == (500.0, None)


@pytest.fixture
def limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("PLANCUBE_MAX_EXPORT_CELLS", "5")
    with signed_in(create_app(tmp_path / "limited.duckdb")) as c:
        load_small(c, DATA)
        yield c


def test_an_export_past_the_limit_is_refused_with_the_numbers(limited: Any) -> None:
    r = limited.post(URL, json={})
    err = error(r, 422, "export_too_large")
    assert err["details"]["limit"] == 5 and err["details"]["cells"] > 5
    assert err["details"]["setting"] == "PLANCUBE_MAX_EXPORT_CELLS"
    assert "PnL" in err["message"]
    body = {"elements": {"Account": "Rev", "Version": "Actual"}}  # 4 cells: fits
    assert len(parquet_cells(export(limited, "parquet", body))) == 4
    r = limited.post(URL, json={**body, "suppress_zeros": False})  # 1 x 1 x 3 x 2 = 6
    assert error(r, 422, "export_too_large")["details"]["cells"] == 6


def test_temporary_files_are_removed_once_sent(
    small: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    view = {
        "rows": [{"dimension": "Account", "members": "descendants(Net)"}],
        "columns": [{"dimension": "Month", "members": "members()"}],
    }
    for fmt in ("xlsx", "parquet"):
        assert export(small, fmt).content
        r = small.post("/api/models/small/cubes/PnL/export", params={"format": fmt}, json=view)
        assert r.status_code == 200 and r.content
    assert [p.name for p in spool.iterdir() if p.name.startswith("plancube-export-")] == []


@pytest.fixture
def big(tmp_path: Path) -> Iterator[Any]:
    """200,000 numeric leaf cells (400 x 500), on DuckDB: a size, not a storage, test."""
    rows, cols = 400, 500
    model = {
        "name": "big",
        "dimensions": [
            {"name": "R", "elements": [f"r{i}" for i in range(rows)]},
            {"name": "K", "elements": [f"k{j}" for j in range(cols)]},
        ],
        "cubes": [{"name": "B", "dimensions": ["R", "K"]}],
        "data": {
            "B": [
                [f"r{i}", f"k{j}", float(i * cols + j + 1)]
                for i in range(rows)
                for j in range(cols)
            ]
        },
    }
    with signed_in(create_app(tmp_path / "big.duckdb")) as c:
        r = c.post("/api/models/import", json=model)
        assert r.status_code == 201, r.text
        yield c


def test_a_200k_row_export_streams_correctly(big: Any) -> None:
    n = 400 * 500
    url = "/api/models/big/cubes/B/area/export"
    r = big.post(url, params={"format": "xlsx"}, json={})
    assert r.status_code == 200, r.text
    book = CalamineWorkbook.from_filelike(io.BytesIO(r.content))
    rows = book.get_sheet_by_name("B").to_python()
    assert len(rows) == n + 1 and rows[0] == ["R", "K", "value"]
    assert rows[1] == ["r0", "k0", 1.0] and rows[-1] == ["r399", "k499", float(n)]
    assert sum(row[2] for row in rows[1:]) == n * (n + 1) / 2
    r = big.post(url, params={"format": "parquet"}, json={})
    meta = pq.ParquetFile(io.BytesIO(r.content)).metadata
    assert meta.num_rows == n
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        65536,
        65536,
        65536,
        n - 3 * 65536,
    ]
    r = big.post(url, json={})
    assert r.content.count(b"\r\n") == n + 1


def test_an_xlsx_past_a_sheet_goes_on_in_the_next(
    small: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(long, "XLSX_MAX_ROWS", 5)  # a header and four cells a sheet
    wb = openpyxl.load_workbook(io.BytesIO(export(small, "xlsx").content))
    assert wb.sheetnames == ["PnL", "PnL (2)", "PnL (3)"]
    assert [ws.max_row for ws in wb.worksheets] == [5, 5, 4]
    assert all(ws.cell(1, 1).value == "Version" for ws in wb.worksheets)
    records = [row for ws in wb.worksheets for row in ws.iter_rows(min_row=2, values_only=True)]
    assert len(records) == len(DATA)


def test_a_stored_area_imports_back_as_it_was(small: Any) -> None:
    from tests.server.helpers import SMALL_MODEL

    r = small.post("/api/models/import", json={**SMALL_MODEL, "name": "copy"})
    assert r.status_code == 201, r.text
    body = {"elements": {"Measure": "Amount"}}
    for fmt, media in [("csv", "text/csv"), ("parquet", "application/vnd.apache.parquet")]:
        data = export(small, fmt, body).content
        if fmt == "parquet":  # an import takes one value column
            table = pq.read_table(io.BytesIO(data)).drop_columns(["txt"])
            out = io.BytesIO()
            pq.write_table(table.rename_columns([*DIMS, "value"]), out)
            data = out.getvalue()
        r = small.post(
            "/api/models/copy/cubes/PnL/import", content=data, headers={"Content-Type": media}
        )
        assert r.status_code == 200, r.text
        again = small.post(
            "/api/models/copy/cubes/PnL/area/export", params={"format": "parquet"}, json=body
        )
        assert parquet_cells(again) == parquet_cells(export(small, "parquet", body)), fmt


def test_a_temporary_file_is_removed_when_the_client_goes_away(tmp_path: Path) -> None:
    import asyncio

    from server.api.exports import _TemporaryFile

    path = tmp_path / "plancube-export-x.xlsx"
    path.write_bytes(b"x" * 100_000)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            raise OSError("the connection is closed")

    scope = {"type": "http", "method": "POST", "headers": [], "asgi": {"spec_version": "2.4"}}
    with pytest.raises(OSError):
        asyncio.run(_TemporaryFile(path)(scope, receive, send))
    assert not path.exists()


def test_formula_errors_are_their_text(client: Any) -> None:
    model = {
        "name": "errs",
        "dimensions": [
            {"name": "Item", "elements": [{"name": "All", "children": ["a", "b"]}, "a", "b"]},
            {"name": "M", "role": "measure", "elements": ["Units", "Price", "Unit Price"]},
        ],
        "cubes": [
            {
                "name": "C",
                "dimensions": ["Item", "M"],
                "rules": [{"name": "up", "target": "Unit Price", "formula": "=Price/Units"}],
            }
        ],
        "data": {"C": [["a", "Units", 2.0], ["a", "Price", 5.0], ["b", "Price", 3.0]]},
    }
    assert client.post("/api/models/import", json=model).status_code == 201
    url = "/api/models/errs/cubes/C/area/export"
    body = {"elements": {"M": "Unit Price"}, "computed": True}
    r = client.post(url, params={"format": "parquet"}, json=body)
    got = {
        x["Item"]: (x["num"], x["txt"]) for x in pq.read_table(io.BytesIO(r.content)).to_pylist()
    }
    assert got["a"] == (2.5, None)
    assert got["b"] == (None, "#DIV/0!") and got["All"] == (None, "#DIV/0!")
    _, lines = csv_cells(client.post(url, json=body))
    assert lines[("b", "Unit Price")] == "#DIV/0!"


def test_over_real_http_files_stream_and_go_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real uvicorn on a socket with a small send buffer: the CSV comes chunked, the
    Parquet file with its length, and a client that leaves half-way leaves no file behind."""
    import time

    import httpx

    from tests.server.test_feed import served

    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    n = 300 * 400
    model = {
        "name": "big",
        "dimensions": [
            {"name": "R", "elements": [f"row {i}" for i in range(300)]},
            {"name": "K", "elements": [f"k{j}" for j in range(400)]},
        ],
        "cubes": [{"name": "B", "dimensions": ["R", "K"]}],
        "data": {
            "B": [
                [f"row {i}", f"k{j}", float(i * 400 + j + 1)]
                for i in range(300)
                for j in range(400)
            ]
        },
    }
    with signed_in(create_app(tmp_path / "http.duckdb")) as c:
        assert c.post("/api/models/import", json=model).status_code == 201
        headers = dict(c.headers)
        with served(c.app) as host:
            url = f"http://{host}/api/models/big/cubes/B/area/export"
            with httpx.stream("POST", url, json={}, headers=headers, timeout=120) as r:
                assert r.status_code == 200 and r.headers["transfer-encoding"] == "chunked"
                body = b"".join(r.iter_bytes())
            assert body.count(b"\r\n") == n + 1 and body.startswith(b"\xef\xbb\xbfR,K,value\r\n")
            r = httpx.post(url, params={"format": "parquet"}, json={}, headers=headers, timeout=120)
            assert int(r.headers["content-length"]) == len(r.content)
            assert pq.read_metadata(io.BytesIO(r.content)).num_rows == n
            with httpx.stream(
                "POST", url, params={"format": "parquet"}, json={}, headers=headers, timeout=120
            ) as r:
                assert r.status_code == 200
                next(r.iter_raw(1024))  # then hang up
            deadline = time.monotonic() + 20
            while list(spool.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert list(spool.iterdir()) == []
