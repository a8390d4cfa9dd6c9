"""The side panel under element security and across view changes: a total's trace names what
the user may not see without breaking, and the panel follows the view the grid shows now.

The demo's people (``server.demo_users``): Raj does not see R&D; Ann plans Sales & Marketing
and reads Finance.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.grid_page import GridPage, shown, signed_in_page

pytestmark = pytest.mark.browser


def test_a_total_with_a_hidden_part_traces_what_raj_may_see(browser: Any, demo_url: str) -> None:
    page = signed_in_page(
        browser,
        demo_url,
        "raj",
        "/?model=demo&cube=PnL&rows=Department:descendants(Total Company)"
        "&columns=Month:children(FY2025)&Version=Actual&Account=Net Income&Measure=Amount",
    )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    expect(page.locator('[data-row="0"]')).to_contain_text("Total Company")
    page.locator('[data-cell="0:0"]').click()  # Total Company, 2025-Q1
    trace = page.locator("#panel .trace")
    expect(trace.locator("li.trace-consolidation", has_text="Operations").first).to_be_visible()
    # R&D is a part of the total he may not see: it is there, unnamed, with its weight.
    hidden = trace.locator("li.trace-hidden")
    expect(hidden).to_have_count(1)
    expect(hidden).to_have_text("(not visible to you)")
    assert "R&D" not in (trace.text_content() or "")
    assert errors == []
    page.context.close()


def test_the_panel_and_the_grid_follow_a_changed_view(open_grid: Any) -> None:
    grid: GridPage = open_grid(
        "ann", department="Inside Sales", rows="Airfare", columns="children(2027-Q1)"
    )
    address = grid.panel.locator("dl.address")
    grid.type_into("Airfare", "2027-02", "1,357")
    expect(grid.message).to_have_text(re.compile(r"^Saved 1 cell in commit \d+\.$"))
    expect(address).to_contain_text("Inside Sales")

    # Finance, which Ann only reads: the focused cell is another cube cell now.
    with grid.page.expect_request(re.compile(r"/trace\?.*e=Finance")):
        grid.page.locator("select[name=filter-Department]").select_option("Finance")
    expect(grid.cell("Airfare", "2027-02")).to_have_class(re.compile(r"\bcell-locked\b"))
    expect(address).to_contain_text("Finance")
    grid.spec["filters"]["Department"] = "Finance"  # what values() asks the API for
    value = grid.values()["Airfare", "2027-02"]
    expect(grid.panel.locator("p.value strong")).to_have_text(shown(value) or "—")
    head = grid.head()
    grid.select("Airfare", "2027-02")  # clicked again: the keys go to that cell
    grid.page.keyboard.type("999")
    expect(grid.editor).to_have_count(0)
    expect(grid.message).to_contain_text(
        "Airfare, 2027-02 (Budget · Finance · Amount) is read-only for you: element security"
    )
    assert grid.head() == head
    expect(address).to_contain_text("Finance")

    # Other rows: the focused cell is another cell again, and the panel asks about it.
    members = grid.page.locator("input[name=rows-members]")
    members.fill("Lodging")
    with grid.page.expect_request(re.compile(r"/trace\?.*e=Lodging")):
        members.press("Enter")
    expect(grid.panel.locator("h2")).to_have_text("Lodging, 2027-02")
    expect(grid.page.locator('[data-row="0"]')).to_contain_text("Lodging")
