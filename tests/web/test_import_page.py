"""Importing from the web: upload, preview, map, check, import with progress, the grid updated.

Real files as spreadsheets save them — a German Excel "CSV UTF-8" (byte-order mark, semicolons,
CRLF, decimal comma, dot thousands) and a CSV that LibreOffice itself saves in a German locale
with the months across (semicolons, decimal commas), an XLSX with two sheets — are uploaded
through the dialog's file input (and dropped onto it), on the demo server in Chromium.
What landed is checked through the API: the cells of the good rows, and nothing at all from an
import the file's problems rejected.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import openpyxl
from playwright.sync_api import expect

from tests.conftest import unavailable
from tests.web.accounts import api
from tests.web.grid_page import GridPage, shown, signed_in_page

# a bad row (8: "Rnet", near "Rent") among good ones; 12.345,67 is 12345.67 in this locale
EXCEL_ROWS = [
    ("Salaries & Wages", "2027-03", "12.345,67"),
    ("Payroll Taxes", "2027-03", "987,5"),
    ("Rent", "2027-03", "1.500"),
    ("Utilities", "2027-03", "210,25"),
    ("Training", "2027-04", "75"),
    ("Recruiting", "2027-04", "(40,5)"),
    ("Rnet", "2027-04", "100,5"),
]
EXCEL_VALUES = {
    ("Salaries & Wages", "2027-03"): 12345.67,
    ("Payroll Taxes", "2027-03"): 987.5,
    ("Rent", "2027-03"): 1500.0,
    ("Utilities", "2027-03"): 210.25,
    ("Training", "2027-04"): 75.0,
    ("Recruiting", "2027-04"): -40.5,
}


def excel_csv(tmp: Path) -> Path:
    text = "Konto;Monat;Betrag\r\n" + "".join(f"{a};{m};{v}\r\n" for a, m, v in EXCEL_ROWS)
    path = tmp / "Ist-Werte März.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return path


def libreoffice_csv(tmp: Path, name: str, department: str, bad: bool = False) -> Path:
    """A wide sheet (months across) saved as CSV by LibreOffice in a German locale: semicolons
    and decimal commas, as a planner's LibreOffice writes it."""
    soffice = shutil.which("soffice")
    if soffice is None:  # .ci/run installs it; PLANCUBE_REQUIRE_ALL=1 makes this a failure
        unavailable(
            "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui"
        )
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Department", "Account", "2027-01", "2027-02", "2027-03"])
    sheet.append([department, "Bonuses & Commissions", 1100.5, "n/a" if bad else 2200, 3300])
    sheet.append([department, "Employee Benefits", 10, 20.25, 30])
    source = tmp / f"{name}.xlsx"
    book.save(source)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp / 'lo-profile'}",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):59,34,76,1",
            "--outdir",
            str(tmp),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "LC_ALL": "de_DE.UTF-8", "LANG": "de_DE.UTF-8"},
    )
    out = tmp / f"{name}.csv"
    assert "1100,5" in out.read_text(), out.read_text()  # LibreOffice wrote the German way
    return out


def open_import(grid: GridPage) -> Any:
    grid.page.get_by_role("button", name="Import…").click()
    dialog = grid.page.locator("dialog#import")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_have_text("Import into PnL")
    return dialog


def choose_constants(dialog: Any, **elements: str) -> None:
    for dimension, element in elements.items():
        dialog.get_by_label(f"{dimension}: element", exact=True).select_option(element)


