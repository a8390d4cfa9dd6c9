"""Exports: a view written as CSV, XLSX and Parquet, read back with the readers users have;
formula injection neutralised; element security carried into the file, on both stores."""

from __future__ import annotations

import csv
import doctest
import io
from typing import Any

import openpyxl
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from python_calamine import CalamineWorkbook

from server.exports import grid
from tests.server.helpers import load_small
from tests.signin import as_user

URL = "/api/models/small/cubes/PnL/export"
EVIL = '=HYPERLINK("http://evil.example","click")'
NOTES = {
    ("Rev", "Jan"): EVIL,
    ("Rent", "Jan"): "+1",
    ("Travel", "Jan"): "-2+3",
    ("Salaries", "Jan"): "@SUM(A1:A9)",
    ("Rev", "Feb"): "\tx",
    ("Rent", "Feb"): "\rx",
    ("Travel", "Feb"): "plain",
}
SPEC = {
    "rows": [{"dimension": "Account", "members": "descendants(Net)"}],
    "columns": [
        {"dimension": "Month", "members": ["Jan", "Feb"]},
        {"dimension": "Measure", "members": ["Amount", "Note"]},
    ],
    "filters": {"Version": "Actual"},
}
HEADER = ["Account", "Jan / Amount", "Jan / Note", "Feb / Amount", "Feb / Note"]
ROWS = ["Net", "Rev", "Cost", "Salaries", "Rent", "Travel"]


@pytest.fixture
def small(client: Any) -> Any:
    data = [
        ["Actual", "Rev", "Jan", "Amount", 500.0],
        ["Actual", "Salaries", "Jan", "Amount", 100.0],
        ["Actual", "Rent", "Jan", "Amount", -20.0],
        ["Actual", "Rev", "Feb", "Amount", 0.1],
        *[["Actual", a, m, "Note", t] for (a, m), t in NOTES.items()],
    ]
    load_small(client, data)
    return client


def export(client: Any, fmt: str, headers: dict[str, str] | None = None) -> Any:
    r = client.post(URL, params={"format": fmt}, json=SPEC, headers=headers or {})
    assert r.status_code == 200, r.text
    return r


def safe(text: str) -> str:
    return "'" + text


def test_neutralise_doctests() -> None:
    assert doctest.testmod(grid).failed == 0


