"""The import preview: how a real file reads, its first rows, and a mapping that loads it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from server.app import create_app
from server.imports.preview import _separators
from server.imports.spec import LoadSpec
from tests.server.helpers import error, load_small
from tests.signin import as_user, signed_in

URL = "/api/models/small/cubes/PnL/import/preview"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PARQUET = "application/vnd.apache.parquet"

# as Excel (a German locale) saves "CSV UTF-8": a byte-order mark, semicolons, CRLF, decimal comma
EXCEL = "\ufeffKonto;Monat;Betrag\r\nRev;Jan;1.234,5\r\nSalaries;Feb;-12,25\r\nRent;Mar;7\r\n"


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Any]:
    with signed_in(create_app(tmp_path / "preview.duckdb")) as c:  # a server admin
        load_small(c)
        yield c


def preview(client: Any, body: bytes, media: str = CSV, **params: Any) -> Any:
    return client.post(URL, content=body, headers={"Content-Type": media}, params=params)


def query(spec: dict[str, Any]) -> dict[str, Any]:
    """A LoadSpec as the import route's query parameters (as the web's form sends it)."""
    s = LoadSpec.model_validate(spec)
    q: dict[str, Any] = {
        "map": [f"{d}={c}" for d, c in s.columns.items()],
        "const": [f"{d}={e}" for d, e in s.constants.items()],
        "mode": s.mode.value,
        "decimal": s.decimal,
        "thousands": s.thousands,
        "case_insensitive": str(s.case_insensitive).lower(),
    }
    for name in ("value", "across", "delimiter", "encoding", "sheet"):
        if getattr(s, name):
            q[name] = getattr(s, name)
    if s.value_columns:
        q["columns"] = s.value_columns
    return q


def stored(client: Any) -> dict[str, Any]:
    t = client.app.state.workspace.store.load_cells("small", "PnL").to_pylist()
    return {r["addr"]: r["num"] for r in t}


def test_an_excel_csv_reads_sniffed_and_its_suggestion_loads_it(small: Any) -> None:
    r = preview(small, EXCEL.encode())
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["format"], p["delimiter"], p["encoding"], p["bom"]) == ("csv", ";", "utf-8", True)
    assert p["headers"] == ["Konto", "Monat", "Betrag"]
    assert p["rows"][0] == ["Rev", "Jan", "1.234,5"] and p["row_count"] == 3
    assert p["dimensions"] == ["Version", "Account", "Month", "Measure"]
    s = p["suggestion"]
    # matched by content (German headers), the value column by its numbers
    assert s["columns"] == {"Account": "Konto", "Month": "Monat"} and s["value"] == "Betrag"
    assert (s["decimal"], s["thousands"]) == ("comma", "dot")
    assert (s["delimiter"], s["encoding"]) == (";", "utf-8")
    assert p["unmatched"] == ["Version", "Measure"]
    # the form adds the constants it asked for; the import then loads exactly the file
    s["constants"] = {"Version": "Budget", "Measure": "Amount"}
    imp = small.post(
        "/api/models/small/cubes/PnL/import",
        content=EXCEL.encode(),
        headers={"Content-Type": CSV},
        params=query(s),
    )
    assert imp.status_code == 200, imp.text
    cells = stored(small)
    assert cells["Budget\tRev\tJan\tAmount"] == 1234.5
    assert cells["Budget\tSalaries\tFeb\tAmount"] == -12.25


def test_wide_file_with_months_across_in_other_case(small: Any) -> None:
    body = b"account,jan,feb,mar,comment\nRev,1,2,3,x\nRent,4,5,6,y\n"
    p = preview(small, body).json()
    s = p["suggestion"]
    assert s["across"] == "Month" and s["value_columns"] == ["jan", "feb", "mar"]
    assert s["columns"] == {"Account": "account"} and s["value"] is None
    assert s["case_insensitive"] is True  # "jan" is the element Jan
    assert p["unmatched"] == ["Version", "Measure"]
    s["constants"] = {"Version": "Actual", "Measure": "Amount"}
    imp = small.post(
        "/api/models/small/cubes/PnL/import",
        content=body,
        headers={"Content-Type": CSV},
        params=query(s),
    )
    assert imp.status_code == 200, imp.text
    assert imp.json()["written"] == 6  # the comment column is not unpivoted
    assert stored(small)["Actual\tRent\tMar\tAmount"] == 6


def test_dimensions_matched_by_header_and_a_column_named_value(small: Any) -> None:
    body = b'VERSION,Account,Month,Measure,Value\nActual,Rev,Jan,Amount,"1,000.5"\n'
    p = preview(small, body).json()
    s = p["suggestion"]
    assert s["columns"] == {
        "Version": "VERSION",
        "Account": "Account",
        "Month": "Month",
        "Measure": "Measure",
    }
    assert s["value"] == "Value" and p["unmatched"] == []
    assert (s["decimal"], s["thousands"], s["case_insensitive"]) == ("dot", "comma", False)


def test_cp1252_and_given_read_options(small: Any) -> None:
    body = "Account;Month;Note\nRev;Jan;Café\n".encode("cp1252")
    p = preview(small, body).json()
    assert (p["encoding"], p["delimiter"], p["bom"]) == ("cp1252", ";", False)
    assert p["rows"] == [["Rev", "Jan", "Café"]]
    # told otherwise, it reads as told: one column
    told = preview(small, body, delimiter=",", encoding="cp1252").json()
    assert told["delimiter"] == "," and told["headers"] == ["Account;Month;Note"]


def test_rows_shown_are_bounded(small: Any) -> None:
    body = b"Account,Month,Value\n" + b"Rev,Jan,1\n" * 80
    p = preview(small, body, rows=3).json()
    assert len(p["rows"]) == 3 and p["row_count"] == 80
    assert len(preview(small, body, rows=50).json()["rows"]) == 50
    error(preview(small, body, rows=51), 422, "invalid")


def test_xlsx_sheets_and_typed_numbers(small: Any) -> None:
    book = openpyxl.Workbook()
    first = book.active
    first.title = "Notes"
    first.append(["nothing", "here"])
    data = book.create_sheet("Actuals")
    data.append(["Account", "Jan", "Feb"])
    data.append(["Rev", 100.5, 200])
    buf = io.BytesIO()
    book.save(buf)
    p = preview(small, buf.getvalue(), XLSX, sheet="Actuals").json()
    assert p["format"] == "xlsx" and p["sheets"] == ["Notes", "Actuals"] and p["sheet"] == "Actuals"
    assert p["delimiter"] is None and p["rows"] == [["Rev", "100.5", "200"]]
    s = p["suggestion"]
    assert s["across"] == "Month" and s["value_columns"] == ["Jan", "Feb"]
    assert s["sheet"] == "Actuals"
    assert preview(small, buf.getvalue(), XLSX).json()["sheet"] == "Notes"
    err = error(preview(small, buf.getvalue(), XLSX, sheet="Nope"), 400, "unreadable_file")
    assert err["details"]["sheets"] == ["Notes", "Actuals"]


def test_parquet(small: Any) -> None:
    buf = io.BytesIO()
    table = pa.table({"Account": ["Rev"], "Month": ["Feb"], "amount": [3.5]})
    pq.write_table(table, buf)
    p = preview(small, buf.getvalue(), PARQUET).json()
    assert p["format"] == "parquet" and p["rows"] == [["Rev", "Feb", "3.5"]]
    assert p["suggestion"]["value"] == "amount"


@pytest.mark.parametrize(
    ("body", "media", "params", "status", "code"),
    [
        (b"", CSV, {}, 400, "unreadable_file"),
        (b"not a zip", XLSX, {}, 400, "unreadable_file"),
        (b"not parquet", PARQUET, {}, 400, "unreadable_file"),
        (b"a,b\n", "application/octet-stream", {}, 422, "invalid_value"),
        (b"a,b\n", "text/plain", {}, 415, "unsupported_media_type"),
        (b"a,b\n", CSV, {"encoding": "latin-9"}, 422, "invalid"),
    ],
)
def test_a_bad_file_or_option_is_a_json_error(
    small: Any, body: bytes, media: str, params: dict[str, str], status: int, code: str
) -> None:
    err = error(preview(small, body, media, **params), status, code)
    assert err["message"]


def test_unknown_model_or_cube_is_404(small: Any) -> None:
    r = small.post(
        "/api/models/nope/cubes/PnL/import/preview", content=b"a\n", headers={"Content-Type": CSV}
    )
    error(r, 404, "model_not_found")
    r = small.post(
        "/api/models/small/cubes/Nope/import/preview", content=b"a\n", headers={"Content-Type": CSV}
    )
    error(r, 404, "cube_not_found")


def test_guarded_as_the_import_and_writes_nothing(small: Any) -> None:
    before = stored(small)
    viewer = {**as_user(small, "vic", "small", "viewer"), "Content-Type": CSV}
    error(small.post(URL, content=EXCEL.encode(), headers=viewer), 403, "forbidden")
    planner = {**as_user(small, "pia", "small", "planner"), "Content-Type": CSV}
    assert small.post(URL, content=EXCEL.encode(), headers=planner).status_code == 200
    assert stored(small) == before


def test_hidden_elements_are_not_matched(small: Any) -> None:
    # ops sees Rent only among the accounts (NONE on the rest): Rev and Salaries are unknown
    assert small.post("/api/admin/groups", json={"name": "ops"}).status_code == 201
    rules = [
        {"element": "Net", "group": "ops", "access": "NONE"},
        {"element": "Rent", "group": "ops", "access": "WRITE"},
    ]
    r = small.put("/api/models/small/security/elements/Account", json=rules)
    assert r.status_code == 200, r.text
    ops = {**as_user(small, "ops-planner", "small", "planner", "ops"), "Content-Type": CSV}
    body = b"Konto,Month,Value\nRev,Jan,1\nSalaries,Jan,2\n"
    assert small.post(URL, content=body, headers=ops).json()["unmatched"] == [
        "Version",
        "Account",
        "Measure",
    ]
    assert (
        "Account"
        in small.post(URL, content=body, headers={"Content-Type": CSV}).json()["suggestion"][
            "columns"
        ]
    )


@pytest.mark.parametrize(
    ("texts", "delimiter", "expected"),
    [
        (["1.234,5", "12,5"], ";", ("comma", "dot")),
        (["1,234.5", "3.25"], ",", ("dot", "comma")),
        (["1 234,50", "7"], ";", ("comma", "space")),
        (["1'234.50"], ",", ("dot", "apostrophe")),
        (["12,50", "(3,1)", "10%"], ";", ("comma", "none")),
        (["1,234"], ";", ("comma", "none")),  # three digits: a semicolon file's decimal comma
        (["1,234"], ",", ("dot", "comma")),
        (["1.234.567"], ";", ("comma", "dot")),
        (["7", "8"], ",", ("dot", "none")),
    ],
)
def test_separators_guessed_from_how_numbers_are_written(
    texts: list[str], delimiter: str, expected: tuple[str, str]
) -> None:
    assert _separators(texts, delimiter) == expected


def test_a_header_naming_a_column_twice_is_refused_by_preview_and_import(small: Any) -> None:
    book = openpyxl.Workbook()
    book.active.append(["Account", "Jan", "Jan"])
    book.active.append(["Rev", 1, 2])
    buf = io.BytesIO()
    book.save(buf)
    for body, media in ((b"Account,Jan,Jan\nRev,1,2\n", CSV), (buf.getvalue(), XLSX)):
        for url in (URL, "/api/models/small/cubes/PnL/import"):
            r = small.post(url, content=body, headers={"Content-Type": media})
            err = error(r, 400, "unreadable_file")
            assert err["message"].startswith(
                "the header names column 'Jan' twice (columns 2 and 3)"
            )
    assert stored(small) == {}
