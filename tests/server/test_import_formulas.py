"""Formula cells an uploaded workbook has no values for: refused naming them, or computed by the
optional ``formulas`` package; values LibreOffice saved are read as they are, without it."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from server.imports import formulas as formula_cells
from tests.conftest import unavailable
from tests.server.helpers import error, load_small

URL = "/api/models/small/cubes/PnL/import"
XLSX = {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
WIDE = {"across": "Month", "const": ["Version=Actual", "Measure=Amount"]}


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client)
    return client


@pytest.fixture
def without_formulas(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a default install: ``import formulas`` fails."""
    monkeypatch.setitem(sys.modules, "formulas", None)
    assert not formula_cells.available()


def workbook(title: str = "Data", extra_rows: int = 0) -> bytes:
    """Feb is a formula over Jan, as a script writes it: formulas, no values."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(["Account", "Jan", "Feb"])
    sheet.append(["Rev", 100, "=B2*2"])
    sheet.append(["Rent", 5, "=SUM(B2:B3)"])
    for i in range(extra_rows):
        sheet.append(["Rent", None, f"=B{i + 2}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def stored(client: Any) -> dict[str, Any]:
    t = client.app.state.workspace.store.load_cells("small", "PnL").to_pylist()
    return {r["addr"]: r["num"] for r in t}


def test_formulas_without_values_are_refused_naming_the_cells(
    small: Any, without_formulas: None
) -> None:
    r = small.post(URL, content=workbook(), headers=XLSX, params=WIDE)
    err = error(r, 422, "formulas_without_values")
    assert err["details"]["cells"] == ["Data!C2", "Data!C3"] and err["details"]["count"] == 2
    message = err["message"]
    assert "Data!C2, Data!C3" in message
    assert "LibreOffice" in message and "plancube[formulas]" in message
    assert stored(small) == {}
    # the first 100 are named, the count says how many there are; a sheet name with a space
    # is quoted as a reference spells it
    r = small.post(URL, content=workbook("Ist Daten", 148), headers=XLSX, params=WIDE)
    err = error(r, 422, "formulas_without_values")
    assert err["details"]["count"] == 150 and len(err["details"]["cells"]) == 100
    assert err["details"]["cells"][0] == "'Ist Daten'!C2"
    assert "and 50 more" in err["message"]
    assert stored(small) == {}


def test_a_dry_run_and_a_background_import_refuse_them_too(
    small: Any, without_formulas: None
) -> None:
    r = small.post(URL, content=workbook(), headers=XLSX, params={**WIDE, "dry_run": "true"})
    error(r, 422, "formulas_without_values")
    r = small.post(URL, content=workbook(), headers=XLSX, params={**WIDE, "background": "true"})
    assert r.status_code == 202, r.text
    for _ in range(400):
        job = small.get(r.headers["Location"]).json()
        if job["state"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert job["state"] == "failed", job
    assert job["report"]["error"]["code"] == "formulas_without_values"
    assert job["report"]["error"]["details"]["cells"] == ["Data!C2", "Data!C3"]
    assert stored(small) == {}


def test_a_workbook_without_formulas_needs_nothing(small: Any, without_formulas: None) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Account", "Jan"])
    sheet.append(["Rev", 1])
    out = io.BytesIO()
    book.save(out)
    r = small.post(URL, content=out.getvalue(), headers=XLSX, params=WIDE)
    assert r.status_code == 200, r.text


def test_uncached_tells_a_cached_empty_text_from_no_value() -> None:
    cells = (
        '<c r="A1"><f>1+1</f><v>2</v></c>'  # cached
        '<c r="B1" t="str"><f>""</f><v></v></c>'  # cached: the empty string
        '<c r="C1"><f>A1</f><v /></c>'  # openpyxl: none
        '<c r="D1"><f t="shared" ref="D1:E1" si="0">A1</f></c>'  # none, shared
        '<c r="E1"><f t="shared" si="0"/></c>'  # none, from the shared one
        '<c r="F1" t="n"><v>3</v></c>'  # a number
    )
    book = io.BytesIO()
    with zipfile.ZipFile(book, "w") as z:
        z.writestr(
            "xl/workbook.xml",
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="x"/></Relationships>',
        )
        z.writestr(
            "xl/worksheets/sheet1.xml",
            f"<worksheet><sheetData><row r='1'>{cells}</row></sheetData></worksheet>",
        )
    assert formula_cells.uncached(zipfile.ZipFile(book), "S") == ["C1", "D1", "E1"]


def test_formulas_are_computed_when_the_extra_is_installed(small: Any) -> None:
    pytest.importorskip("formulas")
    r = small.post(URL, content=workbook(), headers=XLSX, params=WIDE)
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 4
    assert stored(small) == {
        "Actual\tRev\tJan\tAmount": 100.0,
        "Actual\tRev\tFeb\tAmount": 200.0,
        "Actual\tRent\tJan\tAmount": 5.0,
        "Actual\tRent\tFeb\tAmount": 105.0,
    }


def test_too_many_formulas_to_compute_are_refused(
    small: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("formulas")
    monkeypatch.setattr(formula_cells, "MAX_EVALUATED", 1)
    r = small.post(URL, content=workbook(), headers=XLSX, params=WIDE)
    err = error(r, 422, "formulas_failed")
    assert err["details"] == {"count": 2, "limit": 1} and "LibreOffice" in err["message"]
    assert stored(small) == {}


def test_a_formula_reaching_outside_the_workbook_is_not_computed(
    small: Any, tmp_path: Path
) -> None:
    """``formulas`` would load the book a formula names from the server's disk: refused."""
    pytest.importorskip("formulas")
    secret = openpyxl.Workbook()
    sheet = secret.active
    assert sheet is not None
    sheet.title = "S"
    sheet["A1"] = 42
    secret.save(tmp_path / "secret.xlsx")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Data"
    sheet.append(["Account", "Jan"])
    sheet.append(["Rev", f"='{tmp_path}/[secret.xlsx]S'!A1"])
    out = io.BytesIO()
    book.save(out)
    r = small.post(URL, content=out.getvalue(), headers=XLSX, params=WIDE)
    err = error(r, 422, "formulas_failed")
    assert "refers outside the workbook" in err["message"] and "secret.xlsx" in err["message"]
    # the same with the bracket written as a character reference, as XML allows
    raw = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(out.getvalue())) as src,
        zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b"[secret" in data
                data = data.replace(b"[secret", b"&#91;secret")
            dst.writestr(item, data)
    r = small.post(URL, content=raw.getvalue(), headers=XLSX, params=WIDE)
    error(r, 422, "formulas_failed")
    assert stored(small) == {}


