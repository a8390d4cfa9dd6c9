"""Pasting into the web grid exactly what Excel and LibreOffice put on the clipboard.

Every row on a spreadsheet's clipboard ends with a line break, the last one too (CRLF from Excel
on Windows, LF from LibreOffice and Excel on a Mac); empty cells inside a block are explicit
blanks. A paste must save the block and only the block, and never drop a value without saying so.
Each test plans in a department of its own.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.accounts import api

pytestmark = pytest.mark.browser

LEAVES_2027 = "leaves(FY2027)"


def saved(cells: int, note: str = "") -> re.Pattern[str]:
    return re.compile(rf"^Saved {cells} cells? in commit \d+{re.escape(note)}\.$")


@pytest.mark.parametrize(
    ("department", "ending", "with_html"),
    [
        ("Inside Sales", "\r\n", True),
        ("Customer Success", "\r\n", False),
        ("Application Engineering", "\n", False),
    ],
    ids=["excel-crlf-with-html", "crlf-text-only", "lf-text-only"],
)
def test_a_block_with_its_trailing_line_break_saves_only_the_block(
    open_grid: Any, department: str, ending: str, with_html: bool
) -> None:
    grid = open_grid("pat", department=department, columns=LEAVES_2027)
    below = {("Subscription Revenue", "2027-01"): 11900, ("Subscription Revenue", "2027-02"): 12100}
    grid.write(below)
    grid.paste(
        "Product Revenue", "2027-01", [["150000", "151000"], ["15000", "15500"]], ending, with_html
    )
    expect(grid.message).to_have_text(saved(4))
    assert grid.last_commit()["cells"] == 4
    now = grid.values()
    assert now["Product Revenue", "2027-01"] == 150000
    assert now["Service Revenue", "2027-02"] == 15500
    for cell, value in below.items():
        assert now[cell] == value  # the row under the block is untouched
        expect(grid.cell(*cell)).to_have_text(f"{value:,}")


def test_a_single_row_and_a_single_cell_from_excel(open_grid: Any) -> None:
    grid = open_grid("pat", department="Product Management", columns=LEAVES_2027)
    grid.write({("Service Revenue", "2027-03"): 777, ("Service Revenue", "2027-04"): 888})
    grid.paste_text("Service Revenue", "2027-01", "100\t200\r\n")
    expect(grid.message).to_have_text(saved(2))
    grid.paste_text("Service Revenue", "2027-03", "300\r\n")
    expect(grid.message).to_have_text(saved(1))
    now = grid.values()
    assert [now["Service Revenue", m] for m in ("2027-01", "2027-02", "2027-03")] == [100, 200, 300]
    assert now["Service Revenue", "2027-04"] == 888
    assert now["Subscription Revenue", "2027-01"] is None or grid.last_commit()["cells"] == 1


def test_an_empty_cell_inside_the_block_clears_that_cell_only(open_grid: Any) -> None:
    grid = open_grid("pat", department="Platform Engineering", columns=LEAVES_2027)
    grid.write({("Rent", m): 1000 for m in ("2027-01", "2027-02", "2027-03", "2027-04")})
    grid.paste("Rent", "2027-01", [["1100", "", "1300"]])
    expect(grid.message).to_have_text(saved(3))
    commit = grid.last_commit()
    changes = api(grid.base).get(f"/api/models/demo/commits/{commit['id']}").json()["changes"]
    assert sorted((c["elements"][3], c["old"], c["new"]) for c in changes) == [
        ("2027-01", 1000, 1100),
        ("2027-02", 1000, None),
        ("2027-03", 1000, 1300),
    ]
    assert grid.values()["Rent", "2027-04"] == 1000


def test_a_column_pasted_across_a_subtotal_row_skips_it(open_grid: Any) -> None:
    # Copied from a sheet that lists the Facilities accounts under the Personnel ones, without
    # the "Facilities" subtotal row the grid shows between them.
    grid = open_grid("pat", department="Data Science", columns=LEAVES_2027)
    column = [["1"], ["2"], ["3"], ["4"], ["5"], ["6"], ["7"], ["8"], ["9"]]
    grid.paste("Salaries & Wages", "2027-05", column, "\n")
    expect(grid.message).to_contain_text(
        "This paste crosses the computed row Facilities: was it in what you copied?"
    )
    grid.answer("No: skip it")
    expect(grid.message).to_have_text(saved(9, "; skipped the computed line Facilities"))
    now = grid.values()
    personnel = [
        "Salaries & Wages",
        "Bonuses & Commissions",
        "Payroll Taxes",
        "Employee Benefits",
        "Pension Contributions",
        "Training",
        "Recruiting",
    ]
    assert [now[a, "2027-05"] for a in [*personnel, "Rent", "Utilities"]] == list(range(1, 10))


def test_months_pasted_across_a_quarter_column_skip_it_and_say_so(open_grid: Any) -> None:
    grid = open_grid("pat", department="Quality Assurance")  # months with quarter totals
    head = grid.head()
    grid.paste("Utilities", "2027-02", [["2000", "3000", "4000"]])
    expect(grid.message).to_contain_text(
        "This paste crosses the computed column 2027-Q1: was it in what you copied?"
    )
    assert grid.head() == head  # nothing is saved before the planner answers
    grid.answer("No: skip it")
    expect(grid.message).to_have_text(saved(3, "; skipped the computed line 2027-Q1"))
    commit = grid.last_commit()
    assert commit["id"] > head and commit["cells"] == 3
    now = grid.values()
    assert [now["Utilities", m] for m in ("2027-02", "2027-03", "2027-04")] == [2000, 3000, 4000]
    assert now["Utilities", "2027-Q1"] == (now["Utilities", "2027-01"] or 0) + 5000


def test_a_copy_with_its_own_quarter_total_pastes_in_place(open_grid: Any) -> None:
    # Jan, Feb, Mar, Q1 and Apr from a sheet laid out like the grid: the 600 is that sheet's Q1.
    grid = open_grid("pat", department="Manufacturing")
    grid.paste("Office Supplies", "2027-01", [["100", "200", "300", "600", "400"]])
    expect(grid.message).to_contain_text("crosses the computed column 2027-Q1")
    grid.answer("Yes: paste in place")
    expect(grid.message).to_have_text(saved(4, "; left the computed line 2027-Q1 as computed"))
    now = grid.values()
    months = ("2027-01", "2027-02", "2027-03", "2027-04", "2027-05")
    assert [now["Office Supplies", m] for m in months[:4]] == [100, 200, 300, 400]
    assert now["Office Supplies", "2027-Q1"] == 600
    expect(grid.cell("Office Supplies", "2027-Q1")).to_have_text("600")


def test_a_paste_onto_a_total_or_past_the_edge_is_refused_with_the_reason(open_grid: Any) -> None:
    grid = open_grid("pat", department="Supply Chain", columns=LEAVES_2027)
    head = grid.head()
    grid.paste("Revenue", "2027-01", [["5"]])
    expect(grid.message).to_have_text(
        '"5" would land on Revenue, 2027-01, which is not an input cell (a total, a rule or a '
        "locked cell): nothing of this paste was saved."
    )
    expect(grid.message).to_have_class("error")
    grid.paste("Rent", "2027-11", [["1", "2", "3"]])
    expect(grid.message).to_have_text(
        '"3" would fall outside the grid (the paste is 1 × 3): nothing of this paste was saved.'
    )
    assert grid.head() == head