def test_csv_reads_back_with_the_csv_module(small: Any) -> None:
    r = export(small, "csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="PnL.csv"')
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    assert lines[0] == HEADER
    by_row = {line[0]: line[1:] for line in lines[1:]}
    assert [line[0] for line in lines[1:]] == ROWS
    assert by_row["Rev"] == ["500", safe(EVIL), "0.1", safe("\tx")]
    assert by_row["Rent"] == ["-20", safe("+1"), "0", safe("\rx")]  # -20 a number, not text
    assert by_row["Travel"][1::2] == [safe("-2+3"), "plain"]
    assert by_row["Salaries"][1] == safe("@SUM(A1:A9)")
    assert by_row["Cost"][0] == "80" and by_row["Net"][0] == "420"


def test_csv_reads_back_with_pyarrow(small: Any) -> None:
    table = pacsv.read_csv(io.BytesIO(export(small, "csv").content))
    assert table.column_names == HEADER
    assert table.column("Jan / Amount").to_pylist() == [420, 500, 80, 100, -20, 0]
    assert table.column("Jan / Note").to_pylist()[1] == safe(EVIL)


def test_xlsx_is_formatted_and_reads_back_with_openpyxl(small: Any) -> None:
    r = export(small, "xlsx")
    assert 'filename="PnL.xlsx"' in r.headers["content-disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(r.content))["PnL"]
    assert ws.freeze_panes == "B2"
    assert [c.value for c in ws[1]] == HEADER and all(c.font.b for c in ws[1])
    heads = {ws.cell(i, 1).value: ws.cell(i, 1) for i in range(2, ws.max_row + 1)}
    assert list(heads) == ROWS and all(c.font.b for c in heads.values())
    assert [heads[a].alignment.indent for a in ROWS] == [0, 1, 1, 2, 2, 2]
    rent = heads["Rent"].row
    amount = ws.cell(rent, 2)
    assert amount.value == -20 and amount.data_type == "n" and amount.number_format == "#,##0.00"
    rev = heads["Rev"].row
    assert ws.cell(rev, 3).value == safe(EVIL) and ws.cell(rev, 3).data_type == "s"
    assert ws.cell(rent, 3).value == safe("+1")
    # XML parsers read a raw CR in text as LF; the quote in front is what matters
    assert ws.cell(rent, 5).value in (safe("\rx"), safe("\nx"))


def test_xlsx_reads_back_with_calamine(small: Any) -> None:
    rows = CalamineWorkbook.from_filelike(io.BytesIO(export(small, "xlsx").content))
    sheet = rows.get_sheet_by_name("PnL").to_python()
    assert sheet[0] == HEADER
    by_row = {line[0]: line[1:] for line in sheet[1:]}
    assert by_row["Rev"] == [500.0, safe(EVIL), 0.1, safe("\tx")]
    assert by_row["Rent"][:2] == [-20.0, safe("+1")]
    assert by_row["Travel"][1] == safe("-2+3") and by_row["Salaries"][1] == safe("@SUM(A1:A9)")


def test_parquet_is_long_and_keeps_text_as_it_is(small: Any) -> None:
    r = export(small, "parquet")
    assert 'filename="PnL.parquet"' in r.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column_names == ["Account", "Month", "Measure", "num", "txt"]
    assert table.num_rows == len(ROWS) * 4
    cells = {(x["Account"], x["Month"], x["Measure"]): x for x in table.to_pylist()}
    assert cells[("Rent", "Jan", "Amount")]["num"] == -20
    assert cells[("Rev", "Jan", "Note")] == {**cells[("Rev", "Jan", "Note")], "txt": EVIL}
    assert cells[("Rev", "Jan", "Note")]["num"] is None


GRANTS = [
    {"element": "Net", "group": "ops", "access": "READ"},
    {"element": "Salaries", "group": "ops", "access": "NONE"},
]


def test_a_hidden_element_is_in_no_file(small: Any) -> None:
    assert small.post("/api/admin/groups", json={"name": "ops"}).status_code == 201
    r = small.put("/api/models/small/security/elements/Account", json=GRANTS)
    assert r.status_code == 200, r.text
    viewer = as_user(small, "ops-viewer", "small", "viewer", "ops")
    visible = [a for a in ROWS if a != "Salaries"]
    text = export(small, "csv", viewer).content.decode("utf-8-sig")
    assert [line[0] for line in csv.reader(io.StringIO(text))][1:] == visible
    assert "Salaries" not in text and "@SUM" not in text
    ws = openpyxl.load_workbook(io.BytesIO(export(small, "xlsx", viewer).content))["PnL"]
    assert [ws.cell(i, 1).value for i in range(2, ws.max_row + 1)] == visible
    table = pq.read_table(io.BytesIO(export(small, "parquet", viewer).content))
    assert set(table.column("Account").to_pylist()) == set(visible)
    # totals are the plan's, as in the view (Salaries counted in Cost)
    assert table.filter(
        pq.filters_to_expression(
            [("Account", "=", "Cost"), ("Month", "=", "Jan"), ("Measure", "=", "Amount")]
        )
    ).column("num").to_pylist() == [80]


def test_an_unknown_format_is_refused(small: Any) -> None:
    r = small.post(URL, params={"format": "ods"}, json=SPEC)
    assert r.status_code in (400, 422), r.text


def test_element_names_in_headers_are_neutralised_too(client: Any) -> None:
    model = {
        "name": "odd",
        "dimensions": [
            {"name": "Row", "elements": [{"name": "=1+2", "children": ["@x", "-y"]}, "@x", "-y"]},
            {"name": "Col", "elements": ["+Jan", "Feb"]},
        ],
        "cubes": [{"name": "C", "dimensions": ["Row", "Col"]}],
        "data": {"C": [["-y", "+Jan", -3.0]]},
    }
    assert client.post("/api/models/import", json=model).status_code == 201
    spec = {
        "rows": [{"dimension": "Row", "members": "descendants(=1+2)"}],
        "columns": [{"dimension": "Col", "members": "members()"}],
    }
    r = client.post("/api/models/odd/cubes/C/export", json=spec)
    assert r.status_code == 200, r.text
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines == [
        ["Row", "'+Jan", "Feb"],
        ["'=1+2", "-3", "0"],
        ["'@x", "0", "0"],
        ["'-y", "-3", "0"],
    ]
    r = client.post("/api/models/odd/cubes/C/export?format=xlsx", json=spec)
    ws = openpyxl.load_workbook(io.BytesIO(r.content))["C"]
    assert [c.value for c in ws[2]] == ["'=1+2", -3, 0] and ws["A2"].data_type == "s"