def test_excel_csv_checked_rejected_then_loaded_valid_rows(open_grid: Any, tmp_path: Path) -> None:
    dept = "Facilities Management"
    grid = open_grid("ines", department=dept)
    page = grid.page
    before = grid.values()
    dialog = open_import(grid)
    dialog.locator("input[name=file]").set_input_files(str(excel_csv(tmp_path)))
    # how the server read it: sniffed, shown, changeable
    expect(dialog.locator("select[name=delimiter]")).to_have_value(";")
    expect(dialog.locator("select[name=encoding]")).to_have_value("utf-8")
    expect(dialog.locator(".import-read")).to_contain_text("with a byte-order mark")
    expect(dialog.locator(".import-read")).to_contain_text("7 rows")
    expect(dialog.locator(".import-preview thead th")).to_have_text(
        ["row", "Konto", "Monat", "Betrag"]
    )
    expect(dialog.locator(".import-preview tbody tr").first).to_contain_text("12.345,67")
    # read as commas it is not a CSV ("12.345,67" splits); said, and semicolons read it again
    message = dialog.locator(".import-message")
    dialog.locator("select[name=delimiter]").select_option(",")
    expect(message).to_contain_text("The file cannot be read: not a readable CSV file")
    expect(dialog.get_by_role("button", name="Check")).to_be_disabled()
    dialog.locator("select[name=delimiter]").select_option(";")
    expect(dialog.locator(".import-preview thead th")).to_have_count(4)
    # the mapping, filled in from the suggestion
    expect(dialog.get_by_label("Account: column")).to_have_value("Konto")
    expect(dialog.get_by_label("Month: column")).to_have_value("Monat")
    expect(dialog.locator("select[name=value]")).to_have_value("Betrag")
    expect(dialog.locator("select[name=decimal]")).to_have_value("comma")
    expect(dialog.locator("select[name=thousands]")).to_have_value("dot")
    expect(message).to_contain_text("Choose an element for Version, Department, Measure")
    # Check before the constants are chosen: said, nothing sent
    dialog.get_by_role("button", name="Check").click()
    expect(message).to_contain_text("Version: choose a column, or the one element")
    choose_constants(dialog, Version="Budget", Department=dept, Measure="Amount")
    dialog.get_by_role("button", name="Check").click()
    expect(message).to_contain_text("1 problem: an import would write nothing")
    problem = dialog.locator(".import-problems tbody tr")
    expect(problem).to_have_count(1)
    expect(problem.locator("td")).to_have_text(
        ["8", "Konto", "Rnet", "no such element", "nearest: Rent"]
    )
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Download the report (CSV)").click()
    report = Path(download.value.path()).read_text()
    assert "Rnet" in report and "unknown_element" in report
    # Import anyway: the job fails whole, nothing is written
    head = grid.head()
    dialog.get_by_role("button", name="Import", exact=True).click()
    expect(message).to_contain_text("The import failed: 1 problem(s) in the file; nothing")
    expect(dialog.locator(".import-problems tbody tr")).to_have_count(1)
    assert grid.head() == head and grid.values() == before
    # load the valid rows: checked, then imported as one commit
    dialog.get_by_label("Load the valid rows, skip the rows with problems").check()
    dialog.get_by_role("button", name="Check").click()
    expect(message).to_contain_text("the rows with problems would be skipped; the import would")
    expect(message).to_contain_text("write 6 cells")
    dialog.get_by_role("button", name="Import", exact=True).click()
    expect(message).to_contain_text("Imported: 6 cells written in commit")
    expect(dialog.locator(".import-progress progress")).to_have_attribute("value", "100")
    expect(dialog.locator(".progress-text")).to_contain_text("100% · done")
    commit = grid.last_commit()
    assert commit["source"] == "import"
    expect(message).to_contain_text(f"in commit {commit['id']}; 1 row problem skipped")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    for (account, month), value in EXCEL_VALUES.items():
        expect(grid.cell(account, month)).to_have_text(shown(value))
    after = grid.values()
    for key, value in EXCEL_VALUES.items():
        assert after[key] == value
    expect(grid.page.locator("#commit")).to_have_text(f"commit {commit['id']}")


