"""Cell imports: real files in several dialects and formats, validated whole, one commit."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import unavailable
from tests.server.helpers import cell, error, load_small, view
from tests.signin import as_user

URL = "/api/models/small/cubes/PnL/import"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PARQUET = "application/vnd.apache.parquet"


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client)
    return client


HEADER = b"Version,Account,Month,Measure,Value\n"


def post(client: Any, body: bytes, media: str = CSV, **params: Any) -> Any:
    return client.post(URL, content=body, headers={"Content-Type": media}, params=params)


def head(client: Any) -> int:
    return int(client.get("/api/models/small").json()["head"])


def stored(client: Any) -> dict[str, Any]:
    store = client.app.state.workspace.store
    t = store.load_cells("small", "PnL").to_pylist()
    return {r["addr"]: r["num"] if r["txt"] is None else r["txt"] for r in t}


def test_long_csv_is_one_commit_of_source_import(small: Any) -> None:
    body = HEADER + b"Actual,Rev,Jan,Amount,100\nActual,Salaries,Jan,Amount,30\n"
    body += b"Actual,Rev,Jan,Note,ok\n"
    r = post(small, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["written"] == 3 and out["error_count"] == 0 and out["rows"] == 3
    assert out["commit"]["source"] == "import" and out["commit"]["cells"] == 3
    assert cell(view(small), "Net", "Jan") == 70
    assert stored(small)["Actual\tRev\tJan\tNote"] == "ok"


def test_semicolon_decimal_comma_bom_crlf_quoted_newline(small: Any) -> None:
    text = (
        "Konto;Monat;Wert;Bemerkung\r\n"
        'Rev;Jan;"1.234,5";"zwei\r\nZeilen"\r\n'
        "Salaries;Jan;(12,5);x\r\n"
        "Rent;Feb;10%;y\r\n"
    )
    r = post(
        small,
        b"\xef\xbb\xbf" + text.encode(),
        map=["Account=Konto", "Month=Monat"],
        const=["Version=Actual", "Measure=Amount"],
        value="Wert",
        decimal="comma",
        thousands="dot",
    )
    assert r.status_code == 200, r.text
    cells = stored(small)
    assert cells["Actual\tRev\tJan\tAmount"] == 1234.5
    assert cells["Actual\tSalaries\tJan\tAmount"] == -12.5
    assert cells["Actual\tRent\tFeb\tAmount"] == pytest.approx(0.1)


def test_excels_empty_trailing_columns_and_empty_rows_are_nothing(small: Any) -> None:
    # Excel saves a sheet's used area: ";;" columns without a header, rows of empty fields
    text = (
        "Konto;Monat;Wert;;\r\n"
        "Rev;Jan;1.250,5;;\r\n"
        ";;;;\r\n"
        "Rent;Feb;(80);;\r\n"
        "Rnet;Mar;1;;\r\n"  # row 5: still named by its row in the file
    )
    args = {
        "map": ["Account=Konto", "Month=Monat"],
        "const": ["Version=Actual", "Measure=Amount"],
        "value": "Wert",
        "decimal": "comma",
        "thousands": "dot",
    }
    r = post(small, text.encode(), **args)
    assert r.status_code == 422, r.text
    errors = r.json()["error"]["details"]["errors"]
    assert [(e["row"], e["value"], e["reason"]) for e in errors] == [(5, "Rnet", "unknown_element")]
    r = post(small, text.encode(), load_valid_rows="true", **args)
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 2
    cells = stored(small)
    assert cells["Actual\tRev\tJan\tAmount"] == 1250.5
    assert cells["Actual\tRent\tFeb\tAmount"] == -80.0


def test_cp1252_and_aliases_case_insensitive(small: Any) -> None:
    # "Café" in cp1252 as a note; Rev given by its alias Code=4000; "actual" in lower case
    body = "version;account;month;measure;value\nactual;4000;jan;Note;Café\n".encode("cp1252")
    r = post(small, body, case_insensitive="true")
    assert r.status_code == 200, r.text
    assert stored(small)["Actual\tRev\tJan\tNote"] == "Café"


def test_wide_layout_unpivots_months(small: Any) -> None:
    body = b"Account\tJan\tFeb\tMar\nRev\t1\t2\t\nSalaries\t4\t5\t6\n"
    r = post(small, body, across="Month", const=["Version=Budget", "Measure=Amount"])
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 5  # the blank is no change
    cells = stored(small)
    assert cells["Budget\tRev\tFeb\tAmount"] == 2 and cells["Budget\tSalaries\tMar\tAmount"] == 6


def test_every_problem_reported_and_nothing_written(small: Any) -> None:
    before, commits = stored(small), head(small)
    body = (
        HEADER + b""
        b"Actual,Revenue,Jan,Amount,1\n"  # row 2: unknown, near "Rev"
        b"Actual,Cost,Jan,Amount,2\n"  # row 3: consolidated
        b"Actual,Rent,Jan,Amount,abc\n"  # row 4: text in a number cell
        b"Actual,Rent,Feb,Amount,3\n"  # row 5: fine
        b"Actual,Rent,Feb,Amount,4\n"  # row 6: duplicate of row 5
        b"Actual,Rent,Mar,Amount,1e20\n"  # row 7: too large
    )
    r = post(small, body)
    err = error(r, 422, "import_rejected")
    got = {(e["row"], e["column"], e["value"], e["reason"]) for e in err["details"]["errors"]}
    assert got == {
        (2, "Account", "Revenue", "unknown_element"),
        (3, "Account", "Cost", "consolidated"),
        (4, "Value", "abc", "not_a_number"),
        (6, "Value", "4", "duplicate"),
        (7, "Value", "1e20", "too_large"),
    }
    near = next(e for e in err["details"]["errors"] if e["row"] == 2)["detail"]
    assert "Rev" in near
    assert stored(small) == before and head(small) == commits  # nothing written, no commit
    # the whole report as CSV
    r = post(small, body, report="csv")
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0] == '"row","column","value","reason","detail"'
    assert len(r.text.splitlines()) == 6
    # load the valid rows: row 5 only
    r = post(small, body, load_valid_rows="true")
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 1 and r.json()["error_count"] == 5
    assert stored(small) == {**before, "Actual\tRent\tFeb\tAmount": 3.0}


def test_accumulate_sums_duplicates_and_dry_run_writes_nothing(small: Any) -> None:
    body = HEADER + b"Actual,Rent,Jan,Amount,1\nActual,Rent,Jan,Amount,2.5\n"
    commits = head(small)
    r = post(small, body, mode="accumulate", dry_run="true")
    assert r.status_code == 200 and r.json()["would_write"] == 1, r.text
    assert head(small) == commits and stored(small) == {}
    r = post(small, body, mode="accumulate")
    assert r.status_code == 200, r.text
    assert stored(small)["Actual\tRent\tJan\tAmount"] == 3.5


def test_replace_clears_the_files_area_only(small: Any) -> None:
    first = HEADER + b"Actual,Rent,Jan,Amount,1\nActual,Rent,Feb,Amount,2\n"
    first += b"Budget,Rent,Jan,Amount,9\nActual,Salaries,Jan,Amount,5\n"
    assert post(small, first).status_code == 200
    # area: Version {Actual} x Account {Rent} x Month {Jan, Feb} x Measure {Amount}
    second = HEADER + b"Actual,Rent,Jan,Amount,7\nActual,Rent,Feb,Amount,\n"
    r = post(small, second, mode="replace")
    assert r.status_code == 200, r.text
    assert r.json()["cleared"] == 0  # Feb's blank is no change, and it is not in the loaded area
    third = HEADER + b"Actual,Rent,Jan,Amount,8\nActual,Salaries,Feb,Amount,1\n"
    r = post(small, third, mode="replace")
    assert r.status_code == 200, r.text
    # area: Actual x {Rent, Salaries} x {Jan, Feb}: Rent/Feb and Salaries/Jan cleared
    assert r.json()["cleared"] == 2
    cells = stored(small)
    assert cells == {
        "Actual\tRent\tJan\tAmount": 8.0,
        "Actual\tSalaries\tFeb\tAmount": 1.0,
        "Budget\tRent\tJan\tAmount": 9.0,
    }
    detail = small.get(f"/api/models/small/commits/{r.json()['commit']['id']}").json()
    assert len(detail["changes"]) == 4  # one commit: two writes, two clears


def test_parquet_from_pyarrow_and_duckdb(small: Any, tmp_path: Path) -> None:
    t = pa.table(
        {
            "Version": ["Actual", "Actual"],
            "Account": ["Rev", "Rent"],
            "Month": ["Jan", "Jan"],
            "Measure": ["Amount", "Amount"],
            "Value": [10.0, 4.0],
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(t, sink)
    r = post(small, sink.getvalue().to_pybytes(), PARQUET)
    assert r.status_code == 200, r.text
    path = tmp_path / "x.parquet"
    duckdb.sql(
        "COPY (SELECT 'Budget' AS Version, 'Rev' AS Account, m AS Month, 'Amount' AS Measure, "
        f"CAST(i AS INTEGER) AS Value FROM (VALUES ('Jan', 1), ('Feb', 2)) v(m, i)) TO '{path}'"
    )
    r = post(small, path.read_bytes(), "application/octet-stream", format="parquet")
    assert r.status_code == 200, r.text
    cells = stored(small)
    assert cells["Actual\tRev\tJan\tAmount"] == 10 and cells["Budget\tRev\tFeb\tAmount"] == 2


def xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_written_by_openpyxl(small: Any) -> None:
    body = xlsx([["Account", "Jan", "Feb"], ["Rev", 100, 200.5], ["Rent", None, "n/a"]])
    r = post(small, body, XLSX, across="Month", const=["Version=Actual", "Measure=Amount"])
    err = error(r, 422, "import_rejected")
    assert [(e["row"], e["column"], e["reason"]) for e in err["details"]["errors"]] == [
        (3, "Feb", "not_a_number")
    ]
    r = post(
        small,
        body,
        XLSX,
        across="Month",
        const=["Version=Actual", "Measure=Amount"],
        load_valid_rows="true",
    )
    assert r.status_code == 200 and r.json()["written"] == 2, r.text
    assert stored(small)["Actual\tRev\tFeb\tAmount"] == 200.5


def test_zip_bomb_and_dtd_are_refused(small: Any) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"<a>" + b"0" * (64 << 20) + b"</a>")
    r = post(small, bomb.getvalue(), XLSX)
    assert "zip bomb" in error(r, 400, "unreadable_file")["message"]
    xxe = io.BytesIO()
    with zipfile.ZipFile(xxe, "w") as z:
        z.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        )
    r = post(small, xxe.getvalue(), XLSX)
    assert "DTD" in error(r, 400, "unreadable_file")["message"]


def test_a_mapping_that_cannot_apply_is_a_422(small: Any) -> None:
    r = post(small, b"Account,Value\nRev,1\n")
    assert "Version" in error(r, 422, "invalid_value")["message"]
    r = post(small, b"x\n1\n", "application/octet-stream")
    error(r, 422, "invalid_value")
    r = post(
        small, b"Account,Value\nRev,1\n", const=["Version=Actual", "Month=Q1", "Measure=Amount"]
    )
    assert "consolidated" in error(r, 422, "invalid_value")["message"]
    r = post(
        small, b"Account,Value\nRev,1\n", const=["Version=Plan", "Month=Jan", "Measure=Amount"]
    )
    assert "no such element" in error(r, 422, "invalid_value")["message"]


def test_element_security_gives_row_errors(small: Any) -> None:
    """READ on Rev: a row error; NONE on Salaries: as if it did not exist; WRITE on Rent."""
    assert post(small, HEADER + b"Actual,Rev,Feb,Amount,50\n").status_code == 200
    before, commits = stored(small), head(small)
    grants = [
        {"element": "Net", "group": "ops", "access": "READ"},
        {"element": "Salaries", "group": "ops", "access": "NONE"},
        {"element": "Rent", "group": "ops", "access": "WRITE"},
    ]
    assert small.post("/api/admin/groups", json={"name": "ops"}).status_code == 201
    assert small.put("/api/models/small/security/elements/Account", json=grants).status_code == 200
    ops = {**as_user(small, "ops-planner", "small", "planner", "ops"), "Content-Type": CSV}
    body = (
        HEADER + b""
        b"Actual,Rent,Jan,Amount,1\nActual,Rev,Jan,Amount,2\nActual,Salaries,Jan,Amount,3\n"
    )
    r = small.post(URL, content=body, headers=ops)
    err = error(r, 422, "import_rejected")
    got = [(e["row"], e["reason"]) for e in err["details"]["errors"]]
    assert got == [(3, "not_writable"), (4, "unknown_element")]
    assert err["details"]["errors"][1]["detail"] == ""  # a hidden element is never suggested
    assert stored(small) == before and head(small) == commits
    # replace: the area is what the loaded rows name (Actual x Rent x Jan, Feb x Amount), so
    # Rev/Feb, which the user may only read, is outside it and stays
    body = HEADER + b"Actual,Rent,Feb,Amount,1\nActual,Rent,Jan,Amount,1\n"
    r = small.post(URL, content=body, headers=ops, params={"mode": "replace"})
    assert r.status_code == 200, r.text
    assert stored(small)["Actual\tRev\tFeb\tAmount"] == 50


def test_contradictory_locale_and_empty_parameters_are_422s(small: Any) -> None:
    for decimal, thousands in (("dot", "dot"), ("comma", "comma")):
        r = post(small, HEADER, decimal=decimal, thousands=thousands)
        assert "thousands" in error(r, 422, "invalid_value")["message"]
    r = post(small, HEADER + b"Actual,Rev,Jan,Amount,1\n", across="", value="")
    assert r.status_code == 200, r.text


def test_plancube_import_sends_the_file_and_the_mapping(
    small: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server import cli
    from server.auth import client as auth_client
    from server.imports import client as import_client

    def post(url: str, **kw: Any) -> Any:  # the server, in process: the test client
        kw.pop("verify"), kw.pop("timeout")
        return small.post(url.removeprefix("http://plancube.test"), **kw)

    monkeypatch.setattr(import_client.httpx, "post", post)
    token = small.headers["Authorization"].removeprefix("Bearer ")
    monkeypatch.setattr(auth_client, "access_token", lambda server, ca_file=None: token)
    data = tmp_path / "actuals.csv"
    data.write_text("Konto;Jan;Feb\nRev;1,5;2\nRevenue;3;4\n", encoding="cp1252")
    args = ["import", str(data), "--server", "http://plancube.test", "--model", "small"]
    args += ["--cube", "PnL", "--map", "Account=Konto", "--across", "Month", "--decimal", "comma"]
    args += ["--const", "Version=Actual", "--const", "Measure=Amount"]
    report = tmp_path / "report.csv"
    assert cli.main([*args, "--report", str(report)]) == 1
    assert "row 3, Konto: 'Revenue' unknown_element nearest: Rev" in capsys.readouterr().err
    assert report.read_text().count("unknown_element") == 1  # once per row, not per cell
    assert stored(small) == {}
    assert cli.main([*args, "--load-valid-rows"]) == 0
    assert "wrote 2 cells from 2 rows" in capsys.readouterr().out
    assert stored(small)["Actual\tRev\tJan\tAmount"] == 1.5


def test_accumulate_with_valid_rows_sums_what_is_loaded(small: Any) -> None:
    # wide: row 2 has a bad Feb, so it is left out whole; rows 3 and 4 sum into Rent/Jan
    body = b"Account,Jan,Feb\nRent,1,x\nRent,2,5\nRent,3,\n"
    params = {"across": "Month", "const": ["Version=Actual", "Measure=Amount"]}
    r = post(small, body, mode="accumulate", load_valid_rows="true", **params)
    assert r.status_code == 200, r.text
    assert [(e["row"], e["reason"]) for e in r.json()["errors"]] == [(2, "not_a_number")]
    cells = stored(small)
    assert cells["Actual\tRent\tJan\tAmount"] == 5 and cells["Actual\tRent\tFeb\tAmount"] == 5


def test_a_header_only_file_writes_nothing_and_numbers_name_elements(small: Any) -> None:
    r = post(small, HEADER)
    assert r.status_code == 200 and r.json()["written"] == 0 and r.json()["commit"] is None
    # a sheet types 4000 (Rev's alias) as a number
    body = xlsx([["Account", "Value"], [4000, 7]])
    r = post(small, body, XLSX, const=["Version=Actual", "Month=Jan", "Measure=Amount"])
    assert r.status_code == 200, r.text
    assert stored(small)["Actual\tRev\tJan\tAmount"] == 7


def test_xlsx_written_by_libreoffice(small: Any, tmp_path: Path) -> None:
    soffice = shutil.which("soffice")
    if soffice is None:  # .ci/run installs it; PLANCUBE_REQUIRE_ALL=1 makes this a failure
        unavailable(
            "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui"
        )
    source = tmp_path / "actuals.csv"
    source.write_text("Account,Jan,Feb,Mar\nRev,100,200.5,\nSalaries,40,41,42\n")
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    body = (tmp_path / "actuals.xlsx").read_bytes()
    r = post(small, body, XLSX, across="Month", const=["Version=Actual", "Measure=Amount"])
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 5
    assert cell(view(small), "Net", "Q1") == 300.5 - 123


def test_a_rule_cell_is_a_row_problem(small: Any) -> None:
    base = "/api/models/small/cubes/PnL/rules"
    rule = {"name": "budget", "target": "Amount", "formula": "=1", "where": {"Version": ["Budget"]}}
    assert small.post(base, json=rule).status_code == 201
    body = HEADER + b"Actual,Rent,Jan,Amount,1\nBudget,Rent,Jan,Amount,2\n"
    err = error(post(small, body), 422, "import_rejected")
    assert [(e["row"], e["reason"]) for e in err["details"]["errors"]] == [(3, "rule_cell")]
    assert stored(small) == {}


def test_a_workbook_or_parquet_sent_as_csv_is_named_for_what_it_is(small: Any) -> None:
    for magic, fmt in ((b"PK\x03\x04", "xlsx"), (b"PAR1", "parquet")):
        r = post(small, magic + b"\x00" * 64)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "unreadable_file"
        assert f"format={fmt}" in r.json()["error"]["message"]