def test_a_computed_excel_error_is_a_row_problem(small: Any) -> None:
    pytest.importorskip("formulas")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Account", "Jan", "Feb"])
    sheet.append(["Rev", 0, "=1/B2"])
    out = io.BytesIO()
    book.save(out)
    r = small.post(URL, content=out.getvalue(), headers=XLSX, params=WIDE)
    err = error(r, 422, "import_rejected")
    assert [(e["row"], e["column"], e["value"], e["reason"]) for e in err["details"]["errors"]] == [
        (2, "Feb", "#DIV/0!", "not_a_number")
    ]


def test_values_libreoffice_saved_import_without_formulas(
    small: Any, tmp_path: Path, without_formulas: None
) -> None:
    soffice = shutil.which("soffice")
    if soffice is None:  # PLANCUBE_REQUIRE_ALL=1 makes this a failure
        unavailable(
            "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui"
        )
    source = tmp_path / "scripted.xlsx"
    source.write_bytes(workbook())
    out = tmp_path / "saved"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    saved = (out / "scripted.xlsx").read_bytes()
    with zipfile.ZipFile(io.BytesIO(saved)) as z:  # still formulas, now with their values
        assert b"<f" in z.read("xl/worksheets/sheet1.xml")
    r = small.post(URL, content=saved, headers=XLSX, params=WIDE)
    assert r.status_code == 200, r.text
    assert stored(small)["Actual\tRent\tFeb\tAmount"] == 105.0