def test_wide_file_bad_then_a_good_one_dropped(open_grid: Any, tmp_path: Path) -> None:
    dept = "Information Technology"
    grid = open_grid("ines", department=dept)
    page = grid.page
    head = grid.head()
    before = grid.values()
    bad = libreoffice_csv(tmp_path, "bonuses", dept, bad=True)
    good = libreoffice_csv(tmp_path, "bonuses-fixed", dept)
    dialog = open_import(grid)
    dialog.locator("input[name=file]").set_input_files(str(bad))
    expect(dialog.locator("select[name=delimiter]")).to_have_value(";")
    expect(dialog.locator(".import-read")).not_to_contain_text("byte-order mark")
    expect(dialog.locator("select[name=decimal]")).to_have_value("comma")
    # months across: Month takes the headers; the value columns ticked
    expect(dialog.get_by_label("Month: from")).to_have_value("across")
    expect(dialog.get_by_label("Department: column")).to_have_value("Department")
    expect(dialog.get_by_label("Account: column")).to_have_value("Account")
    for month in ("2027-01", "2027-02", "2027-03"):
        expect(dialog.locator(f'input[name="value-column-{month}"]')).to_be_checked()
    choose_constants(dialog, Version="Budget", Measure="Amount")
    dialog.get_by_role("button", name="Check").click()
    message = dialog.locator(".import-message")
    expect(message).to_contain_text("1 problem")
    expect(dialog.locator(".import-problems tbody tr td")).to_have_text(
        ["2", "2027-02", "n/a", "not a number", ""]
    )
    assert grid.head() == head
    # a good file, dropped onto the dialog; the form keeps the constants (same columns)
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const data = new DataTransfer();
            data.items.add(new File([text], name, {type: "text/csv"}));
            return data;
        }""",
        ["bonuses-fixed.csv", good.read_text()],
    )
    dialog.dispatch_event("drop", {"dataTransfer": transfer})
    expect(dialog.locator(".file-name")).to_contain_text("bonuses-fixed.csv")
    expect(dialog.locator(".import-problems")).to_have_count(0)
    choose_constants(dialog, Version="Budget", Measure="Amount")
    dialog.get_by_role("button", name="Check").click()
    expect(message).to_contain_text("No problems: the import would write 6 cells")
    dialog.get_by_role("button", name="Import", exact=True).click()
    expect(message).to_contain_text("Imported: 6 cells written in commit")
    page.keyboard.press("Escape")  # a dialog closes from the keyboard
    expect(dialog).to_be_hidden()
    expect(grid.cell("Bonuses & Commissions", "2027-02")).to_have_text(shown(2200))
    expect(grid.cell("Employee Benefits", "2027-02")).to_have_text(shown(20.25))
    after = grid.values()
    assert after[("Bonuses & Commissions", "2027-01")] == 1100.5
    assert after[("Employee Benefits", "2027-03")] == 30
    # the other accounts' cells did not change
    for key, value in before.items():
        if key[0] in ("Rent", "Salaries & Wages", "Payroll Taxes", "Training"):
            assert after[key] == value, key


def test_a_file_that_cannot_be_read_and_who_may_import(
    open_grid: Any, browser: Any, demo_url: str, tmp_path: Path
) -> None:
    grid = open_grid("ines", department="Facilities Management")
    dialog = open_import(grid)
    expect(dialog.locator("input[name=file]")).to_be_focused()  # the dialog takes the focus
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    dialog.locator("input[name=file]").set_input_files(str(empty))
    message = dialog.locator(".import-message")
    expect(message).to_have_text(
        "The file cannot be read: the file is empty: a CSV import needs a header row"
    )
    expect(dialog.get_by_role("button", name="Check")).to_be_disabled()
    expect(dialog.get_by_role("button", name="Import", exact=True)).to_be_disabled()
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    dialog.locator("input[name=file]").set_input_files(str(old))
    expect(message).to_contain_text('"old.xls" is not a file an import reads')
    # a viewer is not offered the import at all
    vera = signed_in_page(browser, demo_url, "vera")
    vera.wait_for_selector("[data-cell]")
    expect(vera.locator("#import-button")).to_be_hidden()
    vera.context.close()


def test_progress_and_the_end_are_heard_over_the_live_feed(open_grid: Any, tmp_path: Path) -> None:
    """With every GET /api/jobs/{id} refused, only the feed's job messages can tell the page."""
    dept = "Customer Success"
    grid = open_grid("ines", department=dept)
    grid.page.route("**/api/jobs/*", lambda route: route.abort())
    path = tmp_path / "training.csv"
    path.write_text(f"Department,Account,Month,Value\n{dept},Training,2027-05,321\n")
    dialog = open_import(grid)
    dialog.locator("input[name=file]").set_input_files(str(path))
    expect(dialog.get_by_label("Account: column")).to_have_value("Account")
    # from the keyboard: the form is drawn afresh on each change, the focus stays put
    for dimension, element, keys in (("Version", "Budget", "Bu"), ("Measure", "Amount", "Am")):
        choice = dialog.get_by_label(f"{dimension}: element", exact=True)
        choice.focus()
        grid.page.keyboard.type(keys)
        expect(choice).to_have_value(element)
        expect(choice).to_be_focused()
    dialog.get_by_role("button", name="Import", exact=True).focus()
    grid.page.keyboard.press("Enter")
    message = dialog.locator(".import-message")
    expect(message).to_contain_text("Imported: 1 cell written in commit")
    expect(dialog.locator(".progress-text")).to_contain_text("100% · done")
    expect(grid.cell("Training", "2027-05")).to_have_text(shown(321))
    assert grid.values()[("Training", "2027-05")] == 321


def test_an_xlsx_sheet_chosen_then_imported(open_grid: Any, tmp_path: Path) -> None:
    dept = "Sales North America"
    grid = open_grid("ines", department=dept)
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Notes"
    notes.append(["Prepared by", "ines"])
    plan = book.create_sheet("Plan")
    plan.append(["Department", "Account", "Month", "Value"])
    plan.append([dept, "Recruiting", "2027-06", 4321.5])
    plan.append([dept, "Training", "2027-06", 1234])
    path = tmp_path / "plan.xlsx"
    book.save(path)
    dialog = open_import(grid)
    dialog.locator("input[name=file]").set_input_files(str(path))
    sheet = dialog.locator("select[name=sheet]")
    expect(sheet).to_have_value("Notes")
    expect(dialog.locator(".import-preview thead th")).to_have_text(["row", "Prepared by", "ines"])
    sheet.select_option("Plan")
    expect(dialog.locator(".import-preview thead th")).to_have_text(
        ["row", "Department", "Account", "Month", "Value"]
    )
    expect(dialog.locator(".import-preview tbody tr").first).to_contain_text("4321.5")
    expect(dialog.get_by_label("Month: column")).to_have_value("Month")
    expect(dialog.locator("select[name=value]")).to_have_value("Value")
    choose_constants(dialog, Version="Budget", Measure="Amount")
    dialog.get_by_role("button", name="Import", exact=True).click()
    expect(dialog.locator(".import-message")).to_contain_text("Imported: 2 cells written")
    expect(grid.cell("Recruiting", "2027-06")).to_have_text(shown(4321.5))
    values = grid.values()
    assert values[("Recruiting", "2027-06")] == 4321.5 and values[("Training", "2027-06")] == 1234


def test_cancel_an_import_waiting_for_the_model(open_grid: Any, tmp_path: Path) -> None:
    """An import is cancelled before its commit: nothing written. It is kept waiting behind a
    big dry run that holds the model's write lock while it validates (a million rows)."""
    dept = "Application Engineering"
    grid = open_grid("ines", department=dept)
    before, head = grid.values(), grid.head()
    path = tmp_path / "lodging.csv"
    path.write_text(f"Department,Account,Month,Value\n{dept},Lodging,2027-07,999\n")
    dialog = open_import(grid)
    dialog.locator("input[name=file]").set_input_files(str(path))
    choose_constants(dialog, Version="Budget", Measure="Amount")
    admin = api(grid.base)
    rows = "".join(f"Finance,Rent,2026-{1 + i % 12:02d},{i}\n" for i in range(1_000_000))
    big = admin.post(
        "/api/models/demo/cubes/PnL/import",
        content=("Department,Account,Month,Value\n" + rows).encode(),
        headers={"Content-Type": "text/csv"},
        params={
            "background": "true",
            "dry_run": "true",
            "mode": "accumulate",
            "const": ["Version=Forecast", "Measure=Amount"],
        },
    )
    assert big.status_code == 202, big.text
    job = big.json()["links"]["self"]
    for _ in range(600):  # until it validates, holding the lock
        if admin.get(job).json()["phase"] == "validating":
            break
        time.sleep(0.02)
    dialog.get_by_role("button", name="Import", exact=True).click()
    cancel = dialog.get_by_role("button", name="Cancel import")
    cancel.click()
    message = dialog.locator(".import-message")
    expect(message).to_have_text("Cancelled: nothing was written.", timeout=60_000)
    expect(cancel).to_be_hidden()
    assert admin.get(job).json()["state"] == "succeeded"  # the dry run: no commit either
    assert grid.head() == head and grid.values() == before
